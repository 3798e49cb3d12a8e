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
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

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

// ErrDeclined is returned when Confirm said no: every message was given
// back.
var ErrDeclined = errors.New("replay declined: every message is back in the DLQ")

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
	// passedOver: a round left a FIFO message it did not take ahead of
	// messages it took, maybe in their group (takes, holdBack).
	passedOver atomic.Bool
	// scanning: a streaming round's scan runs (Progress.Scanning).
	scanning atomic.Bool
	// lostUntil: a receive of this run lost its answer, and the messages
	// it may have hidden stay hidden until then (wall clock).
	lostUntil time.Time
	lostWaits int // how often the final check waited for such messages
	// inDoubt are the messages killed runs sent with no journaled outcome,
	// counted as uncertain when the run starts (journal.File.InDoubt).
	inDoubt map[string]int
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
	if cfg.Canary > 0 {
		return runCanary(ctx, cfg)
	}
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
	if err := r.countInDoubt(ctx); err != nil {
		return r.report(rep, start, nil), err
	}
	defer r.finished(ctx)
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
	rt, err := newRouter(ctx, &cfg, dlq)
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
	if cfg.onPlan != nil {
		cfg.onPlan(h.held())
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

// Stop is why a run stopped before it moved its whole selection: the
// report's stopped, one of a fixed set of codes.
type Stop string

// Stops.
const (
	StopInterrupted Stop = "interrupted" // Ctrl-C, SIGTERM, or the caller's context
	StopDeadline    Stop = "deadline"    // the caller's deadline (--timeout, the Lambda's)
	StopMaxHold     Stop = "max-hold"    // SQS's 12-hour hold on received messages is nearly over
	StopStorm       Stop = "storm"       // --stop-on-return: replayed messages came back
	// StopCanary (canary.go): the canary did not prove the fix.
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

// inDoubtJournal is a journal that knows what runs killed since the last
// one that reported sent with no journaled outcome (journal.File).
type inDoubtJournal interface {
	InDoubt(ctx context.Context) (map[string]int, error)
	Finished(ctx context.Context, run string) error
}

// countInDoubt counts as uncertain every send of a killed run whose
// outcome the journal never recorded: a killed run reports nothing, so its
// duplicates are reported here (each kill inside a message's send can add
// one arrival). A journal that cannot tell counts, as before, one for each
// message this run resends after an unknown outcome.
func (r *runner) countInDoubt(ctx context.Context) error {
	j, ok := r.cfg.Journal.(inDoubtJournal)
	if !ok || r.cfg.DryRun {
		return nil
	}
	counts, err := j.InDoubt(ctx)
	if err != nil {
		return err
	}
	r.inDoubt = counts
	for _, n := range counts {
		r.c.uncertain.Add(int64(n))
	}
	return nil
}

// finished journals that the run ended with a report: the sends it left
// in doubt are counted in it.
func (r *runner) finished(ctx context.Context) {
	if j, ok := r.cfg.Journal.(inDoubtJournal); ok && !r.cfg.DryRun {
		_ = j.Finished(context.WithoutCancel(ctx), r.runID)
	}
}
