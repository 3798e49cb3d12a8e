package peek

import (
	"fmt"
	"io"
	"strings"
	"sync"
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
	total            int
	scanned, matched int
	drawn            time.Time
	on               bool
	ended            bool // cleared for good: nothing draws it again
}

// update records how far the scan got and redraws the line, at most every
// redrawEvery.
func (l *progressLine) update(scanned, matched int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Receivers report concurrently: a late report must not move the line
	// back.
	l.scanned, l.matched = max(l.scanned, scanned), max(l.matched, matched)
	if l.ended {
		return
	}
	if now := l.now(); !l.on || now.Sub(l.drawn) >= redrawEvery {
		l.drawn = now
		l.drawLocked()
	}
}

// draw shows the line as it stands: at the start, before the first batch.
func (l *progressLine) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drawn = l.now()
	l.drawLocked()
}

// aside takes the line off the terminal while write prints there, then
// draws it again under what was printed.
func (l *progressLine) aside(write func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	on := l.on
	l.clearLocked()
	err := write()
	if on && !l.ended {
		l.drawLocked()
	}
	return err
}

// clear takes the line off the terminal for good.
func (l *progressLine) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
	l.ended = true
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
	if l.total <= 0 {
		return fmt.Sprintf("scanned %d, %d matched", l.scanned, l.matched)
	}
	filled := min(progressBarWidth*l.scanned/l.total, progressBarWidth)
	return fmt.Sprintf("[%s%s] scanned %d of ~%d, %d matched", strings.Repeat("█", filled), strings.Repeat("░", progressBarWidth-filled),
		l.scanned, l.total, l.matched)
}
