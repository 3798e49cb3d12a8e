package humanize

import "testing"

func TestCount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n      int
		noun   string
		plural []string
		want   string
	}{
		{1, "DLQ", nil, "1 DLQ"}, {0, "DLQ", nil, "0 DLQs"}, {3, "DLQ", nil, "3 DLQs"},
		{1, "query", nil, "1 query"}, {2, "query", nil, "2 queries"}, {2, "day", nil, "2 days"},
		{2, "timeline", nil, "2 timelines"}, {2, "person", []string{"people"}, "2 people"},
	} {
		if got := Count(tt.n, tt.noun, tt.plural...); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}
