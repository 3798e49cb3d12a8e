package replay_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
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
