package replay

import (
	"strings"
	"testing"

	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
)

// On a narrow terminal the report keeps what says whether the replay
// worked: VERIFIED and LEFT IN DLQ are the last columns to give way.
func TestReportKeepsTheOutcomeOnANarrowTerminal(t *testing.T) {
	for _, width := range []int{60, 80} {
		ios, _, out, _ := render.Test()
		ios.SetStdoutTTY(true)
		ios.SetTerminalWidth(width)
		r := engine.Report{DLQ: "orders-payments-dlq", Destination: "orders-payments", Matched: 30, Sent: 30, Deleted: 30, Verified: true, DurationSeconds: 1.2}
		if err := writeReport(&ReplayOptions{IO: ios, Output: render.FormatTable}, r); err != nil {
			t.Fatal(err)
		}
		header := strings.SplitN(out.String(), "\n", 2)[0]
		if !strings.Contains(header, "VERIFIED") || !strings.Contains(header, "LEFT IN DLQ") {
			t.Errorf("width %d: header %q lost the outcome", width, header)
		}
		if strings.Contains(header, "SKIPPED") {
			t.Errorf("width %d: header %q kept SKIPPED over the outcome", width, header)
		}
	}
}

func TestOutcomeLine(t *testing.T) {
	got := outcome(engine.Report{DLQ: "d", Deleted: 30, Verified: true, DurationSeconds: 1.23})
	if got != "verified: 30 moved, the DLQ re-read holds none of them (1.2 s)" {
		t.Errorf("outcome = %q", got)
	}
	got = outcome(engine.Report{DLQ: "d", DryRun: true, Plan: &engine.Plan{Messages: 4}})
	if !strings.HasPrefix(got, "dry run: 4 message(s) would move") {
		t.Errorf("dry run outcome = %q", got)
	}
}
