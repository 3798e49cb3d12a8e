package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
)

// fault wraps one SQS operation of a real client: before(in) may fail the
// call before it reaches the emulator; answer(in), when it returns an
// output, answers instead of the emulator; after(in, out) runs once the
// emulator answered and may change the answer or lose it.
type fault struct {
	op     string
	before func(in any) error
	answer func(in any) any
	after  func(in, out any) error
}

func (f fault) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fault-"+f.op, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if middleware.GetOperationName(ctx) != f.op {
			return next.HandleInitialize(ctx, in)
		}
		if f.before != nil {
			if err := f.before(in.Parameters); err != nil {
				return middleware.InitializeOutput{}, middleware.Metadata{}, err
			}
		}
		if f.answer != nil {
			if out := f.answer(in.Parameters); out != nil {
				return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
			}
		}
		out, md, err := next.HandleInitialize(ctx, in)
		if err == nil && f.after != nil {
			err = f.after(in.Parameters, out.Result)
		}
		return out, md, err
	}), middleware.After)
}

func client(t *testing.T, faults ...fault) *sqs.Client {
	t.Helper()
	var opts []func(*middleware.Stack) error
	for _, f := range faults {
		opts = append(opts, f.middleware)
	}
	return sqs.NewFromConfig(testenv.Config(t, "", opts...))
}

// A send whose answer is lost may have arrived: it is sent again (the
// outcome must become known), counted as uncertain, and the SDK does not
// add resends of its own.
func TestReplayLostSendAnswerIsResentAndCounted(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 25, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var calls, lost atomic.Int32
	api := client(t, fault{op: "SendMessageBatch", after: func(in, _ any) error {
		calls.Add(1)
		// One answer of a full batch is lost (batches run in parallel: which
		// one does not matter).
		if len(in.(*sqs.SendMessageBatchInput).Entries) == 10 && lost.CompareAndSwap(0, 1) {
			return errors.New("read tcp 127.0.0.1: connection reset by peer")
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Sleep: noSleep})
	if lost.Load() != 1 || r.Uncertain != 10 || !r.Verified || r.Deleted != 25 {
		t.Fatalf("report = %+v (lost answers %d), want 10 uncertain and everything moved", r, lost.Load())
	}
	if calls.Load() != 4 {
		t.Errorf("%d SendMessageBatch calls, want 4 (3 batches + 1 resend): the SDK must not resend on its own", calls.Load())
	}
	counts := testenv.DrainCounts(t, p.c, p.src.URL)
	twice := 0
	for _, n := range counts {
		if n == 2 {
			twice++
		}
	}
	if len(counts) != 25 || twice != 10 {
		t.Errorf("%d distinct in the destination, %d twice: want 25 and the 10 uncertain ones twice", len(counts), twice)
	}
}

// A call SQS refused (an HTTP error answer) sent nothing: resending it is
// not uncertain.
func TestReplayRefusedSendIsNotUncertain(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var calls atomic.Int32
	api := client(t, fault{op: "SendMessageBatch", before: func(any) error {
		if calls.Add(1) == 1 {
			return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest}},
				Err:      &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}}}
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Sleep: noSleep})
	if !r.Verified || r.Deleted != 5 || r.Uncertain != 0 || calls.Load() != 2 {
		t.Fatalf("report = %+v after %d calls, want everything moved on the second call and nothing uncertain", r, calls.Load())
	}
	if n := len(testenv.DrainCounts(t, p.c, p.src.URL)); n != 5 {
		t.Errorf("%d in the destination, want 5", n)
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

// SQS stamps each dead-lettered message with its source. A DLQ shared by
// two sources sends each message home, and --to a source takes only that
// source's messages. moto does not set the attribute, so a fault adds it
// to what ReceiveMessage returns, from the body.
func TestReplayRoutesEachMessageToItsSource(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	name := testenv.Name(t, "route")
	dlq := testenv.CreateQueue(t, c, name+"-dlq", nil)
	a := testenv.CreateQueue(t, c, name+"-a", testenv.Redrive(dlq.ARN, 3))
	b := testenv.CreateQueue(t, c, name+"-b", testenv.Redrive(dlq.ARN, 3))
	testenv.SendBatch(t, c, dlq.URL, 9, func(i int) string {
		return fmt.Sprintf(`{"from":"%s","n":%d}`, map[bool]string{true: "a", false: "b"}[i%3 != 0], i)
	}, nil)
	stamp := fault{op: "ReceiveMessage", after: func(_, out any) error {
		for i, m := range out.(*sqs.ReceiveMessageOutput).Messages {
			var body struct{ From string }
			_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &body)
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[replay.SourceARNAttribute] = map[string]string{"a": a.ARN, "b": b.ARN}[body.From]
			out.(*sqs.ReceiveMessageOutput).Messages[i] = m
		}
		return nil
	}}
	api := client(t, stamp)

	// --to a: only a's six messages; b's stay.
	r := run(t, replay.Config{API: api, DLQ: dlq.URL, To: a.Name})
	if r.Matched != 6 || r.Deleted != 6 || !r.Verified {
		t.Fatalf("--to a: %+v", r)
	}
	if got := len(testenv.Drain(t, c, a.URL)); got != 6 {
		t.Errorf("a got %d, want 6", got)
	}
	// No --to: the rest goes home to b, though the DLQ has two sources.
	r = run(t, replay.Config{API: api, DLQ: dlq.URL, DryRun: true})
	if r.Plan == nil || len(r.Plan.Routes) != 1 || r.Plan.Routes[0].Destination != b.Name || r.Plan.Routes[0].Via != "sourceArn" {
		t.Fatalf("plan = %+v", r.Plan)
	}
	r = run(t, replay.Config{API: api, DLQ: dlq.URL})
	if r.Deleted != 3 || !r.Verified || r.Destination != b.Name {
		t.Fatalf("home: %+v", r)
	}
	if got := len(testenv.Drain(t, c, b.URL)); got != 3 {
		t.Errorf("b got %d, want 3", got)
	}
	if got := len(testenv.Drain(t, c, a.URL)); got != 0 {
		t.Errorf("a got %d more, want none", got)
	}
}

// A role without ListDeadLetterSourceQueues (or an emulator without it):
// --to works, without --force, and the plan says the source was not
// checked; without --to and without source ARNs, a clear error.
func TestReplayWhenSourcesCannotBeListed(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 4, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	api := client(t, fault{op: "ListDeadLetterSourceQueues", before: func(any) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
			Err:      &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sqs:ListDeadLetterSourceQueues"}}}
	}})
	_, err := replay.Run(context.Background(), replay.Config{API: api, DLQ: p.dlq.URL})
	var de *replay.DestinationError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "could not be listed (AccessDenied)") {
		t.Fatalf("no destination: %v", err)
	}
	if n := len(drainKeep(t, p.c, p.dlq.URL)); n != 4 {
		t.Fatalf("the refused run left %d visible, want 4", n)
	}
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.Name})
	if !r.Verified || r.Deleted != 4 || r.Plan == nil || !strings.Contains(strings.Join(r.Plan.Warnings, "\n"), "could not be listed") {
		t.Fatalf("report = %+v plan %+v", r, r.Plan)
	}
}

// FIFO is strict: a group stops at its first message that cannot go, and
// nothing of that group is sent after it; other groups go on; --limit
// counts across rounds.
func TestReplayFIFOGroupStopsAtAMessageThatCannotGo(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, map[string]string{"MaximumMessageSize": "1024"})
	body := func(g string, seq int) string {
		pad := ""
		if g == "g" && seq == 1 {
			pad = strings.Repeat("x", 1500) // too large for the source
		}
		return fmt.Sprintf(`{"g":%q,"seq":%d,"pad":%q}`, g, seq, pad)
	}
	testenv.SendBatch(t, p.c, p.dlq.URL, 8, func(i int) string { return body([]string{"g", "h"}[i%2], i/2) }, func(i int) string { return []string{"g", "h"}[i%2] })
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL})
	if r.Verified || r.Failed != 1 || r.Left.Failed != 1 || r.Deleted != 5 {
		t.Fatalf("report = %+v, want g's 0 and h's 4 moved, g stopped at 1", r)
	}
	seqs := map[string][]int{}
	for _, m := range testenv.Drain(t, p.c, p.src.URL) {
		var b struct {
			G   string
			Seq int
		}
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &b)
		seqs[b.G] = append(seqs[b.G], b.Seq)
	}
	if fmt.Sprint(seqs["g"]) != "[0]" || fmt.Sprint(seqs["h"]) != "[0 1 2 3]" {
		t.Errorf("destination: %v; want g [0] (stopped at 1) and h [0 1 2 3]", seqs)
	}
	if left := testenv.Drain(t, p.c, p.dlq.URL); len(left) != 3 {
		t.Errorf("%d left in the DLQ, want g's 1, 2, 3", len(left))
	}
}

func TestReplayFIFOLimitCountsAcrossRounds(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	testenv.SendBatch(t, p.c, p.dlq.URL, 25, func(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }, func(int) string { return "one" })
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Limit: 12})
	if r.Deleted != 12 || !r.Verified {
		t.Fatalf("report = %+v, want exactly 12 moved and verified", r)
	}
	got := testenv.Drain(t, p.c, p.src.URL)
	if len(got) != 12 {
		t.Fatalf("%d in the source, want 12", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprintf(`{"seq":%d}`, i); aws.ToString(m.Body) != want {
			t.Errorf("message %d is %s, want %s", i, aws.ToString(m.Body), want)
		}
	}
}

// The return watcher hides nothing: after a FIFO replay with
// --stop-on-return, no message of the DLQ is left in flight.
func TestReplayReturnWatcherLeavesNothingInFlight(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	testenv.SendBatch(t, p.c, p.dlq.URL, 30, func(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }, func(i int) string { return fmt.Sprintf("g%d", i%3) })
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, StopOnReturn: 5})
	if !r.Verified || r.Deleted != 30 {
		t.Fatalf("report = %+v", r)
	}
	p.refresh(t)
	if p.dlq.InFlight != 0 || p.dlq.Visible != 0 {
		t.Fatalf("DLQ: %d visible, %d in flight after the run", p.dlq.Visible, p.dlq.InFlight)
	}
}

// --dedup original holds back messages first sent less than five minutes
// ago: SQS would accept them and drop them as duplicates.
func TestReplayDedupOriginalHoldsBackRecentMessages(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	testenv.SendBatch(t, p.c, p.dlq.URL, 4, func(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }, func(i int) string { return fmt.Sprintf("g%d", i) })
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Dedup: replay.DedupOriginal})
	if len(r.HeldBack) != 4 || r.Sent != 0 || r.Verified || r.Left.NotReached != 4 {
		t.Fatalf("report = %+v, want all 4 held back and reported", r)
	}
	if n := len(drainKeep(t, p.c, p.dlq.URL)); n != 4 {
		t.Fatalf("%d visible in the DLQ, want 4", n)
	}
	// Seven minutes later (an injected clock; the window plus a minute for
	// clock skew) they go.
	later := func() time.Time { return time.Now().Add(7 * time.Minute) }
	r = run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Dedup: replay.DedupOriginal, Now: later})
	if len(r.HeldBack) != 0 || r.Deleted != 4 || !r.Verified {
		t.Fatalf("later: %+v", r)
	}
}

// SQS holds a received message at most 12 hours: a run stops cleanly
// before that, gives everything back, and says so.
func TestReplayStopsBeforeSQSsTwelveHourHold(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 30, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var calls atomic.Int32
	api := client(t, fault{op: "SendMessageBatch", after: func(_, _ any) error { calls.Add(1); return nil }})
	// The clock jumps 12 hours once the first batch is sent.
	clock := func() time.Time {
		if calls.Load() > 0 {
			return time.Now().Add(replay.MaxHold)
		}
		return time.Now()
	}
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Now: clock, Order: replay.OrderSent})
	if r.Stopped != replay.StopMaxHold || !strings.Contains(r.NextStep, "12-hour") || r.Deleted != 10 || r.Verified || r.Left.NotReached != 20 {
		t.Fatalf("report = %+v", r)
	}
	p.refresh(t)
	if p.dlq.Visible != 20 || p.dlq.InFlight != 0 {
		t.Errorf("DLQ: %d visible, %d in flight; want the 20 not reached given back", p.dlq.Visible, p.dlq.InFlight)
	}
}

// Exit 0 is a verified fact: a message that lands in the DLQ while the
// replay runs is seen by the final check.
func TestReplayIsNotVerifiedWhenAMatchingMessageArrivesDuringTheRun(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 10, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var once sync.Once
	api := client(t, fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
		once.Do(func() { sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"late"}` }) })
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if r.Verified || r.Deleted != 10 || r.Left.NotReached != 1 || r.NextStep == "" {
		t.Fatalf("report = %+v", r)
	}
}

// An interrupted run's hold is in the journal: the next run waits for it,
// then completes what the journal says was sent without sending it again.
// The wait is event-driven: an injected sleep advances an injected clock,
// and the hold's end on SQS's side is played by giving the messages back.
func TestReplayWaitsForAnInterruptedRunsHold(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 6, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	j, err := journal.OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	ctx := context.Background()
	// The killed run: held all six, sent two, deleted nothing.
	out, err := p.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.dlq.URL), MaxNumberOfMessages: 10, VisibilityTimeout: 600})
	if err != nil || len(out.Messages) != 6 {
		t.Fatalf("receive: %v, %d", err, len(out.Messages))
	}
	start := time.Now()
	if err := j.Hold(ctx, "killed", 6, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ids := []string{aws.ToString(out.Messages[0].MessageId), aws.ToString(out.Messages[1].MessageId)}
	_ = j.Record(ctx, ids, journal.Sending)
	_ = j.Record(ctx, ids, journal.Sent)

	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return start.Add(offset) }
	var expired sync.Once
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		offset += d
		over := offset >= time.Minute
		mu.Unlock()
		if over {
			expired.Do(func() {
				hs := []string{}
				for _, m := range out.Messages {
					hs = append(hs, aws.ToString(m.ReceiptHandle))
				}
				if _, err := queue.Release(ctx, p.c, p.dlq.URL, hs); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	}

	// --no-wait: nothing to move, and the report says why.
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Journal: j, NoWait: true, Now: clock, Sleep: noSleep})
	if r.Verified || r.Left.HeldByEarlierRun != 6 || r.Deleted != 0 || !strings.Contains(r.NextStep, "let it wait") {
		t.Fatalf("--no-wait: %+v", r)
	}
	var lines []string
	r = run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Journal: j, Now: clock, Sleep: sleep,
		Status: func(s string) { lines = append(lines, s) }})
	if !r.Verified || r.Skipped != 2 || r.Sent != 4 || r.Deleted != 6 {
		t.Fatalf("report = %+v", r)
	}
	if len(lines) < 2 || lines[0] != "waiting 1m0s for 6 message(s) held by an interrupted run" || lines[len(lines)-1] != "" {
		t.Errorf("status lines: %q", lines)
	}
	if n := len(testenv.Drain(t, p.c, p.src.URL)); n != 4 {
		t.Errorf("%d sent, want only the 4 the journal did not have as sent", n)
	}
}

// One failed batch in a renewal round does not stop the others.
func TestChangeVisibilityGoesOnPastAFailedBatch(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 30, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	var handles []string
	for len(handles) < 30 {
		out, err := p.c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.dlq.URL), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
	}
	var calls atomic.Int32
	api := client(t, fault{op: "ChangeMessageVisibilityBatch", before: func(in any) error {
		if calls.Add(1) == 1 {
			return errors.New("connection reset")
		}
		return nil
	}})
	n, err := queue.ChangeVisibility(context.Background(), api, p.dlq.URL, handles, 0)
	if err == nil || n != 20 {
		t.Fatalf("released %d, err %v: want the other 20 released and the error reported", n, err)
	}
}

// The hold is renewed while the user reads the plan: Confirm (the CLI's
// prompt) waits until a renewal reached SQS, then says yes.
func TestReplayHeartbeatCoversThePrompt(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 4, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	renewed := make(chan int, 16)
	api := client(t, fault{op: "ChangeMessageVisibilityBatch", after: func(in, _ any) error {
		if e := in.(*sqs.ChangeMessageVisibilityBatchInput).Entries; len(e) > 0 && e[0].VisibilityTimeout > 0 {
			select {
			case renewed <- len(e):
			default:
			}
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Visibility: 3 * time.Second, Confirm: func(replay.Report) (bool, error) {
		for len(renewed) > 0 {
			<-renewed // renewals by the scan, before the prompt
		}
		select {
		case n := <-renewed:
			if n != 4 {
				t.Errorf("renewed %d holds, want 4", n)
			}
			return true, nil
		case <-time.After(time.Minute):
			return false, errors.New("no renewal while the prompt waited")
		}
	}})
	if !r.Verified || r.Deleted != 4 {
		t.Fatalf("report = %+v", r)
	}
}

// FIFO: a batch answered [ok, transient, sender fault, transient]. The
// transient one before the fault is retried (it goes first, in order); the
// group stops at the fault; the one behind it is never sent.
func TestReplayFIFOStopsAtAPermanentFailureBehindATransientOne(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	testenv.SendBatch(t, p.c, p.dlq.URL, 4, func(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }, func(int) string { return "g" })
	var mu sync.Mutex
	var calls [][]string
	api := client(t, fault{op: "SendMessageBatch", answer: func(in any) any {
		b := in.(*sqs.SendMessageBatchInput)
		var bodies []string
		for _, e := range b.Entries {
			bodies = append(bodies, aws.ToString(e.MessageBody))
		}
		mu.Lock()
		calls = append(calls, bodies)
		first := len(calls) == 1
		mu.Unlock()
		if !first {
			return nil // the emulator answers
		}
		id := func(i int) *string { return b.Entries[i].Id }
		return &sqs.SendMessageBatchOutput{
			Successful: []sqstypes.SendMessageBatchResultEntry{{Id: id(0), MessageId: aws.String("m0")}},
			Failed: []sqstypes.BatchResultErrorEntry{
				{Id: id(1), Code: aws.String("InternalError"), SenderFault: false},
				{Id: id(2), Code: aws.String("InvalidParameterValue"), SenderFault: true},
				{Id: id(3), Code: aws.String("InternalError"), SenderFault: false},
			}}
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Sleep: noSleep})
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || fmt.Sprint(calls[1]) != `[{"seq":1}]` {
		t.Fatalf("calls: %q; want the first batch, then only seq 1 again", calls)
	}
	if r.Failed != 1 || r.Verified || r.Left.Failed != 1 || r.Left.NotReached != 1 || len(r.Warnings) == 0 {
		t.Fatalf("report = %+v", r)
	}
}

// The final check does not trust counters that lag: when the attributes
// say the DLQ is empty but the run knows a message it took is not
// deleted, it looks, and finds it.
func TestReplayVerifyLooksForItsOwnMessagesWhenCountersLag(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, map[string]string{"MaximumMessageSize": "1024"})
	sendN(t, p.c, p.dlq.URL, 3, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"pad":"` + strings.Repeat("x", 2000) + `"}` })
	var sent atomic.Bool
	api := client(t,
		fault{op: "SendMessageBatch", after: func(_, _ any) error { sent.Store(true); return nil }},
		fault{op: "GetQueueAttributes", after: func(_, out any) error {
			if sent.Load() {
				a := out.(*sqs.GetQueueAttributesOutput).Attributes
				a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"] = "0", "0"
			}
			return nil
		}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if r.Verified || r.Left.Failed != 1 || r.Deleted != 3 {
		t.Fatalf("report = %+v, want the oversize message found by the final check", r)
	}
}

// SQS accepts a delete with a stale receipt handle without deleting (after
// a hold lapsed and the message was received again). The final check finds
// the message, sees it was sent, and deletes it with a fresh handle.
func TestReplayFinalCheckDeletesWhatADeleteDidNotTake(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	// The first delete "succeeds" without deleting anything, as with a
	// stale handle: the hold had lapsed and the message is visible.
	api := client(t, staleDelete(t, p.c, p.dlq.URL))
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if !r.Verified || r.Deleted != 5 || !strings.Contains(strings.Join(r.Warnings, "\n"), "deleted now") {
		t.Fatalf("report = %+v", r)
	}
	p.refresh(t)
	if p.dlq.Depth() != 0 {
		t.Fatalf("DLQ holds %d", p.dlq.Depth())
	}
	if n := len(testenv.Drain(t, p.c, p.src.URL)); n != 5 {
		t.Errorf("%d in the destination, want 5 (never sent twice)", n)
	}
}

// --order key: the messages of one order are accepted by the destination
// in SentTimestamp order although they are interleaved with those of 59
// other orders, sent in parallel. (moto slows down as a queue grows: a
// thousand messages take minutes here.)
func TestReplayOrderKeyKeepsEachOrdersMessagesInOrder(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total, orders = 300, 60
	testenv.SendBatch(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d","seq":%d}`, i%orders, i/orders) }, nil)
	var mu sync.Mutex
	accepted := map[string][]int{} // order → seqs in the order SQS accepted them
	api := client(t, fault{op: "SendMessageBatch", after: func(in, out any) error {
		ok := map[string]bool{}
		for _, e := range out.(*sqs.SendMessageBatchOutput).Successful {
			ok[aws.ToString(e.Id)] = true
		}
		mu.Lock()
		defer mu.Unlock()
		for _, e := range in.(*sqs.SendMessageBatchInput).Entries {
			if !ok[aws.ToString(e.Id)] {
				continue
			}
			var b struct {
				OrderID string
				Seq     int
			}
			_ = json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &b)
			accepted[b.OrderID] = append(accepted[b.OrderID], b.Seq)
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if !r.Verified || r.Deleted != total || r.Order != replay.OrderKey || r.Plan.Keys != orders {
		// Seen once under a loaded full suite: 10 unchecked, in flight
		// after every message was deleted. Say what they were, for the
		// next look: the DLQ once the run's holds have lapsed.
		p.refresh(t)
		t.Logf("DLQ now: %d visible, %d in flight; draining after the hold (%s) lapses", p.dlq.Visible, p.dlq.InFlight, replay.DefaultVisibility)
		time.Sleep(replay.DefaultVisibility + 5*time.Second)
		for _, m := range testenv.Drain(t, p.c, p.dlq.URL) {
			t.Logf("left in the DLQ: %s %s receives %s", aws.ToString(m.MessageId), aws.ToString(m.Body), m.Attributes["ApproximateReceiveCount"])
		}
		t.Fatalf("report = %+v plan %+v", r, r.Plan)
	}
	mu.Lock()
	defer mu.Unlock()
	for o, seqs := range accepted {
		if fmt.Sprint(seqs) != "[0 1 2 3 4]" {
			t.Errorf("order %s accepted as %v", o, seqs)
		}
	}
	if n := len(testenv.Drain(t, p.c, p.src.URL)); n != total {
		t.Errorf("%d in the destination, want %d", n, total)
	}
}

// A message that was in the DLQ before the run, hidden when it scanned
// (someone else's hold that lapsed late), and visible at the final check
// is moved by a round the check adds: the run ends verified.
func TestReplayFinalCheckMovesWhatWasHiddenAtTheScan(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"hidden"}` })
	out, err := p.c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.dlq.URL), VisibilityTimeout: 600})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("hide: %v %+v", err, out)
	}
	hidden := out.Messages[0]
	sendN(t, p.c, p.dlq.URL, 10, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var once sync.Once
	api := client(t, fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
		// The other hold lapses while the run moves what it scanned.
		once.Do(func() {
			if _, err := p.c.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(p.dlq.URL),
				ReceiptHandle: hidden.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Error(err)
			}
		})
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL})
	if !r.Verified || r.Deleted != 11 || r.Plan.Messages != 10 || len(r.Warnings) == 0 {
		t.Fatalf("report = %+v", r)
	}
	if got := testenv.DrainCounts(t, p.c, p.src.URL); len(got) != 11 || got[aws.ToString(hidden.MessageId)] != 1 {
		t.Fatalf("source has %v", got)
	}
}

// Without a place to keep held bodies, the replay does not start: nothing
// is sent, nothing is held, the DLQ is as it was.
func TestReplayWithoutASpoolMovesNothing(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 3, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := replay.Run(context.Background(), replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, SpoolDir: filepath.Join(file, "spool")})
	if err == nil || !strings.Contains(err.Error(), "spool") {
		t.Fatalf("err = %v, want a spool error", err)
	}
	if n := len(testenv.DrainCounts(t, p.c, p.src.URL)); n != 0 {
		t.Errorf("%d messages sent", n)
	}
	if n := len(testenv.Drain(t, p.c, p.dlq.URL)); n != 3 {
		t.Errorf("%d messages visible in the DLQ, want 3", n)
	}
}

// A receive whose answer was lost hid messages no handle can release: the
// final check waits for that hold to lapse, and the run moves them and
// verifies, instead of leaving them "unchecked" for another run. (The
// hold, 8s, outlasts the final check's own looks, about 5s at most.)
//
// With lazy counters (fauxqs expires a hold only when a receive comes;
// SQS's counters are approximate), the attributes still count those
// messages in flight after the wait: the check receives all the same.
func TestReplayWaitsForWhatALostReceiveHid(t *testing.T) {
	t.Parallel()
	for _, lazy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lazy=%v", lazy), func(t *testing.T) {
			t.Parallel()
			waitsForWhatALostReceiveHid(t, lazy)
		})
	}
}

func waitsForWhatALostReceiveHid(t *testing.T, lazy bool) {
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 25, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var lost atomic.Int32
	var hid atomic.Int32
	var waited atomic.Bool // the run waited for the lost receive's hold
	var stale atomic.Bool  // the counters still count the hidden messages in flight
	api := client(t, fault{op: "ReceiveMessage", after: func(_, out any) error {
		if waited.Load() {
			stale.Store(false) // a receive after the wait: the hold's expiry is seen
		}
		if n := len(out.(*sqs.ReceiveMessageOutput).Messages); n > 0 && lost.CompareAndSwap(0, 1) {
			hid.Store(int32(n))
			stale.Store(lazy)
			return errors.New("read tcp 127.0.0.1: use of closed network connection")
		}
		return nil
	}}, fault{op: "GetQueueAttributes", after: func(in, out any) error {
		a := out.(*sqs.GetQueueAttributesOutput).Attributes
		if aws.ToString(in.(*sqs.GetQueueAttributesInput).QueueUrl) != p.dlq.URL || !stale.Load() || a == nil {
			return nil
		}
		var visible, hidden int
		_, _ = fmt.Sscan(a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &visible)
		_, _ = fmt.Sscan(a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &hidden)
		moved := min(visible, int(hid.Load()))
		a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] = fmt.Sprint(visible - moved)
		a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] = fmt.Sprint(hidden + moved)
		return nil
	}})
	var statuses []string
	var mu sync.Mutex
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Visibility: 8 * time.Second, Status: func(s string) {
		mu.Lock()
		statuses = append(statuses, s)
		mu.Unlock()
		if strings.Contains(s, "a lost receive hid") {
			waited.Store(true)
		}
	}})
	if lost.Load() != 1 || hid.Load() == 0 {
		t.Fatalf("no receive answer was lost")
	}
	if !r.Verified || r.Deleted != 25 || len(r.Warnings) == 0 || !strings.Contains(strings.Join(r.Warnings, "\n"), "lost") {
		t.Fatalf("report = %+v (a lost receive hid %d): want everything moved and verified, with a warning", r, hid.Load())
	}
	if !waited.Load() {
		mu.Lock()
		t.Errorf("no status line while waiting: %q", statuses)
		mu.Unlock()
	}
	if got := testenv.DrainCounts(t, p.c, p.src.URL); len(got) != 25 {
		t.Errorf("%d distinct in the destination, want 25", len(got))
	}
}

// With --no-wait the run does not wait for what a lost receive hid, and
// so cannot say it checked everything: not verified, with a warning that
// says until when messages may stay hidden.
func TestReplayLostReceiveWithoutWaitIsNotVerified(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 25, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var lost atomic.Int32
	api := client(t, fault{op: "ReceiveMessage", after: func(_, out any) error {
		if len(out.(*sqs.ReceiveMessageOutput).Messages) > 0 && lost.CompareAndSwap(0, 1) {
			return errors.New("read tcp 127.0.0.1: use of closed network connection")
		}
		return nil
	}})
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Visibility: 30 * time.Second, NoWait: true})
	if lost.Load() != 1 {
		t.Fatal("no receive answer was lost")
	}
	if r.Verified || r.Left.Unchecked == 0 || !strings.Contains(strings.Join(r.Warnings, "\n"), "may stay hidden until") {
		t.Fatalf("report = %+v: want not verified, unchecked, and a warning", r)
	}
}
