package render

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sanitize makes untrusted text (message bodies, attributes, log lines)
// safe to show on a terminal: control characters, C1 codes, bidirectional
// overrides and invalid UTF-8 are written as visible escapes (\x1b, \u202e,
// \xff) so that nothing is interpreted by the terminal. Tabs and newlines are
// escaped too, so one value stays on one line and one table cell.
func Sanitize(s string) string {
	return sanitize(s, false)
}

// SanitizeLines is Sanitize that keeps newlines, for multi-line blocks such
// as a pretty-printed body.
func SanitizeLines(s string) string {
	return sanitize(s, true)
}

func sanitize(s string, keepNewlines bool) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPlain is the fast path: printable ASCII needs no work.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isBidiControl reports the Unicode bidirectional controls that can make a
// terminal show text in a different order than it is stored ("Trojan
// Source").
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}
