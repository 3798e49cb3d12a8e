package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// canaryWatch sends and watches the canary: its destinations' depths, the
// DLQ for the canary coming back, and (with cfg.Logs) its traces' logs.
type canaryWatch struct {
	cfg      Config
	dlq      queue.Queue
	sources  []queue.Queue // the canary's destination queues
	wait     time.Duration // from start
	why      string
	run      string   // the canary's name in the journal
	picked   []string // the canary's DLQ message IDs
	isPicked map[string]bool
	resumed  bool // a killed run sent it: start, baseline and what it sent come from the journal
	start    time.Time

	mu       sync.Mutex
	before   map[string]int64  // each source's depth just before the canary
	dlqFrom  int64             // the DLQ's depth then
	ids      map[string]bool   // the IDs a returned canary message may carry
	sentIDs  map[string]bool   // the picked messages the destinations have
	lastSent time.Time         // the last canary batch's send
	traceOf  map[string]string // a picked message's trace, once the canary run read it
	traces   map[string]string // a sent message's trace
	warnings []string
}

// newCanaryWatch reads the queues the canary goes to (the look's routes;
// the DLQ as canaryJudges read it) and derives the wait from them; or
// takes all of it from prior, a canary the journal kept unjudged.
func newCanaryWatch(ctx context.Context, cfg Config, dlq queue.Queue, look Report, picked []string, prior *journal.Canary) (*canaryWatch, error) {
	w := &canaryWatch{cfg: cfg, dlq: dlq, picked: picked, before: map[string]int64{}, ids: map[string]bool{},
		sentIDs: map[string]bool{}, traceOf: map[string]string{}, traces: map[string]string{}}
	w.isPicked = make(map[string]bool, len(picked))
	for _, id := range picked {
		w.ids[id], w.isPicked[id] = true, true
	}
	var arns []string
	if prior != nil {
		w.resumed, w.run, w.start, w.wait, w.why, w.dlqFrom, w.lastSent = true, prior.Run, prior.Start, prior.Wait(), prior.Why, prior.DLQFrom, prior.At
		maps.Copy(w.before, prior.Before)
		maps.Copy(w.traces, prior.Traces)
		for _, id := range prior.Known {
			w.ids[id] = true
		}
		for _, id := range prior.Sent {
			w.sentIDs[id] = true
		}
		arns = prior.Sources
	} else {
		w.run = "canary-" + cfg.Now().UTC().Format(time.RFC3339Nano)
		for _, r := range look.Plan.Routes {
			arns = append(arns, r.ARN)
		}
	}
	for _, arn := range arns {
		q, err := resolveQueue(ctx, cfg.API, arn)
		if err != nil {
			return nil, fmt.Errorf("read the canary's destination %s: %w", arn, err)
		}
		w.sources = append(w.sources, q)
	}
	if prior == nil {
		w.wait, w.why = canaryWait(cfg.CanaryWait, w.sources)
	}
	return w, nil
}

// endFrom is when the watch would end if the canary's sends ended now: a
// resumed canary all of whose messages were sent ends a wait after its
// last send.
func (w *canaryWatch) endFrom(now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.resumed && len(w.sentIDs) >= len(w.picked) {
		return w.lastSent.Add(w.wait)
	}
	return now.Add(w.wait)
}

// end is when the watch ends: a wait after the canary's last send.
func (w *canaryWatch) end() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maxTime(w.start, w.lastSent).Add(w.wait)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// note is what the plan says of the canary.
func (w *canaryWatch) note(total int) string {
	if w.resumed {
		return fmt.Sprintf("canary: resumes the canary of %d message(s) sent at %s, none sent twice; its watch ends %s after its last send (%s); the rest, %d message(s) in all, moves only if every one is consumed",
			len(w.picked), w.start.UTC().Format(time.RFC3339), w.wait.Round(time.Second), w.why, total)
	}
	return fmt.Sprintf("canary: these %d go first (the oldest of as many order keys); the rest, %d message(s) in all, moves only if every one is consumed within %s (%s)",
		len(w.picked), total, w.wait.Round(time.Second), w.why)
}

// begin records, just before the canary's first send, what the
// destinations and the DLQ hold, and journals the canary (a resumed one
// has both already).
func (w *canaryWatch) begin(ctx context.Context) error {
	if w.resumed {
		return nil
	}
	w.baseline(ctx)
	w.start = w.cfg.Now()
	j, ok := w.cfg.Journal.(canaryJournal)
	if !ok {
		return nil
	}
	c := journal.Canary{Run: w.run, Start: w.start, Selection: w.cfg.CanarySelection, WaitSeconds: w.wait.Seconds(), Why: w.why, Picked: w.picked, DLQFrom: w.dlqFrom, Before: map[string]int64{}}
	w.mu.Lock()
	maps.Copy(c.Before, w.before)
	w.mu.Unlock()
	for _, s := range w.sources {
		c.Sources = append(c.Sources, s.ARN)
	}
	return j.StartCanary(ctx, c)
}

// baseline records what the destinations and the DLQ hold now (a depth
// it cannot read stays unknown: that destination never counts as drained).
func (w *canaryWatch) baseline(ctx context.Context) {
	before := map[string]int64{}
	for _, s := range w.sources {
		if q, err := queue.Attributes(ctx, w.cfg.API, s.URL); err == nil {
			before[s.URL] = q.Depth()
		}
	}
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	w.mu.Lock()
	defer w.mu.Unlock()
	maps.Copy(w.before, before)
	if err == nil {
		w.dlqFrom = q.Depth()
	}
}

// sent notes (and journals, before the batch's "sent") what a canary
// batch sent: the DLQ IDs, the IDs that know a returned message, the
// traces whose logs tell it was consumed.
func (w *canaryWatch) sent(ctx context.Context, ids, known []string) error {
	b := journal.CanaryBatch{Sent: ids, Traces: map[string]string{}, At: w.cfg.Now()}
	w.mu.Lock()
	for _, id := range known {
		if !w.ids[id] {
			w.ids[id] = true
			b.Known = append(b.Known, id)
		}
	}
	for _, id := range ids {
		w.sentIDs[id] = true
		if tr, ok := w.traceOf[id]; ok {
			w.traces[id], b.Traces[id] = tr, tr
		}
	}
	w.lastSent = maxTime(w.lastSent, b.At)
	w.mu.Unlock()
	if j, ok := w.cfg.Journal.(canaryJournal); ok {
		return j.CanarySent(ctx, w.run, b)
	}
	return nil
}

// sentInAll is how many canary messages the destinations have: this
// run's sends, and a stopped run's.
func (w *canaryWatch) sentInAll() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sentIDs)
}

// judged journals the verdict: the canary is not resumed again.
func (w *canaryWatch) judged(ctx context.Context, verdict string) error {
	if j, ok := w.cfg.Journal.(canaryJournal); ok {
		return j.EndCanary(context.WithoutCancel(ctx), w.run, verdict)
	}
	return nil
}

// canaryWait is how long to watch: given, else the longest a failing
// message takes to reach the DLQ from a source (maxReceiveCount receives,
// each a visibility timeout apart, the last after a receive wait), plus a
// quarter of that and at least 10 s for the consumer to get to it.
func canaryWait(given time.Duration, sources []queue.Queue) (time.Duration, string) {
	if given > 0 {
		return given, fmt.Sprintf("%s, as given", given)
	}
	var longest time.Duration
	why := "no source queue to derive it from: 1m"
	for _, s := range sources {
		if s.Redrive == nil {
			continue
		}
		d := time.Duration(int64(s.Redrive.MaxReceiveCount)*s.VisibilitySeconds+s.ReceiveWaitSeconds) * time.Second
		if d > longest {
			longest = d
			why = fmt.Sprintf("%s: maxReceiveCount %d × visibility timeout %ds + receive wait %ds, and a margin", s.Name, s.Redrive.MaxReceiveCount, s.VisibilitySeconds, s.ReceiveWaitSeconds)
		}
	}
	if longest == 0 {
		return time.Minute, why
	}
	return longest + max(10*time.Second, longest/4), why
}

// watch waits until the watch's end for the verdict: "consumed" needs it
// all. It ends early only when every canary message is back in the DLQ.
func (w *canaryWatch) watch(ctx context.Context, sent int) (CanaryReport, error) {
	c := CanaryReport{Sent: sent, Wait: w.why, Resumed: w.resumed, ReturnedCauses: []ReturnedCause{}}
	if err := w.waitForReturns(ctx, sent, w.end()); err != nil {
		return c, err
	}
	c.WaitSeconds = w.cfg.Now().Sub(w.start).Seconds()
	back, complete, err := w.returned(ctx)
	if err != nil {
		return c, err
	}
	drained, err := w.drained(ctx)
	if err != nil {
		return c, err
	}
	logged, byLogs := w.loggedSuccess(ctx)
	c.Returned, c.ReturnedCauses = len(back), w.causes(ctx, back)
	c.Verdict, c.Evidence = verdict(c.Returned, complete, byLogs && logged == sent, drained)
	switch {
	case c.Verdict == CanaryConsumed:
		c.Consumed = sent
	case byLogs:
		c.Consumed = min(logged, sent-c.Returned)
	case drained:
		c.Consumed = sent - c.Returned
	}
	c.NotConsumed = sent - c.Returned - c.Consumed
	return c, nil
}

// waitForReturns waits until end, showing the watch on the live line; it
// stops early once every canary message is back in the DLQ (looked for
// only after the DLQ grew).
func (w *canaryWatch) waitForReturns(ctx context.Context, sent int, end time.Time) error {
	defer w.status("")
	poll := min(5*time.Second, max(w.wait/10, 100*time.Millisecond))
	back := 0
	for now := w.cfg.Now(); now.Before(end); now = w.cfg.Now() {
		w.status(fmt.Sprintf("canary: %d sent, %s consumed, %d returned, waiting %s for the verdict", sent, w.consumedNow(ctx, sent, back), back, end.Sub(now).Round(time.Second)))
		if err := w.cfg.Sleep(ctx, min(poll, end.Sub(now))); err != nil {
			return err
		}
		grown, err := w.dlqGrown(ctx, sent)
		if err != nil {
			return err
		}
		if grown <= 0 {
			continue
		}
		found, _, err := w.returned(ctx)
		if err != nil {
			return err
		}
		if back = len(found); back >= sent {
			return nil
		}
	}
	return nil
}

// consumedNow estimates, for the live line, how many canary messages
// their consumers took so far: what the destinations lost since just
// before the canary, less what came back ("?" when a depth is unknown).
// Other traffic on a destination blurs it; the verdict does not rest on it.
func (w *canaryWatch) consumedNow(ctx context.Context, sent, back int) string {
	fell, err := w.fallen(ctx)
	if err != nil {
		return "?"
	}
	gone := int64(sent)
	for _, f := range fell {
		gone += f
	}
	return fmt.Sprint(min(max(gone-int64(back), 0), int64(sent-back)))
}

// fallen is how much each destination's depth fell since just before the
// canary (negative: it grew); an error when a depth is unknown.
func (w *canaryWatch) fallen(ctx context.Context) ([]int64, error) {
	fell := make([]int64, len(w.sources))
	for i, s := range w.sources {
		q, err := queue.Attributes(ctx, w.cfg.API, s.URL)
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		before, ok := w.before[s.URL]
		w.mu.Unlock()
		if !ok {
			return nil, &unknownDepth{queue: s.Name}
		}
		fell[i] = before - q.Depth()
	}
	return fell, nil
}

// verdict: returned when any came back. Otherwise consumed only when the
// whole DLQ could be looked at and either every message's trace logged a
// success (evidence "logs") or the destinations drained ("depth").
func verdict(returned int, complete, logged, drained bool) (string, string) {
	switch {
	case returned > 0:
		return CanaryReturned, ""
	case complete && logged:
		return CanaryConsumed, "logs"
	case complete && drained:
		return CanaryConsumed, "depth"
	}
	return CanaryNotConsumed, ""
}

func (w *canaryWatch) status(s string) {
	if w.cfg.Status != nil {
		w.cfg.Status(s)
	}
}

// dlqGrown is how much the DLQ grew since just after the canary left it:
// its depth just before the canary, less the sent canary messages.
func (w *canaryWatch) dlqGrown(ctx context.Context, sent int) (int64, error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return q.Depth() - (w.dlqFrom - int64(sent)), nil
}

// drained reports whether every destination is back to its depth just
// before the canary (one whose depth then is unknown is not). Live
// traffic on a destination makes this weak evidence (docs/replay.md).
func (w *canaryWatch) drained(ctx context.Context) (bool, error) {
	fell, err := w.fallen(ctx)
	var unknown *unknownDepth
	if errors.As(err, &unknown) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, f := range fell {
		if f < 0 {
			return false, nil
		}
	}
	return true, nil
}

// unknownDepth: a destination's depth before the canary could not be read.
type unknownDepth struct{ queue string }

func (e *unknownDepth) Error() string {
	return fmt.Sprintf("the depth of %s before the canary is unknown", e.queue)
}

// returned finds the canary back in the DLQ: a message with an ID a
// canary send returned (SQS keeps it when it dead-letters a message), or
// whose replay marker names a canary message (by DLQ or original ID) and
// was written since the canary began. complete is false when the look
// could not see the whole DLQ (SQS's in-flight limit, a receive whose
// answer was lost). The look holds what it receives for a run's
// visibility, journaled like a run's hold, and gives everything back.
func (w *canaryWatch) returned(ctx context.Context) (back []queue.Message, complete bool, err error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return nil, false, err
	}
	since := w.start.UTC().Format(timeFormat)
	w.mu.Lock()
	ids := maps.Clone(w.ids)
	w.mu.Unlock()
	match := func(m *queue.Message) bool {
		if ids[m.MessageID] && !w.isPicked[m.MessageID] {
			return true
		}
		a, ok := m.Attributes[MarkerAttribute]
		if !ok {
			return false
		}
		var mk Marker
		return json.Unmarshal([]byte(a.String), &mk) == nil && ids[mk.OriginalMessageID] && mk.ReplayedAt >= since
	}
	stop, err := w.holdLook(ctx)
	if err != nil {
		return nil, false, err
	}
	res, err := queue.Scan(ctx, w.cfg.API, q.URL, queue.ScanOptions{Depth: q.Visible, Visibility: w.cfg.Visibility}, match)
	if serr := stop(err == nil, res.HiddenUntil); err == nil {
		err = serr
	}
	if err != nil {
		return nil, false, fmt.Errorf("look for the canary in %s: %w", w.dlq.Name, err)
	}
	return res.Matched, !res.OverLimit && res.HiddenUntil.IsZero(), nil
}

// holdLook journals the hold of a look for returns, renewed every third
// of the visibility while the look goes on, so that a run killed during
// it leaves the next run waiting for what it holds rather than missing
// it. stop ends it: released when the look gave everything back, else
// left to lapse; a lost receive's messages are journaled until hidden.
func (w *canaryWatch) holdLook(ctx context.Context) (stop func(released bool, hidden time.Time) error, err error) {
	j, run := w.cfg.Journal, w.run+"-look"
	if j == nil {
		return func(bool, time.Time) error { return nil }, nil
	}
	v := w.cfg.Visibility
	hold := func() error {
		return j.Hold(context.WithoutCancel(ctx), run, -1, w.cfg.Now().Add(v+v/3+holdSlack))
	}
	if err := hold(); err != nil {
		return nil, err
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(v / 3)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				_ = hold() // a failed renewal leaves the last one: the next tick tries again
			}
		}
	}()
	return func(released bool, hidden time.Time) error {
		close(quit)
		<-done
		if !hidden.IsZero() {
			return j.Hold(context.WithoutCancel(ctx), run+"-lost", -1, hidden.Add(holdSlack))
		}
		if released {
			return j.Released(ctx, run)
		}
		return nil
	}, nil
}
