package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/queue"
)

// reply is what the test answers one long poll with: n new messages, or err.
type reply struct {
	n   int
	err error
}

// scriptQueue answers short polls with short (nothing when nil) and holds
// every long poll until the test answers it on answers. It counts the long
// polls out at once.
type scriptQueue struct {
	endlessQueue
	short   func() (*sqs.ReceiveMessageOutput, error)
	started chan int32 // one per long poll, its number
	answers chan reply
	longs   atomic.Int32
	out     atomic.Int32
	maxOut  atomic.Int32
}

func newScriptQueue() *scriptQueue {
	return &scriptQueue{started: make(chan int32, 100), answers: make(chan reply)}
}

func (q *scriptQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if in.WaitTimeSeconds == 0 {
		if q.short != nil {
			return q.short()
		}
		return &sqs.ReceiveMessageOutput{}, nil
	}
	n := q.longs.Add(1)
	cur := q.out.Add(1)
	for m := q.maxOut.Load(); cur > m && !q.maxOut.CompareAndSwap(m, cur); m = q.maxOut.Load() {
	}
	q.started <- n
	r := <-q.answers
	q.out.Add(-1)
	if r.err != nil {
		return nil, r.err
	}
	out := &sqs.ReceiveMessageOutput{}
	if r.n > 0 {
		all, _ := q.endlessQueue.ReceiveMessage(ctx, in, opts...)
		out.Messages = all.Messages[:r.n]
	}
	return out, nil
}

func overLimitErr() error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
		Err:      &smithy.GenericAPIError{Code: "OverLimit", Message: "too many in flight"}}}
}

type scanOut struct {
	res queue.ScanResult
	err error
}

func startScan(ctx context.Context, q queue.ReceiveAPI, opts queue.ScanOptions) chan scanOut {
	done := make(chan scanOut, 1)
	go func() {
		res, err := queue.Scan(ctx, q, "https://sqs.us-east-1.amazonaws.com/1/q", opts, nil)
		done <- scanOut{res, err}
	}()
	return done
}

// startScanWithLongPollsOut starts a scan of four receivers and returns
// once three long polls (MaxEmpty, every place) are out; the fourth
// receiver waits for a place.
func startScanWithLongPollsOut(ctx context.Context, q *scriptQueue) chan scanOut {
	done := startScan(ctx, q, queue.ScanOptions{Receivers: 4, MaxEmpty: 3})
	for range 3 {
		<-q.started
	}
	return done
}

// answerAll answers every long poll still out or started later with
// nothing, until the scan returns; a hang fails the test.
func answerAll(t *testing.T, q *scriptQueue, done chan scanOut) scanOut {
	t.Helper()
	guard := time.After(time.Minute)
	for {
		select {
		case out := <-done:
			return out
		case q.answers <- reply{}:
		case <-guard:
			t.Fatal("the scan did not end")
		}
	}
}

// A long poll whose answer was lost frees its place and does not count as
// empty: a fourth long poll goes out, the count stays balanced, and the
// scan ends after exactly MaxEmpty empty long polls, saying what may be
// hidden.
func TestScanLostLongPollKeepsTheCountBalanced(t *testing.T) {
	t.Parallel()
	q := newScriptQueue()
	done := startScanWithLongPollsOut(context.Background(), q)
	q.answers <- reply{err: errors.New("read tcp: connection reset by peer")}
	<-q.started // the place the lost poll freed
	empties := 0
	var out scanOut
	for ended := false; !ended; {
		select {
		case out = <-done:
			ended = true
		case q.answers <- reply{}:
			empties++
		}
	}
	if out.err != nil || out.res.HiddenUntil.IsZero() || empties != 3 || q.longs.Load() != 4 || q.maxOut.Load() > 3 {
		t.Fatalf("err %v, hidden until %v, %d empty long polls of %d (at most %d out), want nil, set, 3 of 4, at most 3",
			out.err, out.res.HiddenUntil, empties, q.longs.Load(), q.maxOut.Load())
	}
}

// OverLimit on a long poll while a receiver waits for a place: the scan
// ends, the waiting receiver wakes, the polls out come back.
func TestScanOverLimitOnALongPollWakesWaitingReceivers(t *testing.T) {
	t.Parallel()
	q := newScriptQueue()
	done := startScanWithLongPollsOut(context.Background(), q)
	q.answers <- reply{err: overLimitErr()}
	out := answerAll(t, q, done)
	if out.err != nil || !out.res.OverLimit {
		t.Fatalf("err %v, over limit %v", out.err, out.res.OverLimit)
	}
}

// A cancelled scan wakes a receiver waiting for a place and starts no long
// poll after the cancellation.
func TestScanCancelWakesReceiversWaitingForAPlace(t *testing.T) {
	t.Parallel()
	q := newScriptQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := startScanWithLongPollsOut(ctx, q)
	cancel()
	out := answerAll(t, q, done)
	if !errors.Is(out.err, context.Canceled) || q.longs.Load() != 3 {
		t.Fatalf("err %v after %d long polls, want the cancellation after 3", out.err, q.longs.Load())
	}
}

// A short poll in flight when the last empty long poll ends the scan: its
// messages are scanned and released, none lost or left hidden.
func TestScanShortPollInFlightAtTheEndIsReleased(t *testing.T) {
	t.Parallel()
	q := newScriptQueue()
	// The first long poll brings ten messages; its receiver then polls
	// short, and that poll is held until the other long polls came back
	// empty and ended the scan.
	inShort := make(chan struct{})
	letShort := make(chan struct{})
	var shorts atomic.Int32
	var gotMessages atomic.Bool
	q.short = func() (*sqs.ReceiveMessageOutput, error) {
		if gotMessages.Load() && shorts.Add(1) == 1 {
			close(inShort)
			<-letShort
			return q.endlessQueue.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{})
		}
		return &sqs.ReceiveMessageOutput{}, nil
	}
	done := startScan(context.Background(), q, queue.ScanOptions{Receivers: 4, MaxEmpty: 3})
	for range 3 {
		<-q.started
	}
	gotMessages.Store(true)
	q.answers <- reply{n: 10}
	<-inShort
	// Three empty long polls in a row end the scan.
	for range 3 {
		q.answers <- reply{}
	}
	close(letShort)
	out := answerAll(t, q, done)
	if out.err != nil || out.res.Scanned != 20 || out.res.Released != 20 {
		t.Fatalf("err %v, scanned %d, released %d, want 20 and 20", out.err, out.res.Scanned, out.res.Released)
	}
}

// freedPlace scripts two receivers and MaxEmpty 2. Receiver R2's first
// short poll is held until long poll 2 goes out, so R1 makes long poll 1
// (empty, counted: R1 then finds a place for long poll 2) and long poll 2
// (ten messages). R2 goes long meanwhile and waits for a place. Long poll
// 2 comes back with messages; the place it frees lets R2 start long poll
// 3 (empty). The next short poll gets ten more messages; long polls from
// the fourth on wait until those were taken.
type freedPlace struct {
	endlessQueue
	shorts, longs  atomic.Int32
	batch1, batch2 atomic.Bool
	second, sixth  chan struct{}
	taken2         chan struct{}
}

func (q *freedPlace) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if in.WaitTimeSeconds == 0 {
		if q.batch1.Load() && q.batch2.CompareAndSwap(false, true) {
			close(q.taken2)
			return q.endlessQueue.ReceiveMessage(ctx, in, opts...)
		}
		switch q.shorts.Add(1) {
		case 1:
			<-q.second
		case 6: // R2's third: it polls long next
			close(q.sixth)
		}
		return &sqs.ReceiveMessageOutput{}, nil
	}
	switch k := q.longs.Add(1); {
	case k == 2:
		close(q.second)
		<-q.sixth
		q.batch1.Store(true)
		return q.endlessQueue.ReceiveMessage(ctx, in, opts...)
	case k >= 4:
		<-q.taken2
	}
	return &sqs.ReceiveMessageOutput{}, nil
}

// A long poll that brings messages frees its place and resets the count
// of empty ones under one lock. When the reset came later, a receiver
// waiting for that place could start a long poll in between; coming back
// empty, it was counted with the empty one from before the messages, and
// the scan ended after one empty long poll since the last messages, ten
// more still in the queue (1 to 10 scans in 5,000 on 2 cores). A stress
// test: a pass proves little, a failure is the bug. Not parallel: the
// pause is the package's.
func TestScanEmptyLongPollAfterMessagesIsNotCountedWithEarlierOnes(t *testing.T) {
	restore := queue.SetShortPause(0)
	defer restore()
	bad, example := 0, ""
	for range 5000 {
		q := &freedPlace{taken2: make(chan struct{}), second: make(chan struct{}), sixth: make(chan struct{})}
		res, err := queue.Scan(context.Background(), q, "https://sqs.us-east-1.amazonaws.com/1/q", queue.ScanOptions{Receivers: 2, MaxEmpty: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Scanned != 20 {
			bad++
			example = fmt.Sprintf("scanned %d after %d long polls", res.Scanned, q.longs.Load())
		}
		if !q.batch2.Load() {
			close(q.taken2)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of 5000 scans ended early (%s), want all to scan 20", bad, example)
	}
}
