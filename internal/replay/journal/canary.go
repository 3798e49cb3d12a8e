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
	// Selection names what the canary was picked from (the selection and
	// its destination): another selection does not resume it.
	Selection string `json:"selection,omitempty"`
	// WaitSeconds is the watch's length from the last send, and Why why.
	WaitSeconds float64 `json:"waitSeconds"`
	Why         string  `json:"why"`
	// Picked are the DLQ message IDs of the canary.
	Picked []string `json:"picked"`
	// Sources are the queues the canary goes to, with each one's depth
	// just before it (Before, by URL), and DLQFrom the DLQ's.
	Sources []string         `json:"sources,omitempty"`
	Before  map[string]int64 `json:"before,omitempty"`
	DLQFrom int64            `json:"dlqFrom"`
	// What its batches sent, merged (CanaryBatch).
	CanaryBatch
}

// CanaryBatch is what one batch of the canary sent.
type CanaryBatch struct {
	// Sent are the DLQ message IDs the destination has.
	Sent []string `json:"sent,omitempty"`
	// Known are the IDs a returned message may carry: the message IDs the
	// sends returned, and the original IDs in their replay markers.
	Known []string `json:"known,omitempty"`
	// Traces are the sent messages' trace IDs, by DLQ message ID: their
	// logs tell whether each was consumed.
	Traces map[string]string `json:"traces,omitempty"`
	// At is when it was sent (merged: the last batch's).
	At time.Time `json:"at,omitzero"`
}

func (b *CanaryBatch) merge(o CanaryBatch) {
	b.Sent = append(b.Sent, o.Sent...)
	b.Known = append(b.Known, o.Known...)
	if len(o.Traces) > 0 && b.Traces == nil {
		b.Traces = map[string]string{}
	}
	maps.Copy(b.Traces, o.Traces)
	if o.At.After(b.At) {
		b.At = o.At
	}
}

// Wait is the watch's length.
func (c Canary) Wait() time.Duration { return time.Duration(c.WaitSeconds * float64(time.Second)) }

// canaryLine is one canary line: its start (Start set), a batch it sent,
// or its verdict (Verdict set: it ended).
type canaryLine struct {
	Canary
	Verdict string `json:"verdict,omitempty"`
}

// StartCanary records, before its first send, the canary c.
func (j *File) StartCanary(_ context.Context, c Canary) error {
	return j.append(journalLine{Canary: &canaryLine{Canary: c}, At: now()})
}

// CanarySent records a batch the canary run sent.
func (j *File) CanarySent(_ context.Context, run string, b CanaryBatch) error {
	return j.append(journalLine{Canary: &canaryLine{Canary: Canary{Run: run, CanaryBatch: b}}, At: now()})
}

// EndCanary records the canary's verdict: it is never resumed again.
func (j *File) EndCanary(_ context.Context, run, verdict string) error {
	return j.append(journalLine{Canary: &canaryLine{Canary: Canary{Run: run}, Verdict: verdict}, At: now()})
}

// OpenCanary returns the last canary that was started and never given a
// verdict (nil: none), with what every batch of it sent.
func (j *File) OpenCanary(context.Context) (*Canary, error) {
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
			open.merge(l.CanaryBatch)
		}
	}}
	if err := j.readAll(func(string, State) {}, &hs); err != nil {
		return nil, err
	}
	return open, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
