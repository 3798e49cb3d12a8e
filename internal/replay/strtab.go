package replay

import (
	"strings"
	"sync"
)

// strtab numbers the distinct strings that held messages share (order
// keys, FIFO groups, source ARNs), so that a row holds 4 bytes instead of
// a string; marks say what the run did with each (order keys: sent,
// stopped). It lasts the whole run: rounds share it.
type strtab struct {
	mu    sync.Mutex
	index map[string]int32
	strs  []string
	marks []keyMark
}

// keyMark is what the run did with an order key.
type keyMark uint8

// Marks of order keys.
const (
	keySent    keyMark = 1 << iota // this run sent a message of the key
	keyStopped                     // stopped at a failed message
)

// intern numbers s; "" is -1, no string.
func (t *strtab) intern(s string) int32 {
	if s == "" {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[s]; ok {
		return i
	}
	if t.index == nil {
		t.index = map[string]int32{}
	}
	// A copy: s may point into a response buffer that holds every body of
	// the response.
	c := strings.Clone(s)
	t.index[c] = int32(len(t.strs))
	t.strs = append(t.strs, c)
	t.marks = append(t.marks, 0)
	return int32(len(t.strs) - 1)
}

// str is the string numbered i ("" for -1).
func (t *strtab) str(i int32) string {
	if i < 0 {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.strs[i]
}

func (t *strtab) mark(i int32, m keyMark) {
	if i < 0 {
		return
	}
	t.mu.Lock()
	t.marks[i] |= m
	t.mu.Unlock()
}

// marked reports whether the string s has any of the marks m.
func (t *strtab) marked(s string, m keyMark) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[s]
	return ok && t.marks[i]&m != 0
}
