package replay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// counters are shared by the workers of every round.
type counters struct {
	sent, deleted, failed, uncertain atomic.Int64
	mu                               sync.Mutex
	failures                         []Failure
	unmarked                         []string
}

func newCounters() *counters { return &counters{} }

// unmarkedMessage records a message replayed without the marker.
func (c *counters) unmarkedMessage(id string) {
	c.mu.Lock()
	c.unmarked = append(c.unmarked, id)
	c.mu.Unlock()
}

// round is one round of a run: the messages its scan took, hidden in the
// DLQ (renewals keep them hidden) until they are sent and deleted or
// given back.
type round struct {
	r *runner
	t *table
	// order is the rows to move, by sent time (and messages held back
	// whose give-back failed: given back with the rest).
	order   []int32
	routes  []route
	scanned int
	// cut: the round's scan stopped at the window or at SQS's in-flight
	// limit, so the DLQ may hold more: another round follows.
	cut      bool
	cutWhy   string
	stopBeat func()
	// streamed: the round sent while it scanned; what is left to do is
	// give back what was not moved.
	streamed bool
}

// fail reports row i's message as failed (once).
func (h *round) fail(i int32, why string) {
	if !h.t.setOnce(i, stFailed) {
		return
	}
	c := h.r.c
	c.failed.Add(1)
	c.mu.Lock()
	c.failures = append(c.failures, Failure{MessageID: h.t.id(i), Error: why})
	c.mu.Unlock()
}

// prepare scans the DLQ, holds the messages of the run's selection (up to
// what is left of Limit and one window), routes them and keeps their hold
// renewed. Messages that are not selected are given back by the scan.
func (r *runner) prepare(ctx context.Context) (*round, error) {
	cfg := r.cfg
	dlq, err := queue.Attributes(ctx, cfg.API, r.dlq.URL)
	if err != nil {
		return nil, err
	}
	// The plan's counts are from now, after any wait for earlier holds.
	r.dlq.Visible, r.dlq.InFlight, r.dlq.Delayed = dlq.Visible, dlq.InFlight, dlq.Delayed
	limit, window, done := r.roundSize()
	if done {
		return &round{r: r, t: r.newTable(0)}, nil
	}
	if r.started.IsZero() {
		r.started = cfg.Now()
	}
	// The hold is journaled before the first receive, so a run killed
	// mid-scan still tells the next one how long to wait.
	if err := r.journalHold(ctx, -1); err != nil {
		return nil, err
	}
	h, res, err := r.scanRound(ctx, dlq.Visible, limit)
	if err != nil {
		return nil, err
	}
	h.cut = res.OverLimit || window > 0 && res.Held >= window
	if h.cut {
		r.noteCut(h, res, max(window, limit), dlq.Visible)
	}
	h.order = h.t.sorted()
	r.mem.adjust()
	if err := h.route(ctx); err != nil {
		return nil, err
	}
	if !h.streamed { // a streaming round counted them as they came
		r.mu.Lock()
		r.matched += len(h.order)
		r.mu.Unlock()
	}
	return h, nil
}

// roundSize is how many messages the next round may take: what is left of
// Limit, at most a window. window is set when the window is what bounds
// it (the DLQ may hold more: rounds follow); done when Limit is reached.
func (r *runner) roundSize() (limit, window int, done bool) {
	if r.cfg.Limit > 0 {
		limit = r.cfg.Limit - r.taken()
		if limit <= 0 {
			return 0, 0, true
		}
	}
	w := r.cfg.Window
	if w <= 0 {
		w = DefaultWindow
	}
	if limit <= 0 || w < limit {
		return w, w, false
	}
	return limit, 0, false
}

// scanRound scans for the round: a table holds what the scan takes (a
// streaming round sends it as it comes), and renewals take the holds over
// from the scan. On an error nothing is held any more.
func (r *runner) scanRound(ctx context.Context, visible int64, limit int) (*round, queue.ScanResult, error) {
	cfg := r.cfg
	t := r.newTable(int(min(int64(limit), visible+visible/8+16)))
	h := &round{r: r, t: t}
	opts := queue.ScanOptions{
		Depth: visible, MaxScan: cfg.MaxScan, Limit: limit, KeepMatched: true, Visibility: cfg.Visibility, Raw: !r.parse(),
		Receivers: r.scanReceivers(), KeepAlive: func(n int) error { return r.journalHold(ctx, n) }, Holder: t,
		// The round renews its holds from the end of the scan's renewals:
		// through the give-back of what it did not take, the plan, the
		// prompt and the sends.
		Handover: func(renewed time.Time) { h.stopBeat = t.keepHidden(ctx, renewed.Add(cfg.Visibility/3)) },
	}
	var st *streamer
	if r.streaming() {
		st = h.stream(ctx)
		opts.Drain = st.finish
		h.streamed = true
	}
	res, err := queue.Scan(ctx, cfg.API, r.dlq.URL, opts, r.takes)
	r.hiddenByLostReceive(ctx, res.HiddenUntil)
	h.scanned = res.Scanned
	r.mu.Lock()
	r.scanned += res.Scanned
	r.mu.Unlock()
	if st != nil {
		err = h.endStream(ctx, st, res, err)
		if err != nil {
			h.stopHeartbeat()
			return nil, res, err
		}
	}
	if err != nil {
		// The scan gives everything back on failure, except when only its
		// give-back failed: then the matched messages are still held.
		h.stopHeartbeat()
		if res.Held > 0 {
			_ = h.giveBack(ctx, t.sorted())
		}
		return nil, res, err
	}
	return h, res, nil
}

// noteCut says why the round was cut (the window, or SQS's in-flight
// limit): in the plan of the first round, as a warning of a later one.
func (r *runner) noteCut(h *round, res queue.ScanResult, window int, visible int64) {
	why := fmt.Sprintf("more matching messages than one round holds (%d)", window)
	if res.OverLimit {
		why = fmt.Sprintf("SQS's in-flight limit for %s was reached at %d held message(s)", r.dlq.Name, res.Held)
	}
	h.cutWhy = fmt.Sprintf("%s: the DLQ (~%d visible) is replayed in rounds, this plan shows the first", why, visible)
	if r.cfg.Order != OrderNone || r.dlq.FIFO {
		h.cutWhy += ", and order applies within each round"
	}
	r.mu.Lock()
	first := r.scanned == res.Scanned // the plan says a round was cut; later rounds warn
	r.mu.Unlock()
	if !first && !r.cutSeen {
		r.warn("%s", h.cutWhy)
	}
	r.cutSeen = true
}

// route holds back what --dedup original must not send yet (given back),
// and routes the rest; a message that cannot be routed gives the whole
// round back and ends the run.
func (h *round) route(ctx context.Context) error {
	r := h.r
	var back []int32
	h.order, back = h.holdBack(h.order)
	routes, unroutable, err := r.router.split(ctx, h)
	if err == nil && unroutable > 0 {
		err = r.router.unroutableError(unroutable)
	}
	if err != nil {
		h.stopHeartbeat()
		if relErr := h.giveBack(ctx, h.t.sorted()); relErr != nil {
			return fmt.Errorf("%w (and giving messages back: %w)", err, relErr)
		}
		return err
	}
	if err := h.giveBack(ctx, back); err != nil {
		h.order = append(h.order, back...) // still held: given back with the rest
	}
	h.routes = routes
	return nil
}

// giveBackAll gives every held message back to the DLQ (visibility 0): a dry
// run, or a replay the user declined.
func (h *round) giveBackAll(ctx context.Context) error {
	h.stopHeartbeat()
	return h.giveBack(ctx, h.order)
}
