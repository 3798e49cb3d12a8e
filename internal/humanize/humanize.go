// Package humanize writes counts and durations the way a person reads
// them ("3 DLQs", "1h30m"): words for any layer to use, domain packages
// included, without rendering anything.
package humanize

import (
	"fmt"
	"time"
)

// Count is n and the noun in the number n needs: "1 DLQ", "3 DLQs",
// "1 query", "2 queries". The plural is the noun with "s", or with "y"
// after a consonant made "ies", unless given.
func Count(n int, noun string, plural ...string) string {
	if n == 1 {
		return "1 " + noun
	}
	if len(plural) > 0 {
		return fmt.Sprintf("%d %s", n, plural[0])
	}
	if l := len(noun); l > 1 && noun[l-1] == 'y' && !isVowel(noun[l-2]) {
		return fmt.Sprintf("%d %sies", n, noun[:l-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}

// Seconds writes a number of seconds in the largest whole units, at
// most two of them: 345600 → "4d", 5400 → "1h30m", 90 → "1m30s".
func Seconds(sec int64) string {
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
