package replay

import (
	"encoding/json"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// takes is the run's selection (takeable). A FIFO message it passes
// over may be ahead of messages it takes in their group: the final check
// then cannot count on the run's own being the first of their groups.
func (r *runner) takes(m *queue.Message) bool {
	ok := r.takeable(m)
	if !ok && m.GroupID != "" {
		r.passedOver.Store(true)
	}
	return ok
}

// takeable is the run's selection: the filter, the route (--to without
// --force takes only messages from that source), and nothing this run
// already failed or whose FIFO group stopped.
func (r *runner) takeable(m *queue.Message) bool {
	if st, ok := r.ledger.state(m.MessageID); ok && st&stFailed != 0 {
		return false
	}
	if m.GroupID != "" {
		r.mu.Lock()
		_, stopped := r.stopped[m.GroupID]
		r.mu.Unlock()
		if stopped {
			return false
		}
	}
	if !r.matches(m) {
		return false
	}
	// A message this run replayed that failed again and came back (a
	// later round, or a round that sends while it scans, can see it) is
	// not taken again: a replay storm is reported, never fed.
	if r.returned(m) || r.mayHaveReturned(m) {
		return false
	}
	// A round the final check added moves what was there before the run,
	// not what arrived during it (a message that failed again, a late
	// arrival): those are reported, for the user to decide.
	if r.sweeping && !m.SentAt.Before(r.started) {
		return false
	}
	// A key stopped at a failed message in an earlier round: nothing of
	// that key overtakes it. In a round the final check added, a key this
	// run already sent a message of is left alone: the message found late
	// is older than that one.
	if r.cfg.Order == OrderKey {
		if k := r.keyFor(m); k != "" {
			marks := keyStopped
			if r.sweeping {
				marks |= keySent
			}
			if r.keys.marked(k, marks) {
				return false
			}
		}
	}
	return true
}

// mayHaveReturned reports whether m is a Lambda or EventBridge failure
// first sent after the run started: an invocation or an event carries no
// marker, so one this run sent that failed again comes back as a new
// message, told apart by nothing. It is left for the next run.
func (r *runner) mayHaveReturned(m *queue.Message) bool {
	if r.started.IsZero() || m.SentAt.Before(r.started) || m.System[SourceARNAttribute] != "" {
		return false
	}
	switch parseOrigin(originKey(m)).kind {
	case originOnFailure, originLambdaDLQ, originEventBridge:
		return true
	}
	return false
}

// returned reports whether m was replayed by this run: its marker was
// written after the run's first receive (both times are the run's clock).
func (r *runner) returned(m *queue.Message) bool {
	a, ok := m.Attributes[MarkerAttribute]
	if !ok || r.started.IsZero() {
		return false
	}
	var mk Marker
	if json.Unmarshal([]byte(a.String), &mk) != nil {
		return false
	}
	since := r.started
	if s := r.cfg.returnedSince; !s.IsZero() && s.Before(since) {
		since = s // a canary's messages that came back late
	}
	at, err := time.Parse(timeFormat, mk.ReplayedAt)
	return err == nil && !at.Before(since.Truncate(time.Millisecond))
}

// parse reports whether the run's selection or order key reads what
// queue.Correlate fills: else its scans leave bodies unparsed.
func (r *runner) parse() bool {
	return r.cfg.Order == OrderKey || r.cfg.Filter != nil && r.cfg.Filter.NeedsBody()
}

// keyFor is a message's entity key for OrderKey ("" : independent),
// while its body is parsed (the scan drops it after the Holder took it).
func (r *runner) keyFor(m *queue.Message) string {
	if r.cfg.OrderKey != nil {
		k, _ := r.cfg.OrderKey.Value(m)
		return k
	}
	return fieldKey(m)
}

// fieldKey is the default entity key: the envelope's orderId, else its
// traceId, else the message group.
func fieldKey(m *queue.Message) string {
	switch {
	case m.OrderID != "":
		return "orderId=" + m.OrderID
	case m.TraceID != "":
		return "traceId=" + m.TraceID
	case m.GroupID != "":
		return "group=" + m.GroupID
	}
	return ""
}

// matches is the selection without this run's own history: what the
// final check looks for.
func (r *runner) matches(m *queue.Message) bool {
	if r.cfg.Filter != nil && !r.cfg.Filter.Match(m) {
		return false
	}
	return r.router.selects(m)
}

// holdBack takes out, with --dedup original on a FIFO destination,
// messages first sent less than DedupWindow ago: SQS would accept them and
// silently drop them as duplicates of their first send.
func (h *round) holdBack(rows []int32) (keep, back []int32) {
	r := h.r
	if r.cfg.Dedup != DedupOriginal || !r.dlq.FIFO {
		return rows, nil
	}
	now := r.cfg.Now()
	for _, i := range rows {
		// A minute beyond the window: SentTimestamp is SQS's clock, now ours.
		if rw := h.t.row(i); rw.kind&kDedup != 0 && now.Sub(time.UnixMilli(rw.sent)) < DedupWindow+time.Minute {
			back = append(back, i)
			r.mu.Lock()
			r.heldBack[h.t.id(i)] = true // still the run's: the final check looks for it
			r.mu.Unlock()
			r.passedOver.Store(true) // ahead of later messages of its group the run sends
			continue
		}
		keep = append(keep, i)
	}
	return keep, back
}
