package replay

import (
	"context"
	"time"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/queue"
)

// verifyLooks is how often the final check looks at the DLQ while it
// cannot see everything: SQS's counters are approximate and lag the
// give-backs this run just made, and a hold that has not lapsed yet hides
// messages a later look sees.
const verifyLooks = 3

// verify looks at the DLQ again after the run, up to verifyLooks times,
// for the messages of its selection still there: with a limit, those it
// took; without, every one that matches. What it cannot look at (in
// flight, delayed, behind others in a FIFO group, or the run's own not
// found) is unchecked, or held by an earlier run as far as the journal
// says.
func (r *runner) verify(ctx context.Context) (Left, untaken, error) {
	// lostHidden: a receive whose answer was lost (of the rounds or of a
	// look) may still hide messages, and the run could not wait for them.
	var lostHidden time.Time
	for n := 1; ; n++ {
		lk, err := r.look(ctx)
		left, hidden := lk.left, lk.hidden
		if err != nil {
			return left, lk.untaken, err
		}
		// A lost receive hid messages the look could not see, and the
		// counters it read before its scan may count them as visible:
		// look again once they are visible, whatever this look found.
		waited, until, err := r.waitForLostReceive(ctx)
		if err != nil {
			return left, lk.untaken, err
		}
		if waited {
			n-- // this look did not count: what it could not see is visible now
			continue
		}
		if until.After(lostHidden) {
			lostHidden = until
		}
		// Messages in flight may be the run's own, hidden by a hold that
		// has not lapsed yet (or SQS's counters lag): look again, scan
		// included, once they may be visible, unless an earlier run's
		// known hold explains them.
		explained := r.earlier.Messages != 0 && (r.earlier.Messages < 0 || int64(r.earlier.Messages) >= hidden)
		// What this look deleted again is checked by another look, not
		// trusted to the delete.
		settled := lk.redeleted == 0 && left.Unchecked == 0 && (hidden == 0 || explained)
		if settled || n >= verifyLooks {
			left.Unchecked += lk.redeleted
			r.account(&left, hidden)
			if !lostHidden.IsZero() && time.Now().Before(lostHidden) {
				// Up to ten messages nobody could look at: not verified.
				left.Unchecked++
				r.warn("a receive's answer was lost: up to %d message(s) may stay hidden until %s, unchecked",
					queue.MaxBatch, lostHidden.UTC().Format("15:04:05Z"))
			}
			return left, lk.untaken, nil
		}
		if err := r.cfg.Sleep(ctx, min(r.cfg.Visibility, backoff.Delay(n+3))); err != nil {
			return left, lk.untaken, err
		}
	}
}

// account counts hidden messages the final look could not see: held by an
// earlier run as far as the journal says so, else unchecked.
func (r *runner) account(left *Left, hidden int64) {
	if hidden <= 0 {
		return
	}
	earlier := int64(r.earlier.Messages)
	if earlier < 0 || earlier > hidden {
		earlier = hidden
	}
	left.HeldByEarlierRun = int(earlier)
	left.Unchecked += int(hidden - earlier)
}

// lookResult is what one look at the DLQ found: the selection's messages
// left, how many messages it could not see (in flight or delayed, beyond
// the run's own unseen ones, which left counts already), and how many
// messages the run sent it found and deleted again.
type lookResult struct {
	left      Left
	hidden    int64
	redeleted int
	untaken
}

// untaken is what a final check found of messages the run did not take:
// missed, matching messages that were in the DLQ before the run started
// (hidden when it scanned: another round moves them); blockedLate, those
// behind a key stopped in an earlier round.
type untaken struct {
	missed, blockedLate int
}

// look is one look at the DLQ.
func (r *runner) look(ctx context.Context) (lookResult, error) {
	var lk lookResult
	q, err := queue.Attributes(ctx, r.cfg.API, r.dlq.URL)
	if err != nil {
		return lk, err
	}
	limited := r.cfg.Limit > 0
	// The run's own messages not deleted (SQS confirmed each delete) are
	// marked missing in the ledger until the scan sees them. Those it sent
	// are looked for too, deleted or not: SQS answers a delete with a
	// stale receipt handle "done" without deleting, and its counters lag,
	// so only a scan shows they are gone. A run that sent nothing and
	// misses nothing has nothing of its own to find, with a limit or in
	// an empty DLQ.
	missing, sent := r.ledger.markMissing()
	if missing == 0 && sent == 0 && (limited || q.Depth() == 0) {
		return lk, nil
	}
	var res queue.ScanResult
	// After a wait for what a lost receive hid, the counters may still
	// count those messages in flight (they are approximate, and may be
	// updated only when a receive comes): receive all the same.
	if q.Visible > 0 || missing > 0 || sent > 0 || r.lostWaits > 0 && q.InFlight > 0 {
		if res, lk.redeleted, err = r.scanAgain(ctx, q, missing+sent, &lk); err != nil {
			return lk, err
		}
		missing = r.ledger.missing()
	}
	lk.left.Unchecked = missing // the run's own, not seen: hidden, or behind others in a FIFO group
	if limited && sent == 0 {
		return lk, nil // the selection is what the run took: all deleted, none sent
	}
	// SQS refused to let the scan hold more (its in-flight limit): what it
	// did not reach is not known to be outside the selection (with a
	// limit: not known to hold none of the run's own).
	if res.OverLimit {
		lk.left.Unchecked += max(int(q.Visible)-res.Scanned, 1)
	}
	inFlight := max(q.InFlight-int64(missing), 0)
	// A FIFO queue shows only the first messages of each group: what the
	// scan could not reach is not known to be outside the selection. With
	// a limit, the selection is the run's own: when the run passed over no
	// message of a group, its own are the first of their groups, which a
	// receive shows first (and a look that deleted again is followed by
	// another, which sees the next ones).
	if q.FIFO && int64(res.Scanned) < q.Visible && (!limited || r.passedOver.Load()) {
		lk.left.Unchecked = max(lk.left.Unchecked, int(q.Visible)-res.Scanned)
	}
	if limited {
		// Of the messages hidden now, at most those the run sent may be
		// its own (left by a delete that did not take, received by
		// another reader); delayed messages cannot be.
		lk.hidden = min(inFlight, int64(sent))
		return lk, nil
	}
	lk.hidden = inFlight + q.Delayed
	return lk, nil
}

// scanAgain is the final check's scan. It holds what it finds of the
// run's messages and, without a limit, of the selection: what the run
// sent is deleted again (a delete that did not take), the rest is
// counted in left and given back. The holds are renewed from the scan's
// end until they are given back.
func (r *runner) scanAgain(ctx context.Context, q queue.Queue, own int, lk *lookResult) (res queue.ScanResult, redeleted int, err error) {
	// This scan holds what it receives too: journaled, so a run killed
	// here tells the next one how long to wait.
	if err := r.journalHold(ctx, -1); err != nil {
		return res, 0, err
	}
	// Looking for the run's own messages, the scan goes on until receives
	// come back empty, not only as far as SQS's approximate count: the
	// count can miss what a delete left behind.
	depth := q.Visible
	if own > 0 {
		depth = 0
	}
	limited := r.cfg.Limit > 0
	// What the scan holds waits in the spool, as a round's messages do:
	// their receipt handles, not their bodies.
	t := r.newTable(0)
	t.light = true
	stop := func() {}
	defer func() { stop() }()
	res, err = queue.Scan(ctx, r.cfg.API, r.dlq.URL, queue.ScanOptions{Depth: depth, Receivers: r.scanReceivers(), Raw: !r.parse(),
		Visibility: r.cfg.Visibility, KeepMatched: true, KeepAlive: func(n int) error { return r.journalHold(ctx, n) }, Holder: t,
		Handover: func(renewed time.Time) { stop = t.keepHidden(ctx, renewed.Add(r.cfg.Visibility/3)) }},
		func(m *queue.Message) bool {
			if st, ok := r.ledger.state(m.MessageID); ok && st&(stMissing|stSent) != 0 {
				return true
			}
			return !limited && r.matches(m)
		})
	r.hiddenByLostReceive(ctx, res.HiddenUntil)
	if err != nil {
		stop()
		if res.Held > 0 { // only giving back the others failed
			_ = t.giveBack(ctx, t.sorted())
		}
		return res, 0, err
	}
	r.mem.adjust()
	found := t.sorted()
	if redeleted, err = r.deleteAgain(ctx, t, found); err != nil {
		stop()
		_ = t.giveBack(ctx, found)
		return res, redeleted, err
	}
	back := r.sortFound(t, found, lk)
	stop()
	return res, redeleted, t.giveBack(ctx, back)
}

// deleteAgain deletes the messages this run sent that are still in the
// DLQ: SQS reported their delete done, but it did not take (SQS accepts
// a stale receipt handle without deleting, after a hold lapsed). The
// destination has them: they are deleted now, with the handle just
// received.
func (r *runner) deleteAgain(ctx context.Context, t *table, found []int32) (int, error) {
	var again []int32
	for _, i := range found {
		if st, _ := r.ledger.state(t.id(i)); st&stSent != 0 {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return 0, nil
	}
	ids := t.ids(again)
	hs, err := t.handles(again)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		r.ledger.update(id, 0, stDone)
	}
	if err := r.deleteFromDLQ(ctx, ids, hs, func(k int) { r.ledger.update(ids[k], stDone, 0); t.set(stDone, again[k]) }, false); err != nil {
		return len(again), err
	}
	r.warn("%d message(s) sent by this run were still in the DLQ at the final check (a delete that did not take): deleted now", len(again))
	return len(again), nil
}

// sortFound counts the messages of the selection the final check found,
// by why they are still there, and returns those to give back: all but
// the deleted.
func (r *runner) sortFound(t *table, found []int32, lk *lookResult) (back []int32) {
	left := &lk.left
	for _, i := range found {
		id, rw := t.id(i), t.row(i)
		st, taken := r.ledger.state(id)
		r.ledger.update(id, 0, stMissing)
		if st&stDone != 0 {
			continue
		}
		back = append(back, i)
		if st&stFailed != 0 {
			left.Failed++
			continue
		}
		left.NotReached++
		r.mu.Lock()
		_, stopped := r.stopped[r.groups.str(rw.group)]
		r.mu.Unlock()
		k := r.keys.str(rw.key) // the order key (--order key) of a matching message not taken
		switch {
		case taken || stopped || rw.kind&kReturned != 0:
		case k != "" && r.keys.marked(k, keyStopped):
			lk.blockedLate++ // behind a failed message of its key, from a later round
		case k != "" && r.keys.marked(k, keySent):
			// Older than a message of its key this run already sent:
			// sending it now would reverse them; the user decides.
		case time.UnixMilli(rw.sent).Before(r.started):
			lk.missed++
		}
	}
	return back
}
