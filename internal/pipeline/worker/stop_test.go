package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/pipeline/worker"
	"github.com/dlqops/dlq/internal/testenv"
)

// A stop lets a receive in flight finish, so a grace period that does not
// outlast the long poll would cut an idle worker's receive mid-call (and
// could hide messages no handle releases): such options are refused
// before the first receive.
func TestGraceShorterThanTheLongPollIsRefused(t *testing.T) {
	t.Parallel()
	f := newFake(make(chan struct{}))
	received := make(chan struct{}, 1)
	f.onReceive = func(int) {
		select {
		case received <- struct{}{}:
		default:
		}
	}
	o := options(failing(), newClock(0, 5*time.Second))
	o.Grace, o.WaitTime = 5*time.Second, 20*time.Second
	err := worker.New(f, o).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "must be longer than the long poll") {
		t.Fatalf("Run = %v, want the options refused", err)
	}
	select {
	case <-received:
		t.Error("a receive started")
	default:
	}
}

// A SIGTERM that arrives before the worker read its queue stops it
// cleanly: nothing was received, nothing is held, Run returns nil (the
// binary exits 0).
func TestStopBeforeTheFirstReadIsClean(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "stop-early"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := worker.New(c, worker.Options{QueueURL: q.URL, Handler: failing(), WaitTime: time.Second})
	if err := w.Run(ctx); err != nil {
		t.Errorf("Run after a stop at start = %v, want nil", err)
	}
	if s := w.Stats(); s.Received != 0 {
		t.Errorf("stats %+v: nothing should have been received", s)
	}
}
