package replay

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/dlqops/dlq/internal/queue"
)

// ledger is every message the run took, across rounds, and what happened
// to it (stSent, stDone, stFailed): later rounds leave alone what failed,
// and the final check looks for what was not deleted and deletes again
// what was sent. 17 bytes a message (a UUID), sorted by ID: no map, and
// no digest of an ID stands for it.
type ledger struct {
	mu    sync.Mutex
	uuids []uuidEntry
	texts []textEntry // IDs that are not UUIDs
}

type uuidEntry struct {
	id [16]byte
	st msgState
}

type textEntry struct {
	id string
	st msgState
}

// add records a round's messages: every row of t (the run took them all)
// and what happened to each. A message taken again in a later round keeps
// what happened to it in either.
func (l *ledger) add(t *table) {
	var us []uuidEntry
	var ts []textEntry
	t.mu.Lock()
	for i := range t.rows {
		rw := &t.rows[i]
		if rw.kind&kHeld == 0 {
			continue
		}
		st := t.st[i] & (stSent | stDone | stFailed)
		if rw.kind&kTextID != 0 {
			ts = append(ts, textEntry{id: t.texts[binary.LittleEndian.Uint32(rw.id[:])], st: st})
		} else {
			us = append(us, uuidEntry{id: rw.id, st: st})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(us, func(a, b uuidEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
	slices.SortFunc(ts, func(a, b textEntry) int { return strings.Compare(a.id, b.id) })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uuids = merge(l.uuids, us, func(a, b uuidEntry) int { return bytes.Compare(a.id[:], b.id[:]) }, func(a, b uuidEntry) uuidEntry { a.st |= b.st; return a })
	l.texts = merge(l.texts, ts, func(a, b textEntry) int { return strings.Compare(a.id, b.id) }, func(a, b textEntry) textEntry { a.st |= b.st; return a })
}

// merge merges sorted a and b; entries equal in both are combined.
func merge[E any](a, b []E, compare func(E, E) int, combine func(E, E) E) []E {
	if len(b) == 0 {
		return a
	}
	out := make([]E, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = compare(a[i], b[j])
		}
		switch {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			// A scan takes a message once, so b has no duplicates; were
			// there any, they would be combined all the same.
			if n := len(out); n > 0 && compare(out[n-1], b[j]) == 0 {
				out[n-1] = combine(out[n-1], b[j])
			} else {
				out = append(out, b[j])
			}
			j++
		default:
			out = append(out, combine(a[i], b[j]))
			i, j = i+1, j+1
		}
	}
	return out
}

// state is what happened to the message id, if the run took it.
func (l *ledger) state(id string) (msgState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.find(id)
	if p == nil {
		return 0, false
	}
	return *p, true
}

// update sets and clears states of the message id, if the run took it.
func (l *ledger) update(id string, set, clear msgState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.find(id); p != nil {
		*p = *p&^clear | set
	}
}

// find is where id's state is; the caller holds mu.
func (l *ledger) find(id string) *msgState {
	if b, ok := queue.UUIDBytes(id); ok {
		i, found := slices.BinarySearchFunc(l.uuids, b, func(e uuidEntry, b [16]byte) int { return bytes.Compare(e.id[:], b[:]) })
		if found {
			return &l.uuids[i].st
		}
		return nil
	}
	i, found := slices.BinarySearchFunc(l.texts, id, func(e textEntry, id string) int { return cmp.Compare(e.id, id) })
	if found {
		return &l.texts[i].st
	}
	return nil
}

// len is how many messages the run took.
func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.uuids) + len(l.texts)
}

// markMissing marks every message not deleted as missing, for the final
// check to find, and returns how many there are, and how many messages
// the destination has (sent, deleted or not): the final check looks for
// those too.
func (l *ledger) markMissing() (missing, sent int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mark := func(st *msgState) {
		*st &^= stMissing
		if *st&stDone == 0 {
			*st |= stMissing
			missing++
		}
		if *st&stSent != 0 {
			sent++
		}
	}
	for i := range l.uuids {
		mark(&l.uuids[i].st)
	}
	for i := range l.texts {
		mark(&l.texts[i].st)
	}
	return missing, sent
}

// missing counts the messages still marked missing.
func (l *ledger) missing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.uuids {
		if e.st&stMissing != 0 {
			n++
		}
	}
	for _, e := range l.texts {
		if e.st&stMissing != 0 {
			n++
		}
	}
	return n
}
