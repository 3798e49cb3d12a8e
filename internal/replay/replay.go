// Package replay moves messages from a dead-letter queue back to where they
// came from without ever losing one: it holds the messages it will move,
// routes each to the queue it was dead-lettered from, sends them in order
// (or concurrently), in batches that respect the destination's size limit,
// at a set rate, and deletes a message from the DLQ only after its send
// succeeded and was journaled. A crashed or interrupted replay resumes from
// the journal without resending what the destination already has, and a
// run ends by looking at the DLQ again: it reports success only when no
// message of its selection is left there. The CLI (`dlq replay`) and the
// replay Lambda both call Run.
package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/replay/spool"
)

// SQSAPI is what the engine calls.
type SQSAPI interface {
	queue.SQSAPI
	queue.ReceiveAPI
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Order is how messages are sent.
type Order string

// Orders.
const (
	OrderKey  Order = "key"  // per entity key (orderId, traceId, group) in SentTimestamp order, keys in parallel
	OrderSent Order = "sent" // strictly by SentTimestamp, one batch at a time (slow)
	OrderNone Order = "none" // concurrently, no order
)

// Dedup chooses FIFO deduplication IDs.
type Dedup string

// Dedup modes.
const (
	DedupNew      Dedup = "new"      // a new ID per replay (stable across a resume)
	DedupOriginal Dedup = "original" // the message's original ID: held back within 5 minutes of its first send
)

// Service limits and defaults that shape a run.
const (
	// MaxHold is how long SQS lets a received message stay hidden, counted
	// from the receive, however often its visibility is extended.
	MaxHold = 12 * time.Hour
	// DedupWindow is how long a FIFO queue remembers a deduplication ID.
	DedupWindow = 5 * time.Minute
	// DefaultVisibility is the hold a heartbeat renews every third of it:
	// a killed run's messages are back in the DLQ within about 90 s.
	DefaultVisibility = 90 * time.Second
	// holdSlack covers the delay between recording a hold's expiry in the
	// journal and SQS applying it.
	holdSlack = 2 * time.Second
)

// timeFormat is RFC3339 with fixed milliseconds, so marker times sort as
// strings.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// ErrDeclined is returned when Confirm said no: every message was given
// back.
var ErrDeclined = errors.New("replay declined: every message is back in the DLQ")

// Config is one replay.
type Config struct {
	API SQSAPI
	// DLQ is the dead-letter queue by name, URL or ARN.
	DLQ string
	// To is the destination by name, URL or ARN; empty: each message's
	// own source (DeadLetterQueueSourceArn), else the DLQ's single source.
	To string
	// Force allows a To that is not a source of the DLQ, and sends every
	// selected message there, whatever its source.
	Force  bool
	Filter *filter.Filter
	Order  Order
	// OrderKey is the entity key of OrderKey; nil: the envelope's orderId,
	// else traceId, else the message group.
	OrderKey *filter.Path
	Dedup    Dedup
	Rate     float64 // messages per second; 0: unlimited
	// Concurrency is a fixed number of batches in flight (FIFO: groups in
	// parallel); 0: adaptive, from 16 up while throughput grows (FIFO: 8).
	Concurrency int
	Limit       int // at most this many messages, across FIFO rounds; 0: all
	MaxScan     int
	// Window is the most messages one round holds (0: DefaultWindow): a
	// larger DLQ is moved in rounds, and order applies within each.
	Window int
	DryRun bool
	// NoWait does not wait for messages an interrupted run still holds:
	// they are reported as held and the run is not verified.
	NoWait  bool
	Journal journal.Journal
	// SpoolDir is where held messages' bodies, attributes and receipt
	// handles are kept while the run holds them (a file unlinked at
	// once); "" : the system's temporary directory.
	SpoolDir string
	// StopOnReturn stops the replay when this many replayed messages
	// (marker present, replayed by this run) are back in the DLQ.
	StopOnReturn int
	// Deadline stops starting batches Margin before it (the Lambda).
	Deadline time.Time
	Margin   time.Duration
	// Visibility holds messages while the replay runs; a heartbeat renews
	// it every third of it. Default DefaultVisibility.
	Visibility time.Duration
	// Stream lets --order none on a standard DLQ send while it scans
	// (bounded memory, sends from the first receive): for callers that
	// confirm no plan (--yes, the Lambda). Confirm is then not asked, and
	// not with --stop-on-return or a dry run.
	Stream bool
	// Confirm is asked once the first plan is made, with the messages
	// held (a heartbeat keeps them hidden while it waits). false gives
	// every message back and Run returns ErrDeclined.
	Confirm func(Report) (bool, error)
	// Progress receives snapshots for a progress bar; Status one live
	// line of what the run waits for ("" clears it).
	Progress func(Progress)
	Status   func(string)
	Now      func() time.Time
	// Sleep waits d or until ctx ends; default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// LimitMemory lets the run set the process's soft memory limit
	// (runtime/debug.SetMemoryLimit) while it runs, unless GOMEMLIMIT or
	// the program set one: a limit that follows the run's live heap, so
	// the process stays near 40 MiB. It changes the whole process, so
	// only a program that is the run (the CLI, the replay Lambda) asks
	// for it.
	LimitMemory bool
}

func (c *Config) defaults() {
	if c.Visibility <= 0 {
		c.Visibility = DefaultVisibility
	}
	if c.Order == "" {
		c.Order = OrderKey
	}
	if c.Dedup == "" {
		c.Dedup = DedupNew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
	if c.Margin <= 0 {
		c.Margin = 10 * time.Second
	}
}

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
	Stopped Stop   `json:"stopped,omitempty"`
	Journal string `json:"journal"`
	Plan    *Plan  `json:"plan,omitempty"`

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
	Messages    int    `json:"messages"`
	// Via: "sourceArn" (the message's DeadLetterQueueSourceArn), "source"
	// (the DLQ's single source), or "to" (as given).
	Via string `json:"via"`
}

// runner is one Run: what every round shares.
type runner struct {
	cfg    Config
	dlq    queue.Queue
	router *router
	runID  string
	// inFlight bounds batches in flight across rounds.
	inFlight *inFlight
	// spool keeps held messages' bodies, attributes and receipt handles
	// on disk.
	spool *spool.File
	// keys (--order key), groups and sources number the strings held
	// messages share; keys are marked sent or stopped.
	keys, groups, sources strtab
	// ledger is every message this run took, and what happened to it.
	ledger  ledger
	started time.Time // the first receive: SQS's 12-hour hold counts from it
	c       *counters
	mem     *memoryLimit

	mu       sync.Mutex
	stopped  map[string]string // FIFO groups that must not go on
	heldBack map[string]bool
	reason   Stop
	// reasonDetail is reason in a sentence, for the next step.
	reasonDetail string
	earlier      journal.Hold // holds of interrupted runs not waited for
	scanned      int
	matched      int
	skipped      int
	blocked      int // messages left behind a failed message of their key or group
	warnings     []string
	warned       map[string]bool // kinds of warning given (warnOnce)
	// blockedLate: messages the final check found behind a key stopped
	// in an earlier round.
	blockedLate int
	// sweeping: the rounds the final check added take only such messages
	// (and no message of an order key this run sent a message of: it
	// would go after a newer one).
	sweeping bool
	// cutSeen: a round was cut at the window or the in-flight limit.
	cutSeen bool
	// scanning: a streaming round's scan runs (Progress.Scanning).
	scanning atomic.Bool
	// lostUntil: a receive of this run lost its answer, and the messages
	// it may have hidden stay hidden until then (wall clock).
	lostUntil time.Time
	lostWaits int // how often the final check waited for such messages
}

func (r *runner) blockedBehind(n int) {
	r.mu.Lock()
	r.blocked += n
	r.mu.Unlock()
}

// Run replays cfg.DLQ: it resolves the DLQ and the destinations, waits for
// messages an interrupted run still holds, plans, asks Confirm, moves the
// messages (in rounds on FIFO queues, which show a few messages of each
// group at a time), and looks at the DLQ again. The report says what it
// left behind and why; the error is non-nil only when the run could not go
// on (ctx's error when interrupted, after every held message was given
// back).
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	rep := Report{Order: cfg.Order, DryRun: cfg.DryRun, Failures: []Failure{}}
	if cfg.Journal != nil {
		rep.Journal = cfg.Journal.Location()
	}
	r, err := newRunner(ctx, cfg)
	if err != nil {
		return rep, err
	}
	rep.DLQ = r.dlq.Name
	defer func() { _ = r.spool.Close() }()
	if cfg.LimitMemory {
		r.mem = limitMemory()
		defer r.mem.restore()
	}
	start := cfg.Now()
	if err := r.waitForEarlierHolds(ctx); err != nil {
		return r.report(rep, start, nil), err
	}
	left, end, err := r.sweeps(ctx, &rep, start)
	switch {
	case end == endedAtPlan:
		rep = r.report(rep, start, nil)
		rep.Remaining = 0
		return rep, err
	case err == nil && ctx.Err() != nil:
		err = ctx.Err()
	}
	if err != nil {
		return r.report(rep, start, nil), err
	}
	return r.report(rep, start, &left), nil
}

// newRunner resolves the DLQ and its destinations and opens the spool.
func newRunner(ctx context.Context, cfg Config) (*runner, error) {
	dlq, err := resolveQueue(ctx, cfg.API, cfg.DLQ)
	if err != nil {
		return nil, err
	}
	if cfg.Filter != nil {
		cfg.Filter.ForQueue(dlq.Name) // once: the scan's receivers share the filter
	}
	rt, err := newRouter(ctx, cfg.API, dlq, cfg.To, cfg.Force)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, dlq: dlq, router: rt, runID: uuid.NewString(), c: newCounters(), inFlight: newInFlight(cfg.Concurrency, cfg.Now),
		stopped: map[string]string{}, heldBack: map[string]bool{}}
	if r.spool, err = spool.Open(cfg.SpoolDir); err != nil {
		return nil, err
	}
	return r, nil
}

// sweeps moves the selection in rounds and looks at the DLQ again; when
// that look finds messages that were there before the run but hidden when
// it scanned (a hold that lapsed late, or counters that lagged), it moves
// them in more rounds and looks again, at most maxSweeps times. Not with
// --order sent (an older message would follow newer ones) or --max-scan
// (what it did not scan was not hidden).
func (r *runner) sweeps(ctx context.Context, rep *Report, start time.Time) (Left, roundsEnd, error) {
	cfg := r.cfg
	for sweep := 0; ; sweep++ {
		end, err := r.rounds(ctx, rep, start)
		if end == endedAtPlan {
			return Left{}, end, err
		}
		if err != nil || ctx.Err() != nil {
			r.journalReleased(ctx, err)
			return Left{}, end, err
		}
		// The final check holds messages while it scans: the run is
		// journaled released only after it.
		left, late, err := r.verify(ctx)
		r.blockedLate = late.blockedLate
		if err != nil {
			return left, end, fmt.Errorf("verify %s: %w", r.dlq.Name, err)
		}
		limitReached := cfg.Limit > 0 && r.taken() >= cfg.Limit
		if late.missed == 0 || sweep >= maxSweeps || cfg.Order == OrderSent || cfg.MaxScan > 0 || r.halted(ctx) || limitReached {
			r.journalReleased(ctx, nil)
			return left, end, nil
		}
		r.warn("%d matching message(s) were hidden when the run scanned and visible at the final check: moved in another round", late.missed)
		r.sweeping = true
	}
}

// DefaultWindow is the most messages a round holds, below SQS's in-flight
// limit of 120,000 per standard queue (other readers' holds count too: a
// receive refused with OverLimit also ends a round).
const DefaultWindow = 100_000

// maxSweeps bounds the rounds the final check may add.
const maxSweeps = 2

// taken is how many messages the run has taken so far (in rounds that
// ended).
func (r *runner) taken() int { return r.ledger.len() }

// roundsEnd is how the rounds ended.
type roundsEnd int

const (
	// roundsDone: they moved what they could; the final check follows.
	roundsDone roundsEnd = iota
	// endedAtPlan: a dry run, or a confirmation declined or failed:
	// nothing moved, every message was given back, no final check.
	endedAtPlan
)

// rounds scans, confirms (first round only) and moves messages, in rounds
// while a round was cut (a FIFO DLQ, a window). A dry run, or a declined
// confirmation, ends at the plan (rep.Plan set; declined: ErrDeclined).
func (r *runner) rounds(ctx context.Context, rep *Report, start time.Time) (roundsEnd, error) {
	for n := 0; ; n++ {
		if n > 0 && r.halted(ctx) {
			return roundsDone, nil
		}
		// Before prepare: a streaming round moves its messages in it.
		before := r.progressMark()
		h, err := r.prepare(ctx)
		if err != nil {
			return roundsDone, err
		}
		if n == 0 && !r.sweeping {
			if end, err := r.confirm(ctx, h, rep, start); end == endedAtPlan {
				return end, err
			}
		}
		if len(h.order) == 0 {
			r.ledger.add(h.t)
			return roundsDone, h.giveBackAll(ctx)
		}
		if h.streamed {
			err = h.giveBackRest(ctx) // what the sends did not move
		} else {
			err = h.execute(ctx)
		}
		r.ledger.add(h.t) // the round took its messages, whatever happened next
		r.mem.adjust()
		if err != nil {
			return roundsDone, err
		}
		// A round that moved, skipped and failed nothing would repeat.
		if !r.dlq.FIFO && !h.cut || r.stopReason() != "" || r.progressMark() == before {
			return roundsDone, nil
		}
	}
}

// confirm puts the first round's plan in the report and, unless the round
// streamed (it moved its messages already), asks Confirm, or ends a dry
// run there. Ending at the plan gives every held message back.
func (r *runner) confirm(ctx context.Context, h *round, rep *Report, start time.Time) (roundsEnd, error) {
	cfg := r.cfg
	plan := h.plan()
	rep.Plan = &plan
	rep.Destination = r.router.destinations()
	rep.Streamed = h.streamed
	asks := cfg.Confirm != nil && len(h.order) > 0
	if h.streamed || !cfg.DryRun && !asks {
		return roundsDone, nil
	}
	ok, err := cfg.DryRun, error(nil)
	if !cfg.DryRun {
		ok, err = cfg.Confirm(r.report(*rep, start, nil))
	}
	if ok && err == nil && !cfg.DryRun {
		return roundsDone, nil
	}
	relErr := h.giveBackAll(ctx)
	r.journalReleased(ctx, relErr)
	switch {
	case err != nil:
		return endedAtPlan, errors.Join(err, relErr)
	case cfg.DryRun:
		return endedAtPlan, relErr
	}
	return endedAtPlan, errors.Join(ErrDeclined, relErr)
}

// progressMark changes whenever a message is deleted or fails.
func (r *runner) progressMark() [2]int64 {
	return [2]int64{r.c.deleted.Load(), r.c.failed.Load()}
}

// journalReleased journals that this run holds nothing any more, unless giving
// messages back failed (then the next run must wait for their holds).
func (r *runner) journalReleased(ctx context.Context, err error) {
	if r.cfg.Journal == nil || err != nil {
		return
	}
	_ = r.cfg.Journal.Released(context.WithoutCancel(ctx), r.runID)
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

// Stop is why a run stopped before it moved its whole selection: the
// report's stopped, one of a fixed set of codes.
type Stop string

// Stops.
const (
	StopInterrupted Stop = "interrupted" // Ctrl-C, SIGTERM, or the caller's context
	StopDeadline    Stop = "deadline"    // the caller's deadline (--timeout, the Lambda's)
	StopMaxHold     Stop = "max-hold"    // SQS's 12-hour hold on received messages is nearly over
	StopStorm       Stop = "storm"       // --stop-on-return: replayed messages came back
)

// stop records why no new batch may start; the first reason stays.
// detail says it in a sentence, for the next step.
func (r *runner) stop(code Stop, detail string) {
	r.mu.Lock()
	if r.reason == "" {
		r.reason, r.reasonDetail = code, detail
	}
	r.mu.Unlock()
}

func (r *runner) stopReason() Stop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func (r *runner) warn(format string, a ...any) {
	r.mu.Lock()
	r.warnings = append(r.warnings, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

// warnOnce warns once a run for each kind of trouble.
func (r *runner) warnOnce(kind, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warned[kind] {
		return
	}
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	r.warned[kind] = true
	r.warnings = append(r.warnings, fmt.Sprintf(format, a...))
}

// halted reports whether no new batch may start: interrupted, the
// caller's deadline, SQS's 12-hour hold, or a stop.
func (r *runner) halted(ctx context.Context) bool {
	now := r.cfg.Now()
	switch {
	case ctx.Err() != nil:
		r.stop(StopInterrupted, "interrupted")
	case !r.cfg.Deadline.IsZero() && now.Add(r.cfg.Margin).After(r.cfg.Deadline):
		r.stop(StopDeadline, "the deadline is near")
	case !r.started.IsZero() && now.Add(r.cfg.Visibility).After(r.started.Add(MaxHold)):
		r.stop(StopMaxHold, "SQS's 12-hour hold on received messages is nearly over")
	}
	return r.stopReason() != ""
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
