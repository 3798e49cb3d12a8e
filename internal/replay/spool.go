package replay

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/dlqops/dlq/internal/queue"
)

// spool keeps the bodies, message attributes and system attributes of the
// messages a run holds in a file, so that its memory does not grow with
// their size: what stays in memory is what ordering, routing, holding and
// deleting need (IDs, receipt handles, keys, sent times). The file is
// unlinked as soon as it is created: the open file is all the run needs,
// and a crash leaves nothing behind. Sends read each message back.
type spool struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	off  int64
	refs map[string]spoolRef
	// shared are read-only system attribute maps that held messages with
	// the same source and no deduplication ID share: on a DLQ that SQS
	// fills, every message has its DeadLetterQueueSourceArn, and a map of
	// one entry each would cost more than the rest of a held message.
	shared map[string]map[string]string
}

type spoolRef struct {
	off  int64
	n    int32
	size int32 // messageSize: body and attributes
	body int32 // the body's length, for the plan
}

// spooled is one message's record in the file.
type spooled struct {
	Body       string                     `json:"b"`
	Attributes map[string]queue.Attribute `json:"a,omitempty"`
	System     map[string]string          `json:"s,omitempty"`
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
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10), refs: map[string]spoolRef{}, shared: map[string]map[string]string{}}, nil
}

// keep writes m's body and attributes to the file and leaves in m only
// what stays in memory, copied out of the SDK's response buffer (a string
// kept from it would keep every body of the response alive).
func (s *spool) keep(m *queue.Message) error {
	// Copied first: the refs map's key must not be the response's string.
	m.MessageID, m.ReceiptHandle, m.GroupID = strings.Clone(m.MessageID), strings.Clone(m.ReceiptHandle), strings.Clone(m.GroupID)
	m.TraceID, m.OrderID = strings.Clone(m.TraceID), strings.Clone(m.OrderID)
	b, err := json.Marshal(spooled{Body: m.Body, Attributes: m.Attributes, System: m.System})
	if err != nil {
		return fmt.Errorf("write replay spool: %w", err)
	}
	ref := spoolRef{n: int32(len(b)), size: int32(messageSize(*m)), body: int32(len(m.Body))}
	s.mu.Lock()
	if _, err := s.w.Write(b); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("write replay spool: %w", err)
	}
	ref.off = s.off
	s.off += int64(len(b))
	s.refs[m.MessageID] = ref
	var small map[string]string
	switch src := m.System[SourceARNAttribute]; {
	case m.System["MessageDeduplicationId"] != "":
		small = map[string]string{"MessageDeduplicationId": strings.Clone(m.System["MessageDeduplicationId"])}
		if src != "" {
			small[SourceARNAttribute] = strings.Clone(src)
		}
	case src != "":
		if small = s.shared[src]; small == nil {
			small = map[string]string{SourceARNAttribute: strings.Clone(src)}
			s.shared[small[SourceARNAttribute]] = small
		}
	}
	s.mu.Unlock()
	// What stays is read, never written: a shared map is safe.
	m.Body, m.Attributes, m.System = "", nil, small
	return nil
}

// load returns m whole: its body and attributes read back from the file.
// A message that was not spooled is returned as it is.
func (s *spool) load(m *queue.Message) (queue.Message, error) {
	if s == nil {
		return *m, nil
	}
	s.mu.Lock()
	ref, ok := s.refs[m.MessageID]
	var err error
	if ok && s.w.Buffered() > 0 {
		err = s.w.Flush()
	}
	s.mu.Unlock()
	if !ok {
		return *m, nil
	}
	if err != nil {
		return *m, fmt.Errorf("read replay spool: %w", err)
	}
	buf := make([]byte, ref.n)
	if _, err := s.f.ReadAt(buf, ref.off); err != nil {
		return *m, fmt.Errorf("read replay spool: %w", err)
	}
	var rec spooled
	if err := json.Unmarshal(buf, &rec); err != nil {
		return *m, fmt.Errorf("read replay spool: %w", err)
	}
	full := *m
	full.Body, full.Attributes, full.System = rec.Body, rec.Attributes, rec.System
	return full, nil
}

// sizes are m's messageSize and body length, spooled or not.
func (s *spool) sizes(m *queue.Message) (size, body int) {
	if s != nil {
		s.mu.Lock()
		ref, ok := s.refs[m.MessageID]
		s.mu.Unlock()
		if ok {
			return int(ref.size), int(ref.body)
		}
	}
	return messageSize(*m), len(m.Body)
}

func (s *spool) close() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}
