// Package backoff is the one way dlq waits between attempts that the SDK
// does not retry itself: a jittered exponential delay, and a sleep that
// ends early when its context does.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before attempt+1 (attempt counts from 1): 200 ms
// doubling, capped at 5 s, with full jitter on its upper half.
func Delay(attempt int) time.Duration {
	d := min(200*time.Millisecond<<max(attempt-1, 0), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
