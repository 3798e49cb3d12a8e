package replay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDefaultJournalPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/dlq/replay-d.jsonl"},
		{map[string]string{"HOME": "/h"}, "/h/.local/state/dlq/replay-d.jsonl"},
		{map[string]string{}, filepath.Join(os.TempDir(), "dlq-state", "dlq", "replay-d.jsonl")},
	} {
		if got := DefaultJournalPath(env(tc.env), "d"); got != tc.want || !filepath.IsAbs(got) {
			t.Errorf("DefaultJournalPath(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// A run that released its hold and holds again (a round the final check
// added) is listed once, with its last hold.
func TestJournalHoldAfterReleaseIsListedOnce(t *testing.T) {
	t.Parallel()
	j, err := OpenFileJournal(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	ctx := context.Background()
	until := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	_ = j.Hold(ctx, "a", 5, until)
	_ = j.Released(ctx, "a")
	_ = j.Hold(ctx, "a", 2, until.Add(time.Minute))
	holds, err := j.Holds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].Messages != 2 || !holds[0].Until.Equal(until.Add(time.Minute)) {
		t.Fatalf("holds = %+v, want one hold of 2 messages", holds)
	}
}
