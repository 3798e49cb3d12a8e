package journal

import (
	"context"
	"maps"
	"time"
)

// Canary is a canary step as the journal keeps it: enough for a run
// killed while it sent or watched the canary to resume into that watch,
// without picking (and sending) a second canary.
type Canary struct {
	Run   string    `json:"run"`
	Start time.Time `json:"start"`
	// WaitSeconds is the watch's length from Start, and Why why.
	WaitSeconds float64 `json:"waitSeconds"`
	Why         string  `json:"why"`
	// Picked are the DLQ message IDs of the canary; Originals the IDs the
	// replay markers of those already sent carry (a returned message is
	// known by them).
	Picked    []string `json:"picked"`
	Originals []string `json:"originals,omitempty"`
	// Traces are the trace IDs of the messages sent, by DLQ message ID:
	// their logs tell whether each was consumed.
	Traces map[string]string `json:"traces,omitempty"`
	// Sources are the queues the canary goes to, with each one's depth
	// just before it (Before, by URL), and DLQFrom the DLQ's.
	Sources []string         `json:"sources,omitempty"`
	Before  map[string]int64 `json:"before,omitempty"`
	DLQFrom int64            `json:"dlqFrom"`
}

// Wait is the watch's length.
func (c Canary) Wait() time.Duration { return time.Duration(c.WaitSeconds * float64(time.Second)) }

// canaryLine is one canary line: its start (Start set), the originals of
// a batch it sent, or its verdict (Verdict set: it ended).
type canaryLine struct {
	Canary
	Verdict string `json:"verdict,omitempty"`
}

// StartCanary records, before its first send, the canary c.
func (j *File) StartCanary(_ context.Context, c Canary) error {
	return j.append(journalLine{Canary: &canaryLine{Canary: c}, At: now()})
}

// CanarySent records the originals and traces of a batch the canary run
// sent.
func (j *File) CanarySent(_ context.Context, run string, originals []string, traces map[string]string) error {
	if len(originals) == 0 && len(traces) == 0 {
		return nil
	}
	return j.append(journalLine{Canary: &canaryLine{Canary: Canary{Run: run, Originals: originals, Traces: traces}}, At: now()})
}

// EndCanary records the canary's verdict: it is never resumed again.
func (j *File) EndCanary(_ context.Context, run, verdict string) error {
	return j.append(journalLine{Canary: &canaryLine{Canary: Canary{Run: run}, Verdict: verdict}, At: now()})
}

// OpenCanary returns the last canary that was started and never given a
// verdict (nil: none), with the originals of every batch it sent.
func (j *File) OpenCanary(context.Context) (*Canary, error) {
	_ = j.flush()
	var open *Canary
	hs := holdSet{holds: map[string]Hold{}, listed: map[string]bool{}, canary: func(l *canaryLine) {
		switch {
		case l.Verdict != "":
			if open != nil && open.Run == l.Run {
				open = nil
			}
		case !l.Start.IsZero():
			c := l.Canary
			open = &c
		case open != nil && open.Run == l.Run:
			open.Originals = append(open.Originals, l.Originals...)
			if len(l.Traces) > 0 && open.Traces == nil {
				open.Traces = map[string]string{}
			}
			maps.Copy(open.Traces, l.Traces)
		}
	}}
	none := func(string, State) {}
	for _, p := range j.legacy {
		if err := readFile(p, none, &hs); err != nil {
			return nil, err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := readFile(j.path, none, &hs); err != nil {
		return nil, err
	}
	return open, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
