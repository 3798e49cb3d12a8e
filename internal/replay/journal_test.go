package replay

import (
	"os"
	"path/filepath"
	"testing"
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
