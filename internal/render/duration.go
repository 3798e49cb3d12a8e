package render

import (
	"fmt"
	"strconv"
	"time"

	"github.com/dlqops/dlq/internal/humanize"
)

// Seconds shows a duration given in seconds: compact and human on a
// terminal ("4d", "1h30m", "14d"), the plain number of seconds when piped.
func (s *IOStreams) Seconds(sec int64) string {
	if !s.stdoutTTY {
		return strconv.FormatInt(sec, 10)
	}
	return HumanSeconds(sec)
}

// HumanSeconds writes a number of seconds in the largest whole units, at
// most two of them: 345600 → "4d", 5400 → "1h30m", 90 → "1m30s"
// (humanize.Seconds).
func HumanSeconds(sec int64) string { return humanize.Seconds(sec) }

// Time shows a point in time: relative on a terminal ("5m ago"), RFC3339
// when piped.
func (s *IOStreams) Time(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !s.stdoutTTY {
		return t.UTC().Format(time.RFC3339)
	}
	return Ago(t, now)
}

// Ago is how long before now t was, in its largest unit: "just now",
// "42s ago", "5m ago", "3h ago", "2d ago".
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// HumanBytes writes a size in B, KiB, MiB or GiB.
func HumanBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// Elapsed writes a short span of time with the precision a trace's steps
// need: "312ms", "1.234s", then whole seconds ("2m5s").
func Elapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// Millis writes a duration given in (possibly fractional) milliseconds, as
// a log line's durationMs: "87ms", "0.5ms", "1.5s"; "" when there is none.
func Millis(ms *float64) string {
	if ms == nil {
		return ""
	}
	if *ms < 1000 {
		return strconv.FormatFloat(*ms, 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(*ms/1000, 'f', 1, 64) + "s"
}
