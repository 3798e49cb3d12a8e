package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// Canary verdicts.
const (
	CanaryConsumed    = "consumed"     // every canary message was taken by its consumer
	CanaryReturned    = "returned"     // some came back to the DLQ: the fix did not hold
	CanaryNotConsumed = "not-consumed" // neither, when the wait ended: the consumer is down or slow
	CanaryNotSent     = "not-sent"     // no canary message could be sent
)

// StopCanary: the canary did not prove the fix, and the rest was not sent.
const StopCanary Stop = "canary"

// CanaryReport is what the canary step saw.
type CanaryReport struct {
	Sent        int    `json:"sent"`
	Consumed    int    `json:"consumed"`
	Returned    int    `json:"returned"`
	NotConsumed int    `json:"notConsumed"`
	Verdict     string `json:"verdict"`
	// ReturnedCauses are the causes of the returned messages, as dlq
	// triage groups them (the same IDs), largest first.
	ReturnedCauses []ReturnedCause `json:"returnedCauses"`
	// Evidence says what "consumed" rests on: "logs" (each message's
	// trace logged a success after the canary was sent) or "depth" (the
	// destinations went back to their depth before it).
	Evidence string `json:"evidence,omitempty"`
	// WaitSeconds is how long it watched, and Wait why that long.
	WaitSeconds float64 `json:"waitSeconds"`
	Wait        string  `json:"wait"`
	// Resumed: a run killed while it watched this canary had sent it.
	Resumed bool `json:"resumed,omitempty"`
}

// ReturnedCause is one cause of the canary's returned messages.
type ReturnedCause struct {
	// ID is the cause's ID in dlq triage (stable: the same failure gets
	// the same ID there).
	ID    string `json:"id"`
	Count int    `json:"count"`
	Step  string `json:"step"`
	// Error is the error as triage normalises it; empty when none was
	// recorded (the logs, the message's attributes and body say nothing).
	Error string `json:"error"`
	// Source is where the error was read: logs, lambda, eventbridge,
	// body, or unknown.
	Source string `json:"source"`
}

func (c ReturnedCause) String() string {
	if c.Error == "" {
		return fmt.Sprintf("%d× returned, no error recorded (cause %s)", c.Count, c.ID)
	}
	return fmt.Sprintf("%d× cause %s: %s at step %s (from %s)", c.Count, c.ID, c.Error, c.Step, c.Source)
}

// canaryJournal is a journal that keeps the canary step (journal.File,
// the replay Lambda's), so that a run killed in the canary phase resumes
// into it rather than sending a second canary.
type canaryJournal interface {
	StartCanary(ctx context.Context, c journal.Canary) error
	CanarySent(ctx context.Context, run string, b journal.CanaryBatch) error
	EndCanary(ctx context.Context, run, verdict string) error
	OpenCanary(ctx context.Context) (*journal.Canary, error)
}

// staleCanary is how long after its wait an unjudged canary is still
// resumed; later, a new one is picked.
const staleCanary = time.Hour

// runCanary sends cfg.Canary messages, watches them, and moves the rest
// only when every one was consumed. A first look (a dry run: everything
// held is given back) sees the whole selection in send order and picks
// the oldest message of as many keys; the canary run takes exactly those.
// The rest is not held while the canary is watched: it stays visible in
// the DLQ, and the last run scans it again. A canary a killed run left
// unjudged in the journal is resumed: its messages, not new ones.
func runCanary(ctx context.Context, cfg Config) (Report, error) {
	prior, stale, err := openCanary(ctx, cfg)
	if err != nil {
		return Report{}, err
	}
	look, dlq, picked, err := pickCanary(ctx, cfg, prior)
	if stale != "" && look.Plan != nil {
		look.Plan.Warnings = append(look.Plan.Warnings, stale)
	}
	if err != nil || cfg.DryRun || len(picked) == 0 {
		return look, err
	}
	w, err := newCanaryWatch(ctx, cfg, dlq, look, picked, prior)
	if err != nil {
		return look, err
	}
	if dl := cfg.Deadline; !dl.IsZero() && w.endFrom(cfg.Now()).Add(cfg.Margin).After(dl) {
		look.Stopped, look.Verified = StopDeadline, false
		look.NextStep = fmt.Sprintf("the canary's wait (%s: %s) does not fit before the deadline: nothing more was sent", w.wait.Round(time.Second), w.why)
		return look, nil
	}
	rep, err := w.send(ctx, look)
	if err != nil || rep.Canary.Verdict != CanaryConsumed || cfg.CanaryOnly {
		return rep, err
	}
	rest := cfg
	rest.Canary, rest.returnedSince = 0, w.start
	rest.Confirm = restConfirm(cfg.Confirm, w.resumed, look.Plan.Messages-rep.Canary.Sent)
	if cfg.Limit > 0 {
		if rest.Limit = cfg.Limit - rep.Matched; rest.Limit <= 0 {
			return rep, nil
		}
	}
	more, err := Run(ctx, rest)
	return mergeCanary(rep, more), err
}

// restConfirm asks again before the rest moves when what the user
// confirmed does not cover it: a resumed canary (this run may have asked
// nothing), or a rest larger than the selection confirmed (messages that
// arrived during the wait). Otherwise the rest goes, as confirmed.
func restConfirm(confirm func(Report) (bool, error), resumed bool, confirmed int) func(Report) (bool, error) {
	if confirm == nil {
		return nil
	}
	return func(r Report) (bool, error) {
		if !resumed && r.Plan != nil && r.Plan.Messages <= confirmed {
			return true, nil
		}
		return confirm(r)
	}
}

// openCanary is the canary the journal keeps unjudged (a run killed while
// it sent or watched it), to resume; nil when there is none, or when it
// is stale (said in stale).
func openCanary(ctx context.Context, cfg Config) (prior *journal.Canary, stale string, err error) {
	j, ok := cfg.Journal.(canaryJournal)
	if !ok {
		return nil, "", nil
	}
	c, err := j.OpenCanary(ctx)
	if err != nil || c == nil {
		return nil, "", err
	}
	began := c.Start.UTC().Format(time.RFC3339)
	switch {
	case c.Selection != cfg.CanarySelection:
		return nil, fmt.Sprintf("canary: the canary begun at %s, never judged, was of another selection (%s): a new one is picked", began, c.Selection), nil
	case len(c.Sent) == 0:
		return nil, "", nil // nothing of it was sent: picked again, as if it never began
	case cfg.Now().After(maxTime(c.Start, c.At).Add(c.Wait() + staleCanary)):
		return nil, fmt.Sprintf("canary: the canary begun at %s was never judged and its wait ended over %s ago: a new one is picked", began, staleCanary), nil
	}
	return c, "", nil
}

// pickCanary looks at the selection (a dry run) and picks the canary: the
// oldest message of each of the first cfg.Canary keys in send order (a
// message without a key counts as its own), so that the rest never sends
// an older message of a key after the canary's; or prior's, to resume it.
// Only queues can tell a verdict: a FIFO DLQ (a look sees only the first
// messages of each group) and destinations other than a queue are refused
// before anything moves.
func pickCanary(ctx context.Context, cfg Config, prior *journal.Canary) (Report, queue.Queue, []string, error) {
	look := cfg
	look.Canary, look.DryRun, look.Confirm, look.Stream = 0, true, nil, false
	var origins []string
	var firstOf map[string][]string
	look.onPlan = func(rows []held) {
		// Twice as many as needed: the journal may say some were sent.
		origins, firstOf = firsts(rows, 2*cfg.Canary)
	}
	rep, err := Run(ctx, look)
	rep.DryRun = cfg.DryRun
	if err != nil || rep.Plan == nil {
		return rep, queue.Queue{}, nil, err
	}
	dlq, err := canaryJudges(ctx, cfg, rep)
	if err != nil {
		return rep, dlq, nil, err
	}
	var picked []string
	var note string
	if prior != nil {
		picked = prior.Picked
		note = fmt.Sprintf("canary: resumes the canary of %d message(s) sent at %s (a run was stopped while it watched): none is sent twice; the rest moves only if every one is consumed",
			len(picked), prior.Start.UTC().Format(time.RFC3339))
	} else {
		if picked, err = pickUnsent(ctx, cfg, origins, firstOf); err != nil {
			return rep, dlq, nil, err
		}
		note = fmt.Sprintf("canary: %d of these go first, the oldest message of as many order keys; the rest moves only if every one is consumed", len(picked))
	}
	rep.Plan.Warnings = append([]string{note}, rep.Plan.Warnings...)
	return rep, dlq, picked, nil
}

// firsts is the first message of each key of rows (a message without a
// key is its own), by the place it failed (its origin, in the order they
// first appear), at most most of each.
func firsts(rows []held, most int) (origins []string, firstOf map[string][]string) {
	firstOf = map[string][]string{}
	seen := map[string]bool{}
	for _, r := range rows {
		if r.key != "" {
			if seen[r.key] {
				continue
			}
			seen[r.key] = true
		}
		if _, ok := firstOf[r.src]; !ok {
			origins = append(origins, r.src)
		}
		if len(firstOf[r.src]) < most {
			firstOf[r.src] = append(firstOf[r.src], r.id)
		}
	}
	return origins, firstOf
}

// spread picks n of firstOf, one of each origin in turn, leaving out
// those taken says are not to be picked.
func spread(origins []string, firstOf map[string][]string, n int, taken func(string) bool) []string {
	var picked []string
	for i := 0; len(picked) < n; i++ {
		more := false
		for _, o := range origins {
			if i >= len(firstOf[o]) {
				continue
			}
			more = true
			if id := firstOf[o][i]; !taken(id) && len(picked) < n {
				picked = append(picked, id)
			}
		}
		if !more {
			break
		}
	}
	return picked
}

// pickUnsent spreads the canary over the origins, leaving out messages
// the journal says a destination already has (a stopped run sent them and
// did not delete them): the canary run would delete them unsent, and they
// would prove nothing.
func pickUnsent(ctx context.Context, cfg Config, origins []string, firstOf map[string][]string) ([]string, error) {
	states := map[string]journal.State{}
	if cfg.Journal != nil {
		var all []string
		for _, ids := range firstOf {
			all = append(all, ids...)
		}
		var err error
		if states, err = cfg.Journal.Lookup(ctx, all); err != nil {
			return nil, err
		}
	}
	return spread(origins, firstOf, cfg.Canary, func(id string) bool { return states[id] >= journal.Sent }), nil
}

// canaryJudges refuses a canary whose verdict could not be read: on a FIFO
// DLQ, or to a destination that is not a queue (no marker comes back, no
// depth to read).
func canaryJudges(ctx context.Context, cfg Config, rep Report) (queue.Queue, error) {
	dlq, err := resolveQueue(ctx, cfg.API, cfg.DLQ)
	if err != nil {
		return dlq, err
	}
	if dlq.FIFO {
		return dlq, &DestinationError{Msg: "a canary cannot be judged on a FIFO DLQ: a look sees only the first messages of each group"}
	}
	for _, r := range rep.Plan.Routes {
		if r.Kind != DestSQS && r.Kind != "" {
			return dlq, &DestinationError{Msg: fmt.Sprintf("a canary is judged by queues only: %d message(s) go to %s %s, which keeps no replay marker and has no depth to read", r.Messages, r.Kind, r.Destination)}
		}
	}
	return dlq, nil
}

// send runs the canary (exactly the picked messages, confirmed with the
// whole selection's plan in view; those a resumed canary already sent
// are in the journal, and are not sent again) and judges it.
func (w *canaryWatch) send(ctx context.Context, look Report) (Report, error) {
	cfg := w.cfg
	canary := cfg
	canary.Canary, canary.Stream, canary.Limit = 0, false, len(w.picked)
	canary.Filter, canary.byID = w.filter(), true
	canary.onSent = w.sent
	note := w.note(look.Plan.Messages)
	if cfg.Confirm != nil {
		canary.Confirm = w.confirm(ctx, note)
	} else if err := w.begin(ctx); err != nil {
		return look, err
	}
	rep, err := Run(ctx, canary)
	if rep.Plan != nil {
		rep.Plan.Warnings = append([]string{note}, rep.Plan.Warnings...)
	}
	if err != nil {
		return rep, err
	}
	return w.judge(ctx, rep)
}

// confirm asks the user's question with the canary's note first, and
// begins the canary once it is answered yes.
func (w *canaryWatch) confirm(ctx context.Context, note string) func(Report) (bool, error) {
	return func(r Report) (bool, error) {
		p := *r.Plan
		p.Warnings = append([]string{note}, p.Warnings...)
		r.Plan = &p
		ok, err := w.cfg.Confirm(r)
		if ok && err == nil {
			err = w.begin(ctx) // what the sources and the DLQ hold just before the first send
		}
		return ok, err
	}
}

// judge watches what the canary sent and gives rep its verdict, journaled.
func (w *canaryWatch) judge(ctx context.Context, rep Report) (Report, error) {
	sent := w.sentInAll()
	if sent == 0 {
		rep.Canary = &CanaryReport{Verdict: CanaryNotSent, Wait: w.why, ReturnedCauses: []ReturnedCause{}}
		rep.Stopped, rep.Verified = StopCanary, false
		rep.NextStep = "no canary message was sent (see the failures): nothing else was sent; run again"
		return rep, w.judged(ctx, CanaryNotSent)
	}
	if sent < len(w.picked) {
		w.warn(fmt.Sprintf("canary: %d of its %d message(s) were sent (see the failures): the verdict rests on those", sent, len(w.picked)))
	}
	c, err := w.watch(ctx, sent)
	rep.Canary = &c
	rep.Warnings = append(rep.Warnings, w.warnings...)
	if err != nil {
		return rep, err
	}
	if c.Verdict != CanaryConsumed {
		rep.Verified, rep.Stopped = false, StopCanary
		rep.NextStep = canaryStep(c)
	}
	return rep, w.judged(ctx, c.Verdict)
}

// filter is the selection's filter narrowed to the canary's messages; it
// notes the trace of each it matches, whose logs tell whether it was
// consumed.
func (w *canaryWatch) filter() *filter.Filter {
	flt := w.cfg.Filter
	if flt == nil {
		flt = &filter.Filter{}
	}
	return flt.Clone().Also(func(m *queue.Message) bool {
		if !w.isPicked[m.MessageID] {
			return false
		}
		if m.TraceID != "" {
			w.mu.Lock()
			w.traceOf[m.MessageID] = m.TraceID
			w.mu.Unlock()
		}
		return true
	})
}

// canaryStep is the next step after a canary that did not prove the fix.
func canaryStep(c CanaryReport) string {
	if c.Verdict == CanaryReturned {
		why := "returned, no error recorded"
		if len(c.ReturnedCauses) > 0 && c.ReturnedCauses[0].Error != "" {
			rc := c.ReturnedCauses[0]
			why = fmt.Sprintf("cause %s: %s at step %s", rc.ID, rc.Error, rc.Step)
		}
		return fmt.Sprintf("the fix did not hold: %d of %d canary message(s) returned to the DLQ (%s); nothing else was sent: fix it, then replay again", c.Returned, c.Sent, why)
	}
	return fmt.Sprintf("%d of %d canary message(s) were not consumed within %s: is the consumer running? Nothing else was sent", c.NotConsumed, c.Sent, time.Duration(c.WaitSeconds*float64(time.Second)).Round(time.Second))
}

// mergeCanary adds the rest's run to the canary's: counts add up, the
// outcome is the rest's (its final check looked at the DLQ last).
func mergeCanary(canary, rest Report) Report {
	out := rest
	out.Canary = canary.Canary
	out.Scanned += canary.Scanned
	out.Matched += canary.Matched
	out.Sent += canary.Sent
	out.Deleted += canary.Deleted
	out.Failed += canary.Failed
	out.Skipped += canary.Skipped
	out.Uncertain += canary.Uncertain
	out.Failures = append(append([]Failure{}, canary.Failures...), rest.Failures...)
	out.Warnings = append(append([]string{}, canary.Warnings...), rest.Warnings...)
	out.Unmarked = append(append([]string(nil), canary.Unmarked...), rest.Unmarked...)
	out.HeldBack = append(append([]string(nil), canary.HeldBack...), rest.HeldBack...)
	out.DurationSeconds += canary.DurationSeconds + canary.Canary.WaitSeconds
	switch {
	case out.Plan == nil:
		out.Plan = canary.Plan
	case canary.Plan != nil && len(canary.Plan.Warnings) > 0:
		// The canary's note first: the rest's plan follows it.
		out.Plan.Warnings = append([]string{canary.Plan.Warnings[0]}, out.Plan.Warnings...)
	}
	if out.Destination == "" {
		out.Destination = canary.Destination
	}
	return out
}
