package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/insights"
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

// Consumed needs none back, the whole DLQ looked at, and either every
// message's trace logging a success or the destinations drained; anything
// back is returned.
func TestCanaryVerdict(t *testing.T) {
	for _, tc := range []struct {
		returned                  int
		complete, logged, drained bool
		want, evidence            string
	}{
		{0, true, false, true, CanaryConsumed, "depth"},
		{0, true, true, false, CanaryConsumed, "logs"},
		{0, true, true, true, CanaryConsumed, "logs"},
		{0, true, false, false, CanaryNotConsumed, ""},
		{0, false, true, true, CanaryNotConsumed, ""},
		{1, true, true, true, CanaryReturned, ""},
		{2, false, false, false, CanaryReturned, ""},
	} {
		got, ev := verdict(tc.returned, tc.complete, tc.logged, tc.drained)
		if got != tc.want || ev != tc.evidence {
			t.Errorf("verdict(%d, complete %v, logged %v, drained %v) = %s by %q, want %s by %q", tc.returned, tc.complete, tc.logged, tc.drained, got, ev, tc.want, tc.evidence)
		}
	}
}

// A trace counts as consumed when its last outcome is a success (or a
// duplicate): a failure after a success undoes it, a success after a
// retry makes it.
func TestCanarySucceeded(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_800_000_000+int64(s), 0) }
	got := succeeded([]insights.Event{
		{Timestamp: at(3), TraceID: "b", Status: "error"},
		{Timestamp: at(1), TraceID: "b", Status: "success"},
		{Timestamp: at(1), TraceID: "a", Status: "retry"},
		{Timestamp: at(2), TraceID: "a", Status: "success"},
		{Timestamp: at(2), TraceID: "c", Status: "duplicate"},
		{Timestamp: at(4), TraceID: "c", Platform: true, Status: "error"},
		{Timestamp: at(1), TraceID: "d", Status: "started"},
	})
	want := map[string]bool{"a": true, "b": false, "c": true}
	for tr, w := range want {
		if got[tr] != w {
			t.Errorf("trace %s: %v, want %v (%v)", tr, got[tr], w, got)
		}
	}
	if _, ok := got["d"]; ok {
		t.Errorf("a trace that only started has an outcome: %v", got)
	}
}

// The canary is the first message of each key, spread over the places
// the messages failed: one of each in turn.
func TestCanaryPickSpreadsOverOrigins(t *testing.T) {
	rows := []held{
		{id: "a1", key: "o1", src: "A"}, {id: "a2", key: "o1", src: "A"}, // o1's second message is never picked
		{id: "a3", key: "o2", src: "A"}, {id: "a4", key: "o3", src: "A"},
		{id: "b1", key: "o4", src: "B"}, {id: "b2", key: "o1", src: "B"}, // o1 again, at another origin: o1 is taken
		{id: "c1", key: "", src: "C"}, {id: "c2", key: "", src: "C"}, // no key: each its own
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "a1"}, {3, "a1 b1 c1"}, {5, "a1 b1 c1 a3 c2"}, {9, "a1 b1 c1 a3 c2 a4"},
	} {
		if got := strings.Join(pickKeys(rows, tc.n), " "); got != tc.want {
			t.Errorf("pick %d = %q, want %q", tc.n, got, tc.want)
		}
	}
	// What a destination has already is left out, and the next in turn
	// taken.
	origins, firstOf := firsts(rows, 6)
	if got := strings.Join(spread(origins, firstOf, 3, func(id string) bool { return id == "b1" || id == "a1" }), " "); got != "c1 a3 c2" {
		t.Errorf("pick 3 leaving out a1 and b1 = %q, want c1 a3 c2", got)
	}
}

// pickKeys is spread over firsts, with nothing taken.
func pickKeys(rows []held, n int) []string {
	origins, firstOf := firsts(rows, n)
	return spread(origins, firstOf, n, func(string) bool { return false })
}
