package replay

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/triage"
)

// loggedSuccess counts the sent canary messages whose trace, in the
// pipeline's logs (cfg.Logs), logged a success after the canary began,
// with no failure after it. byLogs is false when the logs cannot speak
// for every sent message: no log groups, a message without a trace ID,
// or logs that could not be read (a warning says so).
func (w *canaryWatch) loggedSuccess(ctx context.Context) (ok int, byLogs bool) {
	if w.cfg.Logs == nil {
		return 0, false
	}
	w.mu.Lock()
	traceOf := map[string]string{}
	all := len(w.sentIDs) > 0
	for id := range w.sentIDs {
		tr, has := w.traces[id]
		if has {
			traceOf[id] = tr
		}
		all = all && has
	}
	w.mu.Unlock()
	if len(traceOf) == 0 {
		return 0, false
	}
	var traces []string
	for _, tr := range traceOf {
		traces = append(traces, tr)
	}
	src := w.cfg.Logs
	f := &insights.Fetcher{API: src.API, PollInterval: src.PollInterval}
	res, err := f.Fetch(ctx, insights.Request{TraceIDs: slices.Compact(slices.Sorted(slices.Values(traces))), Groups: src.Groups, Prefixes: src.Prefixes, Start: w.start, End: w.cfg.Now()})
	if err != nil {
		w.warn(fmt.Sprintf("canary: the logs could not be read (%v): its verdict rests on the queues' depths", err))
		return 0, false
	}
	good := succeeded(res.Events)
	for _, tr := range traceOf {
		if good[tr] {
			ok++
		}
	}
	return ok, all
}

// succeeded maps each trace to whether its last outcome in events (in
// time order) was a success: a step's success, or a duplicate the
// idempotency layer recognised as done.
func succeeded(events []insights.Event) map[string]bool {
	sort.SliceStable(events, func(i, j int) bool { return events[i].Timestamp.Before(events[j].Timestamp) })
	last := map[string]bool{}
	for _, e := range events {
		if e.Platform || e.TraceID == "" {
			continue
		}
		switch e.Status {
		case "success", "duplicate":
			last[e.TraceID] = true
		case "error", "retry", "dlq":
			last[e.TraceID] = false
		}
	}
	return last
}

// causes groups the returned messages as dlq triage does (the same cause
// IDs), reading their traces' first failure since the canary began when
// log groups are known.
func (w *canaryWatch) causes(ctx context.Context, back []queue.Message) []ReturnedCause {
	out := []ReturnedCause{}
	if len(back) == 0 {
		return out
	}
	o := triage.Options{Now: w.cfg.Now}
	if w.cfg.Logs != nil {
		src := *w.cfg.Logs
		src.Start = w.start
		o.Logs = &src
	}
	rep, err := triage.Classify(ctx, o, back)
	if err != nil && o.Logs != nil {
		w.warn(fmt.Sprintf("canary: the logs could not be read (%v): the returned messages' causes are what they record", err))
		o.Logs = nil
		rep, err = triage.Classify(ctx, o, back)
	}
	if err != nil {
		return out
	}
	for _, g := range rep.Groups {
		rc := ReturnedCause{ID: g.ID, Count: g.Count, Step: g.Step, Error: g.Error, Source: g.Source}
		if g.Source == triage.SourceUnknown {
			rc.Error = ""
		}
		out = append(out, rc)
	}
	return out
}

func (w *canaryWatch) warn(s string) {
	w.mu.Lock()
	w.warnings = append(w.warnings, s)
	w.mu.Unlock()
}
