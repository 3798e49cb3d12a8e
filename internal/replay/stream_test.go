package replay_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
)

func openJournal(t *testing.T) *journal.File {
	t.Helper()
	j, err := journal.OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// checkMovedOnce checks that every one of the total messages is in
// exactly one place: the destination (once) or the DLQ, visible now (a
// message still hidden would be missing from both).
func checkMovedOnce(t *testing.T, c *sqs.Client, dlqURL, dstURL string, total int) (moved, left int) {
	t.Helper()
	inDst := testenv.DrainCounts(t, c, dstURL)
	inDLQ := testenv.DrainCounts(t, c, dlqURL)
	for id, n := range inDst {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
		if inDLQ[id] > 0 {
			t.Errorf("%s is in the destination and still in the DLQ", id)
		}
	}
	if len(inDst)+len(inDLQ) != total {
		t.Errorf("%d in the destination and %d visible in the DLQ: %d of %d messages are missing or hidden",
			len(inDst), len(inDLQ), total-len(inDst)-len(inDLQ), total)
	}
	return len(inDst), len(inDLQ)
}

// With Stream (--yes) and --order none, a replay sends while it scans: a
// filtered run moves exactly its selection, once each, journals each
// message deleted, verifies the DLQ, and leaves the rest visible.
func TestReplayStreamMovesItsSelectionOnce(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total = 45
	sendN(t, p.c, p.dlq.URL, total, func(i int) string {
		tier := "gold"
		if i%3 == 0 {
			tier = "silver"
		}
		return fmt.Sprintf(`{"orderId":"o-%d","tier":%q}`, i, tier)
	})
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	j := openJournal(t)
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Order: replay.OrderNone, Stream: true, Journal: j})
	if !r.Streamed || r.Deleted != 30 || r.Sent != 30 || r.Matched != 30 || !r.Verified || r.Plan == nil || r.Plan.Messages != 30 {
		t.Fatalf("report = %+v, want 30 streamed, moved and verified", r)
	}
	states, err := j.Load()
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, st := range states {
		if st == journal.Deleted {
			deleted++
		}
	}
	if deleted != 30 {
		t.Errorf("%d messages journaled deleted, want 30", deleted)
	}
	if moved, left := checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total); moved != 30 || left != 15 {
		t.Errorf("%d moved, %d left: want 30 and the 15 silver ones", moved, left)
	}
}

// A streaming run resumed after a crash deletes what the journal says the
// destination has, without sending it again.
func TestReplayStreamResumeDeletesWhatWasSent(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 25, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	all := drainKeep(t, p.c, p.dlq.URL)
	var ids []string
	for id := range all {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	j := openJournal(t)
	ctx := context.Background()
	for _, st := range []journal.State{journal.Sending, journal.Sent} {
		if err := j.Record(ctx, ids[:4], st); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Record(ctx, ids[4:6], journal.Sending); err != nil { // a crash inside a send
		t.Fatal(err)
	}
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: true, Journal: j})
	if !r.Streamed || r.Skipped != 4 || r.Sent != 21 || r.Uncertain != 2 || r.Deleted != 25 || !r.Verified {
		t.Fatalf("report = %+v, want 4 skipped, 21 sent (2 uncertain), all deleted", r)
	}
	if n := len(testenv.Drain(t, p.c, p.src.URL)); n != 21 {
		t.Errorf("%d sent to the destination, want only the 21 not sent before", n)
	}
}

// A streaming scan holds a bounded window: with the destination not
// answering, the scan stops receiving once its queue is full (in messages,
// or in bytes for large ones), holding no more than the queue and the
// batches around it, whatever the DLQ's size.
func TestReplayStreamHoldsABoundedWindow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		body  int // bytes
		bound int
	}{
		{"small messages", 20, replay.StreamBound()},
		{"3 KB messages", 3000, replay.StreamBoundBytes(3000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			holdsABoundedWindow(t, tt.body, tt.bound)
		})
	}
}

func holdsABoundedWindow(t *testing.T, body, bound int) {
	p := newPair(t, false, nil)
	total := replay.StreamBound() + 50 // past the queue's count, whatever the bytes
	pad := strings.Repeat("x", body)
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d","pad":%q}`, i, pad) })
	var received atomic.Int64
	var heldAtFull atomic.Int64
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	replay.OnStreamFull(p.dlq.URL, func() {
		heldAtFull.CompareAndSwap(0, received.Load())
		release()
	})
	api := client(t,
		fault{op: "ReceiveMessage", after: func(in, out any) error {
			if aws.ToString(in.(*sqs.ReceiveMessageInput).QueueUrl) == p.dlq.URL {
				if received.Add(int64(len(out.(*sqs.ReceiveMessageOutput).Messages))) >= int64(total) {
					release() // the window did not hold: let the run end, and fail below
				}
			}
			return nil
		}},
		fault{op: "SendMessageBatch", before: func(any) error { <-gate; return nil }})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: true, Concurrency: 1})
	if !r.Verified || r.Deleted != total {
		t.Fatalf("report = %+v, want all %d moved", r, total)
	}
	if n := heldAtFull.Load(); n == 0 || n > int64(bound) {
		t.Fatalf("the scan had received %d messages when it first waited for room (0: never), want at most %d", n, bound)
	}
	checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total)
}

// givenBackOnce watches every give-back (visibility 0): check fails the
// test when SQS refused one (the message was deleted) or a message was
// given back twice (moto allows it; SQS refuses a message not in flight).
func givenBackOnce(t *testing.T) (fault, func()) {
	var mu sync.Mutex
	givenBack := map[string]int{} // by receipt handle
	refused := 0
	f := fault{op: "ChangeMessageVisibilityBatch", after: func(in, out any) error {
		mu.Lock()
		defer mu.Unlock()
		refused += len(out.(*sqs.ChangeMessageVisibilityBatchOutput).Failed)
		for _, e := range in.(*sqs.ChangeMessageVisibilityBatchInput).Entries {
			if e.VisibilityTimeout == 0 {
				givenBack[aws.ToString(e.ReceiptHandle)]++
			}
		}
		return nil
	}}
	return f, func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if refused > 0 {
			t.Errorf("SQS refused to give back %d message(s): the run gave back messages it had deleted", refused)
		}
		for h, n := range givenBack {
			if n > 1 {
				t.Errorf("a message was given back %d times (handle %.20s…)", n, h)
				return
			}
		}
	}
}

// failingJournal fails the Record of "sent" after the first few: a disk
// that fills mid-run.
type failingJournal struct {
	*journal.File
	ok atomic.Int32
}

func (j *failingJournal) Record(ctx context.Context, ids []string, state journal.State) error {
	if state == journal.Sent && j.ok.Add(1) > 3 {
		return errors.New("write journal: no space left on device")
	}
	return j.File.Record(ctx, ids, state)
}

// A journal that fails mid-stream ends the run with its error, after the
// sends in flight finished: every message is then in the destination or
// visible in the DLQ, none hidden, none lost; the only ones in both are
// those whose "sent" could not be journaled, which stay journaled
// "sending" (a next run counts them uncertain).
func TestReplayStreamJournalFailureGivesEverythingBack(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total = 120
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	j := &failingJournal{File: openJournal(t)}
	once, check := givenBackOnce(t)
	r, err := replay.Run(context.Background(), replay.Config{API: client(t, once), DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: true, Journal: j})
	if err == nil || r.Verified {
		t.Fatalf("report = %+v, err %v: want the journal's error", r, err)
	}
	check()
	states, lerr := j.Load()
	if lerr != nil {
		t.Fatal(lerr)
	}
	inDst := testenv.DrainCounts(t, p.c, p.src.URL)
	inDLQ := testenv.DrainCounts(t, p.c, p.dlq.URL)
	both := 0
	for id, n := range inDst {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
		if inDLQ[id] > 0 {
			both++
			if states[id] != journal.Sending {
				t.Errorf("%s is in both queues and journaled %q, want sending", id, states[id])
			}
		}
	}
	if len(inDst)+len(inDLQ)-both != total {
		t.Errorf("%d in the destination, %d visible in the DLQ (%d in both): messages are missing or hidden", len(inDst), len(inDLQ), both)
	}
	if r.Deleted != len(inDst)-both || both == 0 || both > r.Sent {
		t.Errorf("report deleted %d, sent %d; %d in the destination, %d of them still in the DLQ", r.Deleted, r.Sent, len(inDst), both)
	}
}

// Interrupted mid-stream, a run lets its batches in flight finish and
// gives every other message back at once, and only those (SQS refuses to
// change a message deleted or visible): each message is in exactly one
// place, and the report counts what moved.
func TestReplayStreamInterruptedGivesTheRestBack(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total = 150
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deletes atomic.Int32
	once, check := givenBackOnce(t)
	api := client(t, fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
		if deletes.Add(1) == 3 {
			cancel() // Ctrl-C
		}
		return nil
	}}, once)
	r, err := replay.Run(ctx, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: true, Concurrency: 2})
	if !errors.Is(err, context.Canceled) || r.Verified {
		t.Fatalf("err %v, report %+v: want interrupted", err, r)
	}
	check()
	if r.Plan == nil || r.Plan.Messages != r.Matched || r.Remaining != r.Matched-r.Deleted {
		t.Errorf("report = %+v (plan %+v): the plan, matched and remaining disagree", r, r.Plan)
	}
	moved, _ := checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total)
	if moved != r.Deleted || moved == 0 || moved == total {
		t.Errorf("%d moved, report says %d deleted: want the count of an interrupted run", moved, r.Deleted)
	}
}

// A message that carries the marker of this run (replayed by it, failed
// again, back in the DLQ) is never taken again: the run reports it, and a
// replay storm is not fed. One replayed by an earlier run is moved.
func TestReplayDoesNotTakeItsOwnReturns(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			mark := func(at time.Time) map[string]types.MessageAttributeValue {
				return map[string]types.MessageAttributeValue{replay.MarkerAttribute: {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf(
					`{"originalMessageId":"x","originalSentAt":"2026-11-01T00:00:00.000Z","dlq":"d","count":1,"replayedAt":%q}`, at.UTC().Format("2006-01-02T15:04:05.000Z07:00")))}}
			}
			for _, at := range []time.Time{time.Now().Add(-time.Hour), time.Now().Add(time.Hour)} {
				if _, err := p.c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(p.dlq.URL), MessageBody: aws.String(`{"orderId":"o-r"}`),
					MessageAttributes: mark(at)}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := replay.Run(context.Background(), replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: stream})
			if err != nil {
				t.Fatal(err)
			}
			if r.Streamed != stream || r.Sent != 6 || r.Verified || r.Left.NotReached != 1 {
				t.Fatalf("report = %+v, want 6 moved and the run's own return reported, not taken", r)
			}
		})
	}
}

// A streaming round cut at the window (or SQS's in-flight limit) is
// followed by the next round, as a scan-first one is: --limit above the
// window moves that many, and without a limit nothing is left to the
// final check's sweeps.
func TestReplayStreamGoesOnPastTheWindow(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("limit/stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			sendN(t, p.c, p.dlq.URL, 35, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: stream, Window: 10, Limit: 25})
			if r.Deleted != 25 {
				t.Errorf("--limit 25 with a window of 10: deleted %d (verified=%v, matched %d), want 25", r.Deleted, r.Verified, r.Matched)
			}
		})
		t.Run(fmt.Sprintf("all/stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			sendN(t, p.c, p.dlq.URL, 35, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: stream, Window: 10})
			if !r.Verified || r.Deleted != 35 {
				t.Errorf("report = %+v, want all 35 moved", r)
			}
			if w := strings.Join(r.Warnings, "\n"); strings.Contains(w, "hidden when the run scanned") {
				t.Errorf("rounds left to the final check's sweeps: %q", w)
			}
		})
	}
}

// Interrupted as a receive's answer arrives: the first message of that
// answer is refused by the Holder (the run stopped), and the scan keeps
// its handle to give it back. SQS delivers that message again before the
// receiver stops: the table refuses the newer handle too, so the scan
// gives the message back with it, and nothing stays hidden.
func TestReplayStreamRefusedHoldReceivedAgainIsGivenBack(t *testing.T) {
	t.Parallel()
	for _, again := range []bool{false, true} {
		t.Run(fmt.Sprintf("again=%v", again), func(t *testing.T) { t.Parallel(); refusedHoldReceivedAgain(t, again) })
	}
}

func refusedHoldReceivedAgain(t *testing.T, again bool) {
	p := newPair(t, false, nil)
	const total = 40
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var receives atomic.Int32
	api := client(t, fault{op: "ReceiveMessage", after: func(in, out any) error {
		o := out.(*sqs.ReceiveMessageOutput)
		if aws.ToString(in.(*sqs.ReceiveMessageInput).QueueUrl) != p.dlq.URL || len(o.Messages) == 0 {
			return nil
		}
		if receives.Add(1) == 2 {
			cancel() // Ctrl-C as this answer arrives
			if again {
				o.Messages = append(o.Messages, o.Messages[0]) // delivered again
			}
		}
		return nil
	}})
	j := openJournal(t)
	_, err := replay.Run(ctx, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: true, Concurrency: 1, Journal: j})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total)
}

// Interrupted mid-stream while giving back fails: the run returns the
// release's error and keeps its hold in the journal, so the next run
// waits for the messages still hidden, as after a scan-first run.
func TestReplayStreamHaltedKeepsAFailedRelease(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			sendN(t, p.c, p.dlq.URL, 40, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var receives atomic.Int32
			api := client(t,
				fault{op: "ReceiveMessage", after: func(in, out any) error {
					if aws.ToString(in.(*sqs.ReceiveMessageInput).QueueUrl) == p.dlq.URL && len(out.(*sqs.ReceiveMessageOutput).Messages) > 0 && receives.Add(1) == 2 {
						cancel()
					}
					return nil
				}},
				fault{op: "ChangeMessageVisibilityBatch", before: func(in any) error {
					for _, e := range in.(*sqs.ChangeMessageVisibilityBatchInput).Entries {
						if e.VisibilityTimeout == 0 && ctx.Err() != nil {
							return errors.New("read tcp: connection reset by peer")
						}
					}
					return nil
				}})
			j := openJournal(t)
			_, err := replay.Run(ctx, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderNone, Stream: stream, Concurrency: 1, Journal: j})
			if err == nil {
				t.Fatalf("want an error")
			}
			holds, herr := j.Holds(context.Background())
			if herr != nil {
				t.Fatal(herr)
			}
			if len(holds) == 0 {
				t.Errorf("giving back failed (err %v) but the journal records the run released", err)
			}
		})
	}
}

// A streaming run that meets a message it cannot route (no source on it,
// and the DLQ has two) stops there with the same error as a scan-first
// run; what it moved before stays moved, once, and everything else is
// back in the DLQ at once, none hidden.
func TestReplayStreamStopsAtAMessageItCannotRoute(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	name := testenv.Name(t, "sroute")
	dlq := testenv.CreateQueue(t, c, name+"-dlq", nil)
	a := testenv.CreateQueue(t, c, name+"-a", testenv.Redrive(dlq.ARN, 3))
	testenv.CreateQueue(t, c, name+"-b", testenv.Redrive(dlq.ARN, 3))
	const total = 60
	testenv.SendBatch(t, c, dlq.URL, total, func(i int) string {
		if i == total-5 {
			return `{"from":""}` // says nothing about where it came from
		}
		return `{"from":"a"}`
	}, nil)
	stamp := fault{op: "ReceiveMessage", after: func(_, out any) error {
		for i, m := range out.(*sqs.ReceiveMessageOutput).Messages {
			if strings.Contains(aws.ToString(m.Body), `"a"`) {
				if m.Attributes == nil {
					m.Attributes = map[string]string{}
				}
				m.Attributes[replay.SourceARNAttribute] = a.ARN
				out.(*sqs.ReceiveMessageOutput).Messages[i] = m
			}
		}
		return nil
	}}
	once, check := givenBackOnce(t)
	r, err := replay.Run(context.Background(), replay.Config{API: client(t, stamp, once), DLQ: dlq.URL, Order: replay.OrderNone, Stream: true, Concurrency: 2})
	var de *replay.DestinationError
	if !errors.As(err, &de) || !strings.Contains(de.Msg, "do not say which they came from") {
		t.Fatalf("err %v, want the unroutable message named", err)
	}
	check()
	moved, _ := checkMovedOnce(t, c, dlq.URL, a.URL, total)
	if moved != r.Deleted || r.Verified {
		t.Errorf("%d moved, report %+v", moved, r)
	}
}

// releaseFailsAfterCompleteScan: a filtered streaming run whose scan
// completes, sends what it can (one message is too large for the
// destination and stays held, failed), and then fails to give back the
// messages its filter did not select. Scan returns that release error
// alone, with the Holder's messages still hidden for the caller.
func releaseFailsAfterCompleteScan(t *testing.T, stream bool) (replay.Report, map[string]int, error) {
	t.Helper()
	p := newPair(t, false, map[string]string{"MaximumMessageSize": "1024"})
	sendN(t, p.c, p.dlq.URL, 15, func(i int) string {
		tier := "gold"
		if i%3 == 0 {
			tier = "silver"
		}
		return fmt.Sprintf(`{"orderId":"o-%d","tier":%q}`, i, tier)
	})
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"o-big","tier":"gold","pad":"` + strings.Repeat("x", 2000) + `"}` })
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	silver := map[string]bool{} // receipt handles of the messages the filter leaves
	api := client(t,
		fault{op: "ReceiveMessage", after: func(in, out any) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range out.(*sqs.ReceiveMessageOutput).Messages {
				if strings.Contains(aws.ToString(m.Body), "silver") {
					silver[aws.ToString(m.ReceiptHandle)] = true
				}
			}
			return nil
		}},
		fault{op: "ChangeMessageVisibilityBatch", before: func(in any) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range in.(*sqs.ChangeMessageVisibilityBatchInput).Entries {
				if e.VisibilityTimeout == 0 && silver[aws.ToString(e.ReceiptHandle)] {
					return errors.New("read tcp: connection reset by peer")
				}
			}
			return nil
		}})
	r, runErr := replay.Run(context.Background(), replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Order: replay.OrderNone,
		Stream: stream, Journal: openJournal(t), Visibility: time.Minute})
	return r, testenv.DrainCounts(t, p.c, p.dlq.URL), runErr
}

// The scan completed and kept its Holder's messages; only the give-back
// of the unselected ones failed. Both runs give back what they still
// held (the oversize message) and report the error.
func TestReplayStreamReleaseErrorAfterACompleteScanGivesTheRestBack(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			r, visible, err := releaseFailsAfterCompleteScan(t, stream)
			if err == nil {
				t.Fatalf("report %+v: want the release's error", r)
			}
			// 16 messages: 5 silver (their give-back fails: hidden), the
			// rest moved or given back.
			if want := 16 - 5 - r.Deleted; len(visible) != want {
				t.Errorf("err %v; %d message(s) visible in the DLQ right after the run (%d deleted), want %d: held messages stay hidden", err, len(visible), r.Deleted, want)
			}
		})
	}
}

// A streaming round that ends in an error still counts what it scanned,
// as well as what it matched and moved.
func TestReplayStreamErrorReportCountsScanned(t *testing.T) {
	t.Parallel()
	r, _, err := releaseFailsAfterCompleteScan(t, true)
	if err == nil {
		t.Fatalf("report %+v: want the release's error", r)
	}
	if r.Scanned < r.Matched || r.Matched == 0 {
		t.Errorf("report scanned %d, matched %d, deleted %d: scanned must count what it matched", r.Scanned, r.Matched, r.Deleted)
	}
}
