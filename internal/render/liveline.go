package render

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// LiveLine is the one stderr line a terminal redraws in place while a
// command runs: what it waits for, or its progress. Off a terminal a
// status is printed once (until it changes to "" ) and progress not at
// all: a countdown would be a line a second.
type LiveLine struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int // cells the line may take; 0: as long as it is
	on    bool
	said  bool // off a terminal: this status was printed
	done  bool // finished: nothing draws it again
}

// NewLiveLine is a live line on w, a terminal or not, width cells wide.
func NewLiveLine(w io.Writer, tty bool, width int) *LiveLine {
	return &LiveLine{w: w, tty: tty, width: width}
}

// Status shows what the command waits for; "" takes it off.
func (l *LiveLine) Status(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s == "":
		l.clearLocked()
		l.said = false
	case l.tty:
		l.drawLocked(s)
	case !l.said:
		_, _ = fmt.Fprintln(l.w, s)
		l.said = true
	}
}

// Progress shows s on a terminal; off one, nothing.
func (l *LiveLine) Progress(s string) {
	if !l.tty {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drawLocked(s)
}

// Clear takes the line off the terminal.
func (l *LiveLine) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
}

// Finish draws last (when the line is on) and takes the line off for
// good, unless a write holds the line for longer than wait: a stalled
// terminal (Ctrl-S, a slow link) must not hold up the command, which then
// goes on without clearing it.
func (l *LiveLine) Finish(last string, wait time.Duration) {
	for deadline := time.Now().Add(wait); ; time.Sleep(2 * time.Millisecond) {
		if l.mu.TryLock() {
			if l.on && last != "" {
				l.drawLocked(last)
			}
			l.clearLocked()
			l.done = true
			l.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			return
		}
	}
}

// Aside takes the line off the terminal while write prints there, then
// draws it again under what was printed, as redraw says now ("": not).
func (l *LiveLine) Aside(write func() error, redraw func() string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	on := l.on
	l.clearLocked()
	err := write()
	if s := redraw(); on && s != "" {
		l.drawLocked(s)
	}
	return err
}

func (l *LiveLine) drawLocked(s string) {
	if l.done {
		return
	}
	if l.width > 0 {
		s = TruncateLine(s, max(l.width-1, 1))
	}
	_, _ = io.WriteString(l.w, "\r\x1b[K"+s)
	l.on = true
}

func (l *LiveLine) clearLocked() {
	if l.on {
		_, _ = io.WriteString(l.w, "\r\x1b[K")
		l.on = false
	}
}

// ProgressBar is done of total as a bar width cells wide: [████░░░░].
func ProgressBar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = min(width*done/total, width)
	}
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", width-filled) + "]"
}
