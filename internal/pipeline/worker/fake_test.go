package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/pipeline/worker"
)

var errReset = errors.New("read tcp: connection reset by peer")

// fakeSQS is the worker's SQS as far as these tests need it: receives
// hand out the batches given, in order, then wait for the long poll to
// end (idle); deletes behave as SQS's (deleting a message already deleted
// succeeds) with faults injected on request.
type fakeSQS struct {
	worker.SQSAPI // not called: panics if the worker calls anything else

	idle <-chan struct{} // a receive with nothing to give returns empty once closed

	mu          sync.Mutex
	batches     [][]types.Message
	receiveErrs []error
	onReceive   func(n int) // called as receive n (from 1) starts
	receives    int
	handedOut   int // receives that returned messages
	inCall      int // receives in progress
	// deleteFault, when set, says what happens to delete call n (from
	// 1): "before" (fails, nothing deleted), "after" (deletes, then the
	// answer is lost) or "" (answers).
	deleteFault func(n int) string
	refuse      map[string]bool // handles a delete refuses (SenderFault)
	internal    map[string]int  // handles whose next n deletes fail server-side
	deleteCalls [][]string
	deleted     map[string]bool
	visibility  chan visibilityCall
	visCalls    []visibilityCall
	visTimeout  string
}

type visibilityCall struct {
	handles []string
	seconds int32
}

func newFake(idle <-chan struct{}, batches ...[]types.Message) *fakeSQS {
	return &fakeSQS{idle: idle, batches: batches, deleted: map[string]bool{}, refuse: map[string]bool{}, internal: map[string]int{},
		visibility: make(chan visibilityCall, 100), visTimeout: "30"}
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.receives++
	f.inCall++
	n := f.receives
	var msgs []types.Message
	var err error
	switch {
	case len(f.receiveErrs) > 0:
		err, f.receiveErrs = f.receiveErrs[0], f.receiveErrs[1:]
	case len(f.batches) > 0:
		msgs, f.batches = f.batches[0], f.batches[1:]
	}
	hook := f.onReceive
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inCall--
		if msgs != nil && err == nil {
			f.handedOut++
		}
		f.mu.Unlock()
	}()
	if hook != nil {
		hook(n)
	}
	if err != nil {
		return nil, err
	}
	if msgs == nil {
		select {
		case <-f.idle:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var handles []string
	for _, e := range in.Entries {
		handles = append(handles, aws.ToString(e.ReceiptHandle))
	}
	f.deleteCalls = append(f.deleteCalls, handles)
	fault := ""
	if f.deleteFault != nil {
		fault = f.deleteFault(len(f.deleteCalls))
	}
	if fault == "before" {
		return nil, errReset
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		h := aws.ToString(e.ReceiptHandle)
		switch {
		case f.refuse[h]:
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, SenderFault: true, Code: aws.String("ReceiptHandleIsInvalid")})
		case f.internal[h] > 0:
			f.internal[h]--
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
		default:
			f.deleted[h] = true
			out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
		}
	}
	if fault == "after" {
		return nil, errReset
	}
	return out, nil
}

func (f *fakeSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	c := visibilityCall{}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		c.handles = append(c.handles, aws.ToString(e.ReceiptHandle))
		c.seconds = e.VisibilityTimeout
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	f.mu.Lock()
	f.visCalls = append(f.visCalls, c)
	f.mu.Unlock()
	f.visibility <- c
	return out, nil
}

func (f *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": "arn:aws:sqs:eu-west-1:123456789012:orders", "VisibilityTimeout": f.visTimeout}}, nil
}

func (f *fakeSQS) snapshot() (deleteCalls [][]string, deleted map[string]bool, vis []visibilityCall, receives int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleteCalls), maps(f.deleted), slices.Clone(f.visCalls), f.receives
}

func maps(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// clock is the worker's Sleep: a heartbeat waits for a tick, the grace
// period for expire, any other wait (a backoff) not at all.
type clock struct {
	heartbeat, grace time.Duration
	tick, expire     chan struct{}
}

func newClock(heartbeat, grace time.Duration) *clock {
	return &clock{heartbeat: heartbeat, grace: grace, tick: make(chan struct{}), expire: make(chan struct{})}
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	var ch chan struct{}
	switch d {
	case c.heartbeat:
		ch = c.tick
	case c.grace:
		ch = c.expire
	default:
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func msgs(ids ...int) []types.Message {
	out := make([]types.Message, len(ids))
	for i, id := range ids {
		out[i] = types.Message{MessageId: aws.String(fmt.Sprintf("m-%d", id)), ReceiptHandle: aws.String(fmt.Sprintf("h-%d", id)),
			Body: aws.String(fmt.Sprintf(`{"n":%d}`, id))}
	}
	return out
}

// failing is a handler that reports the given message IDs failed.
func failing(ids ...string) worker.Handler {
	return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp := events.SQSEventResponse{}
		for _, r := range ev.Records {
			if slices.Contains(ids, r.MessageId) {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

// options are a worker's options for a fake: one receive loop, no
// heartbeat, a grace period only the clock ends.
func options(h worker.Handler, c *clock) worker.Options {
	return worker.Options{QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", QueueARN: "arn:aws:sqs:eu-west-1:123456789012:orders",
		Handler: h, Concurrency: 1, Heartbeat: -1, Grace: time.Hour, Sleep: c.Sleep}
}

// runOneBatch runs a worker on one batch and stops it once the batch is
// done (the receive loop came back for more).
func runOneBatch(t *testing.T, h worker.Handler, batch []types.Message, setup func(*fakeSQS)) (*fakeSQS, *worker.Worker, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), batch)
	f.onReceive = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	if setup != nil {
		setup(f)
	}
	w := worker.New(f, options(h, newClock(0, time.Hour)))
	return f, w, w.Run(ctx)
}
