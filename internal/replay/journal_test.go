package replay

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaultJournalPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/dlq/replay-d.jsonl"},
		{map[string]string{"HOME": "/h"}, "/h/.local/state/dlq/replay-d.jsonl"},
		{map[string]string{}, filepath.Join(os.TempDir(), "dlq-state", "dlq", "replay-d.jsonl")},
	} {
		if got := DefaultJournalPath(env(tc.env), "d"); got != tc.want || !filepath.IsAbs(got) {
			t.Errorf("DefaultJournalPath(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// A run that released its hold and holds again (a round the final check
// added) is listed once, with its last hold.
func TestJournalHoldAfterReleaseIsListedOnce(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	ctx := context.Background()
	until := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	_ = j.Hold(ctx, "a", 5, until)
	_ = j.Released(ctx, "a")
	_ = j.Hold(ctx, "a", 2, until.Add(time.Minute))
	holds, err := j.Holds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].Messages != 2 || !holds[0].Until.Equal(until.Add(time.Minute)) {
		t.Fatalf("holds = %+v, want one hold of 2 messages", holds)
	}
}

// Appends from many goroutines share fsyncs and each returns only once its
// lines are in the file: every record is there, none torn or lost.
func TestJournalConcurrentAppendsAllLand(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	ctx := context.Background()
	const writers, each = 32, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("m-%d-%d", w, i)
				if err := j.Record(ctx, []string{id}, StateSending); err != nil {
					t.Error(err)
					return
				}
				// Once Record returned, a fresh reader sees the line.
				if i%10 == 0 {
					if st, err := j.Lookup(ctx, []string{id}); err != nil || st[id] != StateSending {
						t.Errorf("%s: %v %v right after Record returned", id, st, err)
						return
					}
				}
				if err := j.Record(ctx, []string{id}, StateSent); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	states, err := j.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != writers*each {
		t.Fatalf("%d messages in the journal, want %d", len(states), writers*each)
	}
	for id, st := range states {
		if st != StateSent {
			t.Fatalf("%s is %s, want sent", id, st)
		}
	}
}

// A write that fails fails its append and every later one.
func TestJournalFailedWriteFailsTheAppend(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	_ = j.f.Close() // the disk goes away
	ctx := context.Background()
	if err := j.Record(ctx, []string{"a"}, StateSending); err == nil {
		t.Fatal("Record on a closed file succeeded")
	}
	if err := j.Hold(ctx, "run", 1, time.Now()); err == nil {
		t.Fatal("a later append succeeded after a failed write")
	}
}

// openJournal is a fresh journal in a temporary directory, closed when the
// test ends.
func openJournal(t *testing.T) *FileJournal {
	t.Helper()
	j, err := OpenFileJournal(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// A batch is one line, and a journal written a line a message (older dlq)
// reads the same: the furthest state of each message wins.
func TestJournalBatchLinesAndOlderLines(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	ctx := context.Background()
	old := `{"id":"a","state":"sending","at":"2026-11-01T00:00:00Z"}` + "\n" + `{"id":"a","state":"sent","at":"2026-11-01T00:00:00Z"}` + "\n"
	if err := os.WriteFile(j.path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(ctx, []string{"a", "b", "c"}, StateSending); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(ctx, []string{"c"}, StateDeleted); err != nil {
		t.Fatal(err)
	}
	if err := j.flush(); err != nil { // "deleted" is written with the next synced line
		t.Fatal(err)
	}
	b, _ := os.ReadFile(j.path)
	if n := strings.Count(string(b), "\n"); n != 4 {
		t.Fatalf("%d lines, want 4 (two older, one a batch):\n%s", n, b)
	}
	got, err := j.Lookup(ctx, []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": StateSent, "b": StateSending, "c": StateDeleted}
	if !maps.Equal(got, want) {
		t.Fatalf("Lookup = %v, want %v", got, want)
	}
}

// Lookup reads the file once; what Record appends after that is seen
// without reading it again, and a state never goes back (deleted stays
// deleted when a later run journals sending again).
func TestJournalLookupKeepsUpWithRecord(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	ctx := context.Background()
	a, b := "2ae037ee-39c5-4b7a-9e0a-7f1f1c1d2e3f", "m-text"
	if err := j.Record(ctx, []string{a}, StateDeleted); err != nil {
		t.Fatal(err)
	}
	if got, err := j.Lookup(ctx, []string{a, b}); err != nil || !maps.Equal(got, map[string]string{a: StateDeleted}) {
		t.Fatalf("first Lookup = %v, %v", got, err)
	}
	if err := os.Truncate(j.path, 0); err != nil { // the file is not read again
		t.Fatal(err)
	}
	for _, st := range []string{StateSending, StateSent} {
		if err := j.Record(ctx, []string{a, b}, st); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := j.Lookup(ctx, []string{a, b}); err != nil || !maps.Equal(got, map[string]string{a: StateDeleted, b: StateSent}) {
		t.Fatalf("Lookup after Record = %v, %v", got, err)
	}
}

// "sending" and "sent" are on disk when Record returns; "deleted" waits
// for the next synced line or Close (a crash loses at most that line, of
// a message no longer in the DLQ), and Lookup knows it at once.
func TestJournalDeletedIsWrittenLater(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	ctx := context.Background()
	for _, st := range []string{StateSending, StateSent, StateDeleted} {
		if err := j.Record(ctx, []string{"a"}, st); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(j.path) // what a crash now would leave
	if !strings.Contains(string(b), `"sent"`) || strings.Contains(string(b), `"deleted"`) {
		t.Fatalf("on disk after Record: %s; want sending and sent, not yet deleted", b)
	}
	if got, err := j.Lookup(ctx, []string{"a"}); err != nil || got["a"] != StateDeleted {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(j.path); !strings.Contains(string(b), `"deleted"`) {
		t.Fatalf("after Close: %s; want the deleted line", b)
	}
}
