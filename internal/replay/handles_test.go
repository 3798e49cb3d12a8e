package replay_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// A message whose hold lapses during the scan is received again with a
// new receipt handle; only the newest deletes it (SQS answers a delete
// with an older one "done" without deleting). The replay keeps handles in
// its spool, not in memory: the handle it deletes with is the newest, and
// the message arrives once.
func TestReplayDeletesWithTheNewestReceiptHandle(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var (
		mu       sync.Mutex
		first    string                  // the message received twice
		received = map[string][]string{} // message ID → its receipt handles, in the order received
		deleted  = map[string][]string{} // message ID → the handles its deletes used
		byHandle = map[string]string{}   // receipt handle → message ID
	)
	api := client(t, fault{op: "ReceiveMessage", answer: func(in any) any {
		rin := *in.(*sqs.ReceiveMessageInput)
		if aws.ToString(rin.QueueUrl) != p.dlq.URL {
			return nil
		}
		// Two at a time, so that the scan receives more than once.
		rin.MaxNumberOfMessages = 2
		out, err := p.c.ReceiveMessage(context.Background(), &rin)
		if err != nil {
			t.Error(err)
			return &sqs.ReceiveMessageOutput{}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range out.Messages {
			id, h := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle)
			received[id] = append(received[id], h)
			byHandle[h] = id
			if first == "" {
				// Its hold lapses at once: the next receive takes it again.
				first = id
				if _, err := p.c.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(p.dlq.URL),
					ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
					t.Error(err)
				}
			}
		}
		return out
	}}, fault{op: "DeleteMessageBatch", before: func(in any) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range in.(*sqs.DeleteMessageBatchInput).Entries {
			h := aws.ToString(e.ReceiptHandle)
			deleted[byHandle[h]] = append(deleted[byHandle[h]], h)
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Concurrency: 1})
	if !r.Verified || r.Deleted != 5 || len(r.Warnings) != 0 {
		t.Fatalf("report = %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	hs := received[first]
	if len(hs) < 2 {
		t.Fatalf("%s was received %d time(s): the scenario did not happen", first, len(hs))
	}
	if got := deleted[first]; len(got) != 1 || got[0] != hs[len(hs)-1] {
		t.Errorf("deleted %s with %q; its handles were %q: want only the newest", first, got, hs)
	}
	got := testenv.DrainCounts(t, p.c, p.src.URL)
	if len(got) != 5 {
		t.Fatalf("%d distinct messages in the destination, want 5", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
}
