package queue_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/testenv"
)

func visibleNow(t *testing.T, c *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

// drain receives with a short visibility until nothing comes back and
// returns the distinct message IDs: proof that everything is receivable.
func receivableIDs(t *testing.T, c *sqs.Client, url string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for empty := 0; empty < 3; {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range out.Messages {
			ids[aws.ToString(m.MessageId)] = true
		}
	}
	return ids
}

func sendN(t *testing.T, c *sqs.Client, url string, n int) {
	t.Helper()
	for i := 0; i < n; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, n); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)),
				MessageBody: aws.String(fmt.Sprintf(`{"orderId":"order-%d","traceId":"trace-%d"}`, j, j))})
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send batch: %v %v", err, out)
		}
	}
}

func TestScanIsNonDestructive(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "scan"), nil)
	sendN(t, c, q.URL, 57)

	res, err := queue.Scan(context.Background(), c, q.URL, queue.ScanOptions{Depth: 57, WaitTime: 1}, func(m *queue.Message) bool {
		return m.OrderID == "order-7" || m.OrderID == "order-42"
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scanned != 57 || len(res.Matched) != 2 || res.Released != 57 {
		t.Fatalf("scanned %d, matched %d, released %d", res.Scanned, len(res.Matched), res.Released)
	}
	if res.Matched[0].TraceID == "" || res.Matched[0].ReceiveCount != 1 || res.Matched[0].SentAt.IsZero() {
		t.Errorf("matched message lacks fields: %+v", res.Matched[0])
	}
	if v, f := visibleNow(t, c, q.URL); v != 57 || f != 0 {
		t.Errorf("after scan: %d visible, %d in flight; want 57 and 0", v, f)
	}
	if ids := receivableIDs(t, c, q.URL); len(ids) != 57 {
		t.Errorf("%d messages receivable after scan, want 57", len(ids))
	}
}

func TestScanStopsAtLimit(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "limit"), nil)
	sendN(t, c, q.URL, 40)
	res, err := queue.Scan(context.Background(), c, q.URL, queue.ScanOptions{Depth: 40, Limit: 3, Receivers: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matched) != 3 || res.Scanned >= 40 {
		t.Errorf("matched %d after scanning %d, want 3 matches and an early stop", len(res.Matched), res.Scanned)
	}
	if v, f := visibleNow(t, c, q.URL); v != 40 || f != 0 {
		t.Errorf("after scan: %d visible, %d in flight", v, f)
	}
}

// cancelAfter cancels the scan's context after n receive calls.
type cancelAfter struct {
	*sqs.Client
	n      int32
	calls  atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelAfter) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := c.Client.ReceiveMessage(ctx, in, o...)
	if c.calls.Add(1) == c.n {
		c.cancel()
	}
	return out, err
}

func TestScanReleasesOnCancel(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "cancel"), nil)
	sendN(t, c, q.URL, 30)
	ctx, cancel := context.WithCancel(context.Background())
	api := &cancelAfter{Client: c, n: 2, cancel: cancel}
	res, err := queue.Scan(ctx, api, q.URL, queue.ScanOptions{Depth: 30, Receivers: 1}, nil)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("err = %v, want the cancellation", err)
	}
	if res.Scanned == 0 || res.Released != res.Scanned {
		t.Errorf("scanned %d, released %d: every received message must be released", res.Scanned, res.Released)
	}
	if v, f := visibleNow(t, c, q.URL); v != 30 || f != 0 {
		t.Errorf("after cancelled scan: %d visible, %d in flight", v, f)
	}
}

func TestScanEmptyQueueEnds(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "empty"), nil)
	res, err := queue.Scan(context.Background(), c, q.URL, queue.ScanOptions{}, nil)
	if err != nil || res.Scanned != 0 {
		t.Fatalf("scan of empty queue: %+v, %v", res, err)
	}
}

// A streaming scan (Keep with Forget) hands every match to Keep and keeps
// none of them itself: its memory does not grow with the queue. Found
// counts the matches, and every message is given back.
func TestScanForgetKeepsNothing(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "forget"), nil)
	sendN(t, c, q.URL, 35)
	var kept atomic.Int32
	res, err := queue.Scan(context.Background(), c, q.URL, queue.ScanOptions{Depth: 35, Forget: true, Keep: func(*queue.Message) error {
		kept.Add(1)
		return nil
	}}, func(m *queue.Message) bool { return m.OrderID != "order-3" })
	if err != nil {
		t.Fatal(err)
	}
	if kept.Load() != 34 || res.Found != 34 || len(res.Matched) != 0 || res.Released != 35 {
		t.Fatalf("kept %d, found %d, matched %d, released %d; want 34, 34, 0 and 35", kept.Load(), res.Found, len(res.Matched), res.Released)
	}
	if v, f := visibleNow(t, c, q.URL); v != 35 || f != 0 {
		t.Errorf("after scan: %d visible, %d in flight", v, f)
	}
}
