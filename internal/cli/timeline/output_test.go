package timeline

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

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
