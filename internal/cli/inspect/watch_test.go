package inspect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/charmbracelet/lipgloss"

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

// handTicker paces a --watch by hand: each tick is a send, which returns
// once the watch waits for it.
type handTicker chan time.Time

func (h handTicker) tick(time.Duration) (<-chan time.Time, func()) { return h, func() {} }

// thrice ticks three times: three screens were drawn, and a fourth
// refresh has begun. A watch that ended instead fails the test (it would
// never take the tick).
func (h handTicker) thrice(t *testing.T, done <-chan error) {
	t.Helper()
	for range 3 {
		select {
		case h <- time.Time{}:
		case err := <-done:
			t.Fatalf("the watch ended before its ticks: %v", err)
		}
	}
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
	ticks := make(handTicker)
	ios, _, out, _ := render.Test()
	ios.SetStdoutTTY(true)
	opts := &InspectOptions{
		IO:          ios,
		SQS:         func(context.Context) (queue.SQSAPI, error) { return api, nil },
		CloudWatch:  func(context.Context) (alarm.CloudWatchAPI, error) { return cloudwatch.NewFromConfig(cfg), nil },
		Now:         time.Now,
		Prefix:      p,
		MaxDepth:    0, // a watch never exits 3
		Watch:       time.Minute,
		Tick:        ticks.tick,
		Concurrency: 4,
		Output:      render.FormatTable,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inspectRun(ctx, opts) }()
	ticks.thrice(t, done)
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

// screenRows is how many terminal rows text takes at width: a line wider
// than the terminal wraps onto more.
func screenRows(text string, width int) int {
	rows := 0
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		rows += max(1, (lipgloss.Width(line)+width-1)/width)
	}
	return rows
}

// A watch on an 80×24 terminal over DLQs with many warnings: every screen
// fits, so its first line (the "Every" header) and the table's header stay
// in view.
func TestWatchScreenKeepsItsHeaderInView(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c := sqs.NewFromConfig(cfg)
	p := testenv.Name(t, "crowd")
	for i := range 6 {
		// Default retention on both sides and maxReceiveCount 1: three
		// warnings a DLQ, with the missing alarm.
		d := testenv.CreateQueue(t, c, fmt.Sprintf("%s-%d-dlq", p, i), nil)
		testenv.CreateQueue(t, c, fmt.Sprintf("%s-%d", p, i), testenv.Redrive(d.ARN, 1))
	}
	api := &countingSQS{SQSAPI: c}
	ticks := make(handTicker)
	ios, _, out, _ := render.Test()
	ios.SetStdoutTTY(true)
	ios.SetTerminalWidth(80)
	opts := &InspectOptions{
		IO:          ios,
		SQS:         func(context.Context) (queue.SQSAPI, error) { return api, nil },
		CloudWatch:  func(context.Context) (alarm.CloudWatchAPI, error) { return cloudwatch.NewFromConfig(cfg), nil },
		Now:         time.Now,
		Prefix:      p,
		MaxDepth:    -1,
		Watch:       time.Minute,
		Tick:        ticks.tick,
		Concurrency: 4,
		Output:      render.FormatTable,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inspectRun(ctx, opts) }()
	ticks.thrice(t, done)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	screens := strings.Split(out.String(), "\x1b[H\x1b[2J")
	if len(screens) < 3 {
		t.Fatalf("drew %d screens", len(screens)-1)
	}
	screen := screens[1] // whole: the next one began after it
	if rows := screenRows(screen, 80); rows > watchScreenRows-1 {
		t.Errorf("the screen takes %d rows of 24 (and one for the cursor): its header scrolls away\n%s", rows, screen)
	}
	if !strings.HasPrefix(screen, "Every ") || !strings.Contains(screen, "\nDLQ ") || !strings.Contains(screen, "18 warnings") {
		t.Errorf("screen lacks its header, the table or the summary:\n%s", screen)
	}
}

// crowdedReport is rows DLQs with three long warnings each.
func crowdedReport(rows int) *Report {
	r := &Report{}
	for i := range rows {
		name := fmt.Sprintf("orders-stage-%02d-dlq", i)
		warnings := []string{
			"retention 4d is not longer than source orders's 4d: SQS keeps each message's original enqueue time, so dead-lettered messages can expire before anyone looks",
			"source orders has maxReceiveCount 1: a single failed or timed-out receive dead-letters a message",
			"no CloudWatch alarm watches its depth: run `dlq alarm ensure " + name + "`",
		}
		r.Rows = append(r.Rows, Row{Name: name, Exists: true, RetentionSeconds: 345600, Status: StatusWarning, Warnings: warnings,
			Sources: []SourceRow{{Kind: "sqs", Name: "orders", MaxReceiveCount: 1, RetentionSeconds: 345600}}})
	}
	return r
}

// The warnings under a watch's table are cut to the width and counted
// down to the rows left, whatever the number of DLQs; without --watch
// every warning is listed whole.
func TestWatchWarningsFitTheScreen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		rows, width int
		watch       bool
	}{
		{"watch-80", 4, 80, true},
		{"watch-100-many-dlqs", 14, 100, true},
		{"watch-80-no-room", 17, 80, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(true)
			ios.SetTerminalWidth(tc.width)
			r := crowdedReport(tc.rows)
			if err := write(&InspectOptions{IO: ios, Output: render.FormatTable, Watch: time.Second}, r); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes())
			// What watch adds: the "Every" line and a blank, the summary.
			if rows := 2 + screenRows(out.String(), tc.width) + screenRows(r.Summary(), tc.width); rows > watchScreenRows-1 {
				t.Errorf("the screen takes %d rows:\n%s", rows, out.String())
			}
		})
	}
}
