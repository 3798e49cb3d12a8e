package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

func TestUUIDBytesRoundTripsExactly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		uuid bool
	}{
		{"2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"2AE037EE-39C5-4B7A-9E0A-7F1F1C1D2E3F", false}, // would come back lowercase
		{"{2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f}", false},
		{"urn:uuid:2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", false},
		{"2ae037ee39c54b7a9e0a7f1f1c1d2e3f", false},
		{"2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3g", false},
		{"2ae037ee-39c5-4b7a-9e0a+7f1f1c1d2e3f", false},
		{"m-1", false},
		{"", false},
	} {
		b, ok := queue.UUIDBytes(tc.id)
		if ok != tc.uuid {
			t.Errorf("UUIDBytes(%q) ok = %v", tc.id, ok)
			continue
		}
		if ok && queue.UUIDString(b) != tc.id {
			t.Errorf("UUIDString(UUIDBytes(%q)) = %q", tc.id, queue.UUIDString(b))
		}
	}
}

// Two IDs never share a number, whatever their form.
func TestIDIndexIsExact(t *testing.T) {
	t.Parallel()
	var x queue.IDIndex
	ids := []string{"2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", "2AE037EE-39C5-4B7A-9E0A-7F1F1C1D2E3F", "2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3e", "m-1", ""}
	for i, id := range ids {
		if n, added := x.Add(id); !added || int(n) != i {
			t.Errorf("Add(%q) = %d, %v", id, n, added)
		}
	}
	for i, id := range ids {
		if n, added := x.Add(id); added || int(n) != i {
			t.Errorf("second Add(%q) = %d, %v", id, n, added)
		}
		if n, ok := x.Find(id); !ok || int(n) != i {
			t.Errorf("Find(%q) = %d, %v", id, n, ok)
		}
	}
	if _, ok := x.Find("m-2"); ok || x.Len() != len(ids) {
		t.Errorf("Find of an unknown ID, or Len %d", x.Len())
	}
}

// scripted answers receives from a script (then nothing) and records the
// visibility changes.
type scripted struct {
	mu       sync.Mutex
	answers  [][]types.Message
	changed  map[string]int32 // handle → last visibility set
	failFrom int              // receives from this one on fail (0: never)
	calls    int
	before   func(call int) // runs before a receive answers
}

func (q *scripted) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.calls++
	call := q.calls
	q.mu.Unlock()
	if q.before != nil {
		q.before(call)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failFrom > 0 && call >= q.failFrom {
		return nil, errors.New("connection reset")
	}
	if len(q.answers) == 0 {
		return &sqs.ReceiveMessageOutput{}, nil
	}
	out := &sqs.ReceiveMessageOutput{Messages: q.answers[0]}
	q.answers = q.answers[1:]
	return out, nil
}

func (q *scripted) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		q.changed[aws.ToString(e.ReceiptHandle)] = e.VisibilityTimeout
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func msg(id, handle string, count int) types.Message {
	return types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String(handle), Body: aws.String(`{"orderId":"` + id + `"}`),
		Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(count), "SentTimestamp": "1700000000000"}}
}

// holder records what a scan gives it.
type holder struct {
	mu      sync.Mutex
	handles map[int]string
	ids     map[int]string
	failOn  string // Hold fails for this message ID
	wait    func() // Hold waits for it
}

func (h *holder) Hold(i int, m *queue.Message, handle string) error {
	if h.wait != nil {
		h.wait()
	}
	if m.Parsed == nil {
		return errors.New("not parsed")
	}
	if m.MessageID == h.failOn {
		return errors.New("disk full")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.ids[i]; ok {
		return fmt.Errorf("place %d given twice", i)
	}
	h.ids[i], h.handles[i] = m.MessageID, handle
	return nil
}

func (h *holder) Rehandle(i int, handle string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.ids[i]; !ok {
		return fmt.Errorf("rehandle of %d before its hold", i)
	}
	h.handles[i] = handle
	return nil
}

func (h *holder) Handles(each func([]string)) error {
	h.mu.Lock()
	var hs []string
	for _, v := range h.handles {
		hs = append(hs, v)
	}
	h.mu.Unlock()
	each(hs)
	return nil
}

// With a Holder, a message received again during the scan (its hold
// lapsed) reaches the Holder with its newest receipt handle, whatever the
// order the receives are offered in; an older answer does not replace it.
// Matched stays empty, what was not kept is released, what was kept is
// not.
func TestScanGivesTheHolderTheNewestHandle(t *testing.T) {
	t.Parallel()
	q := &scripted{changed: map[string]int32{}, answers: [][]types.Message{
		{msg("a", "a1", 1), msg("b", "b1", 1), msg("skip", "s1", 1)},
		{msg("a", "a2", 2), msg("c", "c1", 1)},
		{msg("b", "b0", 0), msg("a", "a3", 3)}, // b0 is older than b1
	}}
	h := &holder{handles: map[int]string{}, ids: map[int]string{}}
	res, err := queue.Scan(context.Background(), q, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Depth: 10, Receivers: 1, KeepMatched: true, Holder: h, MaxEmpty: 1},
		func(m *queue.Message) bool { return m.MessageID != "skip" })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matched) != 0 || res.Held != 3 || res.Scanned != 4 {
		t.Fatalf("result %+v", res)
	}
	got := map[string]string{}
	for i, id := range h.ids {
		got[id] = h.handles[i]
	}
	if fmt.Sprint(got) != "map[a:a3 b:b1 c:c1]" {
		t.Errorf("holder has %v", got)
	}
	if len(q.changed) != 1 || q.changed["s1"] != 0 {
		t.Errorf("visibility changes %v: want only the message not kept released", q.changed)
	}
}

// A scan whose Holder fails gives back everything: what it held itself,
// what the Holder has, and the handle the Holder did not take.
func TestScanWithAFailingHolderReleasesEverything(t *testing.T) {
	t.Parallel()
	q := &scripted{changed: map[string]int32{}, answers: [][]types.Message{
		{msg("a", "a1", 1), msg("b", "b1", 1)},
		{msg("c", "c1", 1)},
	}}
	h := &holder{handles: map[int]string{}, ids: map[int]string{}, failOn: "b"}
	res, err := queue.Scan(context.Background(), q, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Depth: 3, Receivers: 1, KeepMatched: true, Holder: h, MaxEmpty: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if res.Held != 0 {
		t.Errorf("held %d after a failed scan", res.Held)
	}
	var released []string
	for hd, v := range q.changed {
		if v == 0 {
			released = append(released, hd)
		}
	}
	slices.Sort(released)
	if fmt.Sprint(released) != "[a1 b1]" {
		t.Errorf("released %v, want a1 (the Holder's) and b1 (not taken)", released)
	}
}

// A newer receipt handle that arrives while the Holder is still taking
// the message reaches it after that, and is the one it keeps.
func TestScanGivesAHandleThatArrivesDuringHold(t *testing.T) {
	t.Parallel()
	q := &scripted{changed: map[string]int32{}, answers: [][]types.Message{{msg("a", "a1", 1)}, {msg("a", "a2", 2)}}}
	h := &holder{handles: map[int]string{}, ids: map[int]string{}}
	holding := make(chan struct{})
	// The second receive answers once the first message is being held.
	q.before = func(call int) {
		if call == 2 {
			<-holding
		}
	}
	h.wait = func() {
		close(holding)
		// Until the other receiver offered a2 and asked for more.
		for {
			q.mu.Lock()
			n := q.calls
			q.mu.Unlock()
			if n >= 3 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	res, err := queue.Scan(context.Background(), q, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Depth: 10, Receivers: 2, KeepMatched: true, Holder: h, MaxEmpty: 1}, nil)
	if err != nil || res.Held != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if h.handles[0] != "a2" || len(q.changed) != 0 {
		t.Errorf("holder has %q; visibility changes %v", h.handles[0], q.changed)
	}
}
