package replay

import (
	"context"
	"errors"

	"golang.org/x/time/rate"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// execute moves one round's held messages. Every message ends either
// deleted from the DLQ after a journaled send, or visible again in the DLQ
// (failed, or not reached before an interrupt, a deadline or a replay
// storm).
func (h *round) execute(ctx context.Context) error {
	r := h.r
	cfg := r.cfg
	// What the destination already has is deleted, never sent again.
	alreadySent, err := h.journaled(ctx, h.order)
	if err == nil {
		err = h.skip(ctx, alreadySent, nil)
	}
	if err != nil {
		return errors.Join(err, h.giveBackRest(ctx))
	}

	storm := h.watchReturns(ctx)
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		// A burst of one batch: the rate holds from the first second.
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), queue.MaxBatch)
	}
	for _, rt := range h.routes {
		fresh := rt.rows
		if len(alreadySent) > 0 {
			fresh = nil
			for _, i := range rt.rows {
				if !h.t.has(i, stSent) {
					fresh = append(fresh, i)
				}
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
	return errors.Join(err, h.giveBackRest(ctx))
}

// journaled looks rows up in the journal (without one, nothing is
// known). A message an earlier run journaled "sending" but never "sent"
// is marked stUnknown: sending it again is the only way to a known
// outcome, and it is counted as uncertain. It returns the rows journaled
// sent or deleted: the destination has them.
func (h *round) journaled(ctx context.Context, rows []int32) ([]int32, error) {
	j := h.r.cfg.Journal
	if j == nil || len(rows) == 0 {
		return nil, nil
	}
	ids := h.t.ids(rows)
	states, err := j.Lookup(ctx, ids)
	if err != nil {
		return nil, err
	}
	var sent []int32
	for k, i := range rows {
		switch states[ids[k]] {
		case journal.Sent, journal.Deleted:
			sent = append(sent, i)
		case journal.Sending:
			h.t.set(stUnknown, i)
		}
	}
	return sent, nil
}

// skip deletes rows the destination already has, without sending them
// again (handles: theirs; nil: read from the spool), and counts them.
func (h *round) skip(ctx context.Context, rows []int32, handles []string) error {
	if len(rows) == 0 {
		return nil
	}
	h.t.set(stSent, rows...)
	if err := h.delete(ctx, rows, handles); err != nil {
		return err
	}
	h.r.mu.Lock()
	h.r.skipped += len(rows)
	h.r.mu.Unlock()
	return nil
}
