package replay

import (
	"testing"
	"time"
)

// Adaptive concurrency with a clock the test moves: the limit grows while
// each window is faster than the last, halves on congestion, and a fixed
// limit never moves.
func TestInFlightGrowsWhileFasterAndHalvesOnCongestion(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	f := newInFlight(0, func() time.Time { return now })
	window := func(perBatch time.Duration) {
		limit, _, _ := f.state()
		for range max(4, 2*limit) {
			tok := f.acquire()
			now = now.Add(perBatch)
			f.release(tok, 10, false)
		}
	}
	if l, _, _ := f.state(); l != startInFlight {
		t.Fatalf("starts at %d, want %d", l, startInFlight)
	}
	prev := startInFlight
	for i, d := range []time.Duration{10, 8, 6, 4} {
		window(d * time.Millisecond)
		l, _, rate := f.state()
		if l <= prev {
			t.Fatalf("window %d (%v a batch, %.0f msg/s): limit %d, want more than %d", i, d, rate, l, prev)
		}
		prev = l
	}
	window(4 * time.Millisecond) // no faster: probe one up
	if l, _, _ := f.state(); l != prev+1 {
		t.Fatalf("limit %d after a window no faster, want %d", l, prev+1)
	}
	prev++
	// Throttling seen by every batch in flight halves the limit once.
	var toks []int
	for range prev {
		toks = append(toks, f.acquire())
	}
	for _, tok := range toks {
		f.release(tok, 0, true)
	}
	if l, _, _ := f.state(); l != prev/2 {
		t.Fatalf("limit %d after congestion, want %d", l, prev/2)
	}
	for range 100 {
		window(time.Microsecond)
	}
	if l, _, _ := f.state(); l > maxInFlight {
		t.Fatalf("limit %d past the cap %d", l, maxInFlight)
	}

	fixed := newInFlight(3, func() time.Time { return now })
	for range 50 {
		tok := fixed.acquire()
		now = now.Add(time.Millisecond)
		fixed.release(tok, 10, true)
	}
	if l, _, _ := fixed.state(); l != 3 {
		t.Fatalf("fixed limit moved to %d", l)
	}
}
