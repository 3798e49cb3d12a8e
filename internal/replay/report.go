package replay

import (
	"fmt"
	"strings"
	"time"
)

// Progress is a snapshot for a progress bar.
type Progress struct {
	Total, Sent, Deleted, Failed int
	Elapsed                      time.Duration
	// Rate is the last window's msg/s; InFlight the batches in flight.
	Rate     float64
	InFlight int
	// Scanning: a streaming round still scans, so Total grows.
	Scanning bool
}

// Failure is a message left in the DLQ, and why.
type Failure struct {
	MessageID string `json:"messageId"`
	Error     string `json:"error"`
}

// Left counts the messages of the run's selection still in the DLQ when
// the run looked again at the end, by why they are there.
type Left struct {
	// Failed: this run tried and could not move them (see failures).
	Failed int `json:"failed"`
	// HeldByEarlierRun: hidden by an interrupted run whose hold has not
	// expired (--no-wait); the next run moves them.
	HeldByEarlierRun int `json:"heldByEarlierRun"`
	// NotReached: matching messages this run did not attempt (stopped,
	// interrupted, held back, or arrived after the scan).
	NotReached int `json:"notReached"`
	// Unchecked: messages in flight or delayed in the DLQ, or FIFO
	// messages behind others, that could not be looked at.
	Unchecked int `json:"unchecked"`
}

// Total is every message counted.
func (l Left) Total() int { return l.Failed + l.HeldByEarlierRun + l.NotReached + l.Unchecked }

// Report is the outcome; its JSON is the documented contract.
type Report struct {
	DLQ         string `json:"dlq"`
	Destination string `json:"destination"`
	DryRun      bool   `json:"dryRun"`
	Order       Order  `json:"order"`
	// Streamed: messages were sent while the DLQ was scanned (Stream):
	// the plan describes what the run took, not what it confirmed.
	Streamed bool `json:"streamed,omitempty"`
	Scanned  int  `json:"scanned"`
	Matched  int  `json:"matched"`
	Sent     int  `json:"sent"`
	Deleted  int  `json:"deleted"`
	Failed   int  `json:"failed"`
	Skipped  int  `json:"skipped"`
	// Uncertain counts sends whose outcome was unknown (the answer was
	// lost) and that were sent again: each may be in the destination twice.
	Uncertain int `json:"uncertain"`
	// Remaining counts matched messages this run did not attempt.
	Remaining int `json:"remaining"`
	// Verified is true when the DLQ was read again at the end and holds no
	// message of the run's selection.
	Verified  bool      `json:"verified"`
	LeftInDLQ int       `json:"leftInDlq"`
	Left      Left      `json:"left"`
	NextStep  string    `json:"nextStep,omitempty"`
	HeldBack  []string  `json:"heldBack,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	Failures  []Failure `json:"failures"`
	Unmarked  []string  `json:"unmarked,omitempty"`
	// Stopped is why the run stopped early: interrupted, deadline,
	// max-hold or storm; nextStep says it in words.
	Stopped Stop `json:"stopped,omitempty"`
	// Canary is what the canary step saw (--canary), absent without one.
	Canary  *CanaryReport `json:"canary,omitempty"`
	Journal string        `json:"journal"`
	Plan    *Plan         `json:"plan,omitempty"`

	DurationSeconds float64 `json:"durationSeconds"`
}

// LeftBehind reports whether the run cannot say that every message of its
// selection left the DLQ.
func (r Report) LeftBehind() bool { return !r.DryRun && !r.Verified }

// Plan describes what a replay will do (and what a dry run would).
type Plan struct {
	Messages int         `json:"messages"`
	Bytes    int64       `json:"bytes"`
	Groups   int         `json:"groups"`
	Keys     int         `json:"keys,omitempty"`    // --order key: distinct keys
	Unkeyed  int         `json:"unkeyed,omitempty"` // --order key: messages without a key
	Oldest   string      `json:"oldest,omitempty"`
	Newest   string      `json:"newest,omitempty"`
	Routes   []RoutePlan `json:"routes"`
	Samples  []string    `json:"samples"`
	Warnings []string    `json:"warnings"`
}

// RoutePlan is how many held messages go to one destination, and how
// their source was known.
type RoutePlan struct {
	Destination string `json:"destination"`
	// Kind is the destination's service: sqs, lambda, sns, eventbridge,
	// stepfunctions, or none (refused: the messages stay, Why says why).
	Kind     string `json:"kind"`
	ARN      string `json:"arn,omitempty"`
	Why      string `json:"why,omitempty"`
	Messages int    `json:"messages"`
	// Via: "sourceArn" (the message's DeadLetterQueueSourceArn), "source"
	// (the DLQ's single source), "to" (as given), "eventbridge" (the
	// rule target of RULE_ARN and TARGET_ARN), "sns" (the subscription of
	// the notification's topic), "lambda" (the function whose DLQ it is),
	// "lambda-on-failure" (the record's function) or "writer" (the one
	// target, subscription or function that writes to the DLQ).
	Via string `json:"via"`
}

// report fills the report from the run's counters, and, given what the
// final check left (nil: the run ended before it), whether it verified
// and the next step: the one place the report is assembled.
func (r *runner) report(rep Report, start time.Time, left *Left) Report {
	c := r.c
	r.mu.Lock()
	rep.Scanned, rep.Matched, rep.Skipped = r.scanned, r.matched, r.skipped
	rep.Stopped = r.reason
	rep.Warnings = append([]string(nil), r.warnings...)
	for id := range r.heldBack {
		rep.HeldBack = append(rep.HeldBack, id)
	}
	blocked, stopped := r.blocked+r.blockedLate, r.reasonDetail
	r.mu.Unlock()
	rep.Sent, rep.Deleted, rep.Failed, rep.Uncertain = int(c.sent.Load()), int(c.deleted.Load()), int(c.failed.Load()), int(c.uncertain.Load())
	c.mu.Lock()
	rep.Failures = append([]Failure{}, c.failures...)
	rep.Unmarked = append([]string(nil), c.unmarked...)
	c.mu.Unlock()
	rep.Remaining = max(rep.Matched-rep.Deleted-rep.Failed, 0) // Deleted counts the skipped
	if left != nil {
		rep.Left, rep.LeftInDLQ, rep.Verified = *left, left.Total(), left.Total() == 0
		rep.NextStep = nextStep(rep, stopped, blocked)
	}
	rep.DurationSeconds = r.cfg.Now().Sub(start).Seconds()
	return rep
}

// nextStep is the one line that tells the user what to do.
func nextStep(r Report, stopped string, blocked int) string {
	var parts []string
	if r.Left.HeldByEarlierRun > 0 {
		parts = append(parts, fmt.Sprintf("%d message(s) are held by an interrupted run: run again and let it wait for them", r.Left.HeldByEarlierRun))
	}
	if r.Left.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d message(s) failed: fix what the failures say, then run again", r.Left.Failed))
	}
	if r.Left.NotReached > 0 {
		why := "run the same command again"
		if stopped != "" {
			why += " (stopped: " + stopped + ")"
		}
		if len(r.HeldBack) > 0 {
			why += fmt.Sprintf("; %d held back (dedup original) until %s after their first send", len(r.HeldBack), DedupWindow)
		}
		if blocked > 0 {
			why = fmt.Sprintf("%d of them wait behind a failed message of the same key or FIFO group: fix that one first, then %s", blocked, why)
		}
		parts = append(parts, fmt.Sprintf("%d matching message(s) were not reached: %s", r.Left.NotReached, why))
	}
	if r.Left.NotReached == 0 && stopped != "" && r.Stopped != StopInterrupted {
		parts = append(parts, "stopped: "+stopped)
	}
	if r.Left.Unchecked > 0 {
		parts = append(parts, fmt.Sprintf("%d message(s) in the DLQ could not be checked (in flight, delayed, or behind others in a FIFO group): run again to finish and verify", r.Left.Unchecked))
	}
	return strings.Join(parts, "; ")
}
