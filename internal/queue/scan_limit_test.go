package queue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

// endlessQueue answers every receive with ten new messages and accepts
// every visibility change: a narrow fake of the calls a scan makes.
type endlessQueue struct{ n atomic.Int64 }

func (q *endlessQueue) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out := &sqs.ReceiveMessageOutput{}
	for range 10 {
		id := fmt.Sprint("m-", q.n.Add(1))
		out.Messages = append(out.Messages, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("{}"),
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}})
	}
	return out, nil
}

func (q *endlessQueue) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// Many receivers offering at once, with a Keep that takes a moment (the
// replay spool), never keep more than Limit messages.
func TestScanLimitHoldsWithManyReceiversAndASlowKeep(t *testing.T) {
	t.Parallel()
	for range 5 {
		res, err := queue.Scan(context.Background(), &endlessQueue{}, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{
			Depth: 1000, Limit: 3, Receivers: 32, KeepMatched: true,
			Keep: func(*queue.Message) error { time.Sleep(2 * time.Millisecond); return nil },
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Matched) != 3 {
			t.Fatalf("kept %d messages with Limit 3", len(res.Matched))
		}
	}
}

// lastTen answers the first receive with nothing and the second with the
// queue's ten messages; later receives get nothing.
type lastTen struct {
	endlessQueue
	calls atomic.Int64
}

func (q *lastTen) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if q.calls.Add(1) == 2 {
		return q.endlessQueue.ReceiveMessage(ctx, in, opts...)
	}
	return &sqs.ReceiveMessageOutput{}, nil
}

// A receiver pausing after an empty poll does not hold up a scan that
// another receiver finished: the end of every scan (and of each replay
// round) waited out that pause. Not parallel: the pause is the package's.
func TestScanEndsWithoutWaitingForAReceiversPause(t *testing.T) {
	restore := queue.SetShortPause(time.Hour)
	defer restore()
	done := make(chan error, 1)
	var res queue.ScanResult
	go func() {
		var err error
		res, err = queue.Scan(context.Background(), &lastTen{}, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Depth: 10, Receivers: 2}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil || res.Scanned != 10 || res.Released != 10 {
			t.Fatalf("scan: %v, scanned %d, released %d", err, res.Scanned, res.Released)
		}
	case <-time.After(time.Minute):
		t.Fatal("the scan reached its depth and still waited for a receiver's pause after an empty poll")
	}
}

// emptyQueue answers short polls with nothing at once and holds each long
// poll until the test lets the first ones go; a long poll started later
// is held until the test ends.
type emptyQueue struct {
	endlessQueue
	polls    chan struct{} // one per long poll started
	answer   chan struct{} // closed: the first long polls come back empty
	cleanup  chan struct{} // closed when the test ends
	started  atomic.Int32
	firstOut int32
}

func (q *emptyQueue) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if in.WaitTimeSeconds == 0 {
		return &sqs.ReceiveMessageOutput{}, nil
	}
	n := q.started.Add(1)
	q.polls <- struct{}{}
	if n <= q.firstOut {
		<-q.answer
	} else {
		<-q.cleanup
	}
	return &sqs.ReceiveMessageOutput{}, nil
}

// A scan of an empty queue ends once the long polls out come back empty:
// a receiver whose poll came back first no longer starts another, which
// the scan would wait out whole (an empty replay took two long polls).
func TestScanOfAnEmptyQueueStartsNoLongPollAfterTheFirstOnesCameBack(t *testing.T) {
	t.Parallel()
	const receivers = 4
	q := &emptyQueue{polls: make(chan struct{}, 100), answer: make(chan struct{}), cleanup: make(chan struct{}), firstOut: receivers}
	defer close(q.cleanup)
	done := make(chan error, 1)
	var res queue.ScanResult
	go func() {
		var err error
		res, err = queue.Scan(context.Background(), q, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Receivers: receivers, MaxEmpty: 3}, nil)
		done <- err
	}()
	// At most MaxEmpty long polls go out at once; wait for them.
	for range 3 {
		<-q.polls
	}
	close(q.answer)
	select {
	case err := <-done:
		if err != nil || res.Scanned != 0 {
			t.Fatalf("scan: %v, scanned %d", err, res.Scanned)
		}
	case <-time.After(time.Minute):
		t.Fatal("the scan started a long poll after the first ones came back empty, and waited for it")
	}
	if n := q.started.Load(); n != 3 {
		t.Fatalf("%d long polls, want 3", n)
	}
}
