package timeline

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
)

// day is the unit DLQ retention is counted in (up to 14 days); Go's
// durations stop at hours, so --since adds it.
const day = 24 * time.Hour

// sinceValue is the --since flag: a Go duration, optionally led by whole
// days ("7d", "1d12h").
type sinceValue struct{ d *time.Duration }

func (v sinceValue) String() string { return formatSince(*v.d) }
func (v sinceValue) Type() string   { return "duration" }

func (v sinceValue) Set(s string) error {
	d, err := parseSince(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

var leadingDays = regexp.MustCompile(`^(\d+)d`)

// parseSince reads a positive duration: whole days, then anything
// time.ParseDuration takes ("7d", "1d12h", "36h", "90m").
func parseSince(s string) (time.Duration, error) {
	bad := errors.New("want a positive duration such as 30m, 6h, 7d or 1d12h")
	var days time.Duration
	rest := s
	if m := leadingDays.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(math.MaxInt64/day) {
			return 0, bad
		}
		days, rest = time.Duration(n)*day, s[len(m[0]):]
		if rest == "" {
			if days <= 0 {
				return 0, bad
			}
			return days, nil
		}
		if rest[0] < '0' || rest[0] > '9' { // "1d-2h", "1dd"
			return 0, bad
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 || d > math.MaxInt64-days || d+days <= 0 {
		return 0, bad
	}
	return days + d, nil
}

// formatSince writes a duration as parseSince reads it, without Go's
// trailing zero units: 168h → "7d", 36h → "1d12h", 90m → "1h30m".
func formatSince(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	s := ""
	if days := d / day; days > 0 {
		s = strconv.FormatInt(int64(days), 10) + "d"
	}
	if rest := d % day; rest > 0 {
		r := rest.String()
		if strings.HasSuffix(r, "m0s") {
			r = strings.TrimSuffix(r, "0s")
		}
		if strings.HasSuffix(r, "h0m") {
			r = strings.TrimSuffix(r, "0m")
		}
		s += r
	}
	return s
}

// parseInstant reads --start or --end: RFC3339, or a plain date meaning
// midnight UTC.
func parseInstant(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid %s %q: want RFC3339 (2026-11-26T18:00:00Z) or a date (2026-11-26, midnight UTC)", flag, s)
}

// window is the time range to search: --start (to --end or now), else
// --since before --end or now. With messages from a DLQ and none of the
// three given, from ten minutes before the oldest message was sent until
// six hours after the newest (or now).
func window(opts *TimelineOptions, msgs []queue.Message) (time.Time, time.Time, error) {
	now := opts.Now()
	end := now
	if opts.End != "" {
		t, err := parseInstant("--end", opts.End)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		end = t
	}
	if opts.Start != "" {
		if opts.SinceSet {
			return time.Time{}, time.Time{}, errors.New("give --start or --since, not both")
		}
		t, err := parseInstant("--start", opts.Start)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		if !t.Before(end) {
			return time.Time{}, time.Time{}, fmt.Errorf("--start %s is not before --end %s", t.UTC().Format(insights.TimeFormat), end.UTC().Format(insights.TimeFormat))
		}
		return t, end, nil
	}
	if opts.Since <= 0 {
		return time.Time{}, time.Time{}, errors.New("--since must be positive")
	}
	if len(msgs) > 0 && opts.End == "" && !opts.SinceSet {
		first, last := msgs[0].SentAt, msgs[0].SentAt
		for _, m := range msgs {
			if m.SentAt.Before(first) {
				first = m.SentAt
			}
			if m.SentAt.After(last) {
				last = m.SentAt
			}
		}
		return first.Add(-10 * time.Minute), minTime(last.Add(6*time.Hour), now), nil
	}
	return end.Add(-opts.Since), end, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
