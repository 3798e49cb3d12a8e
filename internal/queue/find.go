package queue

import "context"

// FindDeadLetterQueues inspects the named queues, or discovers every DLQ
// under prefix when none are named. Commands that work on "these DLQs, or
// all of them" share it.
func FindDeadLetterQueues(ctx context.Context, api SQSAPI, refs []Ref, prefix string, concurrency int) ([]DeadLetterQueue, error) {
	if len(refs) > 0 {
		return Inspect(ctx, api, refs, concurrency)
	}
	return Discover(ctx, api, DiscoverOptions{Prefix: prefix, Concurrency: concurrency})
}

// ParseRefs parses queue arguments, stopping at the first invalid one.
func ParseRefs(args []string) ([]Ref, error) {
	refs := make([]Ref, 0, len(args))
	for _, a := range args {
		r, err := ParseRef(a)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return refs, nil
}
