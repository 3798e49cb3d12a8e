package replay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/replay/journal"
)

// journalHold records, before a hold is taken or renewed, until when this
// run's messages stay hidden, so a run that finds them hidden after a
// crash knows how long to wait. n < 0: not known yet (scanning). The
// expiry is generous: a message received (or renewed) up to a renewal
// period after this record stays hidden a visibility timeout from then.
func (r *runner) journalHold(ctx context.Context, n int) error {
	if r.cfg.Journal == nil {
		return nil
	}
	v := r.cfg.Visibility
	return r.cfg.Journal.Hold(context.WithoutCancel(ctx), r.runID, n, r.cfg.Now().Add(v+v/3+holdSlack))
}

// hiddenByLostReceive remembers (and journals) that a receive whose answer
// was lost may have hidden messages until until: no handle can release
// them, so this hold is never recorded released, and the next run waits
// for it to expire.
func (r *runner) hiddenByLostReceive(ctx context.Context, until time.Time) {
	if until.IsZero() {
		return
	}
	r.mu.Lock()
	if until.After(r.lostUntil) {
		r.lostUntil = until
	}
	r.mu.Unlock()
	if r.cfg.Journal != nil {
		_ = r.cfg.Journal.Hold(context.WithoutCancel(ctx), r.runID+"-lost", -1, until.Add(holdSlack))
	}
}

// waitForLostReceive waits until the messages a lost receive of this run
// hid are visible again: the lost answer's outcome becomes known when its
// hold lapses, and the final check then sees them (and the run moves them
// like the others). It does not wait with NoWait, past the deadline, or
// more than maxSweeps times in a run; it then returns until when messages
// may stay hidden, which the final check counts as not checked. The wait
// is counted down in Sleep's steps: the receive's time is the wall clock,
// not cfg.Now.
func (r *runner) waitForLostReceive(ctx context.Context) (waited bool, hiddenUntil time.Time, err error) {
	r.mu.Lock()
	until := r.lostUntil
	r.lostUntil = time.Time{}
	r.mu.Unlock()
	left := time.Until(until)
	if until.IsZero() || left <= 0 {
		return false, time.Time{}, nil
	}
	left += holdSlack
	if r.lostWaits >= maxSweeps || r.cfg.NoWait || (!r.cfg.Deadline.IsZero() && r.cfg.Now().Add(left+r.cfg.Margin).After(r.cfg.Deadline)) {
		return false, until, nil
	}
	r.lostWaits++
	status := r.cfg.Status
	if status == nil {
		status = func(string) {}
	}
	defer status("")
	waitedFor := left
	for left > 0 {
		status(fmt.Sprintf("waiting %s for messages a lost receive hid", left.Round(time.Second)))
		step := min(left, time.Second)
		if err := r.cfg.Sleep(ctx, step); err != nil {
			r.journalReleased(ctx, nil)
			return true, time.Time{}, err
		}
		left -= step
	}
	r.warn("a receive's answer was lost: the messages it hid were waited for (%s) and checked", waitedFor.Round(time.Second))
	return true, time.Time{}, nil
}

// keepHidden renews the table's holds every third of the visibility
// timeout, first at due, until stopped. The scan hands its holds over to
// it (ScanOptions.Handover) with due a third after its own last renewal,
// so no held message is ever without renewal. A renewal that fails is
// tried again a twelfth of the timeout later.
func (t *table) keepHidden(ctx context.Context, due time.Time) (stop func()) {
	r := t.r
	period := r.cfg.Visibility / 3
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(time.Until(due))
		defer timer.Stop()
		for {
			select {
			case <-quit:
				return
			case <-timer.C:
			}
			// Before the calls: SQS extends each hold from when it gets one.
			next := time.Now().Add(period)
			if !t.renew(ctx) {
				next = time.Now().Add(period / 4)
			}
			timer.Reset(time.Until(next))
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}

// renew extends the hold on the held messages by a visibility timeout
// (less near SQS's 12-hour cap), journaled first, and reports whether
// every one was extended. A give-back waits for it (holdMu): a renewal
// landing after a give-back would hide a message nobody holds any more.
func (t *table) renew(ctx context.Context) bool {
	r := t.r
	t.holdMu.Lock()
	defer t.holdMu.Unlock()
	pending := t.pending()
	if len(pending) == 0 {
		return true
	}
	d := r.cfg.Visibility
	if left := r.started.Add(MaxHold).Sub(r.cfg.Now()); left < d {
		d = max(left-time.Second, 0)
	}
	if d <= 0 {
		return true
	}
	if err := r.journalHold(ctx, len(pending)); err != nil {
		// Not renewed unless journaled: a next run must not wait too little.
		r.warnOnce("renew-journal", "journaling the hold on %d held message(s) failed (%v), so it was not renewed: a hold lapses if this goes on for longer than --visibility", len(pending), err)
		return false
	}
	start := time.Now()
	err := t.changeVisibility(context.WithoutCancel(ctx), pending, d)
	if time.Since(start) > holdSlack {
		// A slow renewal (100,000 holds are 10,000 calls) extended its last
		// messages well after the record made before it: record again, so
		// a killed run's successor waits long enough.
		_ = r.journalHold(ctx, len(pending))
	}
	if err != nil {
		r.warnOnce("renew", "renewing the hold on %d held message(s) failed (%v): a hold lapses only if renewals fail for longer than --visibility", len(pending), err)
		return false
	}
	return true
}

// pending lists the held rows not yet deleted (nor given back).
func (t *table) pending() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	for i := range t.rows {
		if t.stillHeld(i) {
			out = append(out, int32(i))
		}
	}
	return out
}

// giveBackRest makes every held message that was not deleted visible again.
func (h *round) giveBackRest(ctx context.Context) error {
	h.stopHeartbeat()
	return h.giveBack(ctx, h.t.pending())
}

// stopHeartbeat stops renewing the round's holds, if it had started.
func (h *round) stopHeartbeat() {
	if h.stopBeat != nil {
		h.stopBeat()
	}
}

// giveBack makes the messages of rows visible again at once; those
// deleted or given back already are left alone (SQS refuses to change a
// message that is not in flight).
func (h *round) giveBack(ctx context.Context, rows []int32) error {
	return h.t.giveBack(ctx, rows)
}

// giveBack makes the messages of rows visible again at once, and marks
// them given back, so that no renewal hides them again; those deleted or
// given back already are left alone (SQS refuses to change a message that
// is not in flight). When giving back fails, they are still held: renewed
// and given back with the rest.
func (t *table) giveBack(ctx context.Context, rows []int32) error {
	t.holdMu.Lock()
	defer t.holdMu.Unlock()
	keep := rows[:0:0]
	for _, i := range rows {
		if !t.has(i, stDone|stGiven) {
			keep = append(keep, i)
		}
	}
	err := t.changeVisibility(context.WithoutCancel(ctx), keep, 0)
	if err == nil {
		t.set(stGiven, keep...)
	}
	return err
}

// waitForEarlierHolds finds in the journal the holds of runs that were
// killed (or whose release failed) and that have not expired: their
// messages are hidden, so this run could neither move nor check them. It
// waits for the last to expire, with one live status line, unless NoWait,
// a dry run, or a deadline that comes first.
func (r *runner) waitForEarlierHolds(ctx context.Context) error {
	if r.cfg.Journal == nil {
		return nil
	}
	holds, err := r.cfg.Journal.Holds(ctx)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	var pending journal.Hold
	for _, h := range holds {
		if !h.Until.After(now) {
			continue
		}
		if h.Messages < 0 || pending.Messages < 0 {
			pending.Messages = -1
		} else {
			pending.Messages += h.Messages
		}
		if h.Until.After(pending.Until) {
			pending.Until = h.Until
		}
	}
	if pending.Until.IsZero() {
		return nil
	}
	if pending.Messages == 0 {
		return nil // the interrupted run had moved everything it held
	}
	if r.cfg.NoWait || r.cfg.DryRun || (!r.cfg.Deadline.IsZero() && pending.Until.Add(r.cfg.Margin).After(r.cfg.Deadline)) {
		r.earlier = pending
		return nil
	}
	status := r.cfg.Status
	if status == nil {
		status = func(string) {}
	}
	defer status("")
	for now := r.cfg.Now(); now.Before(pending.Until); now = r.cfg.Now() {
		left := pending.Until.Sub(now)
		status(fmt.Sprintf("waiting %s for %s held by an interrupted run", left.Round(time.Second), countOrSome(pending.Messages)))
		if err := r.cfg.Sleep(ctx, min(left, time.Second)); err != nil {
			return err
		}
	}
	return nil
}
