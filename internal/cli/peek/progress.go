package peek

import (
	"fmt"
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

// progressLine is the progress of a scan on the terminal's live line:
// how many messages it has seen of the queue's approximate depth, and how
// many matched. It is drawn only on a terminal (off one, the summary says
// it all once) and cleared when the scan ends.
type progressLine struct {
	line *render.LiveLine
	now  func() time.Time
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
	drawn            time.Time   // the drawer's last draw (the drawer's own)
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
	l.drawn = l.now()
	l.line.Progress(l.text())
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
			if now := l.now(); !l.ended.Load() && now.Sub(l.drawn) >= redrawEvery {
				l.drawn = now
				l.line.Progress(l.text())
			}
		}
	}()
}

// aside takes the line off the terminal while write prints there, then
// draws it again under what was printed.
func (l *progressLine) aside(write func() error) error {
	return l.line.Aside(write, func() string {
		if l.ended.Load() {
			return ""
		}
		return l.text()
	})
}

// clear takes the line off the terminal for good, after drawing the last
// count (whether or not the drawer was scheduled since the last update).
// A drawer stuck on a stalled terminal holds the line: after half a second
// the command goes on without clearing it rather than wait.
func (l *progressLine) clear() {
	l.ended.Store(true)
	if l.stop != nil {
		l.stopOnce.Do(func() { close(l.stop) })
	}
	l.line.Finish(l.text(), 500*time.Millisecond)
}

func (l *progressLine) text() string {
	scanned, matched := int(l.scanned.Load()), int(l.matched.Load())
	if l.total <= 0 {
		return fmt.Sprintf("scanned %d, %d matched", scanned, matched)
	}
	return fmt.Sprintf("%s scanned %d of ~%d, %d matched", render.ProgressBar(scanned, l.total, progressBarWidth), scanned, l.total, matched)
}
