// Package spool keeps a replay round's held messages on disk instead of in
// memory: a file (unlinked as soon as it is created) of records, each a
// message's body and attributes, followed by its receipt handles; the
// round keeps only where each record is.
package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/dlqops/dlq/internal/queue"
)

// File keeps on disk what held messages do not need in memory: each
// message's body, message attributes and system attributes (one record,
// see AppendRecord) and its receipt handles. What stays in memory is a row of a
// table (ordering, routing, holding and deleting need no more). Sends read
// each message back; deletes and the heartbeat read the handles. The file
// is unlinked as soon as it is created: the open file is all the run
// needs, and a crash leaves nothing behind.
type File struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	off int64 // the file's length, buffered bytes included
}

// Open creates a spool file in dir ("": the system's temporary
// directory), unlinked at once.
func Open(dir string) (*File, error) {
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
	return &File{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Write appends rec, then handle, and returns where rec begins (handle
// follows it).
func (s *File) Write(rec []byte, handle string) (int64, error) {
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

// Read returns the n bytes at off.
func (s *File) Read(off int64, n int) ([]byte, error) {
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

// Size is how much the spool holds, buffered bytes included.
func (s *File) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off
}

// Close closes the file (its disk is freed: it is unlinked).
func (s *File) Close() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}

// A message's record in the spool is its body, message attributes and
// system attributes, each string prefixed by its length (a uvarint):
// body, the attribute count, then name, type, string value and binary
// value of each, the system attribute count, then name and value of each.
// It is written and read back once; JSON cost the run a tenth of its CPU.

// AppendRecord appends m's record to b.
func AppendRecord(b []byte, m *queue.Message) []byte {
	b = appendString(b, m.Body)
	b = binary.AppendUvarint(b, uint64(len(m.Attributes)))
	for k, a := range m.Attributes {
		b = appendString(appendString(appendString(b, k), a.Type), a.String)
		b = binary.AppendUvarint(b, uint64(len(a.Binary)))
		b = append(b, a.Binary...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.System)))
	for k, v := range m.System {
		b = appendString(appendString(b, k), v)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// ErrRecord is a spool record that does not decode: the file was changed
// under the run.
var ErrRecord = errors.New("read replay spool: malformed record")

// ReadRecord decodes a record into m's body and attributes.
func ReadRecord(b []byte, m *queue.Message) error {
	d := recordReader{b: b}
	m.Body = d.str()
	if n := d.count(); n > 0 {
		m.Attributes = make(map[string]queue.Attribute, n)
		for range n {
			k, typ, str := d.str(), d.str(), d.str()
			a := queue.Attribute{Type: typ, String: str}
			if bin := d.str(); len(bin) > 0 {
				a.Binary = []byte(bin)
			}
			m.Attributes[k] = a
		}
	}
	if n := d.count(); n > 0 {
		m.System = make(map[string]string, n)
		for range n {
			k := d.str()
			m.System[k] = d.str()
		}
	}
	if d.bad || len(d.b) > 0 {
		return ErrRecord
	}
	return nil
}

// recordReader reads a record's fields; bad is set at the first that does
// not fit.
type recordReader struct {
	b   []byte
	bad bool
}

func (d *recordReader) str() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// count is a number of entries, each at least two bytes long.
func (d *recordReader) count() int {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k)/2 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}
