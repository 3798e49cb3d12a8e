// Package triage groups a dead-letter queue's messages by the cause of
// their first failure. The cause of a message is the first failed line of
// its trace in the pipeline's logs (found through Logs Insights, many
// traces a query), else what the message records itself (Lambda's
// ErrorCode and ErrorMessage attributes, error fields of its body), else
// unknown. Error texts are normalised, their variable parts masked, so one
// cause is one group whatever request or order failed; each group has a
// short ID derived from its step and normalised error, the same on every
// run, by which `--cause` selects its messages.
package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
)

// Where a group's cause was read.
const (
	SourceLogs   = "logs"   // the trace's first failed log line
	SourceLambda = "lambda" // Lambda's ErrorCode/ErrorMessage attributes
	SourceBody   = "body"   // error fields of the message body
	// EventBridge's ERROR_CODE/ERROR_MESSAGE attributes on a target's DLQ
	// message.
	SourceEventBridge = "eventbridge"
	SourceUnknown     = "unknown" // nothing says
)

// UnknownError is the error text of the group of messages whose cause
// nothing records.
const UnknownError = "unknown"

// MaxExamples is how many order and trace IDs a group gives as examples.
const MaxExamples = 3

// Group is the messages whose first failure had one cause.
type Group struct {
	// ID is CauseID(Step, Error): stable across runs.
	ID   string
	Step string
	// Error is the normalised error text; Example one raw text of the
	// group (its earliest message's).
	Error   string
	Example string
	Source  string
	Count   int
	// FirstSent and LastSent are the group's earliest and latest sent
	// times.
	FirstSent, LastSent time.Time
	// OrderIDs and TraceIDs are examples, at most MaxExamples each, from
	// the earliest messages.
	OrderIDs []string
	TraceIDs []string
	// MessageIDs are all the group's messages, in sent order.
	MessageIDs []string
}

// MarshalJSON writes the documented form (docs/json-output.md): times in
// insights.TimeFormat, null when unknown; lists never null. Errors are
// full of <id> and <n>: they are written as such, not HTML-escaped.
func (g Group) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		ID         string   `json:"id"`
		Step       string   `json:"step"`
		Error      string   `json:"error"`
		Example    string   `json:"example"`
		Source     string   `json:"source"`
		Count      int      `json:"count"`
		FirstSent  *string  `json:"firstSent"`
		LastSent   *string  `json:"lastSent"`
		OrderIDs   []string `json:"orderIds"`
		TraceIDs   []string `json:"traceIds"`
		MessageIDs []string `json:"messageIds"`
	}{g.ID, g.Step, g.Error, g.Example, g.Source, g.Count, instant(g.FirstSent), instant(g.LastSent),
		nonNil(g.OrderIDs), nonNil(g.TraceIDs), nonNil(g.MessageIDs)})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

func instant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(insights.TimeFormat)
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Report is a classification of messages.
type Report struct {
	// Groups are sorted by count, largest first, then by first sent time
	// and ID.
	Groups []Group
	// CauseOf maps each message ID to its group's ID.
	CauseOf map[string]string
	// By source: how many messages got their cause from the logs, from
	// Lambda's attributes, from EventBridge's, from the body, or have none.
	FromLogs, FromLambda, FromEventBridge, FromBody, Unknown int
	// Traces is how many distinct trace IDs were looked up in the logs;
	// Queries how many Insights queries that took.
	Traces  int
	Queries int
	// Truncated lists one-second windows that held more than
	// insights.MaxRows lines: first failures there may be missed.
	Truncated []time.Time
}

// Options say where Classify looks.
type Options struct {
	// Logs is where the pipeline logs; nil: causes come from the messages
	// alone.
	Logs *LogSource
	// Now is the clock (the end of the logs' search); nil means time.Now.
	Now func() time.Time
}

// cause is one message's cause before grouping.
type cause struct {
	source     string
	step       string
	normalized string
	raw        string
}

// Classify groups msgs by the cause of their first failure: the first
// failed log line of their trace, else what the message records, else
// unknown. It reads the logs only; the messages are not touched.
func Classify(ctx context.Context, o Options, msgs []queue.Message) (Report, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	rep := Report{CauseOf: make(map[string]string, len(msgs))}
	fails := map[string]failure{}
	if o.Logs != nil {
		f, stats, err := o.Logs.firstFailures(ctx, msgs, now())
		if err != nil {
			return Report{}, fmt.Errorf("read first failures from logs: %w", err)
		}
		fails = f
		rep.Traces, rep.Queries, rep.Truncated = stats.traces, stats.queries, stats.truncated
	}

	// In sent order, so a group's example and IDs are its earliest.
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return msgs[order[a]].SentAt.Before(msgs[order[b]].SentAt) })
	byID := map[string]*Group{}
	var groups []*Group
	for _, i := range order {
		m := &msgs[i]
		c := causeOf(m, fails)
		switch c.source {
		case SourceLogs:
			rep.FromLogs++
		case SourceLambda:
			rep.FromLambda++
		case SourceEventBridge:
			rep.FromEventBridge++
		case SourceBody:
			rep.FromBody++
		default:
			rep.Unknown++
		}
		id := CauseID(c.step, c.normalized)
		g, ok := byID[id]
		if !ok {
			g = &Group{ID: id, Step: c.step, Error: c.normalized, Example: c.raw, Source: c.source, FirstSent: m.SentAt, LastSent: m.SentAt}
			byID[id] = g
			groups = append(groups, g)
		}
		g.add(m)
		rep.CauseOf[m.MessageID] = id
	}
	sort.SliceStable(groups, func(a, b int) bool {
		ga, gb := groups[a], groups[b]
		if ga.Count != gb.Count {
			return ga.Count > gb.Count
		}
		if !ga.FirstSent.Equal(gb.FirstSent) {
			return ga.FirstSent.Before(gb.FirstSent)
		}
		return ga.ID < gb.ID
	})
	rep.Groups = make([]Group, len(groups))
	for i, g := range groups {
		rep.Groups[i] = *g
	}
	return rep, nil
}

// causeOf picks a message's cause: its trace's first failure in the logs,
// else what the message records, else unknown.
func causeOf(m *queue.Message, fails map[string]failure) cause {
	if f, ok := fails[m.TraceID]; ok && m.TraceID != "" {
		return cause{source: SourceLogs, step: f.step, normalized: Normalize(f.raw), raw: f.raw}
	}
	if c, ok := messageCause(m); ok {
		return c
	}
	return cause{source: SourceUnknown, normalized: UnknownError}
}

func (g *Group) add(m *queue.Message) {
	g.Count++
	g.MessageIDs = append(g.MessageIDs, m.MessageID)
	if !m.SentAt.IsZero() && (g.FirstSent.IsZero() || m.SentAt.Before(g.FirstSent)) {
		g.FirstSent = m.SentAt
	}
	if m.SentAt.After(g.LastSent) {
		g.LastSent = m.SentAt
	}
	g.OrderIDs = addExample(g.OrderIDs, m.OrderID)
	g.TraceIDs = addExample(g.TraceIDs, m.TraceID)
}

func addExample(list []string, id string) []string {
	if id == "" || len(list) >= MaxExamples {
		return list
	}
	for _, v := range list {
		if v == id {
			return list
		}
	}
	return append(list, id)
}

// MinIDPrefix is the shortest prefix of a cause ID that --cause accepts.
const MinIDPrefix = 4

// CauseError is a --cause that names no group, or more than one. The
// command shows it as a usage error.
type CauseError struct {
	ID string
	// Matches are the IDs the prefix matched (more than one), or nil.
	Matches []string
	// Known are the IDs of this run's groups.
	Known []string
}

func (e *CauseError) Error() string {
	if len(e.Matches) > 1 {
		return fmt.Sprintf("cause %q is ambiguous: it starts %s; give more digits", e.ID, strings.Join(e.Matches, ", "))
	}
	if len(e.ID) < MinIDPrefix {
		return fmt.Sprintf("cause %q is too short: give at least %d digits of an ID `dlq triage` shows", e.ID, MinIDPrefix)
	}
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("no cause %q among the selected messages (causes now: %s)", e.ID, known)
}

// Selection is one group of a Report and the messages it holds: what
// `--cause ID` selects.
type Selection struct {
	Group Group
	ids   map[string]bool
}

// Match reports whether the message belongs to the selected group. It
// goes by message ID, which SQS keeps however often a message is received:
// a scan after the classification matches exactly the group's messages,
// and none that arrived since.
func (s *Selection) Match(m *queue.Message) bool { return s.ids[m.MessageID] }

// Select returns the group whose ID is id, or the only one whose ID
// starts with it (at least MinIDPrefix digits). An ID that names no group
// or several is a *CauseError.
func (r *Report) Select(id string) (*Selection, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	var matches []int
	for i, g := range r.Groups {
		if g.ID == id {
			matches = []int{i}
			break
		}
		if len(id) >= MinIDPrefix && strings.HasPrefix(g.ID, id) {
			matches = append(matches, i)
		}
	}
	if len(matches) != 1 {
		e := &CauseError{ID: id}
		for _, g := range r.Groups {
			e.Known = append(e.Known, g.ID)
		}
		for _, i := range matches {
			e.Matches = append(e.Matches, r.Groups[i].ID)
		}
		return nil, e
	}
	g := r.Groups[matches[0]]
	s := &Selection{Group: g, ids: make(map[string]bool, len(g.MessageIDs))}
	for _, mid := range g.MessageIDs {
		s.ids[mid] = true
	}
	return s, nil
}

// SelectCause classifies msgs and selects the group named id: the one
// call `--cause` needs.
func SelectCause(ctx context.Context, o Options, msgs []queue.Message, id string) (*Selection, error) {
	rep, err := Classify(ctx, o, msgs)
	if err != nil {
		return nil, err
	}
	return rep.Select(id)
}
