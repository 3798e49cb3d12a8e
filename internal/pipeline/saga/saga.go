// Package saga runs orchestrated sagas: steps with an action and a
// compensation; when a step fails, the steps already done are compensated
// in reverse order. Actions and compensations run through idempotency, the
// saga log is durable so a redelivered or crashed saga resumes (or goes on
// compensating) instead of starting over, compensations retry on their
// own policy and run even when the context was cancelled, and a
// compensation that keeps failing ends the saga COMPENSATION_FAILED,
// logged and dead-lettered with its trace. StateMachine exports the same
// definition as Step Functions ASL.
package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// Step is one local transaction and its undo.
type Step struct {
	Name       string
	Action     func(ctx context.Context) error
	Compensate func(ctx context.Context) error // nil: nothing to undo
}

// RetryPolicy is exponential backoff.
type RetryPolicy struct {
	MaxAttempts int
	Initial     time.Duration
	Max         time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	return p
}

func (p RetryPolicy) delay(attempt int) time.Duration {
	d := p.Initial << (attempt - 1)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return d
}

// Definition is a saga: its steps in order and how compensations retry.
// ActionRetry is used by the Step Functions export; in Lambda, action
// retries come from SQS redelivery.
type Definition struct {
	Name         string
	Steps        []Step
	Compensation RetryPolicy
	ActionRetry  RetryPolicy
}

// Status is where a saga stands.
type Status string

// Saga statuses.
const (
	StatusRunning            Status = "RUNNING"
	StatusCompleted          Status = "COMPLETED"
	StatusCompensating       Status = "COMPENSATING"
	StatusCompensated        Status = "COMPENSATED"
	StatusCompensationFailed Status = "COMPENSATION_FAILED"
)

// State is the durable saga log entry.
type State struct {
	SagaID      string
	TraceID     string
	OrderID     string
	Status      Status
	Completed   []string
	Compensated []string
	FailedStep  string
	Error       string
	Version     int
}

// Log persists saga state; Save fails with ErrConflict when the stored
// version is not the one loaded (another worker moved the saga on).
type Log interface {
	Load(ctx context.Context, sagaID string) (*State, error)
	Save(ctx context.Context, s *State) error
}

// ErrConflict is a concurrent update of the same saga.
var ErrConflict = errors.New("saga: concurrent update")

// ErrCompensationFailed ends a saga whose compensation kept failing.
var ErrCompensationFailed = errors.New("saga: compensation failed")

// retryable marks a step failure as transient (a provider outage): the
// saga keeps its place and the delivery is retried, instead of
// compensating.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable wraps a transient step error: the saga does not compensate,
// Run returns the error so the message is redelivered (and, if the outage
// outlasts maxReceiveCount, dead-lettered and later replayed).
func Retryable(err error) error { return retryable{err: err} }

// IsRetryable reports whether err was marked Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// Orchestrator runs a Definition.
type Orchestrator struct {
	Def    Definition
	Log    Log
	Idem   idempotency.Config
	Logger *slog.Logger
	// DeadLetter receives a saga whose compensation failed for good, with
	// its trace in ctx (typically a trace.Publisher to the saga DLQ).
	DeadLetter func(ctx context.Context, s State) error
	Sleep      func(context.Context, time.Duration) error
	Now        func() time.Time
}

// Run drives saga sagaID (business attempt attempt) as far as it can go.
// It returns the final state. A step that is in progress elsewhere returns
// idempotency.ErrInProgress (retry later) without compensating; a failed
// step that was compensated cleanly returns the state COMPENSATED and no
// error (the message is done); a compensation that failed for good returns
// ErrCompensationFailed after dead-lettering the saga.
func (o *Orchestrator) Run(ctx context.Context, sagaID string, attempt int) (State, error) {
	o.defaults()
	ids := trace.From(ctx)
	ctx = trace.Update(ctx, func(i *trace.IDs) { i.SagaID = sagaID })
	st, err := o.Log.Load(ctx, sagaID)
	if err != nil {
		return State{}, fmt.Errorf("load saga %s: %w", sagaID, err)
	}
	if st == nil {
		st = &State{SagaID: sagaID, TraceID: ids.TraceID, OrderID: ids.OrderID, Status: StatusRunning}
	}
	switch st.Status {
	case StatusCompleted, StatusCompensated:
		o.Logger.InfoContext(ctx, "saga already finished", "status", "duplicate", "sagaStatus", string(st.Status))
		return *st, nil
	case StatusCompensationFailed:
		// Its dead letter may not have gone out (the delivery that failed
		// it was cut off after saving): hand it over again.
		return *st, o.deadLetter(ctx, st)
	case StatusCompensating:
		return o.compensate(ctx, st, attempt)
	}
	for _, step := range o.Def.Steps {
		if slices.Contains(st.Completed, step.Name) {
			continue
		}
		if ended, err := o.forward(ctx, st, step, attempt); ended || err != nil {
			return *st, err
		}
	}
	st.Status = StatusCompleted
	if err := o.Log.Save(ctx, st); err != nil {
		return *st, fmt.Errorf("save saga %s: %w", sagaID, err)
	}
	o.Logger.InfoContext(ctx, "saga completed", "status", "success")
	return *st, nil
}

// forward runs one step through idempotency and records it completed.
// An error ends Run with the saga where it is: a step in progress
// elsewhere or an outcome not known yet (the delivery is retried). A step
// that failed ends it too (ended), once the saga was compensated, with
// compensate's error.
func (o *Orchestrator) forward(ctx context.Context, st *State, step Step, attempt int) (ended bool, err error) {
	sctx := trace.Update(ctx, func(i *trace.IDs) { i.Step = step.Name })
	start := o.Now()
	o.Logger.InfoContext(sctx, step.Name+" started", "status", "started")
	key := idempotency.Key(st.SagaID, step.Name, fmt.Sprint(attempt))
	_, outcome, err := idempotency.Do(sctx, o.Idem, key, key, func(c context.Context) (struct{}, error) {
		return struct{}{}, step.Action(c)
	})
	dur := ms(o.Now().Sub(start))
	if errors.Is(err, idempotency.ErrInProgress) {
		o.Logger.WarnContext(sctx, step.Name+" in progress elsewhere", "status", "retry", "durationMs", dur)
		return false, err
	}
	if errors.Is(err, idempotency.ErrNotRecorded) {
		// The action ran; only its record is missing. It is a completed
		// step: compensated like one if the saga is undone, never run
		// again.
		o.Logger.WarnContext(sctx, step.Name+" done, not recorded", "status", "success", "error", err.Error(), "durationMs", dur)
		err = nil
	}
	if IsRetryable(err) || errors.Is(err, idempotency.ErrUnavailable) {
		// A store call failing around the action is never the action
		// failing: the saga keeps its place and the delivery is retried.
		o.Logger.WarnContext(sctx, step.Name+" failed, will retry", "status", "retry", "error", err.Error(), "durationMs", dur)
		return false, err
	}
	if err != nil {
		o.Logger.ErrorContext(sctx, step.Name+" failed", "status", "error", "error", err.Error(), "durationMs", dur)
		// From here on the saga must reach a safe state even if the
		// invocation is being torn down (compensate detaches too, and
		// keeps the deadline in mind).
		st.Status, st.FailedStep, st.Error = StatusCompensating, step.Name, err.Error()
		if err := o.Log.Save(context.WithoutCancel(ctx), st); err != nil {
			return true, fmt.Errorf("save saga %s: %w", st.SagaID, err)
		}
		_, err := o.compensate(ctx, st, attempt)
		return true, err
	}
	status := "success"
	if outcome == idempotency.Duplicate {
		status = "duplicate"
	}
	o.Logger.InfoContext(sctx, step.Name+" done", "status", status, "durationMs", dur)
	st.Completed = append(st.Completed, step.Name)
	if err := o.Log.Save(ctx, st); err != nil {
		return false, fmt.Errorf("save saga %s: %w", st.SagaID, err)
	}
	return false, nil
}

// compensate undoes, in reverse order, the steps that may have taken
// effect: the completed ones, and the step that failed (an earlier attempt
// of it may have taken effect and lost its answer; a compensation is a
// conditional undo, a no-op for an action that never happened). Each runs
// at most once with effect, with retries, even when ctx was cancelled.
// A compensation that cannot reach a known outcome now (the store or a
// provider unavailable, another worker holding it) leaves the saga
// COMPENSATING and returns the error: the delivery is retried, nothing is
// given up. Only a compensation refused for good dead-letters the saga.
func (o *Orchestrator) compensate(ctx context.Context, st *State, attempt int) (State, error) {
	deadline, hasDeadline := ctx.Deadline()
	ctx = context.WithoutCancel(ctx)
	undo := slices.Clone(st.Completed)
	if st.FailedStep != "" && !slices.Contains(undo, st.FailedStep) {
		undo = append(undo, st.FailedStep)
	}
	for i := len(undo) - 1; i >= 0; i-- {
		name := undo[i]
		if slices.Contains(st.Compensated, name) {
			continue
		}
		step, ok := o.step(name)
		if !ok || step.Compensate == nil {
			st.Compensated = append(st.Compensated, name)
			continue
		}
		sctx := trace.Update(ctx, func(ids *trace.IDs) { ids.Step = name })
		cut, lastErr := o.undo(sctx, st.SagaID, step, attempt, deadline, hasDeadline)
		if lastErr != nil && (unknownOutcome(lastErr) || cut) {
			// Not refused for good: unknown, not yet possible, or out of
			// time before its attempts were used up. The saga stays
			// COMPENSATING (saved before compensation began) and the
			// delivery is retried; a redelivery goes on from here.
			o.Logger.WarnContext(sctx, "compensation of "+name+" not finished: retrying the delivery", "status", "retry", "error", lastErr.Error())
			return *st, fmt.Errorf("compensate %s: %w", name, lastErr)
		}
		if lastErr != nil {
			st.Status = StatusCompensationFailed
			st.Error = fmt.Sprintf("compensate %s: %v (after %s failed: %s)", name, lastErr, st.FailedStep, st.Error)
			if err := o.Log.Save(ctx, st); err != nil {
				return *st, fmt.Errorf("save saga %s: %w", st.SagaID, err)
			}
			return *st, o.deadLetter(sctx, st)
		}
		st.Compensated = append(st.Compensated, name)
		if err := o.Log.Save(ctx, st); err != nil {
			return *st, fmt.Errorf("save saga %s: %w", st.SagaID, err)
		}
	}
	st.Status = StatusCompensated
	if err := o.Log.Save(ctx, st); err != nil {
		return *st, fmt.Errorf("save saga %s: %w", st.SagaID, err)
	}
	o.Logger.InfoContext(ctx, "saga compensated", "status", "compensated", "error", st.Error)
	return *st, nil
}

// undo runs step's compensation through idempotency, with retries on the
// compensation policy: cut is whether the deadline left no room for the
// remaining attempts, lastErr its last error (nil: compensated). Another
// worker compensating this step (ErrInProgress) holds it at most for the
// lease: without a deadline (a worker) that wait does not use up
// attempts; under one (Lambda) the delivery is retried instead of
// outliving the invocation.
func (o *Orchestrator) undo(ctx context.Context, sagaID string, step Step, attempt int, deadline time.Time, hasDeadline bool) (cut bool, lastErr error) {
	policy := o.Def.Compensation.withDefaults()
	name := step.Name
	key := idempotency.Key(sagaID, name, "compensate", fmt.Sprint(attempt))
	waitUntil := o.Now().Add(o.lease() + policy.Max)
	for try := 1; try <= policy.MaxAttempts; try++ {
		start := o.Now()
		o.Logger.InfoContext(ctx, "compensating "+name, "status", "compensating", "attempt", try)
		_, _, lastErr = idempotency.Do(ctx, o.Idem, key, key, func(c context.Context) (struct{}, error) {
			return struct{}{}, step.Compensate(c)
		})
		if errors.Is(lastErr, idempotency.ErrNotRecorded) {
			lastErr = nil // it ran
		}
		if lastErr == nil {
			o.Logger.InfoContext(ctx, name+" compensated", "status", "compensated", "durationMs", ms(o.Now().Sub(start)))
			return false, nil
		}
		if errors.Is(lastErr, idempotency.ErrInProgress) && !hasDeadline && o.Now().Before(waitUntil) {
			o.Logger.InfoContext(ctx, "compensation of "+name+" in progress elsewhere: waiting", "status", "retry")
			try--
			_ = o.Sleep(ctx, max(policy.Max, o.lease()/20))
			continue
		}
		o.Logger.WarnContext(ctx, "compensation of "+name+" failed", "status", "retry", "error", lastErr.Error(), "attempt", try)
		if try == policy.MaxAttempts {
			break
		}
		if hasDeadline && deadline.Sub(o.Now()) <= policy.delay(try)+time.Second {
			return true, lastErr
		}
		_ = o.Sleep(ctx, policy.delay(try))
	}
	return false, lastErr
}

// unknownOutcome reports whether err leaves a step's outcome open: marked
// Retryable, the idempotency store unavailable, or another worker holding
// the step.
func unknownOutcome(err error) bool {
	return IsRetryable(err) || errors.Is(err, idempotency.ErrUnavailable) || errors.Is(err, idempotency.ErrInProgress)
}

// deadLetter hands a COMPENSATION_FAILED saga to DeadLetter. It returns
// ErrCompensationFailed once the saga is handed over (the message is done);
// when handing it over fails, a plain error, so the delivery is retried
// and the next one hands it over again (the saga DLQ may then hold it
// twice: its consumers key on the saga ID).
func (o *Orchestrator) deadLetter(ctx context.Context, st *State) error {
	o.Logger.ErrorContext(ctx, "saga compensation failed: dead-lettered", "status", "dlq", "error", st.Error)
	if o.DeadLetter != nil {
		if err := o.DeadLetter(ctx, *st); err != nil {
			return fmt.Errorf("dead-letter saga %s: %w", st.SagaID, err)
		}
	}
	return fmt.Errorf("%w: %s", ErrCompensationFailed, st.Error)
}

func (o *Orchestrator) step(name string) (Step, bool) {
	for _, s := range o.Def.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// lease is how long a worker may hold an idempotency key.
func (o *Orchestrator) lease() time.Duration {
	if o.Idem.MaxProcessing > 0 {
		return o.Idem.MaxProcessing
	}
	return idempotency.DefaultMaxProcessing
}

func (o *Orchestrator) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
