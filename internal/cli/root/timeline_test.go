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
	TraceID string     `json:"traceId"`
	OrderID string     `json:"orderId"`
	Start   *time.Time `json:"start"`
	End     *time.Time `json:"end"`
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
	if !strings.Contains(r.stderr, "8 events in 1 timeline from 5 log groups") {
		t.Errorf("summary = %q", r.stderr)
	}

	// --trace-id is TRACE_ID; day units in --since and a plain date in
	// --start (midnight UTC) set the window.
	for _, alt := range []string{
		"timeline --trace-id t-A --log-group-prefix " + p + "- --since 2h -o json",
		"timeline t-A --log-group-prefix " + p + "- --since 1d -o json",
		"timeline t-A --log-group-prefix " + p + "- --start " + base.UTC().AddDate(0, 0, -1).Format(time.DateOnly) + " -o json",
	} {
		if a := dlq(t, "", alt); a.code != 0 || a.stdout != r.stdout {
			t.Errorf("%s: exit %d %s\n%s", alt, a.code, a.stderr, a.stdout)
		}
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
		{g, base.Add(-time.Second), `{"traceId":"t-1","orderId":"o-1","step":"charge","status":"started","msg":"zero"}`},
		{g, base, `{"traceId":"t-1","orderId":"o-1","step":"charge","status":"error","msg":"one"}`},
		{g, base.Add(time.Second), `{"traceId":"t-2","orderId":"o-2","step":"charge","status":"error","msg":"two"}`},
		{g, base.Add(2 * time.Second), `{"traceId":"t-3","orderId":"o-3","step":"charge","status":"success","msg":"three"}`},
	})
	q := testenv.CreateQueue(t, c, testenv.Name(t, "fromdlq"), nil)
	// t-9 logged nothing: it is counted, and its JSON timeline is empty.
	for _, id := range []string{"1", "2", "9"} {
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
		traces = append(traces, fmt.Sprintf("%s/%s:%d", tl.TraceID, tl.OrderID, len(tl.Events)))
		if (len(tl.Events) == 0) != (tl.Start == nil || tl.End == nil) {
			t.Errorf("%s: %d events from %v to %v", tl.TraceID, len(tl.Events), tl.Start, tl.End)
		}
	}
	sort.Strings(traces)
	if fmt.Sprint(traces) != "[t-1/o-1:2 t-2/o-2:1 t-9/o-9:0]" {
		t.Errorf("traces/orders:events = %v, want the DLQ's three", traces)
	}
	note := "1 of 3 traces have no log lines in the window: t-9\n"
	if !strings.Contains(r.stderr, note) || !strings.Contains(r.stderr, "3 events in 2 timelines") {
		t.Errorf("stderr = %q, want the note %q", r.stderr, note)
	}

	// In a table the silent trace has no lines; the note names it.
	r = dlq(t, "", "timeline --from-dlq "+q.Name+" --log-group "+g)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3 || strings.Contains(r.stdout, "t-9") || !strings.Contains(r.stderr, note) {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertUntouched(t, c, q.URL, 3)
}

// CloudWatch Logs says only "log group does not exist": the error names it.
func TestTimelineNamesMissingLogGroup(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	p := "/aws/lambda/" + testenv.Name(t, "nogroup")
	putLogs(t, logs, []logLine{{p + "-present", time.Now().Add(-time.Minute), `{"traceId":"t-1","msg":"one"}`}})
	r := dlq(t, "", "timeline t-1 --log-group "+p+"-present --log-group "+p+"-absent")
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "log group "+p+"-absent: ResourceNotFoundException") ||
		strings.Contains(r.stderr, p+"-present") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want exit 1 naming only the missing group", r.code, r.stderr)
	}
}

func TestTimelineBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"timeline t-1", "no log groups"},
		{"timeline --log-group g", "exactly one of TRACE_ID (or --trace-id or --xray-trace-id), --order-id or --from-dlq"},
		{"timeline t-1 --order-id o-1 --log-group g", "exactly one of"},
		{"timeline t-1 --log-group g --start yesterday", "invalid --start"},
		{"timeline t-1 --log-group g --where a=b", "message filters apply to --from-dlq"},
		{"timeline --from-dlq bad/name --log-group g", "invalid queue"},
		{"timeline a b --log-group g", "takes at most one TRACE_ID, got 2"},
		{"timeline --from-dlq q --trace-id t-1 --log-group g", "exactly one of TRACE_ID (or --trace-id or --xray-trace-id), --order-id or --from-dlq"},
		{"timeline t-1 --log-group g --start 2026-11-28 --since 2h", "give --start or --since, not both"},
		{"timeline t-1 --log-group g --since 7x", `invalid argument "7x" for "--since" flag: want a positive duration`},
	} {
		r := dlq(t, "", tc.args)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want usage error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
