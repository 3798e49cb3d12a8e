package queue

import "time"

// SetShortPause sets the pause after an empty short poll until the
// returned function restores it. Not for parallel tests: every scan of
// the package uses it.
func SetShortPause(d time.Duration) (restore func()) {
	old := shortPause
	shortPause = d
	return func() { shortPause = old }
}
