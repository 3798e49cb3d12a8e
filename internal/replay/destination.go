package replay

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/queue"
)

// DestinationError is a destination that cannot be used: the caller's
// input is wrong (a usage error for the CLI).
type DestinationError struct{ Msg string }

func (e *DestinationError) Error() string { return e.Msg }

// ResolveDestination picks where a DLQ's messages go: to, else the DLQ's
// single source queue. A destination that is not a source needs force; a
// FIFO/standard mismatch is always refused.
func ResolveDestination(ctx context.Context, api queue.SQSAPI, dlq queue.Queue, to string, force bool) (queue.Queue, error) {
	var sources []string
	p := sqs.NewListDeadLetterSourceQueuesPaginator(api, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq.URL), MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return queue.Queue{}, fmt.Errorf("list sources of %s: %w", dlq.Name, err)
		}
		sources = append(sources, page.QueueUrls...)
	}
	var url string
	if to == "" {
		switch len(sources) {
		case 0:
			return queue.Queue{}, &DestinationError{fmt.Sprintf("no queue redrives to %s: pass --to QUEUE", dlq.Name)}
		case 1:
			url = sources[0]
		default:
			names := make([]string, len(sources))
			for i, s := range sources {
				names[i] = s[strings.LastIndex(s, "/")+1:]
			}
			return queue.Queue{}, &DestinationError{fmt.Sprintf("%s has %d sources (%s): pass --to QUEUE", dlq.Name, len(sources), strings.Join(names, ", "))}
		}
	} else {
		ref, err := queue.ParseRef(to)
		if err != nil {
			return queue.Queue{}, &DestinationError{err.Error()}
		}
		if url, err = queue.ResolveURL(ctx, api, ref); err != nil {
			return queue.Queue{}, err
		}
	}
	dest, err := queue.Attributes(ctx, api, url)
	if err != nil {
		return queue.Queue{}, err
	}
	if dest.FIFO != dlq.FIFO {
		return queue.Queue{}, &DestinationError{fmt.Sprintf("%s is %s but %s is %s: FIFO and standard queues do not mix", dlq.Name, kind(dlq.FIFO), dest.Name, kind(dest.FIFO))}
	}
	if to != "" && !force && !slices.ContainsFunc(sources, func(s string) bool { return strings.HasSuffix(s, "/"+dest.Name) }) {
		return queue.Queue{}, &DestinationError{fmt.Sprintf("%s is not a source of %s: pass --force to replay there anyway", dest.Name, dlq.Name)}
	}
	if dest.URL == dlq.URL {
		return queue.Queue{}, &DestinationError{"the destination is the DLQ itself"}
	}
	return dest, nil
}

func kind(fifo bool) string {
	if fifo {
		return "FIFO"
	}
	return "standard"
}
