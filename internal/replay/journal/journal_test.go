package journal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaultPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	const arn = "arn:aws:sqs:eu-west-1:123456789012:d"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/dlq/replay-eu-west-1-123456789012-d.jsonl"},
		{map[string]string{"HOME": "/h"}, "/h/.local/state/dlq/replay-eu-west-1-123456789012-d.jsonl"},
		{map[string]string{}, filepath.Join(os.TempDir(), "dlq-state", "dlq", "replay-eu-west-1-123456789012-d.jsonl")},
	} {
		if got := DefaultPath(env(tc.env), arn); got != tc.want || !filepath.IsAbs(got) {
			t.Errorf("DefaultPath(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
	e := env(map[string]string{"XDG_STATE_HOME": "/s"})
	if got := DefaultPath(e, "arn:aws:sqs:us-east-1:210987654321:d"); got == DefaultPath(e, arn) {
		t.Errorf("same-named DLQs of two accounts and regions share %s", got)
	}
	if got, want := LegacyPath(e, "d"), "/s/dlq/replay-d.jsonl"; got != want {
		t.Errorf("LegacyPath = %s, want %s", got, want)
	}
}

// A journal keyed by ARN reads the DLQ's journal from before (keyed by its
// name) as its own: what an older run sent is not sent again, and its hold
// is waited for; nothing is written to the old file.
func TestJournalReadsItsLegacyJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	old, err := OpenFile(filepath.Join(dir, "replay-d.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := errors.Join(old.Record(ctx, []string{"a", "b"}, Sending), old.Record(ctx, []string{"a"}, Sent), old.Hold(ctx, "old-run", 2, until), old.Close()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "replay-d.jsonl"))
	j, err := OpenFile(filepath.Join(dir, "replay-r-1-d.jsonl"), filepath.Join(dir, "replay-d.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	if err := j.Record(ctx, []string{"c"}, Sent); err != nil {
		t.Fatal(err)
	}
	got, err := j.Lookup(ctx, []string{"a", "b", "c", "d"})
	if want := map[string]State{"a": Sent, "b": Sending, "c": Sent}; err != nil || !maps.Equal(got, want) {
		t.Errorf("Lookup = %v, %v; want %v", got, err, want)
	}
	holds, err := j.Holds(ctx)
	if err != nil || len(holds) != 1 || holds[0].Run != "old-run" || !holds[0].Until.Equal(until) {
		t.Errorf("Holds = %+v, %v; want the older run's", holds, err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "replay-d.jsonl")); string(after) != string(before) {
		t.Error("the legacy journal was written to")
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
				if err := j.Record(ctx, []string{id}, Sending); err != nil {
					t.Error(err)
					return
				}
				// Once Record returned, a fresh reader sees the line.
				if i%10 == 0 {
					if st, err := j.Lookup(ctx, []string{id}); err != nil || st[id] != Sending {
						t.Errorf("%s: %v %v right after Record returned", id, st, err)
						return
					}
				}
				if err := j.Record(ctx, []string{id}, Sent); err != nil {
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
		if st != Sent {
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
	if err := j.Record(ctx, []string{"a"}, Sending); err == nil {
		t.Fatal("Record on a closed file succeeded")
	}
	if err := j.Hold(ctx, "run", 1, time.Now()); err == nil {
		t.Fatal("a later append succeeded after a failed write")
	}
}

// openJournal is a fresh journal in a temporary directory, closed when the
// test ends.
func openJournal(t *testing.T) *File {
	t.Helper()
	j, err := OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
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
	if err := j.Record(ctx, []string{"a", "b", "c"}, Sending); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(ctx, []string{"c"}, Deleted); err != nil {
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
	want := map[string]State{"a": Sent, "b": Sending, "c": Deleted}
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
	if err := j.Record(ctx, []string{a}, Deleted); err != nil {
		t.Fatal(err)
	}
	if got, err := j.Lookup(ctx, []string{a, b}); err != nil || !maps.Equal(got, map[string]State{a: Deleted}) {
		t.Fatalf("first Lookup = %v, %v", got, err)
	}
	if err := os.Truncate(j.path, 0); err != nil { // the file is not read again
		t.Fatal(err)
	}
	for _, st := range []State{Sending, Sent} {
		if err := j.Record(ctx, []string{a, b}, st); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := j.Lookup(ctx, []string{a, b}); err != nil || !maps.Equal(got, map[string]State{a: Deleted, b: Sent}) {
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
	for _, st := range []State{Sending, Sent, Deleted} {
		if err := j.Record(ctx, []string{"a"}, st); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(j.path) // what a crash now would leave
	if !strings.Contains(string(b), `"sent"`) || strings.Contains(string(b), `"deleted"`) {
		t.Fatalf("on disk after Record: %s; want sending and sent, not yet deleted", b)
	}
	if got, err := j.Lookup(ctx, []string{"a"}); err != nil || got["a"] != Deleted {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(j.path); !strings.Contains(string(b), `"deleted"`) {
		t.Fatalf("after Close: %s; want the deleted line", b)
	}
}

// InDoubt counts the sends with no journaled outcome since the last run
// that ended with a report: a message killed inside two of its sends
// counts 2; one sent and journaled sent counts none; what a finished run
// left is its own report's.
func TestJournalInDoubtSinceTheLastFinishedRun(t *testing.T) {
	ctx := context.Background()
	j, err := OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	rec := func(st State, ids ...string) {
		t.Helper()
		if err := j.Record(ctx, ids, st); err != nil {
			t.Fatal(err)
		}
	}
	rec(Sending, "old") // a finished run's doubt: reported by it
	if err := j.Finished(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	rec(Sending, "m1", "m2", "m3") // run 2, killed inside the send of m1 and m3
	rec(Sent, "m2")
	rec(Sending, "m1") // run 3 resends m1, killed again inside it
	got, err := j.InDoubt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"m1": 2, "m3": 1}
	if len(got) != len(want) || got["m1"] != 2 || got["m3"] != 1 {
		t.Fatalf("in doubt = %v, want %v", got, want)
	}
	if err := j.Finished(ctx, "run-4"); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.InDoubt(ctx); len(got) != 0 {
		t.Fatalf("after a finished run: %v, want none", got)
	}
}

// A canary is open from its start until its verdict; the batches it sent
// add originals and traces; a later start replaces it; a journal opened
// again (a killed run's) reads the same.
func TestJournalCanaryIsOpenUntilItsVerdict(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	if c, err := j.OpenCanary(ctx); c != nil || err != nil {
		t.Fatalf("an empty journal has canary %+v %v", c, err)
	}
	start := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	old := Canary{Run: "c1", Start: start, WaitSeconds: 90, Why: "given", Picked: []string{"m1"}}
	c := Canary{Run: "c2", Start: start.Add(time.Hour), WaitSeconds: 30, Why: "src: maxReceiveCount 2", Picked: []string{"m2", "m3"},
		Sources: []string{"arn:src"}, Before: map[string]int64{"url": 4}, DLQFrom: 9}
	at := start.Add(2 * time.Hour)
	if err := errors.Join(j.StartCanary(ctx, old), j.StartCanary(ctx, c),
		j.CanarySent(ctx, "c1", CanaryBatch{Sent: []string{"m1"}}), // the replaced canary's: not c2's
		j.CanarySent(ctx, "c2", CanaryBatch{Sent: []string{"m2"}, Known: []string{"o2"}, Traces: map[string]string{"m2": "t2"}, At: at}),
		j.CanarySent(ctx, "c2", CanaryBatch{Sent: []string{"m3"}, Known: []string{"o3"}, Traces: map[string]string{"m3": "t3"}, At: at.Add(-time.Second)})); err != nil {
		t.Fatal(err)
	}
	again, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = again.Close() }()
	got, err := again.OpenCanary(ctx)
	want := c
	want.CanaryBatch = CanaryBatch{Sent: []string{"m2", "m3"}, Known: []string{"o2", "o3"}, Traces: map[string]string{"m2": "t2", "m3": "t3"}, At: at}
	if err != nil || got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("open canary = %+v %v, want %+v", got, err, want)
	}
	if got.Wait() != 30*time.Second {
		t.Errorf("wait %s", got.Wait())
	}
	if err := j.EndCanary(ctx, "c1", "consumed"); err != nil { // not the open one
		t.Fatal(err)
	}
	if got, _ := j.OpenCanary(ctx); got == nil || got.Run != "c2" {
		t.Fatalf("another canary's verdict closed c2: %+v", got)
	}
	if err := j.EndCanary(ctx, "c2", "returned"); err != nil {
		t.Fatal(err)
	}
	if got, err := j.OpenCanary(ctx); got != nil || err != nil {
		t.Errorf("a judged canary is still open: %+v %v", got, err)
	}
	// The canary's lines are not message states.
	if st, err := j.Load(); err != nil || len(st) != 0 {
		t.Errorf("states %v %v", st, err)
	}
}
