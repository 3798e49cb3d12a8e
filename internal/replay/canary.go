package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
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
	// ReturnedCauses are the errors the returned messages carry (the
	// service's attributes or the body's error fields), most common first.
	ReturnedCauses []string `json:"returnedCauses"`
	// WaitSeconds is how long it watched, and Wait why that long.
	WaitSeconds float64 `json:"waitSeconds"`
	Wait        string  `json:"wait"`
}

// runCanary sends cfg.Canary messages, watches them, and moves the rest
// only when every one was consumed. A first look (a dry run: everything
// held is given back) sees the whole selection in send order and picks
// the oldest message of as many keys; the canary run takes exactly those.
// The rest is not held while the canary is watched: it stays visible in
// the DLQ, and the last run scans it again.
func runCanary(ctx context.Context, cfg Config) (Report, error) {
	look, dlq, picked, err := pickCanary(ctx, cfg)
	if err != nil || cfg.DryRun || len(picked) == 0 {
		return look, err
	}
	w, err := newCanaryWatch(ctx, cfg, dlq, look)
	if err != nil {
		return look, err
	}
	if dl := cfg.Deadline; !dl.IsZero() && cfg.Now().Add(w.wait+cfg.Margin).After(dl) {
		look.Stopped, look.Verified = StopDeadline, false
		look.NextStep = fmt.Sprintf("the canary's wait (%s: %s) does not fit before the deadline: nothing was sent", w.wait.Round(time.Second), w.why)
		return look, nil
	}
	rep, err := w.send(ctx, picked, look)
	if err != nil || rep.Canary.Verdict != CanaryConsumed || cfg.CanaryOnly {
		return rep, err
	}
	rest := cfg
	rest.Canary, rest.Confirm, rest.returnedSince = 0, nil, w.start // the whole selection was confirmed
	if cfg.Limit > 0 {
		if rest.Limit = cfg.Limit - rep.Matched; rest.Limit <= 0 {
			return rep, nil
		}
	}
	more, err := Run(ctx, rest)
	return mergeCanary(rep, more), err
}

// pickCanary looks at the selection (a dry run) and picks the canary: the
// oldest message of each of the first cfg.Canary keys in send order (a
// message without a key counts as its own), so that the rest never sends
// an older message of a key after the canary's. Only queues can tell a
// verdict: a FIFO DLQ (a look sees only the first messages of each group)
// and destinations other than a queue are refused before anything moves.
func pickCanary(ctx context.Context, cfg Config) (Report, queue.Queue, []string, error) {
	look := cfg
	look.Canary, look.DryRun, look.Confirm, look.Stream = 0, true, nil, false
	var picked []string
	look.onPlan = func(rows []held) {
		seen := map[string]bool{}
		for _, r := range rows {
			if len(picked) == cfg.Canary {
				break
			}
			if r.key == "" || !seen[r.key] {
				seen[r.key] = r.key != ""
				picked = append(picked, r.id)
			}
		}
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
	rep.Plan.Warnings = append([]string{fmt.Sprintf("canary: %d of these go first, the oldest message of as many order keys; the rest moves only if every one is consumed", len(picked))}, rep.Plan.Warnings...)
	return rep, dlq, picked, nil
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
// whole selection's plan in view) and watches it.
func (w *canaryWatch) send(ctx context.Context, picked []string, look Report) (Report, error) {
	cfg := w.cfg
	canary := cfg
	canary.Canary, canary.Stream, canary.Limit = 0, false, len(picked)
	ids := map[string]bool{}
	for _, id := range picked {
		ids[id] = true
	}
	flt := cfg.Filter
	if flt == nil {
		flt = &filter.Filter{}
	}
	canary.Filter = flt.Clone().Also(func(m *queue.Message) bool { return ids[m.MessageID] })
	canary.onSent = w.sent
	note := fmt.Sprintf("canary: these %d go first (the oldest of as many order keys); the rest, %d message(s) in all, moves only if every one is consumed within %s (%s)",
		len(picked), look.Plan.Messages, w.wait.Round(time.Second), w.why)
	if cfg.Confirm != nil {
		canary.Confirm = func(r Report) (bool, error) {
			p := *r.Plan
			p.Warnings = append([]string{note}, p.Warnings...)
			r.Plan = &p
			w.baseline(ctx) // what the sources and the DLQ hold just before the first send
			return cfg.Confirm(r)
		}
	}
	w.baseline(ctx)
	w.start = cfg.Now()
	rep, err := Run(ctx, canary)
	if rep.Plan != nil {
		rep.Plan.Warnings = append([]string{note}, rep.Plan.Warnings...)
	}
	if err != nil {
		return rep, err
	}
	if rep.Sent == 0 {
		rep.Canary = &CanaryReport{Verdict: CanaryNotSent, Wait: w.why, ReturnedCauses: []string{}}
		rep.Stopped, rep.Verified = StopCanary, false
		rep.NextStep = "no canary message was sent (see the failures): nothing else was sent; run again"
		return rep, nil
	}
	c, err := w.watch(ctx, rep.Sent)
	rep.Canary = &c
	if err == nil && c.Verdict != CanaryConsumed {
		rep.Verified, rep.Stopped = false, StopCanary
		rep.NextStep = canaryStep(c)
	}
	return rep, err
}

// canaryStep is the next step after a canary that did not prove the fix.
func canaryStep(c CanaryReport) string {
	if c.Verdict == CanaryReturned {
		why := "no error recorded"
		if len(c.ReturnedCauses) > 0 {
			why = c.ReturnedCauses[0]
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

// canaryWatch watches the canary: its destinations' depths, and the DLQ
// for the canary coming back.
type canaryWatch struct {
	cfg     Config
	dlq     queue.Queue
	sources []queue.Queue // the canary's destination queues
	wait    time.Duration
	why     string
	start   time.Time // the canary run's start: its markers are newer

	mu      sync.Mutex
	before  map[string]int64 // each source's depth just before the canary
	dlqFrom int64            // the DLQ's depth then
	ids     map[string]bool  // the DLQ message IDs the canary sent, and their original IDs
}

// newCanaryWatch reads the queues the canary goes to (the look's routes;
// the DLQ as canaryJudges read it) and derives the wait from them.
func newCanaryWatch(ctx context.Context, cfg Config, dlq queue.Queue, look Report) (*canaryWatch, error) {
	w := &canaryWatch{cfg: cfg, dlq: dlq, before: map[string]int64{}, ids: map[string]bool{}}
	for _, r := range look.Plan.Routes {
		q, err := resolveQueue(ctx, cfg.API, r.ARN)
		if err != nil {
			return nil, fmt.Errorf("read the canary's destination %s: %w", r.Destination, err)
		}
		w.sources = append(w.sources, q)
	}
	w.wait, w.why = canaryWait(cfg.CanaryWait, w.sources)
	return w, nil
}

// baseline records what the destinations and the DLQ hold now.
func (w *canaryWatch) baseline(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sources {
		if q, err := queue.Attributes(ctx, w.cfg.API, s.URL); err == nil {
			w.before[s.URL] = q.Depth()
		}
	}
	if q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL); err == nil {
		w.dlqFrom = q.Depth()
	}
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

func (w *canaryWatch) sent(ids, originals []string) {
	w.mu.Lock()
	for _, id := range append(ids, originals...) {
		w.ids[id] = true
	}
	w.mu.Unlock()
}

// watch waits the whole wait for the verdict: "consumed" needs it all.
// It ends early only when every canary message is back in the DLQ.
func (w *canaryWatch) watch(ctx context.Context, sent int) (CanaryReport, error) {
	c := CanaryReport{Sent: sent, Wait: w.why, ReturnedCauses: []string{}}
	began := w.cfg.Now()
	if err := w.waitForReturns(ctx, sent, began.Add(w.wait)); err != nil {
		return c, err
	}
	c.WaitSeconds = w.cfg.Now().Sub(began).Seconds()
	back, complete, err := w.returned(ctx)
	if err != nil {
		return c, err
	}
	drained, err := w.drained(ctx)
	if err != nil {
		return c, err
	}
	c.Returned, c.ReturnedCauses = len(back), causes(back)
	c.Verdict = verdict(c.Returned, drained, complete)
	switch c.Verdict {
	case CanaryConsumed:
		c.Consumed = sent
	case CanaryNotConsumed:
		c.NotConsumed = sent
	}
	return c, nil
}

// waitForReturns waits until end, showing the wait on the live line; it
// stops early once every canary message is back in the DLQ (looked for
// only after the DLQ grew).
func (w *canaryWatch) waitForReturns(ctx context.Context, sent int, end time.Time) error {
	defer w.status("")
	poll := min(5*time.Second, max(w.wait/10, 100*time.Millisecond))
	back := 0
	for now := w.cfg.Now(); now.Before(end); now = w.cfg.Now() {
		w.status(fmt.Sprintf("canary: %d sent, %d back in the DLQ, waiting %s for the verdict", sent, back, end.Sub(now).Round(time.Second)))
		if err := w.cfg.Sleep(ctx, min(poll, end.Sub(now))); err != nil {
			return err
		}
		grown, err := w.dlqGrown(ctx)
		if err != nil || grown <= 0 {
			if err != nil {
				return err
			}
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

// verdict: returned when any came back; consumed only when none did, the
// whole DLQ could be looked at, and the destinations drained.
func verdict(returned int, drained, complete bool) string {
	switch {
	case returned > 0:
		return CanaryReturned
	case drained && complete:
		return CanaryConsumed
	}
	return CanaryNotConsumed
}

func (w *canaryWatch) status(s string) {
	if w.cfg.Status != nil {
		w.cfg.Status(s)
	}
}

// dlqGrown is how much the DLQ grew since just before the canary.
func (w *canaryWatch) dlqGrown(ctx context.Context) (int64, error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return q.Depth() - w.dlqFrom, nil
}

// drained reports whether every destination is back to its depth just
// before the canary. Live traffic on a destination makes this weak
// evidence (docs/replay.md).
func (w *canaryWatch) drained(ctx context.Context) (bool, error) {
	for _, s := range w.sources {
		q, err := queue.Attributes(ctx, w.cfg.API, s.URL)
		if err != nil {
			return false, err
		}
		w.mu.Lock()
		before, ok := w.before[s.URL]
		w.mu.Unlock()
		if !ok || q.Depth() > before {
			return false, nil
		}
	}
	return true, nil
}

// returned finds the canary back in the DLQ: a message whose replay
// marker names one of the canary's messages (by DLQ or original ID) and
// was written by the canary run. complete is false when the look could
// not see the whole DLQ (SQS's in-flight limit). The look holds what it
// receives for a run's visibility and gives everything back.
func (w *canaryWatch) returned(ctx context.Context) (back []queue.Message, complete bool, err error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return nil, false, err
	}
	since := w.start.UTC().Format(timeFormat)
	w.mu.Lock()
	ids := make(map[string]bool, len(w.ids))
	for id := range w.ids {
		ids[id] = true
	}
	w.mu.Unlock()
	match := func(m *queue.Message) bool {
		a, ok := m.Attributes[MarkerAttribute]
		if !ok {
			return false
		}
		var mk Marker
		return json.Unmarshal([]byte(a.String), &mk) == nil && ids[mk.OriginalMessageID] && mk.ReplayedAt >= since
	}
	res, err := queue.Scan(ctx, w.cfg.API, q.URL, queue.ScanOptions{Depth: q.Visible, Visibility: w.cfg.Visibility}, match)
	if err != nil {
		return nil, false, fmt.Errorf("look for the canary in %s: %w", w.dlq.Name, err)
	}
	return res.Matched, !res.OverLimit, nil
}

// causes are the returned messages' errors, most common first.
func causes(msgs []queue.Message) []string {
	count := map[string]int{}
	var order []string
	for i := range msgs {
		why := "no error recorded"
		if e := msgs[i].Error; e != nil {
			why = strings.TrimSuffix(strings.TrimSpace(e.Code+": "+e.Message), ":")
		}
		if count[why] == 0 {
			order = append(order, why)
		}
		count[why]++
	}
	sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
	out := make([]string, 0, len(order))
	for _, why := range order {
		out = append(out, fmt.Sprintf("%d× %s", count[why], why))
	}
	return out
}
