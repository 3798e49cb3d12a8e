package sources

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/queue"
)

// attach joins the services' sources to the queues they name: to a DLQ
// already found, or to a queue read now (when discovering). A DLQ that is
// not an SQS queue, or that is in another region, is a warning: dlq reads
// the queues of one region.
func attach(ctx context.Context, api queue.SQSAPI, base []queue.DeadLetterQueue, srcs []Source, opts Options) ([]DeadLetterQueue, []string, error) {
	out := make([]DeadLetterQueue, 0, len(base))
	at := map[string]int{}
	for i, d := range base {
		out = append(out, DeadLetterQueue{DeadLetterQueue: d})
		at[d.ARN] = i
	}
	var (
		warnings []string
		pending  []string
		waiting  = map[string][]Source{}
	)
	for _, s := range srcs {
		switch {
		case s.DLQ == "":
			continue
		case !isQueueARN(s.DLQ):
			warnings = append(warnings, fmt.Sprintf("%s dead-letters into %s, which is not an SQS queue: dlq reads only queues, so those failed events are not shown", s, s.DLQ))
			continue
		}
		if i, ok := at[s.DLQ]; ok {
			out[i].Services = append(out[i].Services, s)
			continue
		}
		if len(opts.Refs) > 0 || !strings.HasPrefix(queue.NameFromARN(s.DLQ), opts.Prefix) {
			continue // not one of the queues asked about
		}
		if r := region(s.DLQ); r != region(s.ARN) {
			if s.Kind != KindSNS { // dropped() says what SNS makes of it
				warnings = append(warnings, fmt.Sprintf("%s dead-letters into %s in %s: dlq reads one region's queues; inspect that region too", s, s.DLQ, r))
			}
			continue
		}
		if _, ok := waiting[s.DLQ]; !ok {
			pending = append(pending, s.DLQ)
		}
		waiting[s.DLQ] = append(waiting[s.DLQ], s)
	}
	read, err := readByARN(ctx, api, pending, opts.Concurrency)
	if err != nil {
		return nil, nil, err
	}
	for i, d := range read {
		out = append(out, DeadLetterQueue{DeadLetterQueue: d, Services: waiting[pending[i]]})
	}
	return out, warnings, nil
}

// readByARN reads each queue's attributes, in input order, with bounded
// concurrency; a queue that does not exist comes back with Exists false.
func readByARN(ctx context.Context, api queue.SQSAPI, arns []string, concurrency int) ([]queue.DeadLetterQueue, error) {
	out := make([]queue.DeadLetterQueue, len(arns))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, a := range arns {
		g.Go(func() error {
			d, err := readOne(gctx, api, a)
			if err != nil {
				return fmt.Errorf("read dead-letter queue %s: %w", a, err)
			}
			mu.Lock()
			out[i] = d
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func readOne(ctx context.Context, api queue.SQSAPI, queueARN string) (queue.DeadLetterQueue, error) {
	missing := queue.DeadLetterQueue{Queue: queue.Queue{Name: queue.NameFromARN(queueARN), ARN: queueARN}}
	ref, err := queue.ParseRef(queueARN)
	if err != nil {
		return missing, nil
	}
	u, err := queue.ResolveURL(ctx, api, ref)
	if queue.IsNotExist(err) {
		return missing, nil
	}
	if err != nil {
		return missing, err
	}
	q, err := queue.Attributes(ctx, api, u)
	if queue.IsNotExist(err) {
		return missing, nil
	}
	if err != nil {
		return missing, err
	}
	return queue.DeadLetterQueue{Queue: q, Exists: true}, nil
}

// isQueueARN reports whether s is an SQS queue's ARN.
func isQueueARN(s string) bool {
	a, err := arn.Parse(s)
	return err == nil && a.Service == "sqs"
}

// region is the region of an ARN, "" when s is not one.
func region(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.Region
}

// account is the account of an ARN, "" when s is not one.
func account(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.AccountID
}
