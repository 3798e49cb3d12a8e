package replay_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// staleDelete answers the first DeleteMessageBatch "successful" for every
// entry without deleting anything, and gives those messages back instead:
// what SQS does with a receipt handle that went stale (the hold lapsed and
// another reader received the message).
func staleDelete(t *testing.T, c *sqs.Client, dlqURL string) fault {
	var once sync.Once
	return fault{op: "DeleteMessageBatch", answer: func(in any) any {
		var out any
		once.Do(func() {
			b := in.(*sqs.DeleteMessageBatchInput)
			var ok []sqstypes.DeleteMessageBatchResultEntry
			var hs []string
			for _, e := range b.Entries {
				ok = append(ok, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
				hs = append(hs, aws.ToString(e.ReceiptHandle))
			}
			if _, err := queue.Release(context.Background(), c, dlqURL, hs); err != nil {
				t.Error(err)
			}
			out = &sqs.DeleteMessageBatchOutput{Successful: ok}
		})
		return out
	}}
}

// With --limit, the final check still looks for every message the run
// sent and believes deleted: a delete SQS answered "done" without
// deleting is found and deleted again, and the run is verified only once
// the DLQ holds none of them. Scan-first (--order key) and streaming
// (--order none --yes) alike.
func TestReplayLimitFinalCheckFindsWhatADeleteDidNotTake(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			const total, limit = 8, 5
			sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			cfg := replay.Config{API: client(t, staleDelete(t, p.c, p.dlq.URL)), DLQ: p.dlq.URL, To: p.src.URL, Limit: limit, Journal: openJournal(t)}
			if stream {
				cfg.Order, cfg.Stream = replay.OrderNone, true
			}
			r := run(t, cfg)
			if r.Deleted != limit || !strings.Contains(strings.Join(r.Warnings, "\n"), "deleted now") {
				t.Errorf("report = %+v, want the %d messages a delete did not take found and deleted", r, limit)
			}
			moved, left := checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total)
			if moved != limit || left != total-limit {
				t.Errorf("%d moved, %d left in the DLQ: want %d and %d", moved, left, limit, total-limit)
			}
			if !r.Verified {
				t.Errorf("not verified though the DLQ holds none of the run's messages: %+v", r)
			}
		})
	}
}

// A held message is never visible to another reader, however long the
// scan takes to give back what it did not take: the scan hands its holds
// to the round's renewals before it releases the others. Here that
// release takes a whole visibility timeout, and a second reader polls
// the DLQ from its start until the prompt is answered: it sees the
// messages the run gave back, and none of the five it holds.
func TestReplayHoldDoesNotLapseWhileTheScanGivesBack(t *testing.T) {
	t.Parallel()
	const visibility = 9 * time.Second // a renewal every 3 s: 6 s of slack on a busy machine
	p := newPair(t, false, nil)
	const total = 30
	flt := tiered(t, p, total, func(i int) bool { return i%6 == 0 })
	var prompted atomic.Bool
	readerStarted := make(chan struct{})
	var startReader sync.Once
	slowGiveBack := fault{op: "ChangeMessageVisibilityBatch", before: func(in any) error {
		if e := in.(*sqs.ChangeMessageVisibilityBatchInput).Entries; len(e) > 0 && e[0].VisibilityTimeout == 0 && !prompted.Load() {
			startReader.Do(func() { close(readerStarted) })
			time.Sleep(visibility)
		}
		return nil
	}}
	stopReader := make(chan struct{})
	seen := make(chan map[string]string, 1)
	go func() { seen <- secondReader(t, p.c, p.dlq.URL, readerStarted, stopReader) }()
	r := run(t, replay.Config{API: client(t, slowGiveBack), DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Visibility: visibility,
		Confirm: func(replay.Report) (bool, error) {
			time.Sleep(visibility / 3) // the reader goes on through the prompt
			prompted.Store(true)
			close(stopReader)
			return true, nil
		}})
	got := <-seen
	for id, body := range got {
		if strings.Contains(body, "gold") {
			t.Errorf("another reader received %s (%s) while the run held it", id, body)
		}
	}
	if len(got) == 0 {
		t.Error("the second reader saw nothing: it did not poll while the scan gave messages back")
	}
	if !r.Verified || r.Deleted != 5 {
		t.Errorf("report = %+v, want 5 moved and verified", r)
	}
	if moved, left := checkMovedOnce(t, p.c, p.dlq.URL, p.src.URL, total); moved != 5 || left != total-5 {
		t.Errorf("%d moved, %d left: want 5 and %d", moved, left, total-5)
	}
}

// secondReader receives from url from start until stop, giving each
// message back at once (a receive cannot ask for no hold: 0 means the
// queue's default), and returns the bodies it saw by ID.
func secondReader(t *testing.T, c *sqs.Client, url string, start, stop <-chan struct{}) map[string]string {
	seen := map[string]string{}
	<-start
	for {
		select {
		case <-stop:
			return seen
		default:
		}
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 1})
		if err != nil {
			t.Errorf("second reader: %v", err)
			return seen
		}
		var hs []string
		for _, m := range out.Messages {
			seen[aws.ToString(m.MessageId)] = aws.ToString(m.Body)
			hs = append(hs, aws.ToString(m.ReceiptHandle))
		}
		if _, err := queue.Release(context.Background(), c, url, hs); err != nil {
			t.Errorf("second reader: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// afterStaleDelete is staleDelete, and a flag set once it answered.
func afterStaleDelete(t *testing.T, c *sqs.Client, dlqURL string) (fault, *atomic.Bool) {
	var done atomic.Bool
	f := staleDelete(t, c, dlqURL)
	inner := f.answer
	f.answer = func(in any) any {
		out := inner(in)
		if out != nil {
			done.Store(true)
		}
		return out
	}
	return f, &done
}

// goldAmongSilver fills the DLQ with 30 silver messages, then 5 gold
// ones, and returns a filter for the gold.
func goldAmongSilver(t *testing.T, p pair) *filter.Filter {
	t.Helper()
	return tiered(t, p, 35, func(i int) bool { return i >= 30 })
}

// tiered fills the DLQ with total messages of order o-i, gold where gold
// says so and silver otherwise, and returns a filter for the gold.
func tiered(t *testing.T, p pair, total int, gold func(i int) bool) *filter.Filter {
	t.Helper()
	sendN(t, p.c, p.dlq.URL, total, func(i int) string {
		return fmt.Sprintf(`{"orderId":"o-%d","tier":%q}`, i, map[bool]string{true: "gold", false: "silver"}[gold(i)])
	})
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return flt
}

// verifiedOnlyIfGone fails the test when the run says verified while a
// message it sent is still in the DLQ.
func verifiedOnlyIfGone(t *testing.T, p pair, r replay.Report) {
	t.Helper()
	inDLQ := testenv.DrainCounts(t, p.c, p.dlq.URL)
	both := 0
	for id := range testenv.DrainCounts(t, p.c, p.src.URL) {
		if inDLQ[id] > 0 {
			both++
		}
	}
	if r.Verified && both > 0 {
		t.Errorf("verified, but %d message(s) the run sent are still in the DLQ: %+v", both, r)
	}
}

// The final check does not stop at SQS's approximate count when it looks
// for the run's own messages: a count that misses what a delete left
// behind (5 too low here) does not end the scan before it reaches them.
// With and without a limit.
func TestReplayFinalCheckGoesPastTheCounters(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 5} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			flt := goldAmongSilver(t, p)
			stale, deleted := afterStaleDelete(t, p.c, p.dlq.URL)
			lag := fault{op: "GetQueueAttributes", after: func(_, out any) error {
				if a := out.(*sqs.GetQueueAttributesOutput).Attributes; deleted.Load() {
					n, _ := strconv.Atoi(a["ApproximateNumberOfMessages"])
					a["ApproximateNumberOfMessages"] = strconv.Itoa(max(n-5, 0))
				}
				return nil
			}}
			r := run(t, replay.Config{API: client(t, stale, lag), DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Limit: limit, Journal: openJournal(t), Concurrency: 1})
			verifiedOnlyIfGone(t, p, r)
			if !r.Verified || !strings.Contains(strings.Join(r.Warnings, "\n"), "deleted now") {
				t.Errorf("report = %+v, want the 5 found, deleted again and verified", r)
			}
		})
	}
}

// With a limit, a final check that SQS's in-flight limit cut short did
// not look at everything: the run's own messages a delete left behind may
// be in what it did not reach, so it is not verified.
func TestReplayLimitFinalCheckCutAtTheInFlightLimitIsNotVerified(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	flt := goldAmongSilver(t, p)
	stale, deleted := afterStaleDelete(t, p.c, p.dlq.URL)
	var refused atomic.Int32
	ol := overLimitAt(t, p.c, p.dlq.URL, 10, &refused)
	before := ol.before
	ol.before = func(in any) error {
		if !deleted.Load() {
			return nil
		}
		return before(in)
	}
	r := run(t, replay.Config{API: client(t, stale, ol), DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Limit: 5, Journal: openJournal(t), Concurrency: 1})
	verifiedOnlyIfGone(t, p, r)
	if r.Verified || r.Left.Unchecked == 0 || refused.Load() == 0 {
		t.Errorf("report = %+v (%d receives refused), want unchecked messages and not verified", r, refused.Load())
	}
}

// With a limit on a FIFO DLQ, a message the run passed over (a filter
// left it) can be ahead of the run's own in their group, and a final
// check whose receives come back short stops at it: the run's message a
// delete left behind is then out of sight, so the run is not verified.
func TestReplayLimitFIFOPassedOverMessageAheadIsNotVerified(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	testenv.SendBatch(t, p.c, p.dlq.URL, 2, func(i int) string {
		return fmt.Sprintf(`{"orderId":"o-%d","tier":%q}`, i, []string{"silver", "gold"}[i])
	}, func(int) string { return "g" })
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stale, deleted := afterStaleDelete(t, p.c, p.dlq.URL)
	short := fault{op: "ReceiveMessage", before: func(in any) error {
		if deleted.Load() {
			in.(*sqs.ReceiveMessageInput).MaxNumberOfMessages = 1 // SQS may answer a FIFO receive with fewer than asked
		}
		return nil
	}}
	r := run(t, replay.Config{API: client(t, stale, short), DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Limit: 1, Journal: openJournal(t)})
	verifiedOnlyIfGone(t, p, r)
	if r.Verified || r.Left.Unchecked == 0 {
		t.Errorf("report = %+v, want the message behind the passed-over one unchecked", r)
	}
}
