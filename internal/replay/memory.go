package replay

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// What a run holds in memory is small (a 64-byte row for each message of
// a round, 17 bytes for each it took): at 100,000 held messages the live
// heap is about 16 MiB, 10 MiB of it the SDK's and the CLI's own. The
// collector's default headroom (as much again as live) would still take
// the process to 65 MB, so a run that the user gave no GOMEMLIMIT sets a
// soft limit.
// Near its limit the collector would run without pause, so the limit
// rises with what the run keeps (a ledger of millions of messages,
// thousands of failures): it always leaves minMemoryHeadroom above the
// live heap.
const (
	defaultMemoryLimit = 40 << 20
	minMemoryHeadroom  = 16 << 20
)

// memoryLimit is the soft limit a run set, if it set one.
type memoryLimit struct {
	mu   sync.Mutex
	set  bool
	prev int64
	stop chan struct{}
}

// watchEvery is how often a run looks at its live heap while a phase runs:
// a filtered scan keeps every other message's receipt handle, and large
// bodies in flight add more, and near the limit the collector would run
// without pause until the phase ended.
const watchEvery = 250 * time.Millisecond

// limitMemory sets defaultMemoryLimit, unless GOMEMLIMIT or the program
// set a limit.
func limitMemory() *memoryLimit {
	m := &memoryLimit{}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return m
	}
	if m.prev = debug.SetMemoryLimit(-1); m.prev != math.MaxInt64 {
		return m
	}
	m.set = true
	debug.SetMemoryLimit(defaultMemoryLimit)
	m.stop = make(chan struct{})
	go func() {
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.adjust()
			}
		}
	}()
	return m
}

// adjust raises the limit when the live heap grew close to it.
func (m *memoryLimit) adjust() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(min(s[0].Value.Uint64(), math.MaxInt64/2))
	debug.SetMemoryLimit(max(defaultMemoryLimit, live+minMemoryHeadroom))
}

// restore puts back the limit the run found.
func (m *memoryLimit) restore() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set {
		close(m.stop)
		debug.SetMemoryLimit(m.prev)
		m.set = false
	}
}
