package inspect

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// countingSQS counts attribute reads so the test can wait for refreshes.
type countingSQS struct {
	queue.SQSAPI
	lists atomic.Int32
}

func (c *countingSQS) ListQueues(ctx context.Context, in *sqs.ListQueuesInput, o ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error) {
	c.lists.Add(1)
	return c.SQSAPI.ListQueues(ctx, in, o...)
}

func TestWatchRefreshesUntilInterrupted(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c := sqs.NewFromConfig(cfg)
	p := testenv.Name(t, "watch")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 3))
	testenv.Send(t, c, dlq.URL, 1, "x")

	api := &countingSQS{SQSAPI: c}
	ios, _, out, _ := render.Test()
	ios.SetStdoutTTY(true)
	opts := &InspectOptions{
		IO:          ios,
		SQS:         func(context.Context) (queue.SQSAPI, error) { return api, nil },
		CloudWatch:  func(context.Context) (alarm.CloudWatchAPI, error) { return cloudwatch.NewFromConfig(cfg), nil },
		Now:         time.Now,
		Prefix:      p,
		MaxDepth:    0, // a watch never exits 3
		Watch:       50 * time.Millisecond,
		Concurrency: 4,
		Output:      render.FormatTable,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inspectRun(ctx, opts) }()
	deadline := time.Now().Add(20 * time.Second)
	for api.lists.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v, want nil on interrupt", err)
	}
	screens := strings.Count(out.String(), "\x1b[H\x1b[2J")
	if api.lists.Load() < 3 || screens < 2 {
		t.Fatalf("refreshed %d times, drew %d screens", api.lists.Load(), screens)
	}
	if !strings.Contains(out.String(), p+"-dlq") || !strings.Contains(out.String(), "1 DLQ, 1 with messages") {
		t.Errorf("screen lacks the DLQ or summary:\n%s", out.String())
	}
}
