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
	// Location says where the journal is, for the report.
	Location() string
	Close() error
}

// FileJournal is a journal in an append-only JSON-lines file, fsynced
// after every batch.
type FileJournal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

type journalLine struct {
	ID    string `json:"id"`
	State string `json:"state"`
	At    string `json:"at"`
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
	return &FileJournal{path: path, f: f}, nil
}

// DefaultJournalPath is $XDG_STATE_HOME/dlq/replay-<dlq>-to-<dest>.jsonl
// (~/.local/state when XDG_STATE_HOME is unset).
func DefaultJournalPath(env func(string) (string, bool), dlqName, destName string) string {
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
	return filepath.Join(dir, "dlq", fmt.Sprintf("replay-%s-to-%s.jsonl", dlqName, destName))
}

// Lookup reads the journal and returns the states of ids.
func (j *FileJournal) Lookup(_ context.Context, ids []string) (map[string]string, error) {
	all, err := j.Load()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		if st, ok := all[id]; ok {
			out[id] = st
		}
	}
	return out, nil
}

// Load reads every line; a torn last line (a crash mid-write) is ignored.
func (j *FileJournal) Load() (map[string]string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer func() { _ = f.Close() }()
	states := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l journalLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" {
			continue
		}
		if rank(l.State) >= rank(states[l.ID]) {
			states[l.ID] = l.State
		}
	}
	return states, sc.Err()
}

func rank(state string) int {
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

// Record appends and syncs.
func (j *FileJournal) Record(_ context.Context, ids []string, state string) error {
	if len(ids) == 0 {
		return nil
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	var buf []byte
	for _, id := range ids {
		b, _ := json.Marshal(journalLine{ID: id, State: state, At: at})
		buf = append(append(buf, b...), '\n')
	}
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

// Close closes the file.
func (j *FileJournal) Close() error { return j.f.Close() }
