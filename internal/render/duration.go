package render

import (
	"fmt"
	"strconv"
	"time"
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
// most two of them: 345600 → "4d", 5400 → "1h30m", 90 → "1m30s".
func HumanSeconds(sec int64) string {
	if sec <= 0 {
		return "0s"
	}
	d := time.Duration(sec) * time.Second
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	out, parts := "", 0
	for _, u := range units {
		if d >= u.size && parts < 2 {
			n := d / u.size
			d -= n * u.size
			out += fmt.Sprintf("%d%s", n, u.name)
			parts++
		} else if parts > 0 {
			parts = 2 // units must be adjacent: "1d5s" would read oddly
		}
	}
	return out
}
