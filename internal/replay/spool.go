package replay

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
)

// spool keeps in a file what held messages do not need in memory: each
// message's body, message attributes and system attributes (one JSON
// record) and its receipt handles. What stays in memory is a row of a
// table (ordering, routing, holding and deleting need no more). Sends read
// each message back; deletes and the heartbeat read the handles. The file
// is unlinked as soon as it is created: the open file is all the run
// needs, and a crash leaves nothing behind.
type spool struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	off int64 // the file's length, buffered bytes included
}

func openSpool(dir string) (*spool, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open replay spool: %w", err)
	}
	f, err := os.CreateTemp(dir, "replay-spool-*")
	if err != nil {
		return nil, fmt.Errorf("open replay spool: %w", err)
	}
	_ = os.Remove(f.Name())
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// write appends rec, then handle, and returns where rec begins (handle
// follows it).
func (s *spool) write(rec []byte, handle string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(rec); err != nil {
		return 0, fmt.Errorf("write replay spool: %w", err)
	}
	if _, err := s.w.WriteString(handle); err != nil {
		return 0, fmt.Errorf("write replay spool: %w", err)
	}
	off := s.off
	s.off += int64(len(rec) + len(handle))
	return off, nil
}

// read returns the n bytes at off.
func (s *spool) read(off int64, n int) ([]byte, error) {
	s.mu.Lock()
	var err error
	if off+int64(n) > s.off-int64(s.w.Buffered()) {
		err = s.w.Flush()
	}
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("read replay spool: %w", err)
	}
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read replay spool: %w", err)
	}
	return buf, nil
}

// size is how much the spool holds, buffered bytes included.
func (s *spool) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off
}

func (s *spool) close() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}

// strtab numbers the distinct strings that held messages share (order
// keys, FIFO groups, source ARNs), so that a row holds 4 bytes instead of
// a string; marks say what the run did with each (order keys: sent,
// stopped). It lasts the whole run: rounds share it.
type strtab struct {
	mu    sync.Mutex
	index map[string]int32
	strs  []string
	marks []uint8
}

// Marks of order keys.
const (
	keySent    uint8 = 1 << iota // this run sent a message of the key
	keyStopped                   // stopped at a failed message
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

func (t *strtab) mark(i int32, m uint8) {
	if i < 0 {
		return
	}
	t.mu.Lock()
	t.marks[i] |= m
	t.mu.Unlock()
}

// marked reports whether the string s has any of the marks m.
func (t *strtab) marked(s string, m uint8) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[s]
	return ok && t.marks[i]&m != 0
}
