package replay

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The soft limit follows the live heap while a phase runs, not only
// between phases: a filtered scan or large bodies in flight must not hold
// the collector at its limit until the phase ends.
func TestMemoryLimitRisesWithTheLiveHeapDuringAPhase(t *testing.T) { // not parallel: the limit is the process's
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		t.Skip("GOMEMLIMIT is set: runs leave the limit alone")
	}
	m := limitMemory()
	defer m.restore()
	if !m.set {
		t.Fatal("no soft limit set although GOMEMLIMIT is unset and none was set")
	}
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = 1
	}
	runtime.GC()
	// Event-driven: the watcher raises the limit on its next look.
	for deadline := time.Now().Add(30 * time.Second); debug.SetMemoryLimit(-1) < 64<<20; {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d MiB with 64 MiB live: not raised while the phase runs", debug.SetMemoryLimit(-1)>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(live)
	m.restore()
	if got := debug.SetMemoryLimit(-1); got != m.prev {
		t.Errorf("limit after restore %d, want the one the run found (%d)", got, m.prev)
	}
}
