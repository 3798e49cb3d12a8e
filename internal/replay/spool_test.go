package replay

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/spool"
)

// tableFor is a table of a run that keeps its spool in a test directory.
func tableFor(t *testing.T, order Order) *table {
	t.Helper()
	s, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r := &runner{cfg: Config{Order: order}, spool: s}
	return r.newTable(0)
}

// awsHandle looks like an SQS receipt handle: hundreds of bytes.
func awsHandle(n int) string {
	return fmt.Sprintf("AQEB%d", n) + strings.Repeat("z+/=Ab9", 70)
}

// A held message keeps in memory a row of 64 bytes without a pointer,
// whatever the size of its body and receipt handle; it reads back
// byte-exact: body, every attribute (binary included), the system
// attributes and the receipt handle.
func TestTableKeepsMessagesOnDiskAndReadsThemBackExactly(t *testing.T) {
	t.Parallel()
	tb := tableFor(t, OrderKey)
	body := `{"orderId":"o-1","note":"<&> é \u2028 ` + strings.Repeat("x", 3000) + `"}`
	m := queue.Message{MessageID: "2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", Body: body, SentAt: time.UnixMilli(1700000000123).UTC(),
		GroupID: "g", OrderID: "o-1", TraceID: "t-1",
		Attributes: map[string]queue.Attribute{"bin": {Type: "Binary", Binary: []byte{0, 1, 2, 255}}, "s": {Type: "String.custom", String: "v"}},
		System:     map[string]string{"AWSTraceHeader": "Root=1-abc", SourceARNAttribute: "arn:aws:sqs:us-east-1:1:src", "ApproximateReceiveCount": "4"}}
	handle := awsHandle(1)
	if err := tb.Hold(0, &m, handle); err != nil {
		t.Fatal(err)
	}
	if n := unsafe.Sizeof(row{}); n != 64 {
		t.Errorf("a row is %d bytes, want 64", n)
	}
	rw := tb.row(0)
	if int(rw.size) != messageSize(&m) || int(rw.body) != len(body) || rw.sent != 1700000000123 || rw.key < 0 || tb.r.keys.str(rw.key) != "orderId=o-1" ||
		tb.r.groups.str(rw.group) != "g" || tb.r.sources.str(rw.src) != "arn:aws:sqs:us-east-1:1:src" || rw.kind&kTextID != 0 {
		t.Errorf("row = %+v", rw)
	}
	got, err := tb.load(0)
	if err != nil {
		t.Fatal(err)
	}
	queue.Correlate(&got) // the spool keeps the body, not what was parsed from it
	if got.MessageID != m.MessageID || got.Body != body || got.ReceiptHandle != handle || !got.SentAt.Equal(m.SentAt) || got.GroupID != "g" ||
		got.OrderID != "o-1" || !bytes.Equal(got.Attributes["bin"].Binary, []byte{0, 1, 2, 255}) ||
		got.Attributes["bin"].Type != "Binary" || got.Attributes["s"].Type != "String.custom" || got.Attributes["s"].String != "v" || len(got.System) != 3 || got.System["AWSTraceHeader"] != "Root=1-abc" {
		t.Fatalf("read back %+v", got)
	}
	if h, err := tb.handle(0); err != nil || h != handle {
		t.Fatalf("handle read back %q, %v", h, err)
	}
}

// A message received again during the scan has a new receipt handle, and
// only the newest deletes it: after Rehandle, every reader (the send and
// its delete, the heartbeat, a release) gets the newest, exactly.
func TestTableUsesTheNewestReceiptHandle(t *testing.T) {
	t.Parallel()
	tb := tableFor(t, OrderNone)
	for i := range 3 {
		m := queue.Message{MessageID: fmt.Sprintf("0000000%d-0000-4000-8000-000000000000", i), Body: fmt.Sprint(i)}
		if err := tb.Hold(i, &m, awsHandle(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Rehandle(1, "newer"); err != nil {
		t.Fatal(err)
	}
	if err := tb.Rehandle(1, awsHandle(99)); err != nil {
		t.Fatal(err)
	}
	if m, err := tb.load(1); err != nil || m.ReceiptHandle != awsHandle(99) || m.Body != "1" {
		t.Fatalf("load: %+v, %v", m, err)
	}
	var all []string
	if err := tb.Handles(func(hs []string) { all = append(all, hs...) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{awsHandle(0), awsHandle(99), awsHandle(2)}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("Handles = %v, want %v", all, want)
	}
}

// Message IDs are kept as 16 bytes only when they come back exactly;
// anything else (another form of UUID, an emulator's own IDs) is kept as
// text. Sorting keeps the scan's order among messages sent in the same
// millisecond.
func TestTableKeepsEveryMessageIDExactly(t *testing.T) {
	t.Parallel()
	tb := tableFor(t, OrderNone)
	ids := []string{"2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", "2AE037EE-39C5-4B7A-9E0A-7F1F1C1D2E3F", "{2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f}", "m-1", ""}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := queue.Message{MessageID: id, SentAt: time.UnixMilli(int64(10 - i/2))}
			if err := tb.Hold(i, &m, "h"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if got := tb.id(int32(i)); got != id {
			t.Errorf("id %d = %q, want %q", i, got, id)
		}
	}
	if got := tb.sorted(); fmt.Sprint(got) != "[4 2 3 0 1]" {
		t.Errorf("sorted = %v", got)
	}
}

// Messages dead-lettered from the same source share one number for it; a
// FIFO message's deduplication ID is noted (for --dedup original) and
// stays in the spool.
func TestTableNumbersSharedStrings(t *testing.T) {
	t.Parallel()
	tb := tableFor(t, OrderKey)
	src := "arn:aws:sqs:us-east-1:1:orders"
	msgs := []queue.Message{
		{MessageID: "a", Body: "1", System: map[string]string{SourceARNAttribute: src, "SentTimestamp": "1"}},
		{MessageID: "b", Body: "2", System: map[string]string{SourceARNAttribute: src}},
		{MessageID: "c", Body: "3", System: map[string]string{SourceARNAttribute: src, "MessageDeduplicationId": "d-3"}},
		{MessageID: "d", Body: "4", System: map[string]string{"SentTimestamp": "1"}},
	}
	for i := range msgs {
		if err := tb.Hold(i, &msgs[i], "h"); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := tb.row(0).src, tb.row(1).src; a != b || a < 0 || len(tb.r.sources.strs) != 1 {
		t.Errorf("same source, numbers %d and %d (%d strings)", a, b, len(tb.r.sources.strs))
	}
	if tb.row(2).kind&kDedup == 0 || tb.row(0).kind&kDedup != 0 || tb.row(3).src != -1 || tb.row(3).key != -1 {
		t.Errorf("rows %+v", tb.rows)
	}
	if m, err := tb.load(2); err != nil || m.System["MessageDeduplicationId"] != "d-3" {
		t.Errorf("load: %+v %v", m, err)
	}
}

// The ledger keeps what happened to every message the run took, across
// rounds, and finds each by its exact ID.
func TestLedgerMergesRounds(t *testing.T) {
	t.Parallel()
	var l ledger
	takeRound := func(ids []string, st map[string]msgState) {
		tb := tableFor(t, OrderNone)
		for i, id := range ids {
			if err := tb.Hold(i, &queue.Message{MessageID: id}, "h"); err != nil {
				t.Fatal(err)
			}
			tb.set(st[id], int32(i))
		}
		l.add(tb)
	}
	u := func(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-00000000abcd", n) }
	takeRound([]string{u(3), "x", u(1)}, map[string]msgState{u(3): stSent | stDone, "x": stFailed, u(1): stSent})
	takeRound([]string{u(2), u(1), "a"}, map[string]msgState{u(1): stDone})
	if l.len() != 5 {
		t.Fatalf("len = %d", l.len())
	}
	for id, want := range map[string]msgState{u(1): stSent | stDone, u(2): 0, u(3): stSent | stDone, "x": stFailed, "a": 0} {
		if st, ok := l.state(id); !ok || st != want {
			t.Errorf("state(%s) = %b, %v; want %b", id, st, ok, want)
		}
	}
	if _, ok := l.state(u(4)); ok {
		t.Error("a message the run never took is in the ledger")
	}
	if _, ok := l.state(strings.ToUpper(u(1))); ok {
		t.Error("an ID in another form matched")
	}
	if n, sent := l.markMissing(); n != 3 || sent != 2 {
		t.Errorf("missing = %d, sent = %d; want 3 (not deleted) and 2 (the destination has them)", n, sent)
	}
	l.update("x", 0, stMissing)
	if n := l.missing(); n != 2 {
		t.Errorf("missing = %d after one was found, want 2", n)
	}
}
