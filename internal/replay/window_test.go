package replay_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// overLimitAt refuses receives from a queue, as SQS does at its in-flight
// limit (120,000), once limit of its messages are in flight (moto counts
// them exactly).
func overLimitAt(t *testing.T, c *sqs.Client, url string, limit int, refused *atomic.Int32) fault {
	return fault{op: "ReceiveMessage", before: func(in any) error {
		if aws.ToString(in.(*sqs.ReceiveMessageInput).QueueUrl) != url {
			return nil
		}
		out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Error(err)
			return nil
		}
		var n int
		_, _ = fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &n)
		if n < limit {
			return nil
		}
		refused.Add(1)
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
			Err:      &smithy.GenericAPIError{Code: "OverLimit", Message: "too many messages in flight"}}}
	}}
}

// A DLQ with more messages than SQS lets one reader hold is replayed in
// rounds: a receive refused with OverLimit ends the round's scan, the
// round moves what it holds, and the next round goes on. The plan says
// that order applies within each round. Every message arrives once.
func TestReplayPastTheInFlightLimitGoesInRounds(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total = 25
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var refused atomic.Int32
	api := client(t, overLimitAt(t, p.c, p.dlq.URL, 5, &refused))
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Concurrency: 1, Sleep: noSleep})
	if !r.Verified || r.Deleted != total || r.Plan.Messages >= total || refused.Load() < 2 {
		t.Fatalf("report = %+v after %d refused receives: want every message moved in rounds", r, refused.Load())
	}
	if !strings.Contains(strings.Join(r.Plan.Warnings, "\n"), "in-flight limit") {
		t.Errorf("plan warnings %q do not say the replay goes in rounds", r.Plan.Warnings)
	}
	got := testenv.DrainCounts(t, p.c, p.src.URL)
	if len(got) != total {
		t.Fatalf("%d distinct messages in the destination, want %d", len(got), total)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
}

// Rounds of a small window: a key stopped at a failed message in one
// round stays stopped in the next, so no later message of that key
// overtakes it; the other keys move.
func TestReplayWindowKeepsAFailedKeyStoppedAcrossRounds(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, map[string]string{"MaximumMessageSize": "1024"})
	// The oldest message of key "big" cannot go (too large), then the rest.
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"big","pad":"` + strings.Repeat("x", 1500) + `"}` })
	sendN(t, p.c, p.dlq.URL, 8, func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf(`{"orderId":"big","n":%d}`, i)
		}
		return fmt.Sprintf(`{"orderId":"o-%d"}`, i)
	})
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Window: 3, Concurrency: 1, Sleep: noSleep})
	if r.Verified || r.Failed != 1 || r.Deleted != 4 || r.Left.Failed != 1 || r.Left.NotReached != 4 {
		t.Fatalf("report = %+v: want the 4 other keys moved, big stopped at its first message", r)
	}
	if !strings.Contains(strings.Join(r.Plan.Warnings, "\n"), "replayed in rounds") {
		t.Errorf("plan warnings %q do not say the replay goes in rounds", r.Plan.Warnings)
	}
	for _, m := range testenv.Drain(t, p.c, p.src.URL) {
		if strings.Contains(aws.ToString(m.Body), `"big"`) {
			t.Errorf("a message of the stopped key arrived: %s", aws.ToString(m.Body))
		}
	}
}

// A filtered replay whose scans hold so many non-matching messages that
// SQS refuses more (its in-flight limit) cannot see the rest of the DLQ:
// it is not verified, and says so, rather than exit 0 with matching
// messages left behind.
func TestReplayScanCutAtTheInFlightLimitIsNotVerified(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 30, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d","tier":"silver"}`, i) })
	sendN(t, p.c, p.dlq.URL, 3, func(i int) string { return fmt.Sprintf(`{"orderId":"g-%d","tier":"gold"}`, i) })
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	api := client(t, overLimitAt(t, p.c, p.dlq.URL, 5, &refused))
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Concurrency: 1, Sleep: noSleep})
	moved := len(testenv.DrainCounts(t, p.c, p.src.URL))
	if moved == 3 {
		t.Fatalf("the scans reached every gold message before the limit: the scenario did not happen (%+v)", r)
	}
	if r.Verified || r.Left.Unchecked == 0 || r.NextStep == "" {
		t.Fatalf("report = %+v with %d of 3 gold messages moved: want not verified, the unscanned rest unchecked", r, moved)
	}
}

// A message of a key found late by the final check (hidden when the run
// scanned) is older than the message of that key the run already sent:
// no round sends it after the newer one; it is left for the user, and the
// run is not verified.
func TestReplayFinalCheckDoesNotSendAnOlderMessageOfASentKey(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"k","n":1}` })
	out, err := p.c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.dlq.URL), VisibilityTimeout: 600})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("hide: %v %+v", err, out)
	}
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"k","n":2}` })
	var once sync.Once
	api := client(t, fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
		once.Do(func() {
			if _, err := p.c.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(p.dlq.URL),
				ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Error(err)
			}
		})
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if r.Verified || r.Deleted != 1 || r.Left.NotReached != 1 {
		t.Fatalf("report = %+v: want n=2 moved, n=1 left and reported", r)
	}
	for _, m := range testenv.Drain(t, p.c, p.src.URL) {
		if strings.Contains(aws.ToString(m.Body), `"n":1`) {
			t.Errorf("the older message was sent after the newer one: %s", aws.ToString(m.Body))
		}
	}
}

// Each round spools into a file of its own, and the file of the round
// before is closed (its disk freed): a run takes one window's worth of
// disk, not every message it moved. Every message still arrives once.
func TestReplayRoundsEachSpoolOneWindow(t *testing.T) {
	t.Parallel()
	for _, order := range []replay.Order{replay.OrderKey, replay.OrderNone} {
		t.Run(string(order), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			const total, window, body = 35, 10, 2000
			pad := strings.Repeat("x", body)
			sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d","pad":"%s"}`, i, pad) })
			var mu sync.Mutex
			var held []int64
			replay.OnSpoolRenewed(p.dlq.URL, func(n int64) {
				mu.Lock()
				held = append(held, n)
				mu.Unlock()
			})
			r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: order, Stream: true, Window: window, Sleep: noSleep})
			if !r.Verified || r.Deleted != total {
				t.Fatalf("report = %+v: want every message moved", r)
			}
			mu.Lock()
			defer mu.Unlock()
			// Each of the first three rounds was followed by another (the
			// final check makes a table only when the DLQ is not empty); a
			// spool held at most its window's records (body and attributes)
			// and receipt handles, well under two windows.
			if len(held) < 3 {
				t.Fatalf("the spool was renewed %d times over 4 rounds, want 3", len(held))
			}
			for _, n := range held {
				if n > 2*window*body {
					t.Errorf("a spool held %d bytes, more than two windows of %d-byte bodies: %v", n, body, held)
				}
			}
			got := testenv.DrainCounts(t, p.c, p.src.URL)
			if len(got) != total {
				t.Fatalf("%d distinct messages in the destination, want %d", len(got), total)
			}
		})
	}
}
