package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// The default wait is the longest a failing message takes to come back:
// maxReceiveCount receives a visibility timeout apart, the receive wait,
// and a margin (a quarter, at least 10 s).
func TestCanaryWait(t *testing.T) {
	src := []queue.Queue{
		{Name: "a", Redrive: &queue.RedrivePolicy{MaxReceiveCount: 5}, VisibilitySeconds: 30, ReceiveWaitSeconds: 20},
		{Name: "b", Redrive: &queue.RedrivePolicy{MaxReceiveCount: 2}, VisibilitySeconds: 1},
		{Name: "no-redrive", VisibilitySeconds: 900},
	}
	got, why := canaryWait(0, src)
	if got != 170*time.Second+42500*time.Millisecond || !strings.Contains(why, "a: maxReceiveCount 5") {
		t.Errorf("wait %s (%s), want 212.5s from a", got, why)
	}
	if got, _ := canaryWait(0, src[1:2]); got != 12*time.Second {
		t.Errorf("wait %s, want 2s and the 10s floor of the margin", got)
	}
	if got, why := canaryWait(3*time.Minute, src); got != 3*time.Minute || !strings.Contains(why, "as given") {
		t.Errorf("given: %s (%s)", got, why)
	}
	if got, why := canaryWait(0, nil); got != time.Minute || !strings.Contains(why, "no source queue") {
		t.Errorf("no sources: %s (%s)", got, why)
	}
}

// Consumed needs all three: none back, the whole DLQ looked at, and the
// destinations drained; anything back is returned.
func TestCanaryVerdict(t *testing.T) {
	for _, tc := range []struct {
		returned          int
		drained, complete bool
		want              string
	}{
		{0, true, true, CanaryConsumed},
		{0, false, true, CanaryNotConsumed},
		{0, true, false, CanaryNotConsumed},
		{1, true, true, CanaryReturned},
		{2, false, false, CanaryReturned},
	} {
		if got := verdict(tc.returned, tc.drained, tc.complete); got != tc.want {
			t.Errorf("verdict(%d, %v, %v) = %s, want %s", tc.returned, tc.drained, tc.complete, got, tc.want)
		}
	}
}
