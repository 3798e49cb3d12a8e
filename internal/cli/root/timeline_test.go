package root

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/testenv"
)

type logLine struct {
	group string
	at    time.Time
	msg   string
}

// putLogs writes lines into their groups (one stream each), creating the
// groups; lines are sorted per group as PutLogEvents requires.
func putLogs(t testing.TB, c *cwl.Client, lines []logLine) {
	t.Helper()
	ctx := context.Background()
	byGroup := map[string][]logLine{}
	for _, l := range lines {
		byGroup[l.group] = append(byGroup[l.group], l)
	}
	for g, ls := range byGroup {
		if _, err := c.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
			t.Fatalf("create log group %s: %v", g, err)
		}
		t.Cleanup(func() {
			_, _ = c.DeleteLogGroup(context.Background(), &cwl.DeleteLogGroupInput{LogGroupName: aws.String(g)})
		})
		if _, err := c.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String("2026/11/26/[$LATEST]abc")}); err != nil {
			t.Fatal(err)
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].at.Before(ls[j].at) })
		for start := 0; start < len(ls); start += 1000 {
			var evs []types.InputLogEvent
			for _, l := range ls[start:min(start+1000, len(ls))] {
				evs = append(evs, types.InputLogEvent{Timestamp: aws.Int64(l.at.UnixMilli()), Message: aws.String(l.msg)})
			}
			if _, err := c.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("2026/11/26/[$LATEST]abc"), LogEvents: evs}); err != nil {
				t.Fatalf("put log events: %v", err)
			}
		}
	}
}

type timelineJSON struct {
	TraceID string `json:"traceId"`
	OrderID string `json:"orderId"`
	Events  []struct {
		Timestamp time.Time `json:"timestamp"`
		OffsetMs  int64     `json:"offsetMs"`
		LogGroup  string    `json:"logGroup"`
		Step      string    `json:"step"`
		Status    string    `json:"status"`
		Message   string    `json:"message"`
		Platform  bool      `json:"platform"`
	} `json:"events"`
}

func TestTimelineAcrossGroups(t *testing.T) {
	t.Parallel()
	c := cwl.NewFromConfig(testenv.Config(t, ""))
	p := "/aws/lambda/" + testenv.Name(t, "tl")
	groups := []string{p + "-intake", p + "-payments", p + "-shipping", p + "-saga", p + "-notify"}
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	line := func(trace, order, step, status, msg, req string) string {
		return fmt.Sprintf(`{"time":"x","level":"INFO","msg":%q,"traceId":%q,"orderId":%q,"step":%q,"status":%q,"requestId":%q}`, msg, trace, order, step, status, req)
	}
	var lines []logLine
	// Trace t-A across all five groups, interleaved with t-B and noise.
	for i, g := range groups {
		at := base.Add(time.Duration(i) * time.Second)
		lines = append(lines,
			logLine{g, at, line("t-A", "o-1", fmt.Sprintf("step%d", i), "success", fmt.Sprintf("A in %d", i), fmt.Sprintf("req-A-%d", i))},
			logLine{g, at.Add(500 * time.Millisecond), line("t-B", "o-2", "x", "success", "B", "req-B")},
			logLine{g, at.Add(600 * time.Millisecond), "plain text mentioning t-A but not in our schema"},
			logLine{g, at.Add(700 * time.Millisecond), line("t-AA", "o-1", "x", "error", "lookalike trace", "req-X")},
		)
	}
	// Platform lines of t-A's payment invocation, and of someone else's.
	lines = append(lines,
		logLine{groups[1], base.Add(900 * time.Millisecond), "START RequestId: req-A-1 Version: $LATEST"},
		logLine{groups[1], base.Add(1200 * time.Millisecond), "2026-11-26T18:00:01.200Z req-A-1 Task timed out after 3.00 seconds"},
		logLine{groups[1], base.Add(1300 * time.Millisecond), "REPORT RequestId: req-A-1\tDuration: 3000.00 ms\tStatus: timeout"},
		logLine{groups[1], base.Add(1400 * time.Millisecond), "REPORT RequestId: req-B\tDuration: 10.00 ms"},
	)
	putLogs(t, c, lines)

	r := dlq(t, "", "timeline t-A --log-group-prefix "+p+"- --since 2h -o json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var tl timelineJSON
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var got []string
	for i, e := range tl.Events {
		got = append(got, e.Message)
		if i > 0 && e.Timestamp.Before(tl.Events[i-1].Timestamp) {
			t.Errorf("event %d out of order", i)
		}
	}
	want := []string{"A in 0", "START", "A in 1", "Task timed out after 3.00 seconds", "REPORT status timeout", "A in 2", "A in 3", "A in 4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q\nwant     %q", got, want)
	}
	if tl.TraceID != "t-A" || tl.OrderID != "o-1" || tl.Events[0].OffsetMs != 0 || tl.Events[7].OffsetMs != 4000 || tl.Events[2].LogGroup != groups[1] {
		t.Errorf("timeline = %+v", tl)
	}
	if !strings.Contains(r.stderr, "8 events in 1 timeline(s) from 5 log group(s)") {
		t.Errorf("summary = %q", r.stderr)
	}

	// The same by explicit groups, and by order: t-AA's lookalike line
	// belongs to order o-1 too.
	args := "timeline --order-id o-1 --since 2h -o json"
	for _, g := range groups {
		args += " --log-group " + g
	}
	r = dlq(t, "", args)
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || r.code != 0 {
		t.Fatalf("order: exit %d %v\n%s", r.code, err, r.stderr)
	}
	if len(tl.Events) != 10+3 || tl.OrderID != "o-1" {
		t.Errorf("order timeline has %d events, want 10 schema lines and t-A's 3 platform lines", len(tl.Events))
	}

	// Human output on a pipe: one TSV line per event, trace first.
	r = dlq(t, "", "timeline t-A --log-group-prefix "+p+"- --since 2h")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 8 || !strings.HasPrefix(r.stdout, "t-A\t") {
		t.Errorf("piped timeline:\n%s%s", r.stdout, r.stderr)
	}
}

func TestTimelineFromDLQ(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	g := "/aws/lambda/" + testenv.Name(t, "fromdlq")
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	putLogs(t, logs, []logLine{
		{g, base, `{"traceId":"t-1","orderId":"o-1","step":"charge","status":"error","msg":"one"}`},
		{g, base.Add(time.Second), `{"traceId":"t-2","orderId":"o-2","step":"charge","status":"error","msg":"two"}`},
		{g, base.Add(2 * time.Second), `{"traceId":"t-3","orderId":"o-3","step":"charge","status":"success","msg":"three"}`},
	})
	q := testenv.CreateQueue(t, c, testenv.Name(t, "fromdlq"), nil)
	for _, id := range []string{"1", "2"} {
		send(t, c, q.URL, `{"traceId":"t-`+id+`","orderId":"o-`+id+`"}`, map[string]sqstypes.MessageAttributeValue{})
	}
	r := dlq(t, "", "timeline --from-dlq "+q.Name+" --log-group "+g+" -o json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var tls []timelineJSON
	if err := json.Unmarshal([]byte(r.stdout), &tls); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var traces []string
	for _, tl := range tls {
		traces = append(traces, tl.TraceID)
		if len(tl.Events) != 1 {
			t.Errorf("%s: %d events", tl.TraceID, len(tl.Events))
		}
	}
	sort.Strings(traces)
	if fmt.Sprint(traces) != "[t-1 t-2]" {
		t.Errorf("traces = %v, want the DLQ's two", traces)
	}
	assertUntouched(t, c, q.URL, 2)
}

func TestTimelineBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"timeline t-1", "no log groups"},
		{"timeline --log-group g", "exactly one of TRACE_ID, --order-id or --from-dlq"},
		{"timeline t-1 --order-id o-1 --log-group g", "exactly one of"},
		{"timeline t-1 --log-group g --start yesterday", "invalid --start"},
		{"timeline t-1 --log-group g --where a=b", "message filters apply to --from-dlq"},
		{"timeline --from-dlq bad/name --log-group g", "invalid queue"},
	} {
		r := dlq(t, "", tc.args)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want usage error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
