package replay

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/spool"
)

// row is one held message in 64 bytes and no pointer (the collector never
// scans a table): what ordering, routing, holding and deleting need. Its
// body, attributes and receipt handle wait in the spool. A row does not
// change once Hold wrote it; what happens to its message is in table.st.
type row struct {
	id    [16]byte // a UUID's bytes; with kTextID, the ID's index in texts
	sent  int64    // SentTimestamp, in ms
	off   int64    // spool: the record, then the receipt handle it came with
	n     uint32   // the record's length
	hlen  uint32   // that handle's length
	size  int32    // messageSize: body and attributes
	body  int32    // the body's length
	key   int32    // --order key: the order key (runner.keys); -1: none
	group int32    // the FIFO group (runner.groups); -1: none
	src   int32    // DeadLetterQueueSourceArn (runner.sources); -1: none
	kind  rowKind
}

// rowKind says what a row is: bits that do not change once Hold wrote it.
type rowKind uint8

// Kinds of row.
const (
	kHeld     rowKind = 1 << iota // written: Hold returned
	kTextID                       // the message ID is not a UUID
	kDedup                        // the message has a MessageDeduplicationId
	kReturned                     // replayed by this run, and back (runner.returned)
)

// msgState is what happened to a held message (table.st, ledger): bits
// that only accumulate, but for stMissing, which the final check clears.
type msgState uint8

// States of a held message.
const (
	stUnknown msgState = 1 << iota // journaled "sending" by an earlier run, never "sent"
	stSent                         // the destination has it (journaled "sent")
	stDone                         // deleted from the DLQ
	stFailed                       // this run could not move it (reported)
	stMissing                      // the final check has not seen it yet (ledger only)
	stGiven                        // given back to the DLQ: never renewed again (table only)
	stRefused                      // Hold refused it: the scan gives it back (table only)
)

const noRow int32 = -1

// table is one round's held messages, a row each, numbered in the order
// the scan took them: it is the scan's queue.Holder. What stays in memory
// is about 70 bytes a message, whatever the size of its body and of its
// receipt handle (400 to 600 bytes on AWS).
type table struct {
	r  *runner
	sp *spool.File // this table's records and receipt handles
	// light tables (the final check's) spool receipt handles only: their
	// messages are given back or deleted, never sent.
	light bool
	// holdMu keeps a renewal of the holds (keepHidden) and a give-back
	// apart: a renewal landing after a give-back would hide a message
	// nobody holds any more.
	holdMu sync.Mutex
	mu     sync.Mutex
	rows   []row
	st     []msgState         // by row: what happened to its message
	texts  []string           // message IDs that are not UUIDs
	moved  map[int32]handleAt // newer receipt handles (received again)
	// then, when set, is given each message once Hold kept it: a round
	// that sends while it scans queues it there. refused is its first
	// error (the scan ends with it).
	then    func(i int32, m *queue.Message, handle string) error
	refused error
}

// handleAt is where a receipt handle is in the spool.
type handleAt struct {
	off int64
	n   uint32
}

// newTable makes room for capacity rows at once: a table that outgrows its
// room is copied, and the old and the new copy live side by side.
//
// Each table gets a spool file of its own and the one before is closed
// (nothing reads it any more): a run's disk is one window's messages, not
// every message it moved (the replay Lambda's /tmp is 512 MB). If no new
// file can be opened, the run goes on with the old one, and says so.
func (r *runner) newTable(capacity int) *table {
	if prev := r.spool.Size(); prev > 0 {
		sp, err := spool.Open(r.cfg.SpoolDir)
		if err != nil {
			r.warn("%v: the spool of the round before is used on (its disk is freed when the run ends)", err)
		} else {
			_ = r.spool.Close()
			r.spool = sp
			if hook := testHookSpoolRenewed.Load(); hook != nil {
				(*hook)(r.dlq.URL, prev)
			}
		}
	}
	return &table{r: r, sp: r.spool, rows: make([]row, 0, capacity), st: make([]msgState, 0, capacity)}
}

// testHookSpoolRenewed, set by tests, is told (with the DLQ's URL) how
// much the spool held when a new table replaced it.
var testHookSpoolRenewed atomic.Pointer[func(dlq string, held int64)]

// Hold spools m (its body, attributes and receipt handle) and keeps its
// row as row i.
func (t *table) Hold(i int, m *queue.Message, handle string) error {
	r := t.r
	rw := row{sent: m.SentAt.UnixMilli(), size: int32(messageSize(m)), body: int32(len(m.Body)), key: -1,
		group: r.groups.intern(m.GroupID), src: r.sources.intern(originKey(m)), kind: kHeld}
	if r.cfg.Order == OrderKey {
		rw.key = r.keys.intern(r.keyFor(m)) // now, while the body is parsed
	}
	if m.System["MessageDeduplicationId"] != "" {
		rw.kind |= kDedup
	}
	if t.light && r.returned(m) { // a round never takes them (takes)
		rw.kind |= kReturned
	}
	var rec []byte
	if !t.light {
		rec = spool.AppendRecord(make([]byte, 0, len(m.Body)+256), m)
	}
	var err error
	if rw.off, err = t.sp.Write(rec, handle); err != nil {
		return err
	}
	rw.n, rw.hlen = uint32(len(rec)), uint32(len(handle))
	id, isUUID := queue.UUIDBytes(m.MessageID)
	t.mu.Lock()
	if !isUUID {
		binary.LittleEndian.PutUint32(id[:], uint32(len(t.texts)))
		t.texts = append(t.texts, strings.Clone(m.MessageID))
		rw.kind |= kTextID
	}
	rw.id = id
	if i >= len(t.rows) {
		t.rows = slices.Grow(t.rows, i+1-len(t.rows))[:i+1]
		t.st = slices.Grow(t.st, i+1-len(t.st))[:i+1]
	}
	t.rows[i] = rw
	t.mu.Unlock()
	if t.then != nil {
		if err := t.then(int32(i), m, handle); err != nil {
			// The scan ends, and gives this message back from its own
			// record of the handle: Handles leaves it out.
			t.mu.Lock()
			t.st[i] |= stGiven | stRefused
			if t.refused == nil {
				t.refused = err
			}
			t.mu.Unlock()
			return err
		}
	}
	return nil
}

// Rehandle spools row i's newer receipt handle: the one deletes and
// renewals use from now on.
func (t *table) Rehandle(i int, handle string) error {
	t.mu.Lock()
	refused := t.st[i]&stRefused != 0
	why := t.refused
	t.mu.Unlock()
	if refused {
		// Hold refused it (a streaming round stopped): the scan keeps the
		// newer handle, and gives the message back with it. The error is
		// Hold's, so that the scan ends for the reason it did.
		return why
	}
	off, err := t.sp.Write(nil, handle)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.moved == nil {
		t.moved = map[int32]handleAt{}
	}
	t.moved[int32(i)] = handleAt{off: off, n: uint32(len(handle))}
	t.mu.Unlock()
	return nil
}

// Handles reads the receipt handles of every row held so far and not
// deleted (nor given back), handleChunk at a time. A handle that cannot be read is skipped
// (its message is back when its hold lapses), and the errors are joined.
func (t *table) Handles(each func([]string)) error {
	var errs []error
	for start := 0; ; start += handleChunk {
		t.mu.Lock()
		end := min(start+handleChunk, len(t.rows))
		rows := make([]int32, 0, max(end-start, 0))
		for i := start; i < end; i++ {
			// A message deleted already (sent while the scan went on) is
			// neither renewed nor given back.
			if t.stillHeld(i) {
				rows = append(rows, int32(i))
			}
		}
		t.mu.Unlock()
		hs, err := t.handles(rows)
		errs = append(errs, err)
		if len(hs) > 0 {
			each(hs)
		}
		if end >= t.len() {
			return errors.Join(errs...)
		}
	}
}

// handleChunk is how many receipt handles are read at a time for a
// renewal or a give-back: about half a megabyte on AWS.
const handleChunk = 1000

// handles reads the receipt handles of rows; those that cannot be read
// are left out, and the errors joined.
func (t *table) handles(rows []int32) ([]string, error) {
	out := make([]string, 0, len(rows))
	var errs []error
	for _, i := range rows {
		h, err := t.handle(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}

// changeVisibility sets the visibility timeout of the messages of rows
// (0 gives them back), reading their receipt handles handleChunk at a
// time. A chunk that fails does not stop the others; the errors are
// joined.
func (t *table) changeVisibility(ctx context.Context, rows []int32, d time.Duration) error {
	var errs []error
	for start := 0; start < len(rows); start += handleChunk {
		hs, err := t.handles(rows[start:min(start+handleChunk, len(rows))])
		_, cerr := queue.ChangeVisibility(ctx, t.r.cfg.API, t.r.dlq.URL, hs, d)
		errs = append(errs, err, cerr)
	}
	return errors.Join(errs...)
}

// handle reads row i's newest receipt handle.
func (t *table) handle(i int32) (string, error) {
	at := t.handleAt(i)
	b, err := t.sp.Read(at.off, int(at.n))
	return string(b), err
}

func (t *table) handleAt(i int32) handleAt {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.moved[i]; ok {
		return at
	}
	rw := &t.rows[i]
	return handleAt{off: rw.off + int64(rw.n), n: rw.hlen}
}

// newest is row i's receipt handle: given, unless the message was
// received again since (Rehandle), then the newer one.
func (t *table) newest(i int32, given string) (string, error) {
	t.mu.Lock()
	_, moved := t.moved[i]
	t.mu.Unlock()
	if !moved {
		return given, nil
	}
	return t.handle(i)
}

// load reads row i's message back whole: body, attributes, system
// attributes, and its newest receipt handle.
func (t *table) load(i int32) (queue.Message, error) {
	rw := t.row(i)
	at := t.handleAt(i)
	n := int(rw.n)
	adjacent := at.off == rw.off+int64(rw.n)
	if adjacent {
		n += int(at.n) // one read for both
	}
	buf, err := t.sp.Read(rw.off, n)
	if err != nil {
		return queue.Message{}, err
	}
	m := queue.Message{MessageID: t.id(i), SentAt: time.UnixMilli(rw.sent).UTC(), GroupID: t.r.groups.str(rw.group)}
	if err := spool.ReadRecord(buf[:rw.n], &m); err != nil {
		return queue.Message{}, err
	}
	if adjacent {
		m.ReceiptHandle = string(buf[rw.n:])
	} else if m.ReceiptHandle, err = t.handle(i); err != nil {
		return queue.Message{}, err
	}
	return m, nil
}

// row is a copy of row i.
func (t *table) row(i int32) row {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rows[i]
}

// id is row i's message ID.
func (t *table) id(i int32) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	rw := &t.rows[i]
	if rw.kind&kTextID != 0 {
		return t.texts[binary.LittleEndian.Uint32(rw.id[:])]
	}
	return queue.UUIDString(rw.id)
}

// ids are the message IDs of rows.
func (t *table) ids(rows []int32) []string {
	out := make([]string, len(rows))
	for k, i := range rows {
		out[k] = t.id(i)
	}
	return out
}

func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.rows)
}

// stillHeld reports whether row i's message is held: taken, and neither
// deleted nor given back. The caller holds mu.
func (t *table) stillHeld(i int) bool {
	return t.rows[i].kind&kHeld != 0 && t.st[i]&(stDone|stGiven) == 0
}

// has reports whether any of st happened to row i's message.
func (t *table) has(i int32, st msgState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st[i]&st != 0
}

// set records st for rows.
func (t *table) set(st msgState, rows ...int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range rows {
		t.st[i] |= st
	}
}

// setUnless records st for every row that has none of unless.
func (t *table) setUnless(st, unless msgState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.st {
		if t.st[i]&unless == 0 {
			t.st[i] |= st
		}
	}
}

// setOnce records st for row i, and reports whether it was new.
func (t *table) setOnce(i int32, st msgState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st[i]&st != 0 {
		return false
	}
	t.st[i] |= st
	return true
}

// sorted lists the rows held by sent time; rows sent in the same
// millisecond keep the order the scan took them in.
func (t *table) sorted() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]int32, 0, len(t.rows))
	for i := range t.rows {
		if t.rows[i].kind&kHeld != 0 {
			out = append(out, int32(i))
		}
	}
	slices.SortFunc(out, func(a, b int32) int {
		return cmp.Or(cmp.Compare(t.rows[a].sent, t.rows[b].sent), cmp.Compare(a, b))
	})
	return out
}
