// Package journal records a replay's progress, so that a replay that
// crashed or was interrupted resumes without resending what the
// destination already has, and waits for the messages an interrupted run
// still holds: the Journal interface, its states, and the journal in a
// JSON-lines file the CLI uses (the replay Lambda keeps one in DynamoDB).
package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// State is how far a message has gone; states only move forward.
type State uint8

// States, in the order a message goes through them.
const (
	None    State = iota // never recorded
	Sending              // about to be sent: a crash here may send it twice
	Sent                 // the destination has it: never send it again
	Deleted              // gone from the DLQ: done
)

// names are the states as the file writes them.
var names = [...]string{None: "", Sending: "sending", Sent: "sent", Deleted: "deleted"}

func (s State) String() string {
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState reads a state as the file writes it; None when unknown.
func ParseState(s string) State {
	for st, name := range names {
		if name == s {
			return State(st)
		}
	}
	return None
}

// Journal records each message's progress by its original message ID, so
// a replay that crashed or was interrupted resumes without resending what
// the destination already has.
type Journal interface {
	// Lookup returns the last recorded state of the given messages
	// (absent: never recorded).
	Lookup(ctx context.Context, ids []string) (map[string]State, error)
	// Record stores states for messages, durably, before it returns.
	Record(ctx context.Context, ids []string, state State) error
	// Hold records, before the hold is taken or renewed, that run keeps n
	// messages of the DLQ hidden until until (n < 0: not known yet).
	Hold(ctx context.Context, run string, n int, until time.Time) error
	// Released records that run holds nothing any more: it gave back or
	// moved every message it held.
	Released(ctx context.Context, run string) error
	// Holds lists the last hold of every run that did not record Released.
	Holds(ctx context.Context) ([]Hold, error)
	// Location says where the journal is, for the report.
	Location() string
	Close() error
}

// Hold is how long a run keeps messages hidden in the DLQ.
type Hold struct {
	Run      string
	Messages int // < 0: not known
	Until    time.Time
}

// File is a journal in an append-only JSON-lines file: every
// append is fsynced before it returns, appends made at the same time
// sharing one fsync.
type File struct {
	path   string
	legacy []string   // read, never written (OpenFile)
	mu     sync.Mutex // the file, for reads and appends
	f      *os.File

	// Group commit: appends that arrive while one is being written and
	// synced wait, and the next write takes all of them with one fsync.
	// Each append returns only once its lines are on disk.
	gmu     sync.Mutex
	gcond   *sync.Cond
	pending []byte
	queued  uint64 // appends queued so far
	synced  uint64 // appends on disk (or failed: err says so)
	writing bool
	err     error // the first failed write: every later append fails too

	// index is every message's furthest state (its rank), read from the
	// file at the first Lookup and kept up to date by Record: a replay
	// that sends while it scans looks up every batch, and must not read
	// the whole journal each time. A run is the journal's only writer
	// (two replays of one DLQ at once are not supported).
	imu   sync.Mutex
	index *stateIndex
}

// stateIndex is the furthest state of each message by ID: 17 bytes and a
// map entry for a UUID.
type stateIndex struct {
	uuids map[[16]byte]State
	texts map[string]State
}

func (x *stateIndex) raise(id string, st State) {
	if b, ok := queue.UUIDBytes(id); ok {
		x.uuids[b] = max(x.uuids[b], st)
		return
	}
	x.texts[id] = max(x.texts[id], st)
}

func (x *stateIndex) state(id string) State {
	if b, ok := queue.UUIDBytes(id); ok {
		return x.uuids[b]
	}
	return x.texts[id]
}

// journalLine is the state of a batch's messages (ids, state; older
// journals have a line a message: id, state) or a run's hold
// (run, held, until) or its end (run, released).
type journalLine struct {
	IDs      []string `json:"ids,omitempty"`
	ID       string   `json:"id,omitempty"`
	State    string   `json:"state,omitempty"`
	Run      string   `json:"run,omitempty"`
	Held     *int     `json:"held,omitempty"`
	Until    string   `json:"until,omitempty"`
	Released bool     `json:"released,omitempty"`
	// Finished: the run ended with a report (it was not killed).
	Finished bool `json:"finished,omitempty"`
	// Canary is a canary step's line (canary.go).
	Canary *canaryLine `json:"canary,omitempty"`
	At     string      `json:"at"`
}

// OpenFile opens (or creates) the journal at path. The journals at
// legacy paths (a DLQ's journal before journals were keyed by its ARN)
// are read as if they were part of it, and never written: a run upgraded
// mid-incident still waits for an older run's holds, and does not resend
// what it sent.
func OpenFile(path string, legacy ...string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &File{path: path, f: f}
	for _, p := range legacy {
		if p != path {
			j.legacy = append(j.legacy, p)
		}
	}
	j.gcond = sync.NewCond(&j.gmu)
	return j, nil
}

// DefaultPath is the journal of the DLQ with that ARN:
// $XDG_STATE_HOME/dlq/replay-REGION-ACCOUNT-NAME.jsonl (~/.local/state
// when XDG_STATE_HOME is unset). One journal per DLQ, since a message's
// ID is unique to it, whatever its destination; keyed by the ARN, so that
// same-named DLQs of two accounts or regions never share hold records.
// An ARN that does not parse keys it by the whole string.
func DefaultPath(env func(string) (string, bool), dlqARN string) string {
	key := dlqARN
	// arn:PARTITION:sqs:REGION:ACCOUNT:NAME
	if f := strings.Split(dlqARN, ":"); len(f) == 6 && f[0] == "arn" {
		key = f[3] + "-" + f[4] + "-" + f[5]
	}
	return filepath.Join(stateDir(env), "dlq", "replay-"+strings.NewReplacer("/", "_", ":", "_").Replace(key)+".jsonl")
}

// LegacyPath is where a DLQ's journal was kept before journals were keyed
// by ARN: $XDG_STATE_HOME/dlq/replay-NAME.jsonl.
func LegacyPath(env func(string) (string, bool), dlqName string) string {
	return filepath.Join(stateDir(env), "dlq", fmt.Sprintf("replay-%s.jsonl", dlqName))
}

// stateDir is $XDG_STATE_HOME, else ~/.local/state.
func stateDir(env func(string) (string, bool)) string {
	if dir, ok := env("XDG_STATE_HOME"); ok && dir != "" {
		return dir
	}
	if home, ok := env("HOME"); ok && home != "" {
		return filepath.Join(home, ".local", "state")
	}
	// No home at all (a bare container): never a path relative to
	// wherever the command happens to run.
	return filepath.Join(os.TempDir(), "dlq-state")
}

// Lookup returns the states of ids. The first call reads the journal
// (every run's history of the DLQ) into an index, 17 bytes and a map
// entry a message; later calls, and Record, use and update it.
func (j *File) Lookup(_ context.Context, ids []string) (map[string]State, error) {
	j.imu.Lock()
	defer j.imu.Unlock()
	if j.index == nil {
		x := &stateIndex{uuids: map[[16]byte]State{}, texts: map[string]State{}}
		if _, err := j.read(func(id string, st State) { x.raise(id, st) }); err != nil {
			return nil, err
		}
		j.index = x
	}
	states := map[string]State{}
	for _, id := range ids {
		if st := j.index.state(id); st > None {
			states[id] = st
		}
	}
	return states, nil
}

// Load returns the furthest state of every message in the journal.
func (j *File) Load() (map[string]State, error) {
	states := map[string]State{}
	_, err := j.read(func(id string, st State) { states[id] = max(states[id], st) })
	return states, err
}

// Holds lists the last hold of every run that did not record Released.
func (j *File) Holds(context.Context) ([]Hold, error) {
	return j.read(func(string, State) {})
}

// read reads every line of the legacy journals, then of this one,
// giving each message state to each (in the order written), and returns
// the holds of the runs that did not release theirs; a torn last line (a
// crash mid-write) is ignored.
func (j *File) read(each func(id string, st State)) ([]Hold, error) {
	hs := holdSet{holds: map[string]Hold{}, listed: map[string]bool{}}
	if err := j.readAll(each, &hs); err != nil {
		return nil, err
	}
	var out []Hold
	for _, run := range hs.runs {
		if h, ok := hs.holds[run]; ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// readAll reads the legacy journals, then this one, into each and hs,
// after writing what appendLater queued (a failed write fails the run's
// appends, not this read).
func (j *File) readAll(each func(id string, st State), hs *holdSet) error {
	_ = j.flush()
	for _, p := range j.legacy {
		if err := readFile(p, each, hs); err != nil {
			return err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return readFile(j.path, each, hs)
}

// holdSet is the last hold of each run read so far, in the order the
// runs first held.
type holdSet struct {
	holds  map[string]Hold
	runs   []string
	listed map[string]bool // a run holds again after a release when the final check adds a round
	// finished, when set, is told of each run that ended with a report.
	finished func()
	// canary, when set, is given each canary line.
	canary func(*canaryLine)
}

// readFile reads the journal at path (none: nothing) into each and hs.
func readFile(path string, each func(id string, st State), hs *holdSet) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l journalLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.ID != "" {
			l.IDs = append(l.IDs, l.ID)
		}
		switch {
		case l.Canary != nil:
			if hs.canary != nil {
				hs.canary(l.Canary)
			}
		case len(l.IDs) > 0:
			st := ParseState(l.State)
			for _, id := range l.IDs {
				each(id, st)
			}
		case l.Run != "" && l.Finished:
			if hs.finished != nil {
				hs.finished()
			}
		case l.Run != "" && l.Released:
			delete(hs.holds, l.Run)
		case l.Run != "" && l.Held != nil:
			until, err := time.Parse(time.RFC3339Nano, l.Until)
			if err != nil {
				continue
			}
			if !hs.listed[l.Run] {
				hs.listed[l.Run] = true
				hs.runs = append(hs.runs, l.Run)
			}
			hs.holds[l.Run] = Hold{Run: l.Run, Messages: *l.Held, Until: until}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read journal %s: %w", path, err)
	}
	return nil
}

// Record appends one line for the batch. "sending" and "sent" are on disk
// before it returns: the send and the delete that follow rely on them.
// "deleted" is written with the next line that is, or at Close: a message
// gone from the DLQ is never looked up again, so a crash that loses the
// line changes nothing (and the run saves a third of its fsyncs).
func (j *File) Record(_ context.Context, ids []string, state State) error {
	if len(ids) == 0 {
		return nil
	}
	line := journalLine{IDs: ids, State: state.String(), At: time.Now().UTC().Format(time.RFC3339Nano)}
	var err error
	if state == Deleted {
		err = j.appendLater(line)
	} else {
		err = j.append(line)
	}
	if err != nil {
		return err
	}
	j.imu.Lock()
	defer j.imu.Unlock()
	if j.index != nil { // else the first Lookup reads this line from the file
		for _, id := range ids {
			j.index.raise(id, state)
		}
	}
	return nil
}

// Hold appends the run's hold.
func (j *File) Hold(_ context.Context, run string, n int, until time.Time) error {
	return j.append(journalLine{Run: run, Held: &n, Until: until.UTC().Format(time.RFC3339Nano), At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// Finished appends that the run ended with a report: what it sent in
// doubt is counted there.
func (j *File) Finished(_ context.Context, run string) error {
	return j.append(journalLine{Run: run, Finished: true, At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// InDoubt counts, per message, the sends journaled since the last run that
// ended with a report (the runs since were killed, and reported nothing)
// whose outcome was never journaled: each may have reached the
// destination. A message resent after each of two kills inside its sends
// counts 2.
func (j *File) InDoubt(context.Context) (map[string]int, error) {
	counts := map[string]int{}
	hs := holdSet{holds: map[string]Hold{}, listed: map[string]bool{}, finished: func() { clear(counts) }}
	each := func(id string, st State) {
		switch st {
		case Sending:
			counts[id]++
		case Sent:
			if counts[id] > 0 {
				counts[id]--
			}
		}
	}
	if err := j.readAll(each, &hs); err != nil {
		return nil, err
	}
	for id, n := range counts {
		if n == 0 {
			delete(counts, id)
		}
	}
	return counts, nil
}

// Released appends the run's end.
func (j *File) Released(_ context.Context, run string) error {
	return j.append(journalLine{Run: run, Released: true, At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// appendLater queues a line for the next write, without waiting for it.
func (j *File) appendLater(l journalLine) error {
	b, _ := json.Marshal(l)
	j.gmu.Lock()
	defer j.gmu.Unlock()
	j.pending = append(append(j.pending, b...), '\n')
	return j.err
}

// flush writes and syncs the lines appendLater queued, if any.
func (j *File) flush() error {
	j.gmu.Lock()
	empty := len(j.pending) == 0
	j.gmu.Unlock()
	if empty {
		return nil
	}
	return j.append()
}

func (j *File) append(lines ...journalLine) error {
	var buf []byte
	for _, l := range lines {
		b, _ := json.Marshal(l)
		buf = append(append(buf, b...), '\n')
	}
	j.gmu.Lock()
	defer j.gmu.Unlock()
	j.pending = append(j.pending, buf...)
	j.queued++
	mine := j.queued
	for j.synced < mine && j.err == nil {
		if j.writing {
			j.gcond.Wait()
			continue
		}
		// This append leads: it writes what is pending, its own lines and
		// those of every append that queued behind the last write.
		j.writing = true
		batch, upto := j.pending, j.queued
		j.pending = nil
		j.gmu.Unlock()
		err := j.write(batch)
		j.gmu.Lock()
		j.writing = false
		if err != nil && j.err == nil {
			j.err = err
		}
		j.synced = upto
		j.gcond.Broadcast()
	}
	return j.err
}

// write appends buf to the file and syncs it.
func (j *File) write(buf []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

// Location is the file's path.
func (j *File) Location() string { return j.path }

// Close writes what is queued and closes the file.
func (j *File) Close() error { return errors.Join(j.flush(), j.f.Close()) }
