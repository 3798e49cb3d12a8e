package render

import "fmt"

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
