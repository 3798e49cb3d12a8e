// Package worker is a long-poll SQS consumer that runs the Lambda batch
// handler sqsbatch.New returns, in a container or any long-lived process,
// with Lambda's batchItemFailures rules: records the handler did not report
// failed are deleted, failed ones are left for SQS to redeliver and, past
// maxReceiveCount, to move to the DLQ. Batches in flight are bounded, the
// visibility of the records a batch holds is extended while it runs, FIFO
// groups keep their order, and a stop (the end of Run's context: SIGTERM
// in a container) stops receiving, finishes what is in flight within a
// grace period and releases what was received but not started.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/queue"
)

// SQSAPI is the part of the SQS client the worker calls.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Handler is a Lambda SQS handler with partial batch failures: the
// function sqsbatch.New returns and lambda.Start runs.
type Handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Defaults of Options.
const (
	DefaultConcurrency = 4
	// DefaultWaitTime is SQS's longest long poll.
	DefaultWaitTime = 20 * time.Second
	// DefaultGrace leaves a stopped ECS task (stopTimeout 30 s) five
	// seconds to exit before it is killed.
	DefaultGrace = 25 * time.Second
	// deleteAttempts bounds the resends of a delete whose answer was lost
	// or that failed for a transient reason.
	deleteAttempts = 5
)

// ErrGraceExpired is what Run returns when batches were still in flight
// when the grace period ran out: their records reappear once their
// visibility timeout ends.
var ErrGraceExpired = errors.New("grace period ran out with records in flight")

// Options configure a Worker.
type Options struct {
	// QueueURL is the queue to consume.
	QueueURL string
	// QueueARN is the records' eventSourceARN; read from the queue when
	// empty.
	QueueARN string
	// Handler runs each batch.
	Handler Handler
	// Concurrency is the number of batches in flight, each with its own
	// receive loop (records in flight: at most Concurrency × BatchSize);
	// default DefaultConcurrency.
	Concurrency int
	// BatchSize is the most records a receive asks for (1 to 10); default
	// 10.
	BatchSize int
	// WaitTime is the long poll of each receive (whole seconds, at most
	// 20); default DefaultWaitTime. A stop waits for receives in flight
	// (cancelled, their messages would stay hidden), so it is also the
	// longest a stop of an idle worker takes.
	WaitTime time.Duration
	// Visibility is how long a received record stays hidden, renewed while
	// its batch runs (whole seconds). 0: the queue's VisibilityTimeout,
	// read at start; set, it also overrides the queue's on each receive.
	Visibility time.Duration
	// Heartbeat is how often the visibility of the records a batch still
	// holds is renewed while it runs; 0: Visibility/3; negative: never (as
	// Lambda's event source mapping, whose function timeout must fit the
	// visibility timeout instead).
	Heartbeat time.Duration
	// Timeout is each invocation's deadline, as a Lambda function timeout:
	// a batch that outlives it failed as a whole. 0: no deadline (a
	// worker's default: a saga then waits out another worker's lease
	// instead of failing the delivery).
	Timeout time.Duration
	// Grace is how long a stop lets batches in flight finish before Run
	// gives up on them; default DefaultGrace.
	Grace time.Duration
	// Logger receives the worker's own lines (receive errors, deletes
	// that failed, with the record's trace IDs); nil discards them.
	Logger *slog.Logger
	// Sleep waits between attempts, between heartbeats and for the grace
	// period; nil: real time. Tests inject it.
	Sleep func(context.Context, time.Duration) error
}

// Stats are the worker's counts since it started.
type Stats struct {
	Received    int64 // records received, those released unstarted included
	Invocations int64 // handler invocations
	Deleted     int64 // records handled and deleted: processed and gone
	Failed      int64 // records the handler failed (reported, or the whole batch): left for redelivery
	Undeleted   int64 // records handled whose delete did not succeed: they will be delivered again
	Released    int64 // records received during a stop and given back unstarted (visibility 0)
	Extended    int64 // visibility extensions
}

// String summarises the counts.
func (s Stats) String() string {
	return fmt.Sprintf("%d invocations, %d records received: %d processed and deleted, %d reported failed, %d not deleted, %d released unstarted",
		s.Invocations, s.Received, s.Deleted, s.Failed, s.Undeleted, s.Released)
}

// Worker consumes one queue. Run it once.
type Worker struct {
	api SQSAPI
	o   Options
	log *slog.Logger

	region string

	received, invocations, deleted, failed, undeleted, released, extended atomic.Int64
	inFlight                                                              atomic.Int64

	fatalOnce sync.Once
	fatal     error
}

// New returns a worker that consumes o.QueueURL with api.
func New(api SQSAPI, o Options) *Worker {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BatchSize <= 0 || o.BatchSize > queue.MaxBatch {
		o.BatchSize = queue.MaxBatch
	}
	if o.WaitTime <= 0 || o.WaitTime > DefaultWaitTime {
		o.WaitTime = DefaultWaitTime
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{api: api, o: o, log: log}
}

// Stats returns the counts so far.
func (w *Worker) Stats() Stats {
	return Stats{Received: w.received.Load(), Invocations: w.invocations.Load(), Deleted: w.deleted.Load(), Failed: w.failed.Load(),
		Undeleted: w.undeleted.Load(), Released: w.released.Load(), Extended: w.extended.Load()}
}

// Run consumes the queue until ctx ends, then stops: no new receive
// starts; a receive in flight is let finish and what it brings is
// released unstarted (visibility 0); batches in flight run on with a
// context that is not cancelled until the grace period runs out, and are
// deleted as usual. It returns nil once everything it held is deleted, left
// for redelivery or released; ErrGraceExpired (wrapped) when the grace
// period ran out first; an error at once when the queue cannot be read
// (it does not exist, access is denied).
func (w *Worker) Run(ctx context.Context) error {
	if w.o.QueueURL == "" || w.o.Handler == nil {
		return errors.New("run worker: a queue URL and a handler are required")
	}
	if w.o.Grace <= w.o.WaitTime {
		// A stop lets a receive in flight finish (cutting it could hide
		// messages no handle can release): an idle worker waits out its
		// long poll, which the grace period must outlast.
		return fmt.Errorf("run worker: the grace period (%s) must be longer than the long poll (%s)", w.o.Grace, w.o.WaitTime)
	}
	if ctx.Err() != nil {
		return nil // stopped before it started: nothing received, nothing held
	}
	if err := w.describe(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while it read the queue: nothing held
		}
		return err
	}
	// stop ends receiving: the caller's stop, or an error no retry cures.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	// held is what handlers, deletes and receives in flight run under:
	// cancelled only when the grace period after a stop runs out.
	held, cancelHeld := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHeld()

	var wg sync.WaitGroup
	for range w.o.Concurrency {
		wg.Go(func() { w.poll(stop, held, cancelStop) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	select {
	case <-done:
		return w.fatal
	case <-stop.Done():
	}
	w.log.InfoContext(ctx, "stopping: no new receives; finishing the batches in flight", "grace", w.o.Grace.String(), "inFlight", w.inFlight.Load())
	grace, cancelGrace := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelGrace()
	expired := make(chan struct{})
	go func() {
		if w.o.Sleep(grace, w.o.Grace) == nil {
			close(expired)
		}
	}()
	select {
	case <-done:
		w.log.InfoContext(ctx, "stopped", "stats", w.Stats().String())
		return w.fatal
	case <-expired:
		n := w.inFlight.Load()
		cancelHeld()
		w.log.WarnContext(ctx, "grace period ran out: abandoning the records in flight", "inFlight", n)
		return fmt.Errorf("stop worker: %w (%d records; they reappear when their visibility timeout ends)", ErrGraceExpired, n)
	}
}

// describe reads what the options leave to the queue: its ARN, and its
// visibility timeout when the worker renews visibility.
func (w *Worker) describe(ctx context.Context) error {
	needVisibility := w.o.Visibility <= 0 && w.o.Heartbeat >= 0
	if w.o.QueueARN == "" || needVisibility {
		out, err := w.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.o.QueueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout}})
		if err != nil {
			return fmt.Errorf("read queue %s: %w", w.o.QueueURL, err)
		}
		if w.o.QueueARN == "" {
			w.o.QueueARN = out.Attributes[string(types.QueueAttributeNameQueueArn)]
		}
		if needVisibility {
			s, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
			if err != nil {
				return fmt.Errorf("read visibility timeout of %s: %w", w.o.QueueURL, err)
			}
			w.o.Visibility = time.Duration(s) * time.Second
		}
	}
	if w.o.Heartbeat == 0 {
		w.o.Heartbeat = w.o.Visibility / 3
	}
	if w.o.Heartbeat >= 0 && w.o.Visibility < time.Second {
		// Renewing a hold of 0 s would release every record it renews.
		return fmt.Errorf("run worker: visibility %s of %s is too short to renew (want at least 1s)", w.o.Visibility, w.o.QueueURL)
	}
	if w.o.Heartbeat >= w.o.Visibility {
		return fmt.Errorf("run worker: a heartbeat every %s cannot keep a hold of %s", w.o.Heartbeat, w.o.Visibility)
	}
	if parts := strings.Split(w.o.QueueARN, ":"); len(parts) == 6 {
		w.region = parts[3]
	}
	return nil
}

// poll is one receive loop: receive, run the batch, delete, again, until
// stop ends.
func (w *Worker) poll(stop, held context.Context, cancelStop context.CancelFunc) {
	for attempt := 1; stop.Err() == nil; {
		// Never cancelled mid-call: the server would hide the messages of
		// a receive whose answer we drop. held ends only when the grace
		// period does.
		out, err := w.api.ReceiveMessage(held, w.receiveInput())
		switch {
		case held.Err() != nil:
			return
		case err != nil && permanent(err):
			w.fatalOnce.Do(func() { w.fatal = fmt.Errorf("receive from %s: %w", w.o.QueueURL, err) })
			w.log.ErrorContext(stop, "receive refused: stopping", "status", "error", "error", err.Error())
			cancelStop()
			return
		case err != nil:
			w.log.WarnContext(stop, "receive failed: retrying", "status", "retry", "error", err.Error(), "attempt", attempt)
			_ = w.o.Sleep(stop, backoff.Delay(attempt))
			attempt++
			continue
		}
		attempt = 1
		if len(out.Messages) == 0 {
			continue
		}
		if stop.Err() != nil {
			w.release(held, out.Messages)
			return
		}
		w.handle(held, out.Messages)
	}
}

func (w *Worker) receiveInput() *sqs.ReceiveMessageInput {
	in := &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(w.o.QueueURL), MaxNumberOfMessages: int32(w.o.BatchSize), WaitTimeSeconds: int32(w.o.WaitTime / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	}
	if w.o.Visibility > 0 {
		in.VisibilityTimeout = int32(w.o.Visibility / time.Second)
	}
	return in
}

// release gives back, unstarted, what a receive brought during a stop.
func (w *Worker) release(ctx context.Context, msgs []types.Message) {
	handles := make([]string, len(msgs))
	for i, m := range msgs {
		handles[i] = aws.ToString(m.ReceiptHandle)
	}
	w.received.Add(int64(len(msgs))) // received, then given back unstarted
	n, err := queue.Release(ctx, w.api, w.o.QueueURL, handles)
	w.released.Add(int64(n))
	if err != nil {
		w.log.WarnContext(ctx, "release on stop failed: those messages reappear when their visibility timeout ends", "status", "retry", "error", err.Error())
	}
}

// permanent reports whether a receive error is one no retry cures: the
// queue does not exist, access is denied, the request is invalid.
func permanent(err error) bool {
	if queue.IsNotExist(err) {
		return true
	}
	if !queue.Rejected(err) || queue.OverLimit(err) {
		return false
	}
	var api smithy.APIError
	return !errors.As(err, &api) || !strings.Contains(api.ErrorCode(), "Throttl")
}
