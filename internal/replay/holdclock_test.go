package replay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// clockSQS is SQS's visibility model on the test's clock (a synctest
// bubble: time moves only when every goroutine waits), for the property
// a replay promises: a message it holds never goes longer than the
// renewal period without a renewal, and never becomes visible while the
// run still holds it. Every receive is the run's (scans, the final check,
// the return watcher); a receipt handle is valid until the message is
// received again. It answers what replay calls of the SQS API and panics
// on anything else.
type clockSQS struct {
	replay.SQSAPI

	latency     time.Duration // every call takes this long
	slowRelease time.Duration // a give-back (visibility 0) takes this long instead
	period      time.Duration // the renewal period the run promises
	slack       time.Duration // how late in a renewal a message may be reached
	// staleDeletes: the first delete calls are answered "done" without
	// deleting, and their messages are visible again, as after a hold
	// that lapsed and another reader's receive.
	staleDeletes int

	mu       sync.Mutex
	queues   map[string]*clockQueue // by URL
	byHandle map[string]*clockMessage
	seq      int
	// violations: what broke the property, with the clock's time.
	violations []string
	renewals   int
}

type clockQueue struct {
	name, url, arn string
	sourceOf       *clockQueue // the DLQ this queue's redrive policy names
	msgs           []*clockMessage
}

type clockMessage struct {
	q           *clockQueue
	id, body    string
	sent        time.Time
	count       int
	handle      string
	hiddenUntil time.Time
	// since is when the hold of handle was taken or last extended.
	since   time.Time
	deleted bool
}

func newClockSQS(latency, period time.Duration) *clockSQS {
	return &clockSQS{latency: latency, period: period, slack: 50 * latency, queues: map[string]*clockQueue{}, byHandle: map[string]*clockMessage{}}
}

func (f *clockSQS) queue(name string, dlq *clockQueue) *clockQueue {
	q := &clockQueue{name: name, url: "http://127.0.0.1:1/000000000000/" + name, arn: "arn:aws:sqs:us-east-1:000000000000:" + name, sourceOf: dlq}
	f.queues[q.url] = q
	return q
}

// put adds a message to q, sent now.
func (f *clockSQS) put(q *clockQueue, body string) string {
	f.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
	q.msgs = append(q.msgs, &clockMessage{q: q, id: id, body: body, sent: time.Now()})
	return id
}

// held checks, when the run renews or deletes m as a message it holds,
// that its hold is still running and was taken or extended at most a
// renewal period ago.
func (f *clockSQS) held(m *clockMessage, now time.Time, what string) {
	switch gap := now.Sub(m.since); {
	case !now.Before(m.hiddenUntil):
		f.violations = append(f.violations, fmt.Sprintf("%s: %s %s at %s, after its hold lapsed at %s: another reader could have had it",
			m.q.name, m.id, what, now.Format(time.TimeOnly), m.hiddenUntil.Format(time.TimeOnly)))
	case gap > f.period+f.slack:
		f.violations = append(f.violations, fmt.Sprintf("%s: %s %s %s after its hold was last taken or extended (renewal period %s)", m.q.name, m.id, what, gap, f.period))
	}
}

// hidden lists the messages of q hidden now: a run that ended holds none.
func (f *clockSQS) hidden(q *clockQueue) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range q.msgs {
		if !m.deleted && time.Now().Before(m.hiddenUntil) {
			out = append(out, m.id)
		}
	}
	return out
}

func (f *clockSQS) call(d time.Duration) { time.Sleep(d) }

func (f *clockSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // the SDK interface's name
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.queues {
		if q.name == aws.ToString(in.QueueName) {
			return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(q.url)}, nil
		}
	}
	return nil, fmt.Errorf("no queue %s", aws.ToString(in.QueueName))
}

func (f *clockSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.call(f.latency)
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[aws.ToString(in.QueueUrl)]
	now := time.Now()
	visible, hidden := 0, 0
	for _, m := range q.msgs {
		switch {
		case m.deleted:
		case now.Before(m.hiddenUntil):
			hidden++
		default:
			visible++
		}
	}
	a := map[string]string{
		"QueueArn": q.arn, "ApproximateNumberOfMessages": strconv.Itoa(visible), "ApproximateNumberOfMessagesNotVisible": strconv.Itoa(hidden),
		"ApproximateNumberOfMessagesDelayed": "0", "MaximumMessageSize": "262144", "MessageRetentionPeriod": "1209600", "VisibilityTimeout": "30",
	}
	if q.sourceOf != nil {
		a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":3}`, q.sourceOf.arn)
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *clockSQS) ListDeadLetterSourceQueues(_ context.Context, in *sqs.ListDeadLetterSourceQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.ListDeadLetterSourceQueuesOutput{}
	for _, q := range f.queues {
		if q.sourceOf != nil && q.sourceOf.url == aws.ToString(in.QueueUrl) {
			out.QueueUrls = append(out.QueueUrls, q.url)
		}
	}
	return out, nil
}

func (f *clockSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	for polled := false; ; polled = true {
		f.call(f.latency)
		if out := f.receive(in); len(out.Messages) > 0 || polled || in.WaitTimeSeconds == 0 {
			return out, nil
		}
		time.Sleep(time.Duration(in.WaitTimeSeconds) * time.Second)
	}
}

func (f *clockSQS) receive(in *sqs.ReceiveMessageInput) *sqs.ReceiveMessageOutput {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[aws.ToString(in.QueueUrl)]
	now := time.Now()
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range q.msgs {
		if len(out.Messages) == int(in.MaxNumberOfMessages) {
			break
		}
		if m.deleted || now.Before(m.hiddenUntil) {
			continue
		}
		f.seq++
		m.count++
		m.handle = fmt.Sprintf("h-%d-%s", f.seq, m.id)
		f.byHandle[m.handle] = m
		m.hiddenUntil, m.since = now.Add(time.Duration(in.VisibilityTimeout)*time.Second), now
		out.Messages = append(out.Messages, types.Message{MessageId: aws.String(m.id), ReceiptHandle: aws.String(m.handle), Body: aws.String(m.body),
			Attributes:        map[string]string{"SentTimestamp": strconv.FormatInt(m.sent.UnixMilli(), 10), "ApproximateReceiveCount": strconv.Itoa(m.count)},
			MessageAttributes: map[string]types.MessageAttributeValue{}})
	}
	return out
}

func (f *clockSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	release := len(in.Entries) > 0 && in.Entries[0].VisibilityTimeout == 0
	d := f.latency
	if release && f.slowRelease > 0 {
		d = f.slowRelease
	}
	f.call(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		m := f.byHandle[aws.ToString(e.ReceiptHandle)]
		switch {
		case m == nil || m.deleted || m.handle != aws.ToString(e.ReceiptHandle):
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), SenderFault: true})
			continue
		case e.VisibilityTimeout == 0 && !now.Before(m.hiddenUntil):
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("MessageNotInflight"), SenderFault: true})
			continue
		case e.VisibilityTimeout == 0:
			m.hiddenUntil = now
		default:
			f.held(m, now, "renewed")
			f.renewals++
			m.hiddenUntil, m.since = now.Add(time.Duration(e.VisibilityTimeout)*time.Second), now
		}
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (f *clockSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.call(f.latency)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.DeleteMessageBatchOutput{}
	if f.staleDeletes > 0 {
		f.staleDeletes--
		for _, e := range in.Entries {
			if m := f.byHandle[aws.ToString(e.ReceiptHandle)]; m != nil {
				m.hiddenUntil = time.Now()
			}
			out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
		}
		return out, nil
	}
	for _, e := range in.Entries {
		// A stale handle is answered "done" and deletes nothing, as SQS does.
		if m := f.byHandle[aws.ToString(e.ReceiptHandle)]; m != nil && m.handle == aws.ToString(e.ReceiptHandle) && !m.deleted {
			f.held(m, time.Now(), "deleted")
			m.deleted = true
		}
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (f *clockSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.call(f.latency)
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[aws.ToString(in.QueueUrl)]
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := f.put(q, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(id)})
	}
	return out, nil
}

// left counts the messages in q not deleted.
func (f *clockSQS) left(q *clockQueue) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range q.msgs {
		if !m.deleted {
			n++
		}
	}
	return n
}

// No held message goes longer than the renewal period (a third of
// --visibility) without a renewal, and none becomes visible while the run
// holds it, across every phase of a run: the scan, its give-back of what
// it did not take (slow here: longer than a visibility timeout), the
// plan, a prompt that waits minutes, the sends, rounds, and the final
// check. SQS is modelled on a clock the test controls, so minutes of a
// run take milliseconds and no timing of the machine matters.
func TestReplayHoldsAreRenewedWithoutAGap(t *testing.T) {
	t.Parallel()
	const visibility = 30 * time.Second
	cases := []struct {
		name   string
		cfg    replay.Config
		moved  int
		prompt time.Duration
		// stale: deletes answered "done" that did not take: the final
		// check holds those messages while it gives the others back.
		stale int
	}{
		{name: "key order, one round", cfg: replay.Config{Order: replay.OrderKey}, moved: 100, prompt: 3 * visibility},
		{name: "key order, rounds of 30", cfg: replay.Config{Order: replay.OrderKey, Window: 30}, moved: 100, prompt: 2 * visibility},
		{name: "no order, streamed, rate limited", cfg: replay.Config{Order: replay.OrderNone, Stream: true, Rate: 2}, moved: 100},
		{name: "limit", cfg: replay.Config{Order: replay.OrderKey, Limit: 40}, moved: 40, prompt: visibility},
		{name: "limit, deletes that did not take", cfg: replay.Config{Order: replay.OrderNone, Limit: 40}, moved: 40, stale: 2},
		{name: "streamed, deletes that did not take", cfg: replay.Config{Order: replay.OrderNone, Stream: true}, moved: 100, stale: 3},
		{name: "sent order, rate limited", cfg: replay.Config{Order: replay.OrderSent, Rate: 1}, moved: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newClockSQS(time.Millisecond, visibility/3)
				dlq := f.queue("orders-dlq", nil)
				src := f.queue("orders", dlq)
				// 100 messages to move among 1,000 others: giving the others
				// back takes 13 waves of 8 calls at 3 s each, 39 s.
				for i := range 1100 {
					tier := "silver"
					if i%11 == 0 {
						tier = "gold"
					}
					f.put(dlq, fmt.Sprintf(`{"orderId":"o-%d","tier":%q}`, i%50, tier))
					time.Sleep(time.Millisecond)
				}
				f.slowRelease, f.staleDeletes = 3*time.Second, tc.stale
				flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				j, err := journal.OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = j.Close() }()
				cfg := tc.cfg
				cfg.API, cfg.DLQ, cfg.Filter, cfg.Visibility, cfg.Journal, cfg.SpoolDir = f, dlq.url, flt, visibility, j, t.TempDir()
				if tc.prompt > 0 {
					cfg.Confirm = func(replay.Report) (bool, error) { time.Sleep(tc.prompt); return true, nil }
				}
				rep, err := replay.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				violations, renewals := f.violations, f.renewals
				f.mu.Unlock()
				if hidden := f.hidden(dlq); len(hidden) > 0 {
					t.Errorf("%d message(s) still hidden in the DLQ after the run: %v", len(hidden), hidden[:min(5, len(hidden))])
				}
				sort.Strings(violations)
				if len(violations) > 0 {
					t.Errorf("%d violation(s), the first: %s", len(violations), strings.Join(violations[:min(5, len(violations))], "\n"))
				}
				if renewals == 0 {
					t.Error("no hold was ever renewed: the run was too short to test anything")
				}
				if !rep.Verified || rep.Deleted != tc.moved || f.left(src) != tc.moved || f.left(dlq) != 1100-tc.moved {
					t.Errorf("report = %+v; %d in the source, %d in the DLQ", rep, f.left(src), f.left(dlq))
				}
			})
		})
	}
}
