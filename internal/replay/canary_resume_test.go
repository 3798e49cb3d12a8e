package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
	"github.com/dlqops/dlq/internal/triage"
)

// A run stopped while it watched its canary (Ctrl-C, a kill) leaves the
// canary open in the journal: the next run resumes that watch. It sends
// none of the canary again and picks no second canary (even when asked
// for a different size), and its verdict lets the rest go.
func TestReplayCanaryResumesAfterAStoppedWatch(t *testing.T) {
	t.Parallel()
	c, d, src := canaryPair(t)
	read := consumer(t, c, src.URL, true)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	j1, err := journal.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = replay.Run(ctx, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 5, CanaryWait: 10 * time.Second, Journal: j1,
		Status: func(s string) {
			if strings.HasPrefix(s, "canary:") {
				cancel() // stopped as the watch begins: the canary is sent
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the stopped run: %v, want context.Canceled", err)
	}
	_ = j1.Close()

	j2, err := journal.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j2.Close() }()
	// A run of another selection does not resume it; a look of the same
	// one says it would.
	other := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 7, Journal: j2, DryRun: true, CanarySelection: "another"})
	if other.Plan == nil || !strings.Contains(strings.Join(other.Plan.Warnings, " "), "was of another selection") {
		t.Errorf("another selection's plan: %+v", other.Plan)
	}
	var asked []int
	rep := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 7, Journal: j2,
		// The stopped run's confirmation does not cover the rest: asked
		// again before it moves.
		Confirm: func(r replay.Report) (bool, error) { asked = append(asked, r.Plan.Messages); return true, nil }})
	if len(asked) == 0 || asked[len(asked)-1] != 15 {
		t.Errorf("confirmations asked for %v message(s): want the rest's 15 asked before it moved", asked)
	}
	if rep.Canary == nil || !rep.Canary.Resumed || rep.Canary.Sent != 5 || rep.Canary.Verdict != replay.CanaryConsumed {
		t.Fatalf("canary %+v: want the first run's 5, resumed and consumed", rep.Canary)
	}
	if !rep.Verified || rep.Sent != 15 || rep.Plan == nil || !strings.Contains(strings.Join(rep.Plan.Warnings, " "), "resumes the canary of 5 message(s)") {
		t.Fatalf("the resumed run sent %d (want the 15 left), verified %v, plan %+v", rep.Sent, rep.Verified, rep.Plan)
	}
	// The consumer read each of the 20 once: nothing of the canary twice.
	deadline := time.Now().Add(time.Minute)
	for len(read()) < 20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, b := range read() {
		seen[b]++
	}
	for b, n := range seen {
		if n > 1 {
			t.Errorf("%s was consumed %d times", b, n)
		}
	}
	if len(seen) != 20 {
		t.Errorf("the consumer read %d distinct messages, want 20", len(seen))
	}
}

// pipelineLogs is a log group the test's consumer writes the pipeline's
// lines to (docs/log-schema.md): a success for a message it deletes, an
// error for one it does not.
func pipelineLogs(t *testing.T) (*cwl.Client, string, func(body string, ok bool)) {
	t.Helper()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	ctx := context.Background()
	group, stream := "/aws/lambda/"+testenv.Name(t, "charge"), "2026/12/07/[$LATEST]canary"
	if _, err := logs.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = logs.DeleteLogGroup(context.Background(), &cwl.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	if _, err := logs.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	return logs, group, func(body string, ok bool) {
		var m struct{ OrderID, TraceID string }
		_ = json.Unmarshal([]byte(body), &m)
		line := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "level": "INFO", "msg": "charged", "traceId": m.TraceID, "orderId": m.OrderID, "step": "charge", "status": "success"}
		if !ok {
			line["level"], line["msg"], line["status"], line["error"] = "ERROR", "charge failed", "error", "card declined for order "+m.OrderID
		}
		b, _ := json.Marshal(line)
		mu.Lock()
		defer mu.Unlock()
		_, err := logs.PutLogEvents(context.Background(), &cwl.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			LogEvents: []cwltypes.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String(string(b))}}})
		if err != nil {
			t.Errorf("put log events: %v", err)
		}
	}
}

// With the pipeline's log groups, the canary's verdict reads its traces:
// a success logged for each message proves it consumed even while other
// traffic keeps the source from draining (without the logs, the same run
// cannot tell, and stops); and a returned message's cause is its logged
// error, with the ID dlq triage gives it.
func TestReplayCanaryReadsTheLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		logs, deletes bool
		verdict       string
		wait          time.Duration // returned: long, as the watch ends once all are back
	}{
		{"consumed, by the logs", true, true, replay.CanaryConsumed, 10 * time.Second},
		{"without the logs, the traffic hides it", false, true, replay.CanaryNotConsumed, 10 * time.Second},
		{"returned, with the logged cause", true, false, replay.CanaryReturned, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, d, src := canaryPair(t)
			logs, group, logged := pipelineLogs(t)
			consume(t, c, src.URL, tc.deletes, logged)
			cfg := replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 3, CanaryWait: tc.wait, CanaryOnly: true}
			if tc.logs {
				cfg.Logs = &triage.LogSource{API: logs, Groups: []string{group}, PollInterval: time.Millisecond}
			}
			var once sync.Once
			cfg.Status = func(s string) {
				// Other traffic: a message the consumer cannot take yet
				// keeps the source above its depth before the canary.
				once.Do(func() {
					_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(src.URL), MessageBody: aws.String(`{"orderId":"other"}`), DelaySeconds: 900})
					if err != nil {
						t.Error(err)
					}
				})
			}
			rep := run(t, cfg)
			if rep.Canary == nil || rep.Canary.Verdict != tc.verdict || rep.Canary.Sent != 3 {
				t.Fatalf("canary %+v: want %s", rep.Canary, tc.verdict)
			}
			switch tc.verdict {
			case replay.CanaryConsumed:
				if rep.Canary.Evidence != "logs" || rep.Canary.Consumed != 3 || !rep.Verified {
					t.Errorf("consumed by logs: %+v, verified %v", rep.Canary, rep.Verified)
				}
			case replay.CanaryReturned:
				rc := rep.Canary.ReturnedCauses
				if len(rc) != 1 || rc[0].Source != triage.SourceLogs || rc[0].Step != "charge" || !strings.Contains(rc[0].Error, "card declined") ||
					rc[0].ID != triage.CauseID(rc[0].Step, rc[0].Error) || rc[0].Count != rep.Canary.Returned {
					t.Errorf("returned causes %+v: want the logged error, with its triage ID", rc)
				} else if !strings.Contains(rep.NextStep, "cause "+rc[0].ID) {
					t.Errorf("next step %q does not name cause %s", rep.NextStep, rc[0].ID)
				}
			default:
				if rep.Canary.NotConsumed != 3 || rep.Verified {
					t.Errorf("not consumed: %+v", rep.Canary)
				}
			}
			t.Log(rep.NextStep)
		})
	}
}

// A message the journal says a destination has (a stopped run sent it and
// did not delete it) proves nothing as a canary: the canary run would
// delete it unsent. It is not picked; with no consumer, the canary of
// others is "not consumed", where picking those would have drained
// nothing and said "consumed".
func TestReplayCanaryPicksNoMessageAlreadySent(t *testing.T) {
	t.Parallel()
	c, d, src := canaryPair(t)
	j, err := journal.OpenFile(filepath.Join(t.TempDir(), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	res, err := queue.Scan(context.Background(), c, d.URL, queue.ScanOptions{Depth: 20}, nil)
	if err != nil || len(res.Matched) != 20 {
		t.Fatalf("scan: %d %v", len(res.Matched), err)
	}
	var oldest []string // the 10 seq 0 messages: what a canary would pick first
	for _, m := range res.Matched {
		if strings.Contains(m.Body, `"seq":0`) {
			oldest = append(oldest, m.MessageID)
		}
	}
	if err := j.Record(context.Background(), oldest[:5], journal.Sent); err != nil {
		t.Fatal(err)
	}
	rep := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 5, CanaryWait: 3 * time.Second, CanaryOnly: true, Journal: j})
	if rep.Canary == nil || rep.Canary.Verdict != replay.CanaryNotConsumed || rep.Canary.Sent != 5 || rep.Sent != 5 {
		t.Fatalf("canary %+v, sent %d: want 5 sent that nobody consumed", rep.Canary, rep.Sent)
	}
}

// fakeClock is a clock that moves only when something sleeps on it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

// The default wait is derived from the destination's redrive settings and
// watched whole, on a fake clock: 5 receives 30 s apart and a 20 s receive
// wait (170 s) and a margin of a quarter make 212.5 s, which the test does
// not spend.
func TestReplayCanaryWatchesTheDerivedWaitOnAFakeClock(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "clk")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.With(map[string]string{"VisibilityTimeout": "30", "ReceiveMessageWaitTimeSeconds": "20"}, testenv.Redrive(d.ARN, 5)))
	for i := range 3 {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.URL), MessageBody: aws.String(`{"orderId":"o-` + string(rune('a'+i)) + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	clock := &fakeClock{now: time.Now()}
	var statuses []string
	rep := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 2, CanaryOnly: true, Now: clock.Now, Sleep: clock.Sleep,
		Status: func(s string) { statuses = append(statuses, s) }})
	if rep.Canary == nil || rep.Canary.Verdict != replay.CanaryNotConsumed || rep.Canary.Sent != 2 {
		t.Fatalf("canary %+v: want 2 sent, not consumed (no consumer)", rep.Canary)
	}
	if !strings.Contains(rep.Canary.Wait, "maxReceiveCount 5 × visibility timeout 30s + receive wait 20s") {
		t.Errorf("wait %q: want it derived from %s", rep.Canary.Wait, src.Name)
	}
	if w := rep.Canary.WaitSeconds; w < 212.5 || w > 230 {
		t.Errorf("watched %.1f s of the fake clock, want the derived 212.5 s", w)
	}
	if !strings.Contains(strings.Join(statuses, "\n"), "waiting 3m") {
		t.Errorf("the live line never showed the wait: %q", statuses)
	}
}

// A message that already has SQS's 10 attributes is replayed without the
// marker; if it fails again it comes back with the message ID its send
// returned (SQS, and moto, keep the ID when they dead-letter a message),
// and that is how the canary sees it return.
func TestReplayCanarySeesAReturnWithoutTheMarker(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "unm")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.With(map[string]string{"VisibilityTimeout": "1"}, testenv.Redrive(d.ARN, 2)))
	attrs := map[string]types.MessageAttributeValue{}
	for i := range 10 {
		attrs[fmt.Sprintf("a%d", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
	}
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.URL), MessageBody: aws.String(`{"orderId":"o-1"}`), MessageAttributes: attrs}); err != nil {
		t.Fatal(err)
	}
	consumer(t, c, src.URL, false) // fails everything
	rep := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 1, CanaryWait: 2 * time.Minute, CanaryOnly: true})
	if len(rep.Unmarked) != 1 {
		t.Fatalf("unmarked %v: want the one message sent without the marker", rep.Unmarked)
	}
	if rep.Canary == nil || rep.Canary.Verdict != replay.CanaryReturned || rep.Canary.Returned != 1 {
		t.Fatalf("canary %+v: want it returned, seen by its new message ID", rep.Canary)
	}
}
