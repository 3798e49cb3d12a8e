package queue

import (
	"context"
	"fmt"
)

// BrowseAPI is what a browse calls: reading the queue and scanning it.
type BrowseAPI interface {
	SQSAPI
	ReceiveAPI
}

// BrowseOptions bound a browse: a scan that consumes nothing.
type BrowseOptions struct {
	// Force browses a queue that has its own RedrivePolicy.
	Force bool
	// Note, when set, is told what the user should know about the queue
	// (a forced RedrivePolicy, a FIFO queue's limits).
	Note func(string)
	// Limit and MaxScan bound the scan as ScanOptions' do.
	Limit, MaxScan int
	// Found, when set, sees each match as the scan finds it (peek streams
	// it), and the result's Matched stays empty; an error from it ends the
	// scan.
	Found func(*Message) error
	// Progress, when set, is told how far the scan got after each batch.
	Progress func(scanned, matched int)
}

// RedriveError refuses to browse a queue that has its own RedrivePolicy:
// every receive raises its messages' ApproximateReceiveCount, and enough
// of them move the messages to its dead-letter queue.
type RedriveError struct {
	Queue           string
	MaxReceiveCount int
	Target          string
}

func (e *RedriveError) Error() string {
	return fmt.Sprintf("%s has a RedrivePolicy (maxReceiveCount %d, to %s): reading it raises each message's ApproximateReceiveCount and can move messages there",
		e.Queue, e.MaxReceiveCount, e.Target)
}

// Open resolves ref and reads the queue's attributes for a browse: a
// queue with its own RedrivePolicy is a *RedriveError unless o.Force (then
// a note says what the browse may do to it).
func Open(ctx context.Context, api SQSAPI, ref Ref, o BrowseOptions) (Queue, error) {
	note := o.Note
	if note == nil {
		note = func(string) {}
	}
	url, err := ResolveURL(ctx, api, ref)
	if err != nil {
		return Queue{}, err
	}
	q, err := Attributes(ctx, api, url)
	if err != nil {
		return Queue{}, err
	}
	if q.Redrive != nil {
		rerr := &RedriveError{Queue: q.Name, MaxReceiveCount: q.Redrive.MaxReceiveCount, Target: NameFromARN(q.Redrive.DeadLetterTargetARN)}
		if !o.Force {
			return q, rerr
		}
		note("warning: " + rerr.Error())
	}
	if q.FIFO {
		note("note: FIFO queue: only the first messages of each message group can be seen without consuming them")
	}
	return q, nil
}

// BrowseOpened scans a queue Open returned with match, giving back
// everything it received: a browse reads a queue's messages without
// consuming them, for every command that looks before it acts (peek,
// triage, timeline --from-dlq, the classification behind --cause).
func BrowseOpened(ctx context.Context, api ReceiveAPI, q Queue, match func(*Message) bool, o BrowseOptions) (ScanResult, error) {
	return Scan(ctx, api, q.URL, ScanOptions{Depth: q.Visible, MaxScan: o.MaxScan, Limit: o.Limit, Keep: o.Found, Forget: o.Found != nil, Progress: o.Progress}, match)
}
