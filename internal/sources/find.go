package sources

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/queue"
)

// Clients are what Find calls. The service clients are built only for the
// kinds it reads.
type Clients struct {
	SQS         queue.SQSAPI
	EventBridge func(context.Context) (EventBridgeAPI, error)
	SNS         func(context.Context) (SNSAPI, error)
	Lambda      func(context.Context) (LambdaAPI, error)
}

// Options narrow Find.
type Options struct {
	// Refs are the queues to inspect as DLQs; none discovers every DLQ.
	Refs []queue.Ref
	// Prefix limits discovery to DLQs (and source queues) whose names
	// start with it.
	Prefix string
	// Kinds are the kinds of sources read; nil reads all. Named queues'
	// source queues are listed whatever Kinds says.
	Kinds KindSet
	// Concurrency bounds parallel reads per service (SQS, EventBridge,
	// SNS and Lambda are read side by side); 0 means
	// queue.DefaultConcurrency.
	Concurrency int
}

// DeadLetterQueue is an SQS queue that queues, EventBridge, SNS or Lambda
// dead-letter into.
type DeadLetterQueue struct {
	queue.DeadLetterQueue
	// Services are the EventBridge targets and buses, SNS subscriptions
	// and Lambda functions that name it as their DLQ.
	Services []Source
	// Findings are what stops those services from writing to it: its
	// queue policy, its encryption key.
	Findings []string
}

// Warnings are the DLQ's own warnings (see queue.DeadLetterQueue.Warnings)
// and its Findings.
func (d DeadLetterQueue) Warnings() []string {
	w := d.WarningsWithOtherSources(len(d.Services))
	if d.Exists {
		w = append(w, d.Findings...)
	}
	return w
}

// Find inspects the named queues, or discovers every DLQ in the account
// and region: queues' redrive policies, EventBridge targets and buses, SNS
// subscriptions, Lambda DLQs and on-failure destinations, each read once.
// A permission refused for one service is a warning, and the rest goes on.
func Find(ctx context.Context, c Clients, opts Options) (*Result, error) {
	if opts.Kinds == nil {
		opts.Kinds, _ = ParseKinds(nil)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = queue.DefaultConcurrency
	}
	// Queues and the other services are read side by side: in a large
	// account each takes seconds of round trips.
	var (
		base  []queue.DeadLetterQueue
		found *discovered
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { base, err = findQueues(gctx, c.SQS, opts); return err })
	g.Go(func() (err error) { found, err = discover(gctx, c, opts); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	dlqs, warnings, err := attach(ctx, c.SQS, base, found.sources, opts)
	if err != nil {
		return nil, err
	}
	for i := range dlqs {
		dlqs[i].Findings = deliveryFindings(dlqs[i])
	}
	if len(opts.Refs) > 0 {
		// The account's warnings are about other places than the queues named.
		warnings = nil
	} else {
		warnings = append(warnings, dropped(found.sources)...)
		warnings = append(warnings, unkeptFunctions(found.sources, found.functions)...)
	}
	sortWarnings(warnings)
	sortDeepestFirst(dlqs)
	return &Result{DLQs: dlqs, Warnings: warnings, Denied: found.denials.warnings()}, nil
}

func findQueues(ctx context.Context, api queue.SQSAPI, opts Options) ([]queue.DeadLetterQueue, error) {
	switch {
	case len(opts.Refs) > 0:
		return queue.Inspect(ctx, api, opts.Refs, opts.Concurrency)
	case opts.Kinds[KindSQS]:
		return queue.Discover(ctx, api, queue.DiscoverOptions{Prefix: opts.Prefix, Concurrency: opts.Concurrency})
	}
	return nil, nil
}

// discovered is what the services said.
type discovered struct {
	sources   []Source
	functions *functions
	denials   *denials
}

// discover reads the services of opts.Kinds, each on its own.
func discover(ctx context.Context, c Clients, opts Options) (*discovered, error) {
	d := &discovered{denials: &denials{}, functions: &functions{}}
	var eb, sn, la []Source
	g, gctx := errgroup.WithContext(ctx)
	if opts.Kinds[KindEventBridge] && c.EventBridge != nil {
		g.Go(func() error {
			api, err := c.EventBridge(gctx)
			if err == nil {
				eb, err = discoverEventBridge(gctx, api, opts.Concurrency, d.denials)
			}
			return err
		})
	}
	if opts.Kinds[KindSNS] && c.SNS != nil {
		g.Go(func() error {
			api, err := c.SNS(gctx)
			if err == nil {
				sn, err = discoverSNS(gctx, api, opts.Concurrency, d.denials)
			}
			return err
		})
	}
	if opts.Kinds[KindLambda] && c.Lambda != nil {
		g.Go(func() error {
			api, err := c.Lambda(gctx)
			if err == nil {
				la, d.functions, err = discoverLambda(gctx, api, opts.Concurrency, d.denials)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	d.sources = append(append(append(d.sources, eb...), sn...), la...)
	sortSources(d.sources)
	return d, nil
}

// sortSources orders sources by kind, then name, then ARN, so that output
// does not depend on which call answered first.
func sortSources(s []Source) {
	rank := map[Kind]int{}
	for i, k := range AllKinds() {
		rank[k] = i
	}
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Kind != b.Kind {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.ARN != b.ARN {
			return a.ARN < b.ARN
		}
		return a.String() < b.String()
	})
}

func sortDeepestFirst(d []DeadLetterQueue) {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].Depth() != d[j].Depth() {
			return d[i].Depth() > d[j].Depth()
		}
		return d[i].Name < d[j].Name
	})
}

// Feeding are the EventBridge targets and buses, SNS subscriptions and
// Lambda configurations that name the queue dlqARN as their DLQ: what a
// replay needs to send a message back to where it failed. It reads every
// kind it has a client for; a refused permission is an error here, since
// a replay must not guess.
func Feeding(ctx context.Context, c Clients, dlqARN string) ([]Source, error) {
	kinds := KindSet{KindEventBridge: true, KindSNS: true, KindLambda: true}
	found, err := discover(ctx, c, Options{Kinds: kinds, Concurrency: queue.DefaultConcurrency})
	if err != nil {
		return nil, err
	}
	if denied := found.denials.warnings(); len(denied) > 0 {
		return nil, fmt.Errorf("find what writes to %s: %s", dlqARN, strings.Join(denied, "; "))
	}
	var out []Source
	for _, s := range found.sources {
		if s.DLQ == dlqARN {
			out = append(out, s)
		}
	}
	return out, nil
}
