package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
)

// What the run waits for is a line redrawn on a terminal and cleared
// before the plan; off a terminal it is said once, however often it
// changes (a countdown).
func TestReplayRunStatusLine(t *testing.T) {
	t.Parallel()
	countdown := []string{"waiting 42s for 3 message(s) an interrupted run holds", "waiting 41s for 3 message(s) an interrupted run holds"}
	const skip = " (--no-wait to skip)"
	for _, tt := range []struct {
		tty  bool
		want string
	}{
		{tty: true, want: "\r\x1b[K" + countdown[0] + skip + "\r\x1b[K" + countdown[1] + skip + "\r\x1b[KPlan: "},
		{tty: false, want: countdown[0] + skip + "\nPlan: "},
	} {
		t.Run(fmt.Sprint("tty=", tt.tty), func(t *testing.T) {
			t.Parallel()
			ios, _, _, stderr := render.Test()
			ios.SetStderrTTY(tt.tty)
			e := scenarios()[0].engine()
			e.progress = nil
			e.status = countdown
			if err := replayRun(context.Background(), runOptions(t, ios, e, render.FormatJSON)); err != nil {
				t.Fatal(err)
			}
			if got := stderr.String(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("stderr = %q\nwant prefix %q", got, tt.want)
			}
		})
	}
}

// The progress bar on a terminal: its first and last frames (frames in
// between are dropped within 100ms of each other), cleared before the
// report. While a streaming run still scans, it says so instead of an ETA.
func TestReplayRunProgressBar(t *testing.T) {
	t.Parallel()
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
			t.Parallel()
			progressBarFrames(t, streaming)
		})
	}
}

func progressBarFrames(t *testing.T, streaming bool) {
	ios, _, _, stderr := render.Test()
	ios.SetStderrTTY(true)
	e := scenarios()[0].engine()
	e.status = nil
	e.progress = []engine.Progress{{Total: 40, InFlight: 2}, {Total: 40, Sent: 40, Deleted: 38, Failed: 2, Rate: 20, InFlight: 0}}
	if streaming {
		e.progress[0].Scanning = true // sending while it scans: no ETA yet
	}
	if err := replayRun(context.Background(), runOptions(t, ios, e, render.FormatJSON)); err != nil {
		t.Fatal(err)
	}
	got := stderr.String()
	first := "ETA -"
	if streaming {
		first = "scanning"
	}
	for _, want := range []string{
		"\r\x1b[K[" + strings.Repeat("░", 30) + "] sent 0  deleted 0  failed 0  0 msg/s  2 in flight  " + first,
		"\r\x1b[K[" + strings.Repeat("█", 30) + "] sent 40  deleted 38  failed 2  20 msg/s  0 in flight  ETA -\r\x1b[K",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%q", want, got)
		}
	}
}
