package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// Entry states in a journal, in the order a message goes through them.
const (
	StateSending = "sending" // about to be sent: a crash here may send it twice
	StateSent    = "sent"    // the destination has it: never send it again
	StateDeleted = "deleted" // gone from the DLQ: done
)

// Journal records each message's progress by its original message ID, so
// a replay that crashed or was interrupted resumes without resending what
// the destination already has.
type Journal interface {
	// Lookup returns the last recorded state of the given messages
	// (absent: never recorded).
	Lookup(ctx context.Context, ids []string) (map[string]string, error)
	// Record stores states for messages, durably, before it returns.
	Record(ctx context.Context, ids []string, state string) error
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

// FileJournal is a journal in an append-only JSON-lines file: every
// append is fsynced before it returns, appends made at the same time
// sharing one fsync.
type FileJournal struct {
	path string
	mu   sync.Mutex // the file, for reads and appends
	f    *os.File

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
	uuids map[[16]byte]uint8
	texts map[string]uint8
}

func (x *stateIndex) raise(id string, rank uint8) {
	if b, ok := queue.UUIDBytes(id); ok {
		x.uuids[b] = max(x.uuids[b], rank)
		return
	}
	x.texts[id] = max(x.texts[id], rank)
}

func (x *stateIndex) rank(id string) uint8 {
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
	At       string   `json:"at"`
}

// OpenFileJournal opens (or creates) the journal at path.
func OpenFileJournal(path string) (*FileJournal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &FileJournal{path: path, f: f}
	j.gcond = sync.NewCond(&j.gmu)
	return j, nil
}

// DefaultJournalPath is $XDG_STATE_HOME/dlq/replay-<dlq>.jsonl
// (~/.local/state when XDG_STATE_HOME is unset): one journal per DLQ,
// since a message's ID is unique to it, whatever its destination.
func DefaultJournalPath(env func(string) (string, bool), dlqName string) string {
	dir, ok := env("XDG_STATE_HOME")
	if !ok || dir == "" {
		if home, ok := env("HOME"); ok && home != "" {
			dir = filepath.Join(home, ".local", "state")
		} else {
			// No home at all (a bare container): never a path relative to
			// wherever the command happens to run.
			dir = filepath.Join(os.TempDir(), "dlq-state")
		}
	}
	return filepath.Join(dir, "dlq", fmt.Sprintf("replay-%s.jsonl", dlqName))
}

// Lookup returns the states of ids. The first call reads the journal
// (every run's history of the DLQ) into an index, 17 bytes and a map
// entry a message; later calls, and Record, use and update it.
func (j *FileJournal) Lookup(_ context.Context, ids []string) (map[string]string, error) {
	j.imu.Lock()
	defer j.imu.Unlock()
	if j.index == nil {
		x := &stateIndex{uuids: map[[16]byte]uint8{}, texts: map[string]uint8{}}
		if _, err := j.read(func(id, state string) { x.raise(id, rank(state)) }); err != nil {
			return nil, err
		}
		j.index = x
	}
	states := map[string]string{}
	for _, id := range ids {
		if r := j.index.rank(id); r > 0 {
			states[id] = states3[r]
		}
	}
	return states, nil
}

// states3 are the states by rank.
var states3 = [...]string{1: StateSending, 2: StateSent, 3: StateDeleted}

// Load returns the last state of every message in the journal.
func (j *FileJournal) Load() (map[string]string, error) {
	states := map[string]string{}
	_, err := j.read(func(id, state string) {
		if rank(state) >= rank(states[id]) {
			states[id] = state
		}
	})
	return states, err
}

// Holds lists the last hold of every run that did not record Released.
func (j *FileJournal) Holds(context.Context) ([]Hold, error) {
	return j.read(func(string, string) {})
}

// read reads every line, giving each message state to each (in the
// order written), and returns the holds of the runs that did not
// release theirs; a torn last line (a crash mid-write) is ignored.
func (j *FileJournal) read(each func(id, state string)) ([]Hold, error) {
	_ = j.flush() // a failed write fails the run's appends, not this read
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer func() { _ = f.Close() }()
	holds := map[string]Hold{}
	var runs []string
	listed := map[string]bool{} // a run holds again after a release when the final check adds a round
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
		case len(l.IDs) > 0:
			for _, id := range l.IDs {
				each(id, l.State)
			}
		case l.Run != "" && l.Released:
			delete(holds, l.Run)
		case l.Run != "" && l.Held != nil:
			until, err := time.Parse(time.RFC3339Nano, l.Until)
			if err != nil {
				continue
			}
			if !listed[l.Run] {
				listed[l.Run] = true
				runs = append(runs, l.Run)
			}
			holds[l.Run] = Hold{Run: l.Run, Messages: *l.Held, Until: until}
		}
	}
	var out []Hold
	for _, run := range runs {
		if h, ok := holds[run]; ok {
			out = append(out, h)
		}
	}
	return out, sc.Err()
}

func rank(state string) uint8 {
	switch state {
	case StateSending:
		return 1
	case StateSent:
		return 2
	case StateDeleted:
		return 3
	}
	return 0
}

// Record appends one line for the batch. "sending" and "sent" are on disk
// before it returns: the send and the delete that follow rely on them.
// "deleted" is written with the next line that is, or at Close: a message
// gone from the DLQ is never looked up again, so a crash that loses the
// line changes nothing (and the run saves a third of its fsyncs).
func (j *FileJournal) Record(_ context.Context, ids []string, state string) error {
	if len(ids) == 0 {
		return nil
	}
	line := journalLine{IDs: ids, State: state, At: time.Now().UTC().Format(time.RFC3339Nano)}
	var err error
	if state == StateDeleted {
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
			j.index.raise(id, rank(state))
		}
	}
	return nil
}

// Hold appends the run's hold.
func (j *FileJournal) Hold(_ context.Context, run string, n int, until time.Time) error {
	return j.append(journalLine{Run: run, Held: &n, Until: until.UTC().Format(time.RFC3339Nano), At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// Released appends the run's end.
func (j *FileJournal) Released(_ context.Context, run string) error {
	return j.append(journalLine{Run: run, Released: true, At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// appendLater queues a line for the next write, without waiting for it.
func (j *FileJournal) appendLater(l journalLine) error {
	b, _ := json.Marshal(l)
	j.gmu.Lock()
	defer j.gmu.Unlock()
	j.pending = append(append(j.pending, b...), '\n')
	return j.err
}

// flush writes and syncs the lines appendLater queued, if any.
func (j *FileJournal) flush() error {
	j.gmu.Lock()
	empty := len(j.pending) == 0
	j.gmu.Unlock()
	if empty {
		return nil
	}
	return j.append()
}

func (j *FileJournal) append(lines ...journalLine) error {
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
func (j *FileJournal) write(buf []byte) error {
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
func (j *FileJournal) Location() string { return j.path }

// Close writes what is queued and closes the file.
func (j *FileJournal) Close() error { return errors.Join(j.flush(), j.f.Close()) }
