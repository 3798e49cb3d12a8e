package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

// watchReturns polls the DLQ for messages this run replayed that failed
// again and came back (a replay storm) and stops the replay at
// StopOnReturn of them. What it receives it gives back at once (SQS has no
// "receive without hiding": a visibility of 0 is the queue's default to the
// SDK), and a receive in flight is never cancelled, so no message is left
// hidden by the watcher. The returned func stops it.
func (h *round) watchReturns(ctx context.Context) func() {
	r := h.r
	n := r.cfg.StopOnReturn
	if n <= 0 {
		return func() {}
	}
	var stop sync.Once
	quit := make(chan struct{})
	done := make(chan struct{})
	since := r.started.Add(-time.Second)
	go func() {
		defer close(done)
		seen := map[string]bool{}
		dctx := context.WithoutCancel(ctx)
		for {
			select {
			case <-quit:
				return
			default:
			}
			out, err := r.cfg.API.ReceiveMessage(dctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.dlq.URL), MaxNumberOfMessages: queue.MaxBatch,
				VisibilityTimeout: 1, WaitTimeSeconds: 1, MessageAttributeNames: []string{MarkerAttribute}})
			if err != nil {
				_ = r.cfg.Sleep(dctx, time.Second)
				continue
			}
			hs := make([]string, len(out.Messages))
			for i, m := range out.Messages {
				hs[i] = aws.ToString(m.ReceiptHandle)
			}
			_, _ = queue.Release(dctx, r.cfg.API, r.dlq.URL, hs)
			for _, m := range out.Messages {
				if replayedSince(m, since) {
					seen[aws.ToString(m.MessageId)] = true
				}
			}
			if len(seen) >= n {
				r.stop(StopStorm, fmt.Sprintf("%d replayed messages came back to the DLQ (stop on return: %d): fix what they fail on before replaying the rest", len(seen), n))
				return
			}
		}
	}()
	return func() { stop.Do(func() { close(quit) }); <-done }
}

// replayedSince reports whether m carries a replay marker written at or
// after since: a message a replay since then sent, back in the DLQ.
func replayedSince(m types.Message, since time.Time) bool {
	a, ok := m.MessageAttributes[MarkerAttribute]
	if !ok {
		return false
	}
	var mk Marker
	if json.Unmarshal([]byte(aws.ToString(a.StringValue)), &mk) != nil {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, mk.ReplayedAt)
	return err == nil && !t.Before(since)
}
