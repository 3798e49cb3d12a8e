package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency bounds parallel attribute reads: enough to read
// hundreds of queues in seconds, few enough to stay clear of throttling.
const DefaultConcurrency = 16

// DeadLetterQueue is a queue that at least one other queue's RedrivePolicy
// names, with those sources. Exists is false when sources point at a
// queue that is gone; then only Name and ARN are known.
type DeadLetterQueue struct {
	Queue
	Exists  bool
	Sources []Source
	// SourcesUnlisted is the error code SQS answered instead of listing
	// the sources (Inspect goes on without them); empty when listed.
	SourcesUnlisted string
}

// Source is a queue that redrives into a DLQ after MaxReceiveCount receives.
type Source struct {
	Queue
	MaxReceiveCount int
}

// DiscoverOptions narrow discovery.
type DiscoverOptions struct {
	// Prefix limits the queues listed (ListQueues QueueNamePrefix). DLQs are
	// found through the sources inside the prefix.
	Prefix string
	// Concurrency bounds parallel attribute reads; 0 means the default.
	Concurrency int
}

// Discover finds every dead-letter queue in the account and region: it lists
// the queues (all pages), reads each queue's attributes exactly once, and
// groups sources by the DLQ their RedrivePolicy names. A DLQ outside the
// prefix is read once too; one that does not exist is reported with
// Exists false.
func Discover(ctx context.Context, api SQSAPI, opts DiscoverOptions) ([]DeadLetterQueue, error) {
	urls, err := ListURLs(ctx, api, opts.Prefix)
	if err != nil {
		return nil, err
	}
	queues, err := readAll(ctx, api, urls, opts.Concurrency)
	if err != nil {
		return nil, err
	}
	byARN := make(map[string]Queue, len(queues))
	for _, q := range queues {
		byARN[q.ARN] = q
	}
	sources := map[string][]Source{}
	var order []string
	for _, q := range queues {
		if q.Redrive == nil {
			continue
		}
		target := q.Redrive.DeadLetterTargetARN
		if _, seen := sources[target]; !seen {
			order = append(order, target)
		}
		sources[target] = append(sources[target], Source{Queue: q, MaxReceiveCount: q.Redrive.MaxReceiveCount})
	}

	dlqs := make([]DeadLetterQueue, 0, len(order))
	for _, arn := range order {
		d := DeadLetterQueue{Sources: sources[arn]}
		q, ok := byARN[arn]
		if !ok && opts.Prefix != "" {
			// Outside the prefix, so not listed: look it up by name.
			q, ok, err = lookupByARN(ctx, api, arn)
			if err != nil {
				return nil, err
			}
		}
		if ok {
			d.Queue, d.Exists = q, true
		} else {
			d.Queue = Queue{Name: NameFromARN(arn), ARN: arn}
		}
		dlqs = append(dlqs, d)
	}
	SortDeepestFirst(dlqs)
	return dlqs, nil
}

// Inspect reads the named queues as DLQs: each queue's attributes once, its
// sources through ListDeadLetterSourceQueues, and each source's attributes
// once even when it feeds several of the named DLQs.
func Inspect(ctx context.Context, api SQSAPI, refs []Ref, concurrency int) ([]DeadLetterQueue, error) {
	urls := make([]string, 0, len(refs))
	once := map[string]bool{} // a queue named twice (by name and ARN, say) is shown once
	for _, r := range refs {
		u, err := ResolveURL(ctx, api, r)
		if err != nil {
			return nil, err
		}
		if !once[u] {
			once[u] = true
			urls = append(urls, u)
		}
	}
	named, err := readAll(ctx, api, urls, concurrency)
	if err != nil {
		return nil, err
	}
	if len(named) != len(urls) {
		return nil, &NotFoundError{Name: missingName(urls, named)}
	}
	sourceURLs := make([][]string, len(named))
	unlisted := make([]string, len(named))
	var all []string
	seen := map[string]bool{}
	for i, q := range named {
		su, err := ListSources(ctx, api, q.URL)
		if code, ok := SourcesUnlisted(err); ok {
			unlisted[i] = code
		} else if err != nil {
			return nil, err
		}
		sourceURLs[i] = su
		for _, u := range su {
			if !seen[u] {
				seen[u] = true
				all = append(all, u)
			}
		}
	}
	srcs, err := readAll(ctx, api, all, concurrency)
	if err != nil {
		return nil, err
	}
	byURL := make(map[string]Queue, len(srcs))
	for _, s := range srcs {
		byURL[s.URL] = s
	}
	dlqs := make([]DeadLetterQueue, 0, len(named))
	for i, q := range named {
		d := DeadLetterQueue{Queue: q, Exists: true, SourcesUnlisted: unlisted[i]}
		for _, u := range sourceURLs[i] {
			s, ok := byURL[u]
			if !ok {
				continue // deleted since it was listed
			}
			mrc := 0
			if s.Redrive != nil {
				mrc = s.Redrive.MaxReceiveCount
			}
			d.Sources = append(d.Sources, Source{Queue: s, MaxReceiveCount: mrc})
		}
		dlqs = append(dlqs, d)
	}
	SortDeepestFirst(dlqs)
	return dlqs, nil
}

// SortDeepestFirst orders DLQs by the messages they hold, most first, then
// by name.
func SortDeepestFirst(d []DeadLetterQueue) {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].Depth() != d[j].Depth() {
			return d[i].Depth() > d[j].Depth()
		}
		return d[i].Name < d[j].Name
	})
}

// ListURLs lists every queue URL with the prefix, following NextToken.
func ListURLs(ctx context.Context, api SQSAPI, prefix string) ([]string, error) {
	in := &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)}
	if prefix != "" {
		in.QueueNamePrefix = aws.String(prefix)
	}
	var urls []string
	p := sqs.NewListQueuesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		urls = append(urls, page.QueueUrls...)
	}
	return urls, nil
}

// ListSources lists the URLs of the queues whose redrive policy names
// dlqURL, every page. SQS may refuse it (see SourcesUnlisted).
func ListSources(ctx context.Context, api sqs.ListDeadLetterSourceQueuesAPIClient, dlqURL string) ([]string, error) {
	var urls []string
	p := sqs.NewListDeadLetterSourceQueuesPaginator(api, &sqs.ListDeadLetterSourceQueuesInput{
		QueueUrl: aws.String(dlqURL), MaxResults: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list dead-letter source queues of %s: %w", nameFromURL(dlqURL), err)
		}
		urls = append(urls, page.QueueUrls...)
	}
	return urls, nil
}

// SourcesUnlisted reports whether err (from ListSources) is the service
// refusing to list sources (a role without sqs:ListDeadLetterSourceQueues,
// an emulator without the action), and its error code: a caller can go on
// without the sources. Only a refusal counts (an HTTP 4xx answer): a
// server error, throttling that outlasted the retries, a queue that is
// gone, or a connection error is an error, which the caller reports.
func SourcesUnlisted(err error) (code string, ok bool) {
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) || !Rejected(err) || IsNotExist(err) {
		return "", false
	}
	code = apiErr.ErrorCode()
	if strings.Contains(code, "Throttl") || code == "RequestThrottled" || code == "OverLimit" {
		return "", false
	}
	return code, true
}

// readAll reads attributes of every URL with bounded concurrency, in input
// order. Queues deleted between listing and reading are left out.
func readAll(ctx context.Context, api SQSAPI, urls []string, concurrency int) ([]Queue, error) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	out := make([]Queue, len(urls))
	found := make([]bool, len(urls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	var mu sync.Mutex
	for i, u := range urls {
		g.Go(func() error {
			q, err := Attributes(gctx, api, u)
			if err != nil {
				var nf *NotFoundError
				if errors.As(err, &nf) {
					return nil
				}
				return err
			}
			mu.Lock()
			out[i], found[i] = q, true
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, q := range out {
		if found[i] {
			kept = append(kept, q)
		}
	}
	return kept, nil
}

func lookupByARN(ctx context.Context, api SQSAPI, arn string) (Queue, bool, error) {
	ref, err := ParseRef(arn)
	if err != nil {
		return Queue{}, false, nil
	}
	u, err := ResolveURL(ctx, api, ref)
	if err != nil {
		if IsNotExist(err) {
			return Queue{}, false, nil
		}
		return Queue{}, false, err
	}
	q, err := Attributes(ctx, api, u)
	if err != nil {
		if IsNotExist(err) {
			return Queue{}, false, nil
		}
		return Queue{}, false, err
	}
	return q, true, nil
}

func missingName(urls []string, got []Queue) string {
	have := map[string]bool{}
	for _, q := range got {
		have[q.URL] = true
	}
	for _, u := range urls {
		if !have[u] {
			return nameFromURL(u)
		}
	}
	return ""
}
