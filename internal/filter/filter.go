// Package filter decides which messages a command works on: by trace or
// order ID, by fields of the body or attributes (--where), by any gojq
// predicate over the message's JSON form (--jq), by sent time, receive
// count and error code. Peek and replay share it, so a filter previewed
// with peek selects exactly what replay moves.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/gojq"

	"github.com/dlqops/dlq/internal/queue"
)

// Options are the filter flags as given.
type Options struct {
	TraceID     string
	OrderID     string
	Where       []string // PATH=VALUE, all must hold
	JQ          string
	Since       time.Duration // sent within this long before now
	Until       string        // sent at or before: RFC3339 time, or a duration ago
	MinReceives int
	ErrorCode   string
}

// Filter is a compiled set of conditions; the zero conditions match all.
type Filter struct {
	opts  Options
	where []where
	jq    *gojq.Code
	since time.Time
	until time.Time
	queue string
	also  []func(*queue.Message) bool
}

// Also adds a condition computed elsewhere (a triage cause's messages).
func (f *Filter) Also(match func(*queue.Message) bool) *Filter {
	f.also = append(f.also, match)
	return f
}

// Clone is a copy of f that takes conditions of its own (Also) without
// changing f.
func (f *Filter) Clone() *Filter {
	c := *f
	c.also = append([]func(*queue.Message) bool(nil), f.also...)
	return &c
}

// ForQueue names the queue the messages come from, so that --jq sees the
// same "queue" field as -o json.
func (f *Filter) ForQueue(name string) *Filter {
	f.queue = name
	return f
}

type where struct {
	attr  string   // attr.NAME
	path  []string // body path
	value string
	raw   string
}

// New validates and compiles the options against the clock now.
func New(opts Options, now time.Time) (*Filter, error) {
	f := &Filter{opts: opts}
	for _, w := range opts.Where {
		parsed, err := parseWhere(w)
		if err != nil {
			return nil, err
		}
		f.where = append(f.where, parsed)
	}
	if strings.TrimSpace(opts.JQ) != "" {
		q, err := gojq.Parse(opts.JQ)
		if err != nil {
			return nil, fmt.Errorf("invalid --jq %q: %w", opts.JQ, err)
		}
		code, err := gojq.Compile(q)
		if err != nil {
			return nil, fmt.Errorf("invalid --jq %q: %w", opts.JQ, err)
		}
		f.jq = code
	}
	if opts.Since < 0 {
		return nil, fmt.Errorf("--since must be positive, got %s", opts.Since)
	}
	if opts.Since > 0 {
		f.since = now.Add(-opts.Since)
	}
	if opts.Until != "" {
		t, err := parseTime(opts.Until, now)
		if err != nil {
			return nil, err
		}
		f.until = t
	}
	if opts.MinReceives < 0 {
		return nil, fmt.Errorf("--min-receives must be 0 or more, got %d", opts.MinReceives)
	}
	return f, nil
}

// NeedsBody reports whether Match reads what queue.Correlate fills (the
// trace and order IDs, the error, the parsed body): a scan that nothing
// else needs them from can skip parsing bodies.
func (f *Filter) NeedsBody() bool {
	o := f.opts
	return o.TraceID != "" || o.OrderID != "" || o.ErrorCode != "" || len(f.where) > 0 || f.jq != nil || len(f.also) > 0
}

// Empty reports whether the filter has no condition: it matches every
// message.
func (f *Filter) Empty() bool {
	return !f.NeedsBody() && f.since.IsZero() && f.until.IsZero() && f.opts.MinReceives == 0
}

// Match reports whether the message meets every condition. A condition on
// JSON fields does not match a body that is not JSON.
func (f *Filter) Match(m *queue.Message) bool {
	o := f.opts
	switch {
	case o.TraceID != "" && m.TraceID != o.TraceID,
		o.OrderID != "" && m.OrderID != o.OrderID,
		!f.since.IsZero() && m.SentAt.Before(f.since),
		!f.until.IsZero() && m.SentAt.After(f.until),
		o.MinReceives > 0 && m.ReceiveCount < o.MinReceives,
		o.ErrorCode != "" && (m.Error == nil || m.Error.Code != o.ErrorCode):
		return false
	}
	for _, w := range f.where {
		if !w.match(m) {
			return false
		}
	}
	if f.jq != nil && !f.matchJQ(m) {
		return false
	}
	// Last: a condition computed elsewhere may count what it is asked about.
	for _, also := range f.also {
		if !also(m) {
			return false
		}
	}
	return true
}

func (f *Filter) matchJQ(m *queue.Message) bool {
	// gojq takes plain maps and slices, so the view goes through JSON.
	b, err := json.Marshal(m.View(f.queue))
	if err != nil {
		return false
	}
	var input any
	if err := json.Unmarshal(b, &input); err != nil {
		return false
	}
	iter := f.jq.Run(input)
	v, ok := iter.Next()
	if !ok {
		return false
	}
	if _, isErr := v.(error); isErr {
		return false
	}
	return v != nil && v != false
}

func parseWhere(s string) (where, error) {
	path, value, ok := strings.Cut(s, "=")
	path = strings.TrimSpace(path)
	if !ok || path == "" {
		return where{}, fmt.Errorf("invalid --where %q: want PATH=VALUE, e.g. customer.tier=gold or attr.ErrorCode=500", s)
	}
	w := where{value: value, raw: s}
	if name, isAttr := strings.CutPrefix(path, "attr."); isAttr {
		if name == "" {
			return where{}, fmt.Errorf("invalid --where %q: attr. needs an attribute name", s)
		}
		w.attr = name
		return w, nil
	}
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			return where{}, fmt.Errorf("invalid --where %q: empty path segment", s)
		}
		w.path = append(w.path, seg)
	}
	return w, nil
}

func (w where) match(m *queue.Message) bool {
	if w.attr != "" {
		a, ok := m.Attributes[w.attr]
		return ok && a.Value() == w.value
	}
	// The unwrapped payload first, then the raw body's own fields.
	for _, doc := range []any{m.Unwrapped, m.Parsed} {
		if v, ok := lookup(doc, w.path); ok && scalar(v) == w.value {
			return true
		}
	}
	return false
}

func lookup(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch t := v.(type) {
		case map[string]any:
			next, ok := t[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalar writes a JSON value as --where compares it: strings as they are,
// numbers without exponent where possible, true/false/null as words.
func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("invalid --until " + strconv.Quote(s) + ": want an RFC3339 time (2026-11-26T18:00:00Z) or a duration ago (30m)")
}

// Path is a field of a message, in --where's syntax: a dotted path into
// the unwrapped payload (then the raw body), or attr.NAME for a message
// attribute.
type Path struct{ w where }

// ParsePath reads a path.
func ParsePath(s string) (Path, error) {
	w, err := parseWhere(s + "=")
	if err != nil || strings.Contains(s, "=") {
		return Path{}, fmt.Errorf("invalid path %q: want a.b.c or attr.NAME", s)
	}
	return Path{w: w}, nil
}

// Value is the path's value in m as --where compares it, and whether m
// has it.
func (p Path) Value(m *queue.Message) (string, bool) {
	if p.w.attr != "" {
		a, ok := m.Attributes[p.w.attr]
		return a.Value(), ok
	}
	for _, doc := range []any{m.Unwrapped, m.Parsed} {
		if v, ok := lookup(doc, p.w.path); ok && v != nil {
			return scalar(v), true
		}
	}
	return "", false
}
