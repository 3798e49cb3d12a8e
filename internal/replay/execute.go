package replay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/queue"
)

// sendAttempts is how often one batch is sent before its entries are
// reported failed. The SDK does not retry SendMessageBatch itself: every
// resend goes through here, where it is journaled and counted.
const sendAttempts = 5

// execute moves one round's held messages. Every message ends either
// deleted from the DLQ after a journaled send, or visible again in the DLQ
// (failed, or not reached before an interrupt, a deadline or a replay
// storm).
func (h *held) execute(ctx context.Context) error {
	r := h.r
	cfg := r.cfg
	states := map[string]string{}
	if cfg.Journal != nil {
		ids := make([]string, len(h.messages))
		for i, m := range h.messages {
			ids[i] = m.MessageID
		}
		var err error
		if states, err = cfg.Journal.Lookup(ctx, ids); err != nil {
			return errors.Join(err, h.releaseRest(ctx))
		}
	}
	// What the destination already has is deleted, never sent again.
	var alreadySent []*queue.Message
	isSent := func(m *queue.Message) bool { s := states[m.MessageID]; return s == StateSent || s == StateDeleted }
	for i := range h.messages {
		if m := &h.messages[i]; isSent(m) {
			alreadySent = append(alreadySent, m)
		}
	}
	for _, m := range alreadySent {
		r.c.markSent(m.MessageID)
	}
	if err := h.delete(ctx, alreadySent); err != nil {
		return errors.Join(err, h.releaseRest(ctx))
	}
	r.mu.Lock()
	r.skipped += len(alreadySent)
	r.mu.Unlock()
	// "sending" without "sent": an earlier run never learnt whether its
	// send arrived. Sending again is the only way to a known outcome, and
	// it is counted as uncertain.
	h.unknown = map[string]bool{}
	for id, st := range states {
		if st == StateSending {
			h.unknown[id] = true
		}
	}

	storm := h.watchReturns(ctx)
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		// A burst of one batch: the rate holds from the first second.
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), queue.MaxBatch)
	}
	var err error
	for _, rt := range h.routes {
		var fresh []*queue.Message
		for _, m := range rt.msgs {
			if !isSent(m) {
				fresh = append(fresh, m)
			}
		}
		s := &sender{h: h, dest: rt.dest, limiter: limiter, start: cfg.Now()}
		switch {
		case rt.dest.FIFO:
			// Strict whatever the order flag: groups in parallel, each in order.
			err = s.fifo(ctx, fresh)
		case cfg.Order == OrderSent:
			err = s.sequential(ctx, fresh)
		case cfg.Order == OrderKey:
			err = s.keyed(ctx, fresh)
		default:
			err = s.concurrent(ctx, fresh)
		}
		if err != nil || r.halted(ctx) {
			break
		}
	}
	storm()
	return errors.Join(err, h.releaseRest(ctx))
}

type sender struct {
	h       *held
	dest    queue.Queue
	limiter *rate.Limiter
	start   time.Time
	// congested is set when a call failed or SQS throttled entries since
	// the last batch released its room in flight.
	congested atomic.Bool
	// deletes, when set, takes deletions off the send path: ordered sends
	// wait only for the previous send, not for its delete.
	deletes *errgroup.Group
}

// batches cuts messages into SendMessageBatch calls of at most ten entries
// within the destination's size limit. A message that alone exceeds the
// limit fails at once and stays in the DLQ; with strict (a FIFO group)
// nothing after it is batched, and stoppedAt is its index (else -1).
func (s *sender) batches(msgs []*queue.Message, strict bool) (out [][]entry, stoppedAt int) {
	var cur []entry
	size := 0
	limit := int(s.dest.MaxMessageSize)
	if limit <= 0 {
		limit = 1 << 20
	}
	now := s.h.r.cfg.Now()
	c := s.h.r.c
	for i, m := range msgs {
		full, err := s.h.r.spool.load(m)
		if err != nil {
			c.fail(m.MessageID, err.Error())
			if strict {
				if len(cur) > 0 {
					out = append(out, cur)
				}
				return out, i
			}
			continue
		}
		e, marked := s.h.entry(m, &full, s.dest, now)
		if !marked {
			c.mu.Lock()
			c.unmarked = append(c.unmarked, m.MessageID)
			c.mu.Unlock()
		}
		if e.size > limit {
			c.fail(m.MessageID, fmt.Sprintf("%d bytes with attributes: larger than %s's maximum message size (%d)", e.size, s.dest.Name, limit))
			if strict {
				if len(cur) > 0 {
					out = append(out, cur)
				}
				return out, i
			}
			continue
		}
		if len(cur) == queue.MaxBatch || size+e.size > limit {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += e.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, -1
}

// noSDKRetry leaves every resend of a batch to send, which journals and
// counts it.
func noSDKRetry(o *sqs.Options) { o.RetryMaxAttempts = 1 }

// send sends one batch: journal "sending", SendMessageBatch, journal
// "sent" for what succeeded, delete those from the DLQ, journal "deleted".
// Entries that failed for a transient reason, and whole calls whose answer
// was lost, are sent again with backoff; after sendAttempts they stay in
// the DLQ and are reported. A resend after a lost answer is counted as
// uncertain: the first send may have arrived. On a FIFO destination the
// first entry that fails blocks the rest of the batch (returned as
// blocked): only the entries before it count as sent. The calls run
// detached from ctx: an interrupt lets the batch in flight finish, so its
// outcome is known and journaled.
func (s *sender) send(ctx context.Context, batch []entry) (blocked *queue.Message, err error) {
	r := s.h.r
	cfg := r.cfg
	c := r.c
	if s.limiter != nil {
		if err := s.limiter.WaitN(ctx, len(batch)); err != nil {
			// Interrupted, or the wait would pass ctx's deadline: nothing
			// was sent, and no later batch may go before this one.
			if ctx.Err() != nil {
				r.stop("interrupted")
			} else {
				r.stop("deadline")
			}
			return nil, nil
		}
	}
	// Batches wait for room and for the rate: the run may have stopped
	// meanwhile, and a batch that has not gone yet does not go.
	if r.halted(ctx) {
		return nil, nil
	}
	dctx := context.WithoutCancel(ctx)
	pending := batch
	unknown := false // the last attempt's outcome was not known
	for attempt := 1; len(pending) > 0; attempt++ {
		ids := make([]string, len(pending))
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for i, e := range pending {
			ids[i] = e.msg.MessageID
			e.in.Id = aws.String(fmt.Sprint(i))
			entries[i] = e.in
		}
		if cfg.Journal != nil {
			if err := cfg.Journal.Record(dctx, ids, StateSending); err != nil {
				return nil, err
			}
		}
		if unknown {
			c.uncertain.Add(int64(len(pending)))
		} else if attempt == 1 {
			for _, e := range pending {
				if s.h.unknown[e.msg.MessageID] {
					c.uncertain.Add(1)
				}
			}
		}
		out, callErr := cfg.API.SendMessageBatch(dctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.dest.URL), Entries: entries}, noSDKRetry)
		var sent []*queue.Message
		var retry []entry
		unknown = false
		if callErr != nil || throttled(out) {
			s.congested.Store(true)
		}
		if callErr != nil {
			retry, unknown = pending, !queue.Rejected(callErr)
		} else {
			ok := make([]bool, len(pending))
			failed := make([]*types.BatchResultErrorEntry, len(pending))
			for _, e := range out.Successful {
				if i := index(e.Id, len(pending)); i >= 0 {
					ok[i] = true
				}
			}
			for k := range out.Failed {
				if i := index(out.Failed[k].Id, len(pending)); i >= 0 {
					failed[i] = &out.Failed[k]
				}
			}
			cut := len(pending) // FIFO: the first entry not accepted
			if s.dest.FIFO {
				for i := range pending {
					if !ok[i] {
						cut = i
						break
					}
				}
			}
			overtaken := false
			for i := cut + 1; i < len(pending); i++ {
				overtaken = overtaken || ok[i]
			}
			var stopAt *queue.Message // this attempt's FIFO stop
			for i, e := range pending {
				switch f := failed[i]; {
				case ok[i]:
					sent = append(sent, e.msg)
				case stopAt != nil:
					// Behind the message its FIFO group stopped at: left in
					// the DLQ, not attempted again.
				case f != nil && f.SenderFault:
					c.fail(e.msg.MessageID, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
					if s.dest.FIFO {
						stopAt = e.msg
					}
				case overtaken && i >= cut:
					// Later messages of the group are in already: sending this
					// one now would deliver it out of order.
					c.fail(e.msg.MessageID, "not accepted while later messages of its FIFO group were: left in the DLQ")
					stopAt = e.msg
				default:
					// Failed for a transient reason, or missing from the answer.
					// On FIFO, entries before the stop are retried: in order,
					// ahead of it.
					retry = append(retry, e)
					unknown = unknown || f == nil
				}
			}
			if stopAt != nil {
				blocked = stopAt
			}
			if overtaken {
				r.warn("FIFO group %s: %d message(s) after %s were accepted in the same batch and overtook it", pending[cut].msg.GroupID, len(sent)-cut, pending[cut].msg.MessageID)
			}
		}
		if len(sent) > 0 {
			c.sent.Add(int64(len(sent)))
			sentIDs := make([]string, len(sent))
			for i, m := range sent {
				sentIDs[i] = m.MessageID
			}
			c.markSent(sentIDs...)
			if cfg.Journal != nil {
				if err := cfg.Journal.Record(dctx, sentIDs, StateSent); err != nil {
					return blocked, err
				}
			}
			if s.deletes != nil {
				s.deletes.Go(func() error { return s.h.delete(dctx, sent) })
			} else if err := s.h.delete(dctx, sent); err != nil {
				return blocked, err
			}
		}
		s.progress()
		if len(retry) == 0 {
			return blocked, nil
		}
		if attempt >= sendAttempts {
			why := "send failed after retries"
			if callErr != nil {
				why = callErr.Error()
			}
			if unknown {
				why += " (the last answer was lost: the destination may have it)"
			}
			for _, e := range retry {
				c.fail(e.msg.MessageID, why)
			}
			if s.dest.FIFO {
				blocked = retry[0].msg
			}
			return blocked, nil
		}
		_ = cfg.Sleep(dctx, backoff.Delay(attempt))
		pending = retry
	}
	return blocked, nil
}

func (s *sender) progress() {
	r := s.h.r
	if r.cfg.Progress == nil {
		return
	}
	_, n, rate := r.inFlight.state()
	r.mu.Lock()
	total := r.matched
	r.mu.Unlock()
	r.cfg.Progress(Progress{Total: total, Sent: int(r.c.sent.Load()), Deleted: int(r.c.deleted.Load()),
		Failed: int(r.c.failed.Load()), Elapsed: r.cfg.Now().Sub(s.start), Rate: rate, InFlight: n})
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
func (h *held) delete(ctx context.Context, msgs []*queue.Message) error {
	return h.r.deleteFromDLQ(ctx, msgs, true)
}

// deleteFromDLQ deletes and journals; count adds the deletes to the
// report (not when the final check deletes again what it already counted).
func (r *runner) deleteFromDLQ(ctx context.Context, msgs []*queue.Message, count bool) error {
	c := r.c
	for start := 0; start < len(msgs); start += queue.MaxBatch {
		batch := msgs[start:min(start+queue.MaxBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := r.cfg.API.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.dlq.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete from %s: %w (the journal records these as sent: the next run deletes them without sending them again)", r.dlq.Name, err)
		}
		var ids []string
		c.mu.Lock()
		for _, ok := range out.Successful {
			if i := index(ok.Id, len(batch)); i >= 0 {
				c.done[batch[i].MessageID] = true
				ids = append(ids, batch[i].MessageID)
			}
		}
		for _, f := range out.Failed {
			if i := index(f.Id, len(batch)); i >= 0 {
				c.failures = append(c.failures, Failure{MessageID: batch[i].MessageID,
					Error: "sent, but not deleted from the DLQ: " + aws.ToString(f.Code) + " (the journal makes the next run delete it without sending it again)"})
			}
		}
		c.mu.Unlock()
		if count {
			c.deleted.Add(int64(len(ids)))
		}
		if r.cfg.Journal != nil && len(ids) > 0 {
			if err := r.cfg.Journal.Record(context.WithoutCancel(ctx), ids, StateDeleted); err != nil {
				return err
			}
		}
	}
	return nil
}
