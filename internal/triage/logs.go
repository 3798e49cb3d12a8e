package triage

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
)

// MaxQueryLength is the longest query string StartQuery accepts.
const MaxQueryLength = 10000

// MaxTracesPerQuery caps the trace IDs of one query so that its rows stay
// under insights.MaxRows: a dead-lettered trace logs a few lines per step
// and delivery (our pipeline: about 10 per attempt, a few attempts), and
// rowsPerTrace allows ten times that. A query that still reaches the cap
// is split by time (insights), so the cap costs queries, not lines.
const MaxTracesPerQuery = insights.MaxRows / rowsPerTrace

const rowsPerTrace = 100

// Window edges: a trace's first failure follows the message's first send
// (SQS keeps the sent time across redrives) and is searched until hours
// later, as `timeline --from-dlq` does; the lead covers clock skew and
// Lambda's asynchronous retries.
const (
	windowLead  = 10 * time.Minute
	windowTrail = 6 * time.Hour
	// maxRetention is the longest SQS keeps a message.
	maxRetention = 14 * 24 * time.Hour
)

// LogSource is where Classify reads the pipeline's logs: the log groups
// and prefixes `dlq timeline` searches.
type LogSource struct {
	API      insights.LogsAPI
	Groups   []string
	Prefixes []string
	// Start and End bound the search; when zero, each query searches from
	// shortly before its traces' messages were sent until 6 hours later
	// (or now).
	Start, End time.Time
	// Concurrency is how many queries run at once; 0 means 4.
	Concurrency int
	// PollInterval is the first wait for a query's results; 0 means
	// insights' default.
	PollInterval time.Duration
}

// failure is the first failure of a trace in its logs.
type failure struct {
	at   time.Time
	step string
	raw  string
}

// logStats is what reading the logs cost and missed.
type logStats struct {
	queries   int
	traces    int
	truncated []time.Time
}

// traceSpan is a trace to look up and when its messages were sent.
type traceSpan struct {
	id          string
	first, last time.Time
}

// firstFailures finds the first failure of each message's trace, querying
// the traces in batches of at most MaxTracesPerQuery and MaxQueryLength.
func (src *LogSource) firstFailures(ctx context.Context, msgs []queue.Message, now time.Time) (map[string]failure, logStats, error) {
	traces := traceSpans(msgs)
	stats := logStats{traces: len(traces)}
	if len(traces) == 0 {
		return map[string]failure{}, stats, nil
	}
	batches := planBatches(traces, src.Prefixes)
	workers := src.Concurrency
	if workers <= 0 {
		workers = 4
	}
	workers = min(workers, len(batches))

	var mu sync.Mutex
	found := make(map[string]failure, len(traces))
	next := make(chan []traceSpan)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for _, b := range batches {
			select {
			case next <- b:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range workers {
		// A Fetcher is not safe for concurrent use, and it learns about
		// the endpoint (SOURCE supported, the groups under a prefix): one
		// per worker, kept for all its batches.
		f := &insights.Fetcher{API: src.API, PollInterval: src.PollInterval}
		g.Go(func() error {
			var last insights.Result
			defer func() {
				mu.Lock()
				stats.queries += last.Queries
				stats.truncated = append(stats.truncated, last.Truncated...)
				mu.Unlock()
			}()
			for batch := range next {
				req := src.request(batch, now)
				res, err := f.Fetch(gctx, req)
				if err != nil {
					return err
				}
				last = res // Queries and Truncated count the Fetcher's whole run
				fails := firstFailuresIn(res.Events, req.TraceIDs)
				mu.Lock()
				for id, fl := range fails {
					found[id] = fl
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, stats, err
	}
	return found, stats, nil
}

// request is the Insights request of one batch.
func (src *LogSource) request(batch []traceSpan, now time.Time) insights.Request {
	req := insights.Request{Groups: src.Groups, Prefixes: src.Prefixes, Start: src.Start, End: src.End}
	first, last := batch[0].first, batch[0].last
	for _, t := range batch {
		req.TraceIDs = append(req.TraceIDs, t.id)
		if t.first.Before(first) {
			first = t.first
		}
		if t.last.After(last) {
			last = t.last
		}
	}
	if first.IsZero() {
		// No SentTimestamp (a scan always asks for it): search as far
		// back as SQS keeps a message.
		first = now.Add(-maxRetention)
	}
	if last.IsZero() {
		last = now
	}
	if req.Start.IsZero() {
		req.Start = first.Add(-windowLead)
	}
	if req.End.IsZero() {
		req.End = last.Add(windowTrail)
		if now.Before(req.End) {
			req.End = now
		}
	}
	if !req.End.After(req.Start) {
		req.End = req.Start.Add(time.Second)
	}
	return req
}

// traceSpans lists the distinct trace IDs of the messages that can be
// queried, oldest first: a batch then covers messages sent close
// together, and its window stays short.
func traceSpans(msgs []queue.Message) []traceSpan {
	byID := map[string]*traceSpan{}
	var out []*traceSpan
	for i := range msgs {
		m := &msgs[i]
		// An ID Insights cannot quote (empty, too long, control
		// characters) is not looked up: the message speaks for itself.
		if insights.ValidateID("trace ID", m.TraceID) != nil {
			continue
		}
		t, ok := byID[m.TraceID]
		if !ok {
			t = &traceSpan{id: m.TraceID, first: m.SentAt, last: m.SentAt}
			byID[m.TraceID] = t
			out = append(out, t)
		}
		if m.SentAt.Before(t.first) {
			t.first = m.SentAt
		}
		if m.SentAt.After(t.last) {
			t.last = m.SentAt
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].first.Equal(out[j].first) {
			return out[i].first.Before(out[j].first)
		}
		return out[i].id < out[j].id
	})
	spans := make([]traceSpan, len(out))
	for i, t := range out {
		spans[i] = *t
	}
	return spans
}

// planBatches cuts the traces, in order, into batches whose query (as
// insights.Query writes it, behind the longest SOURCE command the
// prefixes need) fits in MaxQueryLength and that hold at most
// MaxTracesPerQuery traces.
func planBatches(traces []traceSpan, prefixes []string) [][]traceSpan {
	budget := MaxQueryLength - queryOverhead(prefixes)
	var batches [][]traceSpan
	var cur []traceSpan
	used := 0
	for _, t := range traces {
		cost := conditionLength(t.id)
		if len(cur) > 0 {
			cost += len(" or ")
		}
		if len(cur) > 0 && (used+cost > budget || len(cur) >= MaxTracesPerQuery) {
			batches = append(batches, cur)
			cur, used = nil, 0
			cost = conditionLength(t.id)
		}
		cur = append(cur, t)
		used += cost
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// conditionLength is the length of one trace's condition in the query's
// filter: @message like "ID", escaped.
func conditionLength(id string) int {
	return len("@message like ") + len(insights.Quote(id))
}

// queryOverhead is the length of a query without its conditions: the
// commands insights.Query writes around them and the longest SOURCE
// command the prefixes need (insights tries SOURCE first).
func queryOverhead(prefixes []string) int {
	q, err := insights.Query([]string{"x"})
	if err != nil {
		panic(err) // a constant needle: cannot fail
	}
	overhead := len(q) - conditionLength("x")
	source := 0
	for start := 0; start < len(prefixes); start += insights.MaxPrefixesPerSource {
		chunk := prefixes[start:min(start+insights.MaxPrefixesPerSource, len(prefixes))]
		source = max(source, len(insights.SourcePrefix(chunk, "")))
	}
	return overhead + source
}

// firstFailuresIn finds, in events sorted by time, each trace's first
// failure: the first line of the trace that `dlq timeline` marks as its
// first failure (status error or dlq, or level ERROR). Lambda's own lines
// (a timeout) carry only a request ID; they count for every trace that
// logged in that invocation, since one invocation handles a batch.
//
// Its step is the step whose failure started it, which is not always the
// first failed line's: the pipeline's record-level line ("record failed",
// no step) and Lambda's timeout follow the line of the step that failed,
// often logged as a retry. So the step is that of the trace's earliest
// line, up to its first failure, where a step failed (an error, or a
// retry that says why), and the function's name only when no such line
// names one. The error stays the first failure's, so that a cause's ID
// does not change with the retries before it.
func firstFailuresIn(events []insights.Event, traces []string) map[string]failure {
	wanted := make(map[string]bool, len(traces))
	for _, t := range traces {
		wanted[t] = true
	}
	tracesOf := requestTraces(events, wanted)
	out := map[string]failure{}
	steps := map[string]string{} // trace → its earliest failed step so far
	for _, e := range events {
		if !e.Platform && wanted[e.TraceID] && e.Step != "" && failedStep(e) {
			if _, ok := steps[e.TraceID]; !ok {
				steps[e.TraceID] = e.Step
			}
		}
		if !(insights.TimelineEvent{Status: e.Status, Level: e.Level}).Failed() {
			continue
		}
		if e.Platform {
			for _, t := range tracesOf[e.RequestID] {
				if _, done := out[t]; !done {
					out[t] = failure{at: e.Timestamp, step: stepOr(steps[t], e.LogGroup), raw: e.Message}
				}
			}
			continue
		}
		if _, done := out[e.TraceID]; done || !wanted[e.TraceID] {
			continue
		}
		raw := e.Error
		if raw == "" {
			raw = e.Message
		}
		out[e.TraceID] = failure{at: e.Timestamp, step: stepOr(steps[e.TraceID], e.LogGroup), raw: raw}
	}
	return out
}

// requestTraces maps each request ID to the wanted traces that logged in
// that invocation, for Lambda's own lines, which name only the request.
func requestTraces(events []insights.Event, wanted map[string]bool) map[string][]string {
	tracesOf := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, e := range events {
		key := [2]string{e.RequestID, e.TraceID}
		if e.Platform || e.RequestID == "" || !wanted[e.TraceID] || seen[key] {
			continue
		}
		seen[key] = true
		tracesOf[e.RequestID] = append(tracesOf[e.RequestID], e.TraceID)
	}
	return tracesOf
}

// failedStep reports whether a step's line records its failure: a failed
// line, or a retry that says what went wrong. A retry without an error (a
// step in progress elsewhere) is waiting, not failing.
func failedStep(e insights.Event) bool {
	switch strings.ToLower(e.Status) {
	case "error", "dlq", "failed", "failure":
		return true
	case "retry":
		return e.Error != ""
	}
	return strings.EqualFold(e.Level, "error")
}

// stepOr is step, else the function of the log group.
func stepOr(step, group string) string {
	if step != "" {
		return step
	}
	return function(group)
}

// function is the short name of a log group: the Lambda function of
// /aws/lambda/NAME.
func function(group string) string {
	return insights.TimelineEvent{LogGroup: group}.Function()
}
