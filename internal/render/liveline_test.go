package render

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// The live line: a terminal redraws it in place and a clear erases it;
// off a terminal each status is said once, and again only after a clear
// (the command waits for something else), and progress not at all.
func TestLiveLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tty  bool
		want string
	}{
		{tty: true, want: "\r\x1b[Kwaiting 3s\r\x1b[Kwaiting 2s\r\x1b[K\r\x1b[Kchecking\r\x1b[K\r\x1b[K[██░░] 1 of 2\r\x1b[K"},
		{tty: false, want: "waiting 3s\nchecking\n"},
	} {
		var b strings.Builder
		l := NewLiveLine(&b, tt.tty, 0)
		for _, s := range []string{"waiting 3s", "waiting 2s", "", "checking"} {
			l.Status(s)
		}
		l.Clear()
		l.Clear() // a second clear writes nothing
		l.Progress(ProgressBar(1, 2, 4) + " 1 of 2")
		l.Clear()
		if b.String() != tt.want {
			t.Errorf("tty=%v: %q, want %q", tt.tty, b.String(), tt.want)
		}
	}
}

// Aside takes the line off while something prints, then draws it again
// as it stands now; Finish draws the last count, clears, and nothing
// draws the line after it.
func TestLiveLineAsideAndFinish(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	l := NewLiveLine(&b, true, 0)
	l.Progress("1")
	err := l.Aside(func() error { _, _ = io.WriteString(&b, "row\n"); return errors.New("x") }, func() string { return "2" })
	if err == nil {
		t.Error("Aside lost write's error")
	}
	l.Finish("3", time.Second)
	l.Progress("4")
	if want := "\r\x1b[K1\r\x1b[Krow\n\r\x1b[K2\r\x1b[K3\r\x1b[K"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

// A line held by a write to a stalled terminal does not hold up Finish
// past its wait.
func TestLiveLineFinishDoesNotWaitForAStalledTerminal(t *testing.T) {
	t.Parallel()
	stalled := make(chan struct{})
	defer close(stalled)
	l := NewLiveLine(blockingWriter{stalled}, true, 0)
	go l.Progress("stuck")
	for l.mu.TryLock() { // until the write holds the line
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { l.Finish("last", 10*time.Millisecond); close(done) }()
	<-done // the test's own deadline is the guard: Finish returns
}

type blockingWriter struct{ c chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) { <-w.c; return len(p), nil }
