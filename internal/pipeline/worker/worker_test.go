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
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/pipeline/worker"
)

func TestDeletesWhatTheHandlerDidNotFail(t *testing.T) {
	t.Parallel()
	var got events.SQSEvent
	h := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		got = ev
		return failing("m-2")(ctx, ev)
	}
	f, w, err := runOneBatch(t, h, msgs(1, 2, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	calls, deleted, vis, _ := f.snapshot()
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"h-1", "h-3"}) {
		t.Errorf("delete calls = %v, want one of [h-1 h-3]", calls)
	}
	if deleted["h-2"] || len(vis) != 0 {
		t.Errorf("the failed record was deleted (%v) or its visibility changed (%v): it must be left for redelivery", deleted, vis)
	}
	if s := w.Stats(); s.Deleted != 2 || s.Failed != 1 || s.Received != 3 || s.Invocations != 1 {
		t.Errorf("stats = %+v", s)
	}
	if len(got.Records) != 3 || got.Records[0].EventSourceARN != "arn:aws:sqs:eu-west-1:123456789012:orders" || got.Records[0].AWSRegion != "eu-west-1" ||
		got.Records[0].EventSource != "aws:sqs" || got.Records[1].Body != `{"n":2}` || got.Records[2].ReceiptHandle != "h-3" {
		t.Errorf("the handler got %+v, not the batch as Lambda hands it", got.Records)
	}
}

// A batch whose handler errs, panics or answers an item that is not in
// the batch failed as a whole, as under Lambda: nothing is deleted or
// released; every record reappears after its visibility timeout.
func TestWholeBatchFailureLeavesEveryRecord(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]worker.Handler{
		"error": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("table unavailable")
		},
		"panic": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) { panic("nil map") },
		"unknown item": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m-9"}}}, nil
		},
		"empty item": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ""}}}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, w, err := runOneBatch(t, h, msgs(1, 2, 3), nil)
			if err != nil {
				t.Fatal(err)
			}
			calls, _, vis, _ := f.snapshot()
			if len(calls) != 0 || len(vis) != 0 {
				t.Errorf("deletes %v, visibility changes %v: want none", calls, vis)
			}
			if s := w.Stats(); s.Failed != 3 || s.Deleted != 0 {
				t.Errorf("stats = %+v, want 3 failed, 0 deleted", s)
			}
		})
	}
}

// A delete that failed before SQS saw it, or whose answer was lost after
// SQS deleted, is sent again with the same handles and ends known: deleted.
// One that keeps failing, or is refused, is not counted processed-and-gone.
func TestDeleteRetriedToAKnownOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		setup                func(*fakeSQS)
		calls                int
		deleted, undeleted   int64
		gone                 []string
		secondCallWantHandle []string
	}{
		{name: "answer lost after the delete", setup: func(f *fakeSQS) {
			f.deleteFault = func(n int) string { return map[int]string{1: "after"}[n] }
		}, calls: 2, deleted: 3, gone: []string{"h-1", "h-2", "h-3"}, secondCallWantHandle: []string{"h-1", "h-2", "h-3"}},
		{name: "fault before the call", setup: func(f *fakeSQS) {
			f.deleteFault = func(n int) string { return map[int]string{1: "before"}[n] }
		}, calls: 2, deleted: 3, gone: []string{"h-1", "h-2", "h-3"}, secondCallWantHandle: []string{"h-1", "h-2", "h-3"}},
		{name: "one entry failed server-side", setup: func(f *fakeSQS) { f.internal["h-2"] = 1 },
			calls: 2, deleted: 3, gone: []string{"h-1", "h-2", "h-3"}, secondCallWantHandle: []string{"h-2"}},
		{name: "every call fails", setup: func(f *fakeSQS) {
			f.deleteFault = func(int) string { return "before" }
		}, calls: 5, deleted: 0, undeleted: 3},
		{name: "an entry refused", setup: func(f *fakeSQS) { f.refuse["h-3"] = true },
			calls: 1, deleted: 2, undeleted: 1, gone: []string{"h-1", "h-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, w, err := runOneBatch(t, failing(), msgs(1, 2, 3), tc.setup)
			if err != nil {
				t.Fatal(err)
			}
			calls, deleted, _, _ := f.snapshot()
			if len(calls) != tc.calls {
				t.Fatalf("%d delete calls %v, want %d", len(calls), calls, tc.calls)
			}
			if tc.secondCallWantHandle != nil && !slices.Equal(calls[1], tc.secondCallWantHandle) {
				t.Errorf("second delete call %v, want %v", calls[1], tc.secondCallWantHandle)
			}
			var gone []string
			for h := range deleted {
				gone = append(gone, h)
			}
			slices.Sort(gone)
			if !slices.Equal(gone, tc.gone) {
				t.Errorf("deleted %v, want %v", gone, tc.gone)
			}
			if s := w.Stats(); s.Deleted != tc.deleted || s.Undeleted != tc.undeleted || s.Deleted+s.Undeleted != 3 {
				t.Errorf("stats = %+v, want %d deleted, %d not deleted", s, tc.deleted, tc.undeleted)
			}
		})
	}
}

// A receive that answers after the stop is not started: its messages are
// released at once (visibility 0), and no receive follows.
func TestStopReleasesWhatWasReceivedButNotStarted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), msgs(1, 2, 3))
	f.onReceive = func(n int) {
		if n == 1 {
			cancel() // SIGTERM while the long poll is out
		}
	}
	called := false
	w := worker.New(f, options(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		called = true
		return events.SQSEventResponse{}, nil
	}, newClock(0, time.Hour)))
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _, vis, receives := f.snapshot()
	if called || len(calls) != 0 {
		t.Errorf("handler called %v, deletes %v: a message received after the stop must not start", called, calls)
	}
	if len(vis) != 1 || vis[0].seconds != 0 || !slices.Equal(vis[0].handles, []string{"h-1", "h-2", "h-3"}) {
		t.Errorf("visibility changes %v, want the three released (0 s)", vis)
	}
	if receives != 1 {
		t.Errorf("%d receives, want none after the stop", receives)
	}
	if s := w.Stats(); s.Released != 3 || s.Received != 3 || s.Invocations != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// A batch in flight at the stop runs on with a context that is not
// cancelled, and its records are deleted; Run returns once it is done.
func TestStopLetsTheBatchInFlightFinish(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), msgs(1, 2))
	started, finish := make(chan context.Context), make(chan struct{})
	w := worker.New(f, options(func(hctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		started <- hctx
		<-finish
		return events.SQSEventResponse{}, hctx.Err()
	}, newClock(0, time.Hour)))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	hctx := <-started
	cancel()
	if hctx.Err() != nil {
		t.Fatal("the stop cancelled the handler's context: it must run on until the grace period ends")
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	calls, _, _, receives := f.snapshot()
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"h-1", "h-2"}) {
		t.Errorf("delete calls %v, want the batch deleted", calls)
	}
	if receives != 1 {
		t.Errorf("%d receives, want none after the stop", receives)
	}
	if s := w.Stats(); s.Deleted != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// When the grace period runs out with a batch in flight, its context is
// cancelled, Run returns ErrGraceExpired, and nothing of it is deleted.
func TestGraceExpiryAbandonsWhatIsInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), msgs(1, 2))
	c := newClock(0, 30*time.Second)
	started, returned := make(chan struct{}), make(chan struct{})
	o := options(func(hctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
		close(started)
		<-hctx.Done()
		defer close(returned)
		return events.SQSEventResponse{}, nil
	}, c)
	o.Grace = 30 * time.Second
	w := worker.New(f, o)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	close(c.expire)
	if err := <-done; !errors.Is(err, worker.ErrGraceExpired) {
		t.Fatalf("Run = %v, want ErrGraceExpired", err)
	}
	<-returned // the handler's context was cancelled
	calls, _, _, _ := f.snapshot()
	if len(calls) != 0 {
		t.Errorf("deleted %v after the grace period: a batch cut off must be left for redelivery", calls)
	}
}

// While a batch runs, every heartbeat renews the visibility of all its
// records to the queue's visibility timeout (read from the queue); once
// the handler has answered, the failed ones are no longer renewed.
func TestHeartbeatRenewsWhatTheBatchHolds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), msgs(1, 2, 3))
	f.visTimeout = "45"
	f.onReceive = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	c := newClock(15*time.Second, time.Hour) // a third of 45 s
	answer := make(chan struct{})
	o := options(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		<-answer
		return failing("m-2")(ctx, ev)
	}, c)
	o.Heartbeat = 0 // a third of the visibility
	w := worker.New(f, o)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for range 2 {
		c.tick <- struct{}{}
		v := <-f.visibility
		if v.seconds != 45 || !slices.Equal(v.handles, []string{"h-1", "h-2", "h-3"}) {
			t.Fatalf("heartbeat changed %v to %d s, want all three to 45 s", v.handles, v.seconds)
		}
	}
	close(answer)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, _, vis, _ := f.snapshot()
	if len(vis) != 2 {
		t.Errorf("visibility changes %v: want exactly the two heartbeats", vis)
	}
	if s := w.Stats(); s.Extended != 6 || s.Deleted != 2 || s.Failed != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// A receive error that no retry cures (the queue is gone) ends Run with
// it; a transient one is retried.
func TestReceiveErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake(ctx.Done(), msgs(1))
	f.receiveErrs = []error{errReset}
	f.onReceive = func(n int) {
		if n == 2 { // the next receive fails for good
			f.mu.Lock()
			f.receiveErrs = []error{&smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist"}}
			f.mu.Unlock()
		}
	}
	w := worker.New(f, options(failing(), newClock(0, time.Hour)))
	err := w.Run(ctx)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("Run = %v, want the queue's absence", err)
	}
	if s := w.Stats(); s.Deleted != 1 {
		t.Errorf("stats = %+v: the message after the transient error was not handled", s)
	}
}

// No more batches run at once than Concurrency, however many are waiting:
// a receive loop receives again only once its batch is handled and
// deleted, and loops are the only place batches run.
func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	for _, loops := range []int{1, 3} {
		t.Run(fmt.Sprint(loops), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var batches [][]types.Message
			for i := range 30 {
				batches = append(batches, msgs(i))
			}
			f := newFake(ctx.Done(), batches...)
			var mu sync.Mutex
			running, most, handled, overReceives := 0, 0, 0, 0
			f.onReceive = func(int) {
				// The other loops each hold a batch (handed out, not yet
				// deleted) or are in a receive: at most loops-1 of those
				// when this loop holds none, as it must to receive.
				f.mu.Lock()
				busy := f.handedOut - len(f.deleteCalls) + f.inCall - 1
				f.mu.Unlock()
				if busy > loops-1 {
					mu.Lock()
					overReceives++
					mu.Unlock()
				}
			}
			all, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			o := options(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				mu.Lock()
				running++
				most = max(most, running)
				if running == loops {
					once.Do(func() { close(all) })
				}
				mu.Unlock()
				<-release
				mu.Lock()
				running--
				handled++
				if handled == len(batches) {
					cancel()
				}
				mu.Unlock()
				return events.SQSEventResponse{}, nil
			}, newClock(0, time.Hour))
			o.Concurrency = loops
			w := worker.New(f, o)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			<-all
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if most != loops || handled != len(batches) || overReceives != 0 {
				t.Errorf("%d batches ran at once (want %d), %d handled, %d receives while every loop held a batch", most, loops, handled, overReceives)
			}
		})
	}
}

// Options that cannot keep a hold are refused before anything is
// received.
func TestRunRefusesAHoldItCannotKeep(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]worker.Options{
		"heartbeat past the visibility": {Visibility: 30 * time.Second, Heartbeat: time.Minute},
		"queue visibility 0":            {},
		"no handler":                    {Visibility: 30 * time.Second, Heartbeat: -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := newFake(ctx.Done(), msgs(1))
			f.visTimeout = "0"
			o.QueueURL, o.QueueARN = "https://q", "arn:aws:sqs:eu-west-1:123456789012:q"
			if name != "no handler" {
				o.Handler = failing()
			}
			if err := worker.New(f, o).Run(ctx); err == nil {
				t.Fatal("Run = nil, want a refusal")
			}
			if _, _, _, receives := f.snapshot(); receives != 0 {
				t.Errorf("%d receives before the refusal", receives)
			}
		})
	}
}
