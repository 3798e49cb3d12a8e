package replay

import (
	"sync"
	"time"
)

// Bounds of adaptive concurrency: it starts at startInFlight batches and
// never goes past maxInFlight batches (640 messages) in flight.
// fixedParallel is the parallelism of deletes and FIFO groups without
// --concurrency.
const (
	fixedParallel = 8
	startInFlight = 16
	maxInFlight   = 64
)

// inFlight bounds the batches in flight. Fixed, it is a semaphore. Adaptive
// (no --concurrency), it raises its limit while throughput grows and
// halves it when SQS throttles or a call fails: additive increase,
// multiplicative decrease, measured over windows of completed batches.
type inFlight struct {
	mu    sync.Mutex
	cond  *sync.Cond
	n     int
	limit float64
	fixed bool
	now   func() time.Time

	gen           int // bumped at each cut: batches acquired before it do not cut again
	windowStart   time.Time
	windowMsgs    int
	windowBatches int
	lastRate      float64 // msg/s of the last window
	current       float64 // msg/s of the last window, for the progress bar
}

func newInFlight(fixed int, now func() time.Time) *inFlight {
	f := &inFlight{limit: startInFlight, now: now}
	if fixed > 0 {
		f.limit, f.fixed = float64(fixed), true
	}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// acquire waits for room for one more batch; the token goes back to
// release.
func (f *inFlight) acquire() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.n >= max(1, int(f.limit)) {
		f.cond.Wait()
	}
	if f.windowStart.IsZero() {
		f.windowStart = f.now()
	}
	f.n++
	return f.gen
}

// release returns a batch's room: msgs it moved, and whether SQS pushed
// back (throttling, or a failed call). Pushback halves the limit once: the
// batches already in flight when it was cut do not cut it again.
func (f *inFlight) release(token, msgs int, congested bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	defer f.cond.Broadcast()
	if f.fixed {
		f.measure(msgs)
		return
	}
	if congested {
		if token == f.gen {
			f.limit = max(1, f.limit/2)
			f.gen++
			f.lastRate = 0 // the next window sets a new baseline
			f.reset()
		}
		return
	}
	if !f.measure(msgs) {
		return
	}
	switch {
	case f.lastRate == 0 || f.current > f.lastRate*1.05:
		f.limit = min(maxInFlight, f.limit+max(1, f.limit/4))
	case f.current >= f.lastRate*0.95:
		f.limit = min(maxInFlight, f.limit+1) // no slower: probe upward
	case f.current < f.lastRate*0.8:
		f.limit = max(1, f.limit-1)
	}
	f.lastRate = f.current
}

// measure adds a batch to the window; at its end (twice the limit in
// batches, at least four) it sets current and starts a new window.
func (f *inFlight) measure(msgs int) bool {
	f.windowMsgs += msgs
	f.windowBatches++
	if f.windowBatches < max(4, 2*int(f.limit)) {
		return false
	}
	if d := f.now().Sub(f.windowStart); d > 0 {
		f.current = float64(f.windowMsgs) / d.Seconds()
	}
	f.reset()
	return true
}

func (f *inFlight) reset() {
	f.windowStart, f.windowMsgs, f.windowBatches = f.now(), 0, 0
}

// state is the current limit, the batches in flight and the last
// window's rate.
func (f *inFlight) state() (limit, n int, rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int(f.limit), f.n, f.current
}

// parallel is the fixed parallelism of deletes and FIFO groups.
func (r *runner) parallel() int {
	if r.cfg.Concurrency > 0 {
		return r.cfg.Concurrency
	}
	return fixedParallel
}

// scanReceivers is how many receives a scan keeps in flight: at AWS's
// latency a receive of ten takes a round trip, and the scan is the first
// half of a replay.
func (r *runner) scanReceivers() int {
	if r.cfg.Concurrency > 0 {
		return r.cfg.Concurrency
	}
	return 2 * startInFlight
}
