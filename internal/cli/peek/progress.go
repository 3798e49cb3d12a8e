package peek

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqops/dlq/internal/render"
)

// redrawEvery is how often the progress line is redrawn at most: often
// enough to look alive, rarely enough that a fast scan is not slowed by
// its terminal.
const redrawEvery = 100 * time.Millisecond

// progressBarWidth is the bar's width in cells, as replay's.
const progressBarWidth = 30

// progressLine is the one stderr line a terminal redraws in place while a
// scan runs: how many messages it has seen of the queue's approximate
// depth, and how many matched. It is drawn only on a terminal (off one,
// the summary says it all once) and cleared when the scan ends. Replay
// draws its own the same way; the two belong in render.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	width int
	now   func() time.Time
	// total is what the scan expects to see: the approximate depth, or
	// --max-scan when smaller; 0 when unknown.
	total int
	// scanned and matched are stored by the scan's receivers, which never
	// wait for the terminal: a stalled terminal (Ctrl-S, a slow link) must
	// not hold a receiver, or Ctrl-C could not end the scan and release.
	// One drawer goroutine draws.
	scanned, matched atomic.Int64
	kick             chan struct{}
	stop             chan struct{}
	stopOnce         sync.Once
	drawn            time.Time
	on               bool
	ended            atomic.Bool // cleared for good: nothing draws it again
}

// update records how far the scan got; the drawer redraws the line, at
// most every redrawEvery. It never blocks.
func (l *progressLine) update(scanned, matched int) {
	// Receivers report concurrently: a late report must not move the line
	// back.
	storeMax(&l.scanned, int64(scanned))
	storeMax(&l.matched, int64(matched))
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// draw shows the line as it stands, at the start, and starts the drawer.
func (l *progressLine) draw() {
	l.kick, l.stop = make(chan struct{}, 1), make(chan struct{})
	l.mu.Lock()
	l.drawn = l.now()
	l.drawLocked()
	l.mu.Unlock()
	go func() {
		t := time.NewTicker(redrawEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-l.kick:
			case <-t.C:
			}
			l.mu.Lock()
			if now := l.now(); !l.ended.Load() && (!l.on || now.Sub(l.drawn) >= redrawEvery) {
				l.drawn = now
				l.drawLocked()
			}
			l.mu.Unlock()
		}
	}()
}

// aside takes the line off the terminal while write prints there, then
// draws it again under what was printed.
func (l *progressLine) aside(write func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	on := l.on
	l.clearLocked()
	err := write()
	if on && !l.ended.Load() {
		l.drawLocked()
	}
	return err
}

// clear takes the line off the terminal for good, after drawing the last
// count.
func (l *progressLine) clear() {
	l.ended.Store(true)
	if l.stop != nil {
		l.stopOnce.Do(func() { close(l.stop) })
	}
	// A drawer stuck on a stalled terminal holds the lock: after half a
	// second the command goes on without clearing the line rather than
	// wait for the terminal.
	for range 250 {
		if l.mu.TryLock() {
			// The last count first: where the scan ended is drawn whether
			// or not the drawer was scheduled since the last update.
			if l.on {
				l.drawLocked()
			}
			l.clearLocked()
			l.mu.Unlock()
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (l *progressLine) drawLocked() {
	_, _ = io.WriteString(l.w, "\r\x1b[K"+render.TruncateLine(l.text(), max(l.width-1, 1)))
	l.on = true
}

func (l *progressLine) clearLocked() {
	if l.on {
		_, _ = io.WriteString(l.w, "\r\x1b[K")
		l.on = false
	}
}

func (l *progressLine) text() string {
	scanned, matched := int(l.scanned.Load()), int(l.matched.Load())
	if l.total <= 0 {
		return fmt.Sprintf("scanned %d, %d matched", scanned, matched)
	}
	filled := min(progressBarWidth*scanned/l.total, progressBarWidth)
	return fmt.Sprintf("[%s%s] scanned %d of ~%d, %d matched", strings.Repeat("█", filled), strings.Repeat("░", progressBarWidth-filled),
		scanned, l.total, matched)
}
