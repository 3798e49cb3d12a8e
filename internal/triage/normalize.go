package triage

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Placeholders that stand for the variable parts of an error text. None of
// them is itself masked again: normalising a normalised text changes
// nothing.
const (
	maskQuoted = "<str>"
	maskUUID   = "<uuid>"
	maskTime   = "<time>"
	maskID     = "<id>"
	maskNumber = "<n>"
)

var (
	uuidRE = regexp.MustCompile(`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`)
	timeRE = regexp.MustCompile(`\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b`)
	// numberRE: 42, -1, 3.00, 1,000, 10.0.0.1, 18:33:58.
	numberRE = regexp.MustCompile(`^-?[0-9]+(?:[.,:][0-9]+)*$`)
	// quantityRE: a number with its unit: 30s, 250ms, 1.5GB, 2x.
	quantityRE = regexp.MustCompile(`^(-?[0-9]+(?:\.[0-9]+)?)((?i:ns|us|ms|s|m|min|h|d|b|kb|mb|gb|kib|mib|gib|k|x))$`)
	hexRE      = regexp.MustCompile(`^(?:0[xX])?[0-9A-Fa-f]+$`)
	// statusContextRE: an HTTP status code is part of the cause (a 503 is
	// an outage, a 400 a bad request), so a 3-digit number right after
	// "HTTP", "status" or "code" stays.
	statusContextRE = regexp.MustCompile(`(?i)(?:\bhttp(?:/(?:[0-9.]+|<n>))?|\bstatus(?:[ _]?code)?|\bcode)[\s:=]*$`)
)

// Normalize masks the variable parts of an error text, so that failures
// with one cause read the same: quoted values ('XYZ', "abc") become
// '<str>', UUIDs <uuid>, timestamps <time>, identifiers (o-7, order-123,
// eu-west-1, hex IDs such as 4f1c9a0b or 0x7f3a, and any run of 8 or more
// letters and digits mixing both) <id>, other numbers <n> (with their unit
// kept: 30s becomes <n>s). Numbers of 6 digits or more are IDs too, so a
// hex request ID that happens to hold no letter masks the same as one
// that does. A 3-digit status after HTTP, status or code is kept. Runs of
// whitespace, newlines included, become one space.
//
// Quotes count only at word boundaries: the apostrophe of "can't" starts
// nothing. A quoted value is masked whatever it holds, so `missing field
// "currency"` and `missing field "amount"` are one cause; the raw example
// of each group shows the original.
func Normalize(text string) string {
	s := maskQuotes(text)
	s = timeRE.ReplaceAllString(s, maskTime)
	s = uuidRE.ReplaceAllString(s, maskUUID)
	s = maskTokens(s)
	return strings.Join(strings.Fields(s), " ")
}

// CauseID is the short, stable name of a cause: the first 6 hex digits of
// the SHA-256 of its step and normalised error. The same cause has the
// same ID on every run, on every machine, so `--cause ID` can name it.
func CauseID(step, normalizedError string) string {
	sum := sha256.Sum256([]byte(step + "\x00" + normalizedError))
	return hex.EncodeToString(sum[:])[:IDLength]
}

// IDLength is how many hex digits a cause ID has. With 6, two of a
// hundred causes share an ID about once in 3,000 DLQs; --cause then says
// the ID is ambiguous rather than pick one.
const IDLength = 6

// maskQuotes replaces the contents of '…', "…" and `…` with <str>. An
// opening quote follows the start or a character that is not a letter or
// digit; its closing quote is the next one (backslash escapes skipped, on
// the same line) followed by the end or such a character.
func maskQuotes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isQuote(r) && !isWordRune(prev) {
			if end := closingQuote(s, i+size, r); end >= 0 {
				b.WriteRune(r)
				if end > i+size {
					b.WriteString(maskQuoted)
				}
				b.WriteRune(r)
				i = end + size
				prev = r
				continue
			}
		}
		b.WriteString(s[i : i+size])
		prev = r
		i += size
	}
	return b.String()
}

// closingQuote returns the index of the quote q that closes a value
// starting at from, or -1.
func closingQuote(s string, from int, q rune) int {
	for j := from; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		switch r {
		case '\n':
			return -1
		case '\\':
			j += size
			if j < len(s) {
				_, next := utf8.DecodeRuneInString(s[j:])
				j += next
			}
			continue
		case q:
			after, _ := utf8.DecodeRuneInString(s[j+size:])
			if j+size >= len(s) || !isWordRune(after) {
				return j
			}
		}
		j += size
	}
	return -1
}

func isQuote(r rune) bool { return r == '\'' || r == '"' || r == '`' }

func isWordRune(r rune) bool { return r >= 0 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// maskTokens classifies every token (a run of letters, digits, '-' and
// '_', with '.', ':' and ',' inside numbers) and masks the variable ones.
func maskTokens(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		end := tokenEnd(s, i)
		if end == i {
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		b.WriteString(maskToken(s[i:end], s[:i]))
		i = end
	}
	return b.String()
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// tokenEnd returns where the token starting at i ends (i when s[i] starts
// none). Placeholders (<id>) are not tokens' business: '<' and '>' end
// them, and their letters are kept as they are.
func tokenEnd(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case isTokenByte(c):
			j++
		case (c == '.' || c == ':' || c == ',') && j > i && isDigit(s[j-1]) && j+1 < len(s) && isDigit(s[j+1]):
			j++
		default:
			return j
		}
	}
	return j
}

// maskToken masks one token; before is the text in front of it.
func maskToken(tok, before string) string {
	digits, letters := 0, 0
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case isDigit(c):
			digits++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		}
	}
	if digits == 0 {
		return tok
	}
	if numberRE.MatchString(tok) {
		if len(tok) == 3 && statusContextRE.MatchString(before) {
			return tok
		}
		if longestDigitRun(tok) >= 6 {
			return maskID
		}
		return maskNumber
	}
	// Hex before quantities: 0002899b is an ID, not 2899 bytes.
	if hexRE.MatchString(tok) && len(tok) >= 4 {
		return maskID // 4f1c9a0b, 0x7f3a
	}
	if m := quantityRE.FindStringSubmatch(tok); m != nil {
		return maskNumber + m[2]
	}
	switch {
	case strings.ContainsAny(tok, "-_"):
		return maskID // o-7, order-123, eu-west-1, x-ray IDs
	case letters > 0 && len(tok) >= 8:
		return maskID // base32 and base62 request IDs
	}
	return tok // v2, ec2, s3, sha256, utf8: names, not values
}

func longestDigitRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
