// Package sqsbatch is the Lambda handler for SQS event sources with
// partial batch failures: each record runs with its own correlation IDs,
// standard queues in bounded parallel, FIFO queues in order per message
// group (the rest of a failed group is reported failed, never run out of
// order), no record is started too close to the deadline, a panic fails
// only its record, and every failure is reported by its message ID.
package sqsbatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// RecordHandler handles one record. ctx carries the record's trace IDs
// (trace.From); env is its parsed envelope (zero when the body is not one).
type RecordHandler func(ctx context.Context, rec events.SQSMessage, env trace.Envelope) error

// Options tune the batch handler.
type Options struct {
	// Concurrency bounds records (standard queues) or groups (FIFO) in
	// flight; default 8.
	Concurrency int
	// DeadlineMargin: records not started when less than this remains
	// before the invocation's deadline are reported failed; default 3s.
	DeadlineMargin time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// ErrMissingMessageID fails the whole batch: a failure cannot be reported
// for a record SQS did not identify, and reporting nothing would delete it.
var ErrMissingMessageID = errors.New("sqsbatch: record without messageId")

// New returns a handler for lambda.Start.
func New(h RecordHandler, o Options) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &batch{h: h, o: o}
	return b.handle
}

type batch struct {
	h RecordHandler
	o Options
}

func (b *batch) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	for _, r := range ev.Records {
		if r.MessageId == "" {
			return events.SQSEventResponse{}, ErrMissingMessageID
		}
	}
	var (
		mu     sync.Mutex
		failed = map[string]bool{}
	)
	fail := func(id string) {
		mu.Lock()
		failed[id] = true
		mu.Unlock()
	}
	var g errgroup.Group
	g.SetLimit(b.o.Concurrency)
	if isFIFO(ev) {
		for _, group := range groups(ev.Records) {
			g.Go(func() error { b.runGroup(ctx, group, fail); return nil })
		}
	} else {
		for _, r := range ev.Records {
			g.Go(func() error {
				if !b.run(ctx, r) {
					fail(r.MessageId)
				}
				return nil
			})
		}
	}
	_ = g.Wait()
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, r := range ev.Records { // in batch order, for stable output
		if failed[r.MessageId] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp, nil
}

// runGroup handles a FIFO group's records in order. Later records of the
// group must not overtake one that failed: they are reported failed
// untouched.
func (b *batch) runGroup(ctx context.Context, group []events.SQSMessage, fail func(id string)) {
	for i, r := range group {
		if !b.run(ctx, r) {
			for _, rest := range group[i:] {
				fail(rest.MessageId)
			}
			return
		}
	}
}

// run handles one record and reports whether it succeeded.
func (b *batch) run(ctx context.Context, r events.SQSMessage) (ok bool) {
	ids, env, fresh := trace.FromRecord(r)
	rctx := trace.With(ctx, ids)
	log := b.o.Logger
	if dl, has := ctx.Deadline(); has && dl.Sub(b.o.Now()) < b.o.DeadlineMargin {
		log.WarnContext(rctx, "not started: too close to the invocation deadline", "status", "retry")
		return false
	}
	if fresh {
		log.WarnContext(rctx, "record carried no traceId: a new one was generated")
	}
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(rctx, "record handler panicked", "status", "error", "error", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	start := b.o.Now()
	if err := b.h(rctx, r, env); err != nil {
		log.ErrorContext(rctx, "record failed", "status", "error", "error", err.Error(), "durationMs", ms(b.o.Now().Sub(start)))
		return false
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func isFIFO(ev events.SQSEvent) bool {
	for _, r := range ev.Records {
		if r.Attributes["MessageGroupId"] != "" || len(r.EventSourceARN) > 5 && r.EventSourceARN[len(r.EventSourceARN)-5:] == ".fifo" {
			return true
		}
	}
	return false
}

// groups splits records by message group, keeping batch order inside each
// group, and orders groups by their first record.
func groups(recs []events.SQSMessage) [][]events.SQSMessage {
	idx := map[string]int{}
	var out [][]events.SQSMessage
	for _, r := range recs {
		g := r.Attributes["MessageGroupId"]
		i, ok := idx[g]
		if !ok {
			i = len(out)
			idx[g] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}
