package timeline

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sample() []insights.Timeline {
	t0 := time.Date(2026, 11, 26, 18, 33, 58, 123e6, time.UTC)
	ms := func(f float64) *float64 { return &f }
	ev := func(off time.Duration, group, step, status string, d *float64, level, msg, errText string) insights.TimelineEvent {
		return insights.TimelineEvent{Timestamp: t0.Add(off), OffsetMs: off.Milliseconds(), LogGroup: group, LogStream: "2026/11/26/[$LATEST]abc",
			Step: step, Status: status, DurationMs: d, Level: level, Message: msg, Error: errText}
	}
	return []insights.Timeline{{
		TraceID: "4bf92f35", OrderID: "order-1042", Start: t0, End: t0.Add(31 * time.Second),
		Events: []insights.TimelineEvent{
			ev(0, "/aws/lambda/orders-intake", "reserve", "started", nil, "INFO", "reserving inventory", ""),
			ev(12*time.Millisecond, "/aws/lambda/orders-intake", "reserve", "success", ms(12), "INFO", "reserved 2 items", ""),
			ev(277*time.Millisecond, "/aws/lambda/orders-payments", "charge", "retry", ms(3004.5), "WARN", "charge attempt 1 failed", "provider timeout"),
			ev(30*time.Second, "/aws/lambda/orders-payments", "charge", "error", ms(30012), "ERROR", "charge failed", "provider timeout \x1b[31m"),
			ev(30*time.Second+5*time.Millisecond, "/aws/lambda/orders-saga", "reserve", "compensating", nil, "INFO", "releasing inventory", ""),
			ev(31*time.Second, "/aws/lambda/orders-saga", "reserve", "compensated", ms(40), "INFO", "inventory released", ""),
			{Timestamp: t0.Add(31 * time.Second), OffsetMs: 31000, LogGroup: "/aws/lambda/orders-payments", Step: "report", DurationMs: ms(30100.25), Message: "REPORT", Platform: true},
		},
	}}
}

func TestWriteTimelinesGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		color  bool
		format render.Format
	}{
		{"tty", true, false, render.FormatTable},
		{"tty-color", true, true, render.FormatTable},
		{"piped", false, false, render.FormatTable},
		{"json", false, false, render.FormatJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetColorEnabled(tc.color)
			if err := writeTimelines(&TimelineOptions{IO: ios, Output: tc.format, TraceID: "4bf92f35"}, sample()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				_ = os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (go test -update): %v", err)
			}
			if out.String() != string(want) {
				t.Errorf("output differs from %s:\n%s", path, out.String())
			}
		})
	}
}

// JSON times keep their trailing zeros: 58.400, not 58.4.
func TestJSONTimesHaveMilliseconds(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := render.Test()
	tl := sample()[0]
	tl.Start = tl.Start.Truncate(time.Second).Add(120 * time.Millisecond)
	if err := writeTimelines(&TimelineOptions{IO: ios, Output: render.FormatJSON, TraceID: tl.TraceID}, []insights.Timeline{tl}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"start": "2026-11-26T18:33:58.120Z"`, `"end": "2026-11-26T18:34:29.123Z"`, `"timestamp": "2026-11-26T18:33:58.400Z"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, out.String())
		}
	}
}

// An empty result has no time range: null in JSON; a table leaves out
// the traces without log lines (a note on stderr names them).
func TestEmptyTimelines(t *testing.T) {
	t.Parallel()
	silent := insights.Timeline{TraceID: "t-9", OrderID: "o-9", Events: []insights.TimelineEvent{}}
	for _, tc := range []struct {
		name   string
		opts   TimelineOptions
		tls    []insights.Timeline
		tty    bool
		format render.Format
		check  func(string) bool
	}{
		{"json, one trace", TimelineOptions{TraceID: "t-1"}, nil, false, render.FormatNDJSON,
			func(s string) bool {
				return s == `{"traceId":"t-1","orderId":"","xrayTraceId":"","start":null,"end":null,"events":[]}`+"\n"
			}},
		{"json, from a DLQ", TimelineOptions{FromDLQ: "q"}, []insights.Timeline{silent}, false, render.FormatNDJSON,
			func(s string) bool {
				return s == `{"traceId":"t-9","orderId":"o-9","xrayTraceId":"","start":null,"end":null,"events":[]}`+"\n"
			}},
		{"tty, from a DLQ", TimelineOptions{FromDLQ: "q"}, append([]insights.Timeline{silent}, sample()...), true, render.FormatTable,
			func(s string) bool {
				return strings.HasPrefix(s, "Trace 4bf92f35  ·  Order") && !strings.Contains(s, "t-9")
			}},
		{"piped, from a DLQ", TimelineOptions{FromDLQ: "q"}, []insights.Timeline{silent}, false, render.FormatTable,
			func(s string) bool { return s == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			tc.opts.IO, tc.opts.Output = ios, tc.format
			if err := writeTimelines(&tc.opts, tc.tls); err != nil {
				t.Fatal(err)
			}
			if !tc.check(out.String()) {
				t.Errorf("output = %q", out.String())
			}
		})
	}
}

// An X-Ray trace's timeline names it in its header, and each event's own
// trace leads its piped line, as an order's does.
func TestXRayTimelineNamesItsTraces(t *testing.T) {
	t.Parallel()
	tl := sample()[0]
	tl.XRayTraceID = xrayID
	for i := range tl.Events {
		tl.Events[i].TraceID = "t-" + string(rune('a'+i%2))
	}
	ios, _, out, _ := render.Test()
	ios.SetStdoutTTY(true)
	if err := writeTimelines(&TimelineOptions{IO: ios, Output: render.FormatTable, XRayTraceID: xrayID}, []insights.Timeline{tl}); err != nil {
		t.Fatal(err)
	}
	if head := strings.SplitN(out.String(), "\n", 2)[0]; !strings.HasPrefix(head, "Trace 4bf92f35  ·  Order order-1042  ·  X-Ray "+xrayID+"  ·  span") {
		t.Errorf("header = %q", head)
	}
	ios, _, out, _ = render.Test()
	if err := writeTimelines(&TimelineOptions{IO: ios, Output: render.FormatTable, XRayTraceID: xrayID}, []insights.Timeline{tl}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(tl.Events) || !strings.HasPrefix(lines[0], "t-a\t") || !strings.HasPrefix(lines[1], "t-b\t") {
		t.Errorf("piped = %q", lines)
	}
}

// emptyLogs is a Logs Insights endpoint whose queries find nothing.
type emptyLogs struct{ insights.LogsAPI }

func (emptyLogs) StartQuery(context.Context, *cwl.StartQueryInput, ...func(*cwl.Options)) (*cwl.StartQueryOutput, error) {
	return &cwl.StartQueryOutput{QueryId: aws.String("q-1")}, nil
}

func (emptyLogs) GetQueryResults(context.Context, *cwl.GetQueryResultsInput, ...func(*cwl.Options)) (*cwl.GetQueryResultsOutput, error) {
	return &cwl.GetQueryResultsOutput{Status: types.QueryStatusComplete}, nil
}

// A search that finds nothing says so on stderr, shows no zero time, and
// writes the window with milliseconds.
func TestTimelineRunFindsNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		opts           TimelineOptions
		stdout, stderr string
	}{
		{"trace, table", TimelineOptions{TraceID: "t-1", Output: render.FormatTable}, "", "no log lines found for trace t-1\n"},
		{"order, json", TimelineOptions{OrderID: "o-1", Output: render.FormatNDJSON},
			`{"traceId":"","orderId":"o-1","xrayTraceId":"","start":null,"end":null,"events":[]}` + "\n", "no log lines found for order o-1\n"},
		{"X-Ray trace, json", TimelineOptions{XRayTraceID: xrayID, Output: render.FormatNDJSON},
			`{"traceId":"","orderId":"","xrayTraceId":"` + xrayID + `","start":null,"end":null,"events":[]}` + "\n", "no log lines found for X-Ray trace " + xrayID + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := render.Test()
			opts := tc.opts
			opts.IO, opts.Groups, opts.Since = ios, []string{"g"}, day
			opts.Now = func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }
			opts.Logs = func(context.Context) (insights.LogsAPI, error) { return emptyLogs{}, nil }
			if err := timelineRun(context.Background(), &opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.stdout {
				t.Errorf("stdout = %q, want %q", out.String(), tc.stdout)
			}
			want := tc.stderr + "0 events in 0 timelines from 1 log group, 2026-11-29T12:00:00.000Z to 2026-11-30T12:00:00.000Z; 1 query in "
			if !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 2 {
				t.Errorf("stderr = %q, want it to start %q", errOut.String(), want)
			}
		})
	}
}
