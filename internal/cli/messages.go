package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/triage"
)

// What the commands that read a DLQ's messages share: the filter flags,
// --cause, and browsing a queue with the errors and notes a user sees.

// MessageFilter is a command's message filters: the flags' values, and
// the filter they make, parsed once (when the command starts; a run handed
// its options directly parses them when it first needs them).
type MessageFilter struct {
	filter.Options
	parsed *filter.Filter
}

// Parse makes the filter, once; a malformed filter is a usage error.
func (m *MessageFilter) Parse(now time.Time) (*filter.Filter, error) {
	if m.parsed == nil {
		f, err := filter.New(m.Options, now)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		m.parsed = f
	}
	return m.parsed, nil
}

// AddFilterFlags declares the message filter flags peek, replay and
// timeline share. A flag the command already declares for its own purpose
// (timeline's --order-id and --since) is left to it.
func AddFilterFlags(cmd *cobra.Command, o *filter.Options) {
	fs := cmd.Flags()
	add := func(name string, declare func()) {
		if fs.Lookup(name) == nil {
			declare()
		}
	}
	add("trace-id", func() { fs.StringVar(&o.TraceID, "trace-id", "", "only messages of this trace `ID`") })
	add("order-id", func() { fs.StringVar(&o.OrderID, "order-id", "", "only messages of this order `ID`") })
	add("where", func() {
		fs.StringArrayVar(&o.Where, "where", nil, "only messages where `PATH=VALUE` (body path, or attr.NAME); repeatable")
	})
	add("jq", func() {
		fs.StringVar(&o.JQ, "jq", "", "only messages for which the gojq `EXPR` over the JSON message is true")
	})
	add("since", func() { fs.DurationVar(&o.Since, "since", 0, "only messages sent within `DURATION` before now") })
	add("until", func() {
		fs.StringVar(&o.Until, "until", "", "only messages sent at or before `TIME` (RFC3339, or a duration ago)")
	})
	add("min-receives", func() { fs.IntVar(&o.MinReceives, "min-receives", 0, "only messages received at least `N` times") })
	add("error-code", func() {
		fs.StringVar(&o.ErrorCode, "error-code", "", "only messages whose recorded error has this `CODE`")
	})
}

// Browse is queue.Open and queue.BrowseOpened for a command: flt
// selects, notes go to warn, and a queue with its own RedrivePolicy is a
// usage error that names --force.
func Browse(ctx context.Context, api queue.BrowseAPI, ref queue.Ref, flt *filter.Filter, o queue.BrowseOptions, warn io.Writer) (queue.Queue, queue.ScanResult, error) {
	q, err := OpenBrowse(ctx, api, ref, o, warn)
	if err != nil {
		return q, queue.ScanResult{}, err
	}
	res, err := queue.BrowseOpened(ctx, api, q, flt.ForQueue(q.Name).Match, o)
	return q, res, err
}

// OpenBrowse is queue.Open for a command (see Browse).
func OpenBrowse(ctx context.Context, api queue.SQSAPI, ref queue.Ref, o queue.BrowseOptions, warn io.Writer) (queue.Queue, error) {
	o.Note = func(s string) { _, _ = fmt.Fprintln(warn, s) }
	q, err := queue.Open(ctx, api, ref, o)
	var rerr *queue.RedriveError
	if errors.As(err, &rerr) {
		return q, Usagef("%s; pass --force to read it anyway", rerr.Error())
	}
	return q, err
}

// CauseOptions select the messages of one cause `dlq triage` shows
// (--cause), and where the pipeline's logs are to classify them.
type CauseOptions struct {
	ID       string
	Groups   []string
	Prefixes []string
}

// AddCauseFlags declares --cause and, unless the command has them,
// --log-group and --log-group-prefix.
func AddCauseFlags(cmd *cobra.Command, o *CauseOptions) {
	fs := cmd.Flags()
	fs.StringVar(&o.ID, "cause", "", "only the messages of this cause `ID` from dlq triage (at least 4 digits)")
	if fs.Lookup("log-group") == nil {
		fs.StringArrayVar(&o.Groups, "log-group", nil, "with --cause: log group `NAME` where the pipeline logs; repeatable (default: the context's logGroups)")
	}
	if fs.Lookup("log-group-prefix") == nil {
		fs.StringArrayVar(&o.Prefixes, "log-group-prefix", nil, "with --cause: log groups whose names start with `PREFIX`; repeatable")
	}
}

// Defaults fills the log groups from the context when no flag gave any.
func (o *CauseOptions) Defaults(s Settings) {
	if len(o.Groups) == 0 && len(o.Prefixes) == 0 {
		o.Groups, o.Prefixes = s.LogGroups, s.LogGroupPrefix
	}
}

// Cause is the cause --cause selected, as a condition on messages.
type Cause struct {
	Group triage.Group
	sel   *triage.Selection
	// classified are the messages the classification saw; at is when it
	// started.
	classified map[string]bool
	at         time.Time

	mu     sync.Mutex
	missed map[string]bool
}

// match is the condition: a message of the cause. A message the
// classification did not see although it was in the DLQ by then (hidden
// by a killed run's hold or another reader, or beyond a scan cut short) is
// not of the cause as far as anyone knows, and is counted: a run must not
// say it moved every message of the cause while such messages are there.
func (c *Cause) match(m *queue.Message) bool {
	if c.sel.Match(m) {
		return true
	}
	if !c.classified[m.MessageID] && m.SentAt.Before(c.at) {
		c.mu.Lock()
		c.missed[m.MessageID] = true
		c.mu.Unlock()
	}
	return false
}

// Missed counts the messages that passed the other filters and that the
// classification could not see.
func (c *Cause) Missed() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.missed)
}

// SelectCause classifies the messages of the queue that flt selects (a
// scan that gives every message back) the way `dlq triage` does, and adds
// to flt the condition that a message belongs to cause o.ID. A cause that
// names no group, or several, is a usage error. force reads a queue with
// its own RedrivePolicy (see Browse). Without o.ID it does
// nothing and returns nil.
func SelectCause(ctx context.Context, api queue.BrowseAPI, logs func(context.Context) (insights.LogsAPI, error), ref queue.Ref, flt *filter.Filter, force bool, o CauseOptions, now func() time.Time, warn io.Writer) (*Cause, error) {
	if o.ID == "" {
		return nil, nil
	}
	at := now()
	_, res, err := Browse(ctx, api, ref, flt, queue.BrowseOptions{Force: force}, warn)
	if err != nil {
		return nil, err
	}
	sel, rep, err := ClassifyCause(ctx, logs, o, res.Matched, now)
	if err != nil {
		return nil, err
	}
	c := &Cause{Group: sel.Group, sel: sel, classified: make(map[string]bool, len(res.Matched)), at: at, missed: map[string]bool{}}
	for i := range res.Matched {
		c.classified[res.Matched[i].MessageID] = true
	}
	flt.Also(c.match)
	g := sel.Group
	_, _ = fmt.Fprintf(warn, "cause %s: %s at step %s (%s)\n", g.ID, render.Sanitize(g.Error), render.Sanitize(g.Step), render.Count(g.Count, "message"))
	if len(rep.Truncated) > 0 {
		_, _ = fmt.Fprintf(warn, "warning: more than %d log lines in a second at %s: some first failures may be missed, and their messages classified by what they record\n", insights.MaxRows, rep.Truncated[0].UTC().Format(insights.TimeFormat))
	}
	return c, nil
}

// LogSource is where the pipeline's logs are for a classification: nil,
// without log groups (causes then come from the messages alone).
func LogSource(ctx context.Context, logs func(context.Context) (insights.LogsAPI, error), groups, prefixes []string) (*triage.LogSource, error) {
	if len(groups) == 0 && len(prefixes) == 0 {
		return nil, nil
	}
	l, err := logs(ctx)
	if err != nil {
		return nil, err
	}
	return &triage.LogSource{API: l, Groups: groups, Prefixes: prefixes}, nil
}

// ClassifyCause classifies msgs as dlq triage does and selects cause o.ID;
// a cause that names no group, or several, is a usage error.
func ClassifyCause(ctx context.Context, logs func(context.Context) (insights.LogsAPI, error), o CauseOptions, msgs []queue.Message, now func() time.Time) (*triage.Selection, triage.Report, error) {
	src, err := LogSource(ctx, logs, o.Groups, o.Prefixes)
	if err != nil {
		return nil, triage.Report{}, err
	}
	rep, err := triage.Classify(ctx, triage.Options{Logs: src, Now: now}, msgs)
	if err != nil {
		return nil, rep, fmt.Errorf("select cause %s: %w", o.ID, err)
	}
	sel, err := rep.Select(o.ID)
	var ce *triage.CauseError
	switch {
	case errors.As(err, &ce):
		return nil, rep, &UsageError{Err: err}
	case err != nil:
		return nil, rep, fmt.Errorf("select cause %s: %w", o.ID, err)
	}
	return sel, rep, nil
}
