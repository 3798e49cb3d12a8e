package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// Canary verdicts.
const (
	CanaryConsumed    = "consumed"     // every canary message was taken by its consumer
	CanaryReturned    = "returned"     // some came back to the DLQ: the fix did not hold
	CanaryNotConsumed = "not-consumed" // neither, when the wait ended: the consumer is down or slow
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
// only when every one was consumed. The rest is not held while it waits:
// it stays visible in the DLQ and is scanned again.
func runCanary(ctx context.Context, cfg Config) (Report, error) {
	w, err := newCanaryWatch(ctx, cfg)
	if err != nil {
		return Report{Order: cfg.Order, DryRun: cfg.DryRun}, err
	}
	first := cfg
	first.Canary, first.Stream, first.onePerKey = 0, false, cfg.Order == OrderKey
	first.Limit = cfg.Canary
	if cfg.Limit > 0 && cfg.Limit < cfg.Canary {
		first.Limit = cfg.Limit
	}
	first.onSent = w.sent
	note := fmt.Sprintf("canary: these %d go first; the rest moves only if every one is consumed within %s (%s)", first.Limit, w.wait.Round(time.Second), w.why)
	if cfg.Confirm != nil {
		first.Confirm = func(r Report) (bool, error) {
			r.Plan.Warnings = append([]string{note}, r.Plan.Warnings...)
			return cfg.Confirm(r)
		}
	}
	start := cfg.Now()
	rep, err := Run(ctx, first)
	if rep.Plan != nil {
		rep.Plan.Warnings = append([]string{note}, rep.Plan.Warnings...)
	}
	if err != nil || cfg.DryRun || rep.Sent == 0 {
		rep.Canary = &CanaryReport{Sent: rep.Sent, Wait: w.why, ReturnedCauses: []string{}}
		return rep, err
	}
	c, err := w.watch(ctx, start, rep.Sent)
	rep.Canary = &c
	if err != nil {
		return rep, err
	}
	if c.Verdict != CanaryConsumed {
		rep.Verified, rep.Stopped = false, StopCanary
		rep.NextStep = canaryStep(c)
		return rep, nil
	}
	if cfg.CanaryOnly {
		return rep, nil
	}
	rest := cfg
	rest.Canary = 0
	rest.Confirm = nil // the first plan was confirmed
	if cfg.Limit > 0 {
		rest.Limit = cfg.Limit - rep.Sent
		if rest.Limit <= 0 {
			return rep, nil
		}
	}
	more, err := Run(ctx, rest)
	return mergeCanary(rep, more), err
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

// canaryWatch watches the canary: its sources' counts, and the DLQ for
// the canary coming back.
type canaryWatch struct {
	cfg     Config
	dlq     queue.Queue
	sources []queue.Queue
	before  map[string]int64 // each source's depth before the canary
	wait    time.Duration
	why     string

	mu  sync.Mutex
	ids map[string]bool // the DLQ message IDs the canary sent
}

func newCanaryWatch(ctx context.Context, cfg Config) (*canaryWatch, error) {
	dlq, err := resolveQueue(ctx, cfg.API, cfg.DLQ)
	if err != nil {
		return nil, err
	}
	w := &canaryWatch{cfg: cfg, dlq: dlq, before: map[string]int64{}, ids: map[string]bool{}}
	if w.sources, err = canarySources(ctx, cfg, dlq); err != nil {
		return nil, err
	}
	for _, s := range w.sources {
		w.before[s.URL] = s.Depth()
	}
	w.wait, w.why = canaryWait(cfg.CanaryWait, w.sources)
	return w, nil
}

// canarySources are the queues the canary goes to: --to, else the DLQ's
// source queues (none when they cannot be listed: then only a return is
// evidence).
func canarySources(ctx context.Context, cfg Config, dlq queue.Queue) ([]queue.Queue, error) {
	if cfg.To != "" && !IsFunctionARN(cfg.To) {
		q, err := resolveQueue(ctx, cfg.API, cfg.To)
		if err != nil {
			return nil, err
		}
		return []queue.Queue{q}, nil
	}
	urls, err := queue.ListSources(ctx, cfg.API, dlq.URL)
	if err != nil {
		return nil, nil //nolint:nilerr // unlisted sources: the canary watches the DLQ alone
	}
	var out []queue.Queue
	for _, u := range urls {
		q, err := queue.Attributes(ctx, cfg.API, u)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
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

func (w *canaryWatch) sent(ids []string) {
	w.mu.Lock()
	for _, id := range ids {
		w.ids[id] = true
	}
	w.mu.Unlock()
}

// watch waits for the verdict: until the wait ends, or earlier once the
// DLQ grew by as many messages as the canary sent (all may be back).
func (w *canaryWatch) watch(ctx context.Context, start time.Time, sent int) (CanaryReport, error) {
	cfg := w.cfg
	c := CanaryReport{Sent: sent, Wait: w.why, ReturnedCauses: []string{}}
	began := cfg.Now()
	end := began.Add(w.wait)
	poll := min(5*time.Second, max(w.wait/10, 100*time.Millisecond))
	for now := began; now.Before(end); now = cfg.Now() {
		w.status(fmt.Sprintf("canary: %d sent, waiting %s for the verdict", sent, end.Sub(now).Round(time.Second)))
		if grown, err := w.dlqGrew(ctx, sent); err != nil || grown {
			if err != nil {
				return c, err
			}
			break
		}
		if err := cfg.Sleep(ctx, min(poll, end.Sub(now))); err != nil {
			return c, err
		}
	}
	w.status("")
	c.WaitSeconds = cfg.Now().Sub(began).Seconds()
	back, err := w.returned(ctx, start)
	if err != nil {
		return c, err
	}
	c.Returned = len(back)
	c.ReturnedCauses = causes(back)
	drained, err := w.drained(ctx)
	if err != nil {
		return c, err
	}
	switch {
	case c.Returned > 0:
		c.Verdict = CanaryReturned
	case drained:
		c.Verdict, c.Consumed = CanaryConsumed, sent
	default:
		c.Verdict, c.NotConsumed = CanaryNotConsumed, sent
	}
	if c.Returned > 0 && drained {
		c.Consumed = sent - c.Returned
	}
	return c, nil
}

func (w *canaryWatch) status(s string) {
	if w.cfg.Status != nil {
		w.cfg.Status(s)
	}
}

// dlqGrew reports whether the DLQ holds at least sent more messages than
// it did after the canary left it.
func (w *canaryWatch) dlqGrew(ctx context.Context, sent int) (bool, error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return false, err
	}
	after := w.dlq.Depth() - int64(sent)
	return q.Depth()-after >= int64(sent), nil
}

// drained reports whether every source is back to its depth before the
// canary (with no source to read, nothing says otherwise).
func (w *canaryWatch) drained(ctx context.Context) (bool, error) {
	for _, s := range w.sources {
		q, err := queue.Attributes(ctx, w.cfg.API, s.URL)
		if err != nil {
			return false, err
		}
		if q.Depth() > w.before[s.URL] {
			return false, nil
		}
	}
	return true, nil
}

// returned finds the canary back in the DLQ: a message whose replay
// marker names one of the canary's originals and was written by this
// run. The scan gives back everything it receives.
func (w *canaryWatch) returned(ctx context.Context, start time.Time) ([]queue.Message, error) {
	q, err := queue.Attributes(ctx, w.cfg.API, w.dlq.URL)
	if err != nil {
		return nil, err
	}
	since := start.UTC().Format(timeFormat)
	w.mu.Lock()
	ids := w.ids
	w.mu.Unlock()
	match := func(m *queue.Message) bool {
		a, ok := m.Attributes[MarkerAttribute]
		if !ok {
			return false
		}
		var mk Marker
		return json.Unmarshal([]byte(a.String), &mk) == nil && ids[mk.OriginalMessageID] && mk.ReplayedAt >= since
	}
	res, err := queue.BrowseOpened(ctx, w.cfg.API, q, match, queue.BrowseOptions{})
	if err != nil {
		return nil, fmt.Errorf("look for the canary in %s: %w", w.dlq.Name, err)
	}
	return res.Matched, nil
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
