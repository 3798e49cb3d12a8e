package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/queue"
)

// Execute moves the held messages. Every message ends either deleted from
// the DLQ after a journaled send, or visible again in the DLQ (failed, or
// not reached before an interrupt, a deadline or a replay storm). It
// returns ctx's error when interrupted, after cleaning up.
func (h *Held) Execute(ctx context.Context) (Report, error) {
	cfg := h.cfg
	start := cfg.Now()
	r := h.report()
	c := &counters{done: map[string]bool{}}

	states := map[string]string{}
	if cfg.Journal != nil {
		ids := make([]string, len(h.messages))
		for i, m := range h.messages {
			ids[i] = m.MessageID
		}
		var err error
		if states, err = cfg.Journal.Lookup(ctx, ids); err != nil {
			_ = h.Release(ctx)
			return r, err
		}
	}

	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() { defer hbWG.Done(); h.heartbeat(hbCtx, c) }()

	var fresh, alreadySent []*queue.Message
	for i := range h.messages {
		m := &h.messages[i]
		switch states[m.MessageID] {
		case StateSent, StateDeleted:
			alreadySent = append(alreadySent, m)
		default:
			fresh = append(fresh, m)
		}
	}
	// What the destination already has is deleted, never sent again.
	if err := h.delete(ctx, c, alreadySent); err != nil {
		stopHeartbeat()
		hbWG.Wait()
		_ = h.releaseRest(ctx, c)
		return r, err
	}
	r.Skipped = len(alreadySent)

	s := &sender{h: h, c: c, start: start}
	if l := limiterFor(cfg.Rate); l != nil {
		s.limiter = l // a nil *rate.Limiter in the interface would not be nil
	}
	storm := s.watchReturns(ctx)
	var err error
	switch {
	case cfg.Destination.FIFO && cfg.Order == OrderSent:
		err = s.fifo(ctx, fresh)
	case cfg.Order == OrderSent:
		err = s.sequential(ctx, fresh)
	default:
		err = s.concurrent(ctx, fresh)
	}
	storm()

	stopHeartbeat()
	hbWG.Wait()
	relErr := h.releaseRest(ctx, c)

	r.Sent, r.Deleted, r.Failed = int(c.sent.Load()), int(c.deleted.Load()), int(c.failed.Load())
	r.Failures, r.Unmarked = c.failures, c.unmarked
	if r.Failures == nil {
		r.Failures = []Failure{}
	}
	r.Remaining = r.Matched - r.Deleted - r.Failed
	r.Stopped = s.stopReason()
	r.DurationSeconds = cfg.Now().Sub(start).Seconds()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, errors.Join(err, relErr)
}

type sender struct {
	h       *Held
	c       *counters
	limiter interface {
		WaitN(context.Context, int) error
	}
	start time.Time
	// deletes, when set, takes deletions off the send path: ordered sends
	// wait only for the previous send, not for its delete.
	deletes *errgroup.Group

	mu     sync.Mutex
	reason string
}

func (s *sender) stop(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
}

func (s *sender) stopReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// halted reports whether no new batch may start.
func (s *sender) halted(ctx context.Context) bool {
	if ctx.Err() != nil {
		s.stop("interrupted")
		return true
	}
	if dl := s.h.cfg.Deadline; !dl.IsZero() && s.h.cfg.Now().Add(s.h.cfg.Margin).After(dl) {
		s.stop("deadline")
		return true
	}
	return s.stopReason() != ""
}

// batches cuts messages into SendMessageBatch calls of at most ten entries
// within the destination's size limit. A message that alone exceeds the
// limit fails at once and stays in the DLQ.
func (s *sender) batches(msgs []*queue.Message) [][]entry {
	var out [][]entry
	var cur []entry
	size := 0
	limit := int(s.h.cfg.Destination.MaxMessageSize)
	now := s.h.cfg.Now()
	for _, m := range msgs {
		e, marked := s.h.entry(len(cur), m, now)
		if !marked {
			s.c.mu.Lock()
			s.c.unmarked = append(s.c.unmarked, m.MessageID)
			s.c.mu.Unlock()
		}
		if e.size > limit {
			s.c.fail(m.MessageID, fmt.Sprintf("%d bytes with attributes: larger than %s's maximum message size (%d)", e.size, s.h.cfg.Destination.Name, limit))
			continue
		}
		if len(cur) == 10 || size+e.size > limit {
			out = append(out, cur)
			cur, size = nil, 0
		}
		e.in.Id = aws.String(fmt.Sprint(len(cur)))
		cur = append(cur, e)
		size += e.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (s *sender) sequential(ctx context.Context, msgs []*queue.Message) error {
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(s.h.cfg.Concurrency)
	var err error
	for _, b := range s.batches(msgs) {
		if s.halted(ctx) {
			break
		}
		if err = s.send(ctx, b); err != nil {
			break
		}
	}
	return errors.Join(err, s.deletes.Wait())
}

func (s *sender) concurrent(ctx context.Context, msgs []*queue.Message) error {
	var g errgroup.Group
	g.SetLimit(s.h.cfg.Concurrency)
	for _, b := range s.batches(msgs) {
		if s.halted(ctx) {
			break
		}
		g.Go(func() error {
			if s.halted(ctx) {
				return nil
			}
			return s.send(ctx, b)
		})
	}
	return g.Wait()
}

// fifo sends each message group in order, groups in parallel. A failed
// message stops its group: later messages must not overtake it.
func (s *sender) fifo(ctx context.Context, msgs []*queue.Message) error {
	var order []string
	groups := map[string][]*queue.Message{}
	for _, m := range msgs {
		if _, ok := groups[m.GroupID]; !ok {
			order = append(order, m.GroupID)
		}
		groups[m.GroupID] = append(groups[m.GroupID], m)
	}
	var g errgroup.Group
	g.SetLimit(s.h.cfg.Concurrency)
	for _, id := range order {
		g.Go(func() error {
			for _, b := range s.batches(groups[id]) {
				if s.halted(ctx) {
					return nil
				}
				failedBefore := s.c.failed.Load()
				if err := s.send(ctx, b); err != nil {
					return err
				}
				if s.groupFailed(b, failedBefore) {
					return nil
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (s *sender) groupFailed(b []entry, _ int64) bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, e := range b {
		if !s.c.done[e.msg.MessageID] {
			return true
		}
	}
	return false
}

// send sends one batch: journal "sending", SendMessageBatch, journal
// "sent" for what succeeded, delete those from the DLQ, journal "deleted".
// Entries that failed for a transient reason are retried with backoff;
// after the retries they stay in the DLQ and are reported. The calls run
// detached from ctx: an interrupt lets the batch in flight finish, so its
// outcome is known and journaled.
func (s *sender) send(ctx context.Context, batch []entry) error {
	cfg := s.h.cfg
	if s.limiter != nil {
		if err := s.limiter.WaitN(ctx, len(batch)); err != nil {
			return nil // interrupted while waiting: nothing was sent
		}
	}
	dctx := context.WithoutCancel(ctx)
	pending := batch
	for attempt := 0; len(pending) > 0; attempt++ {
		ids := make([]string, len(pending))
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for i, e := range pending {
			ids[i] = e.msg.MessageID
			e.in.Id = aws.String(fmt.Sprint(i))
			entries[i] = e.in
		}
		if cfg.Journal != nil {
			if err := cfg.Journal.Record(dctx, ids, StateSending); err != nil {
				return err
			}
		}
		out, err := cfg.API.SendMessageBatch(dctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(cfg.Destination.URL), Entries: entries})
		var sent []*queue.Message
		var retry []entry
		if err != nil {
			retry = pending // the whole call failed (after the SDK's own retries)
		} else {
			for _, ok := range out.Successful {
				if i := index(ok.Id, len(pending)); i >= 0 {
					sent = append(sent, pending[i].msg)
				}
			}
			for _, f := range out.Failed {
				i := index(f.Id, len(pending))
				if i < 0 {
					continue
				}
				if f.SenderFault {
					s.c.fail(pending[i].msg.MessageID, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
					continue
				}
				retry = append(retry, pending[i])
			}
		}
		if len(sent) > 0 {
			s.c.sent.Add(int64(len(sent)))
			sentIDs := make([]string, len(sent))
			for i, m := range sent {
				sentIDs[i] = m.MessageID
			}
			if cfg.Journal != nil {
				if err := cfg.Journal.Record(dctx, sentIDs, StateSent); err != nil {
					return err
				}
			}
			if s.deletes != nil {
				s.deletes.Go(func() error { return s.h.delete(dctx, s.c, sent) })
			} else if err := s.h.delete(dctx, s.c, sent); err != nil {
				return err
			}
		}
		s.progress()
		if len(retry) == 0 {
			return nil
		}
		if attempt >= 3 {
			why := "send failed after retries"
			if err != nil {
				why = err.Error()
			}
			for _, e := range retry {
				s.c.fail(e.msg.MessageID, why)
			}
			return nil
		}
		time.Sleep(time.Duration(200<<attempt) * time.Millisecond)
		pending = retry
	}
	return nil
}

func (s *sender) progress() {
	if s.h.cfg.Progress == nil {
		return
	}
	s.h.cfg.Progress(Progress{Total: len(s.h.messages), Sent: int(s.c.sent.Load()), Deleted: int(s.c.deleted.Load()),
		Failed: int(s.c.failed.Load()), Elapsed: s.h.cfg.Now().Sub(s.start)})
}

func index(id *string, n int) int {
	var i int
	if _, err := fmt.Sscan(aws.ToString(id), &i); err != nil || i < 0 || i >= n {
		return -1
	}
	return i
}

// delete removes sent messages from the DLQ, ten at a time, and journals
// them. A delete that fails leaves a message the destination already has:
// it is reported, and the journal makes the next run delete it without
// sending it again.
func (h *Held) delete(ctx context.Context, c *counters, msgs []*queue.Message) error {
	for start := 0; start < len(msgs); start += 10 {
		batch := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := h.cfg.API.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(h.cfg.DLQ.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete from %s: %w (the journal records these as sent; run the replay again to delete them)", h.cfg.DLQ.Name, err)
		}
		var ids []string
		c.mu.Lock()
		for _, ok := range out.Successful {
			if i := index(ok.Id, len(batch)); i >= 0 {
				c.done[batch[i].MessageID] = true
				ids = append(ids, batch[i].MessageID)
			}
		}
		c.mu.Unlock()
		c.deleted.Add(int64(len(ids)))
		for _, f := range out.Failed {
			if i := index(f.Id, len(batch)); i >= 0 {
				c.mu.Lock()
				c.failures = append(c.failures, Failure{MessageID: batch[i].MessageID,
					Error: "sent, but not deleted from the DLQ: " + aws.ToString(f.Code) + " (the journal will delete it on the next run)"})
				c.mu.Unlock()
			}
		}
		if h.cfg.Journal != nil && len(ids) > 0 {
			if err := h.cfg.Journal.Record(context.WithoutCancel(ctx), ids, StateDeleted); err != nil {
				return err
			}
		}
	}
	return nil
}

// heartbeat keeps held messages hidden while the replay runs.
func (h *Held) heartbeat(ctx context.Context, c *counters) {
	t := time.NewTicker(h.cfg.Visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = queue.ChangeVisibility(ctx, h.cfg.API, h.cfg.DLQ.URL, h.pending(c), h.cfg.Visibility)
	}
}

// pending lists the receipt handles of held messages not yet deleted.
func (h *Held) pending(c *counters) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var handles []string
	for _, m := range h.messages {
		if !c.done[m.MessageID] {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	return handles
}

// releaseRest makes every held message that was not deleted visible again.
func (h *Held) releaseRest(ctx context.Context, c *counters) error {
	_, err := queue.Release(context.WithoutCancel(ctx), h.cfg.API, h.cfg.DLQ.URL, h.pending(c))
	return err
}

// watchReturns polls the DLQ for messages this run replayed that failed
// again and came back (a replay storm) and stops the replay at
// StopOnReturn of them. It receives with visibility 0, so it hides
// nothing. The returned func stops the watcher.
func (s *sender) watchReturns(ctx context.Context) func() {
	n := s.h.cfg.StopOnReturn
	if n <= 0 {
		return func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]bool{}
		for wctx.Err() == nil {
			out, err := s.h.cfg.API.ReceiveMessage(wctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.h.cfg.DLQ.URL), MaxNumberOfMessages: 10,
				VisibilityTimeout: 0, WaitTimeSeconds: 1, MessageAttributeNames: []string{MarkerAttribute}})
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			for _, m := range out.Messages {
				a, ok := m.MessageAttributes[MarkerAttribute]
				if !ok || seen[aws.ToString(m.MessageId)] {
					continue
				}
				var mk Marker
				if json.Unmarshal([]byte(aws.ToString(a.StringValue)), &mk) != nil {
					continue
				}
				if t, err := time.Parse(time.RFC3339Nano, mk.ReplayedAt); err == nil && !t.Before(s.start.Add(-time.Second)) {
					seen[aws.ToString(m.MessageId)] = true
				}
			}
			if len(seen) >= n {
				s.stop(fmt.Sprintf("%d replayed messages came back to the DLQ (--stop-on-return %d)", len(seen), n))
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
