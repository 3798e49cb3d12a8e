package replay

import (
	"context"
	"encoding/json"
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
	"github.com/dlqops/dlq/internal/replay/journal"
)

// sendAttempts is how often one batch is sent before its entries are
// reported failed. The SDK does not retry SendMessageBatch itself: every
// resend goes through here, where it is journaled and counted.
const sendAttempts = 5

type sender struct {
	h       *round
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
func (s *sender) batches(rows []int32, strict bool) (out [][]entry, stoppedAt int) {
	var cur []entry
	size := 0
	limit := maxSize(s.dest)
	h := s.h
	now := h.r.cfg.Now()
	c := h.r.c
	for i, row := range rows {
		full, err := h.t.load(row)
		if err != nil {
			h.fail(row, err.Error())
			if strict {
				if len(cur) > 0 {
					out = append(out, cur)
				}
				return out, i
			}
			continue
		}
		e, marked := h.entry(row, &full, s.dest, now)
		if !marked {
			c.unmarkedMessage(full.MessageID)
		}
		if e.size > limit {
			h.fail(row, fmt.Sprintf("%d bytes with attributes: larger than %s's maximum message size (%d)", e.size, s.dest.Name, limit))
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
func (s *sender) send(ctx context.Context, batch []entry) (blocked int32, err error) {
	blocked = noRow
	if len(batch) == 0 || !s.mayGo(ctx, len(batch)) {
		return noRow, nil
	}
	dctx := context.WithoutCancel(ctx)
	pending := batch
	unknown := false // the last attempt's outcome was not known
	for attempt := 1; ; attempt++ {
		if err := s.journalSending(dctx, pending, attempt, unknown); err != nil {
			return noRow, err
		}
		out, callErr := s.h.r.router.deliverer(s.dest).deliver(dctx, requestEntries(pending), s.h.t.ids(rowsOf(pending)))
		if callErr != nil || throttled(out) {
			s.congested.Store(true)
		}
		var a answer
		if callErr != nil {
			// Entries the destination refused before the call are failed
			// now; the call's outcome is the rest's.
			rest, stop := s.refusedBefore(pending, out)
			a = answer{retry: rest, unknown: !queue.Rejected(callErr), stopAt: stop}
		} else {
			a = s.sortAnswer(pending, out)
		}
		unknown = a.unknown
		if a.stopAt != noRow {
			blocked = a.stopAt
		}
		if err := s.commit(dctx, a.sent); err != nil {
			return blocked, err
		}
		s.progress()
		if len(a.retry) == 0 {
			return blocked, nil
		}
		if attempt >= sendAttempts {
			return s.giveUp(a.retry, callErr, unknown, blocked), nil
		}
		_ = s.h.r.cfg.Sleep(dctx, backoff.Delay(attempt))
		pending = a.retry
	}
}

// refusedBefore fails the entries out says were refused without a call
// (out may be nil) and returns the others, and, on a FIFO destination,
// the row its group stops at (noRow: none): what follows a refused entry
// is not sent, to keep the group in order.
func (s *sender) refusedBefore(pending []entry, out *sqs.SendMessageBatchOutput) ([]entry, int32) {
	if out == nil || len(out.Failed) == 0 {
		return pending, noRow
	}
	refused := make([]bool, len(pending))
	for _, f := range out.Failed {
		if i := queue.EntryIndex(f.Id, len(pending)); i >= 0 && f.SenderFault {
			refused[i] = true
			s.h.fail(pending[i].row, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	var rest []entry
	for i, e := range pending {
		switch {
		case refused[i] && s.dest.FIFO:
			return rest, e.row
		case !refused[i]:
			rest = append(rest, e)
		}
	}
	return rest, noRow
}

// mayGo waits for the rate limit, and reports whether the batch may go:
// a batch that waited (for room, for the rate) does not go once the run
// stopped meanwhile. An interrupt or a deadline the wait would pass stop
// the run: nothing was sent, and no later batch may go before this one.
func (s *sender) mayGo(ctx context.Context, n int) bool {
	r := s.h.r
	if s.limiter != nil {
		if err := s.limiter.WaitN(ctx, n); err != nil {
			if ctx.Err() != nil {
				r.stop(StopInterrupted, "interrupted")
			} else {
				r.stop(StopDeadline, "the rate limit's next batch would pass the deadline")
			}
			return false
		}
	}
	return !r.halted(ctx)
}

// journalSending journals the attempt's entries "sending" and counts as
// uncertain those whose earlier send may have arrived: all of a resend
// after a lost answer, and on the first attempt those an earlier run left
// journaled "sending".
func (s *sender) journalSending(ctx context.Context, pending []entry, attempt int, unknown bool) error {
	h, c := s.h, s.h.r.c
	if j := h.r.cfg.Journal; j != nil {
		ids := make([]string, len(pending))
		for i, e := range pending {
			ids[i] = h.t.id(e.row)
		}
		if err := j.Record(ctx, ids, journal.Sending); err != nil {
			return err
		}
	}
	switch {
	case unknown:
		c.uncertain.Add(int64(len(pending)))
	case attempt == 1:
		for _, e := range pending {
			// Counted when the run started when a killed run left it in
			// doubt (runner.inDoubt): this resend is the arrival already
			// counted for.
			if h.t.has(e.row, stUnknown) && h.r.inDoubt[h.t.id(e.row)] == 0 {
				c.uncertain.Add(1)
			}
		}
	}
	return nil
}

// requestEntries are the batch's entries, each with its index as its ID.
func requestEntries(pending []entry) []types.SendMessageBatchRequestEntry {
	entries := make([]types.SendMessageBatchRequestEntry, len(pending))
	for i, e := range pending {
		e.in.Id = aws.String(fmt.Sprint(i))
		entries[i] = e.in
	}
	return entries
}

// answer is an attempt's entries sorted by what SQS said: sent, to send
// again (unknown: some outcome was not known), and the row its FIFO group
// stopped at (noRow: none); the rest failed (reported) or wait behind the
// stop.
type answer struct {
	sent, retry []entry
	unknown     bool
	stopAt      int32
}

// sortAnswer sorts the entries of an answered SendMessageBatch.
func (s *sender) sortAnswer(pending []entry, out *sqs.SendMessageBatchOutput) answer {
	h := s.h
	ok := make([]bool, len(pending))
	failed := make([]*types.BatchResultErrorEntry, len(pending))
	for _, e := range out.Successful {
		if i := queue.EntryIndex(e.Id, len(pending)); i >= 0 {
			ok[i] = true
			pending[i].newID = aws.ToString(e.MessageId)
		}
	}
	for k := range out.Failed {
		if i := queue.EntryIndex(out.Failed[k].Id, len(pending)); i >= 0 {
			failed[i] = &out.Failed[k]
		}
	}
	cut, overtaken := fifoCut(ok, s.dest.FIFO)
	a := answer{stopAt: noRow}
	for i, e := range pending {
		switch f := failed[i]; {
		case ok[i]:
			a.sent = append(a.sent, e)
		case a.stopAt != noRow:
			// Behind the message its FIFO group stopped at: left in the
			// DLQ, not attempted again.
		case f != nil && f.SenderFault:
			h.fail(e.row, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
			if s.dest.FIFO {
				a.stopAt = e.row
			}
		case overtaken && i >= cut:
			// Later messages of the group are in already: sending this one
			// now would deliver it out of order.
			h.fail(e.row, "not accepted while later messages of its FIFO group were: left in the DLQ")
			a.stopAt = e.row
		default:
			// Failed for a transient reason, or missing from the answer. On
			// FIFO, entries before the stop are retried: in order, ahead of
			// it.
			a.retry = append(a.retry, e)
			a.unknown = a.unknown || f == nil
		}
	}
	if overtaken {
		cutRow := pending[cut].row
		h.r.warn("FIFO group %s: %d message(s) after %s were accepted in the same batch and overtook it", h.r.groups.str(h.t.row(cutRow).group), len(a.sent)-cut, h.t.id(cutRow))
	}
	return a
}

// fifoCut is, on a FIFO destination, the first entry SQS did not accept
// (len(ok) when it took them all; always that on a standard one), and
// whether an entry after it was accepted: it overtook the cut one.
func fifoCut(ok []bool, fifo bool) (cut int, overtaken bool) {
	cut = len(ok)
	if fifo {
		for i := range ok {
			if !ok[i] {
				cut = i
				break
			}
		}
	}
	for i := cut + 1; i < len(ok); i++ {
		overtaken = overtaken || ok[i]
	}
	return cut, overtaken
}

// commit records what the destination has: counted, marked sent,
// journaled "sent", then deleted from the DLQ (in the background when
// the sender has a delete group).
func (s *sender) commit(ctx context.Context, sent []entry) error {
	if len(sent) == 0 {
		return nil
	}
	h := s.h
	h.r.c.sent.Add(int64(len(sent)))
	rows := make([]int32, len(sent))
	ids := make([]string, len(sent))
	handles := make([]string, len(sent))
	for i, e := range sent {
		rows[i], ids[i], handles[i] = e.row, h.t.id(e.row), e.handle
		// Received again while it waited (its hold lapsed): only the
		// newest handle deletes it. Unreadable, the older one is tried,
		// and the final check deletes what it left.
		if hd, err := h.t.newest(e.row, e.handle); err == nil {
			handles[i] = hd
		}
	}
	h.t.set(stSent, rows...)
	if f := h.r.cfg.onSent; f != nil {
		if err := f(ctx, ids, known(sent)); err != nil {
			return err
		}
	}
	if j := h.r.cfg.Journal; j != nil {
		if err := j.Record(ctx, ids, journal.Sent); err != nil {
			return err
		}
	}
	if s.deletes != nil {
		s.deletes.Go(func() error { return h.delete(ctx, rows, handles) })
		return nil
	}
	return h.delete(ctx, rows, handles)
}

// giveUp reports the entries still failing after sendAttempts as failed,
// and returns the row a FIFO group stops at (blocked, else).
func (s *sender) giveUp(retry []entry, callErr error, unknown bool, blocked int32) int32 {
	why := "send failed after retries"
	if callErr != nil {
		why = callErr.Error()
	}
	if unknown {
		why += " (the last answer was lost: the destination may have it)"
	}
	for _, e := range retry {
		s.h.fail(e.row, why)
	}
	if s.dest.FIFO {
		return retry[0].row
	}
	return blocked
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
		Failed: int(r.c.failed.Load()), Elapsed: r.cfg.Now().Sub(s.start), Rate: rate, InFlight: n, Scanning: r.scanning.Load()})
}

// known are the IDs a sent entry is known by if it comes back to the
// DLQ: the message ID the destination gave it (SQS keeps it when it
// dead-letters a message), and the original message ID its marker
// carries (a message replayed before keeps its first ID there).
func known(sent []entry) []string {
	out := make([]string, 0, len(sent))
	for _, e := range sent {
		if e.newID != "" {
			out = append(out, e.newID)
		}
		a, ok := e.in.MessageAttributes[MarkerAttribute]
		if !ok {
			continue
		}
		var mk Marker
		if json.Unmarshal([]byte(aws.ToString(a.StringValue)), &mk) == nil && mk.OriginalMessageID != "" {
			out = append(out, mk.OriginalMessageID)
		}
	}
	return out
}
