// Package timeline implements `dlq timeline`: a trace's (or an order's)
// whole story from CloudWatch Logs Insights in one command, or an AWS X-Ray
// trace's, and the stories of the traces whose messages sit in a DLQ.
package timeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/xray"
)

// TimelineOptions are the flags and dependencies of `dlq timeline`.
type TimelineOptions struct {
	IO   *render.IOStreams
	Logs func(context.Context) (insights.LogsAPI, error)
	SQS  func(context.Context) (queue.BrowseAPI, error)
	Now  func() time.Time

	TraceID  string
	OrderID  string
	FromDLQ  string
	Filter   cli.MessageFilter
	Limit    int
	Force    bool
	Groups   []string
	Prefixes []string
	// Cause: with --from-dlq, only the messages of this triage cause.
	Cause    cli.CauseOptions
	Since    time.Duration
	SinceSet bool // --since was given, not defaulted
	Start    string
	End      string
	Output   render.Format

	// XRayTraceID is the AWS X-Ray trace to show, in canonical form
	// (1-5759e988-bd862e3fe1be46a994272793).
	XRayTraceID string
}

// NewCmdTimeline builds `dlq timeline`. runF replaces the run function in
// tests.
func NewCmdTimeline(f *cli.Factory, runF func(context.Context, *TimelineOptions) error) *cobra.Command {
	opts := &TimelineOptions{
		IO:   f.IOStreams,
		Now:  f.Now,
		Logs: func(ctx context.Context) (insights.LogsAPI, error) { return f.Logs(ctx) },
		SQS:  func(ctx context.Context) (queue.BrowseAPI, error) { return f.SQS(ctx) },
	}
	cmd := &cobra.Command{
		Use:   "timeline [TRACE_ID | --trace-id ID | --xray-trace-id ID | --order-id ID | --from-dlq QUEUE]",
		Short: "Show a trace's whole story from CloudWatch Logs Insights",
		Long: `Reconstruct what happened to a trace (TRACE_ID or --trace-id ID), an AWS
X-Ray trace (--xray-trace-id ID), an order (--order-id ID) or the messages
in a DLQ (--from-dlq QUEUE) from the pipeline's logs, in one command: the
Logs Insights queries are built, run, polled, paged past the 10,000-row cap
and merged for you.

A TRACE_ID shaped like an X-Ray trace ID (1-5759e988-bd862e3fe1be46a994272793),
or a whole X-Ray trace header pasted from a message's AWSTraceHeader or an
X-Amzn-Trace-Id ("Root=1-…;Parent=…;Sampled=1", quoted for the shell), is
looked up as an X-Ray trace: the lines of every record that came with that
trace (their xrayTraceId), whichever of the pipeline's traces they belong
to, in one timeline. --trace-id always means the pipeline's traceId.

The search covers the last --since (default a day; 30m, 6h, 7d and 1d12h
all work), or --start to --end (default now). --start and --end take
RFC3339 or a date, meaning midnight UTC: --start 2026-11-28 --end
2026-11-29 is that whole day. Give --start or --since, not both.

Log groups come from --log-group and --log-group-prefix (both repeatable) or
the context's logGroups / logGroupPrefix. Each query takes 50 groups; more
run as several queries. Prefixes use the SOURCE command where the endpoint
supports it and are listed with DescribeLogGroups where it does not.

Every row is checked on this side to carry the requested traceId (or
xrayTraceId, or orderId) in dlq's log schema (docs/log-schema.md) before it
is shown.
Lambda's own START, END, REPORT and "Task timed out" lines are joined
through the request IDs of the trace's invocations.

With --from-dlq, the traces of the DLQ's messages that match the peek
filters are read without consuming anything, and all of them are queried
at once, in a window around the messages' sent times unless --since,
--start or --end says otherwise. Traces with no log line in the window are
counted on stderr and appear in JSON with "events": [].`,
		Example: `  # One trace, last 24 hours
  dlq timeline 4bf92f3577b34da6 --log-group-prefix /aws/lambda/orders-

  # The same trace over the last week (DLQs keep messages up to 14 days)
  dlq timeline --trace-id 4bf92f3577b34da6 --since 7d

  # An X-Ray trace, by its ID or by the trace header peek shows
  dlq timeline 1-5759e988-bd862e3fe1be46a994272793
  dlq timeline --xray-trace-id 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1'

  # Everything logged about an order in a given hour
  dlq timeline --order-id order-1042 --start 2026-11-26T18:00:00Z --end 2026-11-26T19:00:00Z

  # ... or on a given day (UTC)
  dlq timeline --order-id order-1042 --start 2026-11-26 --end 2026-11-27

  # The stories of the first 5 messages in a DLQ, as JSON
  dlq timeline --from-dlq orders-payments-dlq --limit 5 -o json`,
		Args: atMostOneTrace,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Output = s.Output
			if err := opts.traceFrom(cmd, args); err != nil {
				return err
			}
			opts.SinceSet = cmd.Flags().Changed("since")
			if len(opts.Groups) == 0 && len(opts.Prefixes) == 0 {
				opts.Groups, opts.Prefixes = s.LogGroups, s.LogGroupPrefix
			}
			if err := opts.validate(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return timelineRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	// Declared here, before the peek filters, so that --trace-id names the
	// trace to show, as TRACE_ID does, rather than filtering DLQ messages.
	fs.StringVar(&opts.TraceID, "trace-id", "", "the trace `ID` whose events to show (same as TRACE_ID)")
	fs.StringVar(&opts.XRayTraceID, "xray-trace-id", "", "the AWS X-Ray trace `ID` (or Root=… header) whose events to show")
	fs.StringVar(&opts.OrderID, "order-id", "", "the order `ID` whose events to show, instead of a trace's")
	fs.StringVar(&opts.FromDLQ, "from-dlq", "", "the traces of the messages in this DLQ `QUEUE`")
	fs.IntVar(&opts.Limit, "limit", 10, "with --from-dlq, at most `N` messages")
	fs.BoolVar(&opts.Force, "force", false, "with --from-dlq, read a queue that has its own RedrivePolicy")
	fs.StringArrayVar(&opts.Groups, "log-group", nil, "log group `NAME` to search; repeatable")
	fs.StringArrayVar(&opts.Prefixes, "log-group-prefix", nil, "search log groups whose names start with `PREFIX`; repeatable")
	opts.Since = day
	fs.Var(sinceValue{&opts.Since}, "since", "search the last `DURATION`: 30m, 6h, 7d, 1d12h")
	fs.StringVar(&opts.Start, "start", "", "search from `TIME` (RFC3339, or a date: 2026-11-28 is midnight UTC)")
	fs.StringVar(&opts.End, "end", "", "search until `TIME` (RFC3339 or a date; default now)")
	cli.AddFilterFlags(cmd, &opts.Filter.Options)
	cli.AddCauseFlags(cmd, &opts.Cause)
	return cmd
}

// traceFrom reads what to show from TRACE_ID and the flags: exactly one
// of a trace, an X-Ray trace, an order or a DLQ.
func (opts *TimelineOptions) traceFrom(cmd *cobra.Command, args []string) error {
	if opts.XRayTraceID != "" {
		id, ok := xray.Parse(opts.XRayTraceID)
		if !ok {
			return cli.Usagef("invalid --xray-trace-id %q: want an X-Ray trace ID (1-5759e988-bd862e3fe1be46a994272793) or a trace header (Root=1-…)", opts.XRayTraceID)
		}
		opts.XRayTraceID = id
	}
	if len(args) == 1 {
		for _, flag := range []string{"trace-id", "xray-trace-id"} {
			if cmd.Flags().Changed(flag) {
				return cli.Usagef("give the trace ID as TRACE_ID or --%s, not both", flag)
			}
		}
		// A dlq traceId is whatever its producer chose; one shaped like an
		// X-Ray ID is matched as either (insights.belongs).
		if id, ok := xray.Parse(args[0]); ok {
			opts.XRayTraceID = id
		} else {
			opts.TraceID = args[0]
		}
	}
	if n := countSet(opts.TraceID, opts.XRayTraceID, opts.OrderID, opts.FromDLQ); n != 1 {
		return cli.Usagef("give exactly one of TRACE_ID (or --trace-id or --xray-trace-id), --order-id or --from-dlq")
	}
	for kind, id := range map[string]string{"trace ID": opts.TraceID, "order ID": opts.OrderID} {
		if id != "" {
			if err := insights.ValidateID(kind, id); err != nil {
				return &cli.UsageError{Err: err}
			}
		}
	}
	return nil
}

// validate checks the log groups, --from-dlq and its filters, and the
// time window.
func (opts *TimelineOptions) validate(cmd *cobra.Command) error {
	if len(opts.Groups) == 0 && len(opts.Prefixes) == 0 {
		return cli.Usagef("no log groups: pass --log-group or --log-group-prefix, or set logGroups or logGroupPrefix in the context")
	}
	if opts.FromDLQ != "" {
		if _, err := queue.ParseRef(opts.FromDLQ); err != nil {
			return &cli.UsageError{Err: err}
		}
		if _, err := opts.Filter.Parse(opts.Now()); err != nil {
			return err
		}
	} else if filterSet(cmd) {
		return cli.Usagef("message filters apply to --from-dlq")
	}
	if _, _, err := window(opts, nil); err != nil {
		return &cli.UsageError{Err: err}
	}
	return nil
}

// atMostOneTrace is cobra.MaximumNArgs(1) as a UsageError (exit 2).
func atMostOneTrace(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return cli.Usagef("%s takes at most one TRACE_ID, got %d", cmd.CommandPath(), len(args))
	}
	return nil
}

func countSet(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}

func filterSet(cmd *cobra.Command) bool {
	for _, name := range []string{"where", "jq", "until", "min-receives", "error-code", "cause"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			return true
		}
	}
	return false
}

func timelineRun(ctx context.Context, opts *TimelineOptions) error {
	began := time.Now()
	req := insights.Request{Groups: opts.Groups, Prefixes: opts.Prefixes, OrderID: opts.OrderID, XRayTraceID: opts.XRayTraceID}
	if opts.TraceID != "" {
		req.TraceIDs = []string{opts.TraceID}
	}
	var msgs []queue.Message
	if opts.FromDLQ != "" {
		traces, m, err := tracesFromDLQ(ctx, opts)
		if err != nil {
			return err
		}
		if len(traces) == 0 {
			_, _ = fmt.Fprintf(opts.IO.ErrOut, "no matching message in %s carries a traceId\n", opts.FromDLQ)
			return writeTimelines(opts, nil)
		}
		req.TraceIDs, msgs = traces, m
	}
	start, end, err := window(opts, msgs)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	req.Start, req.End = start, end
	api, err := opts.Logs(ctx)
	if err != nil {
		return err
	}
	fetcher := &insights.Fetcher{API: api}
	res, err := fetcher.Fetch(ctx, req)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	tls := insights.Build(res.Events, req)
	var silent []string
	if opts.FromDLQ != "" {
		tls, silent = withSilentTraces(tls, req.TraceIDs, msgs)
	}
	if err := writeTimelines(opts, tls); err != nil {
		return err
	}
	for _, t := range res.Truncated {
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: more than %d events in the second at %s: some may be missing\n", insights.MaxRows, t.UTC().Format(insights.TimeFormat))
	}
	switch {
	case len(silent) > 0:
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "%d of %s have no log lines in the window: %s\n", len(silent), render.Count(len(req.TraceIDs), "trace"), idList(silent))
	case len(res.Events) == 0 && opts.OrderID != "":
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "no log lines found for order %s\n", render.Sanitize(opts.OrderID))
	case len(res.Events) == 0 && opts.XRayTraceID != "":
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "no log lines found for X-Ray trace %s\n", opts.XRayTraceID)
	case len(res.Events) == 0 && opts.TraceID != "":
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "no log lines found for trace %s\n", render.Sanitize(opts.TraceID))
	}
	_, _ = fmt.Fprintf(opts.IO.ErrOut, "%s in %s from %s, %s to %s; %s in %s\n",
		render.Count(len(res.Events), "event"), render.Count(len(tls)-len(silent), "timeline"), groupsText(res.Groups, opts.Prefixes), start.UTC().Format(insights.TimeFormat), end.UTC().Format(insights.TimeFormat),
		render.Count(res.Queries, "query"), time.Since(began).Round(time.Millisecond))
	return nil
}

// withSilentTraces gives every trace asked for a timeline, in the order
// asked: a trace that logged nothing in the window gets an empty one
// (with the order ID its DLQ message carried), so JSON readers see it
// rather than infer it from its absence. It also returns those traces.
func withSilentTraces(tls []insights.Timeline, traces []string, msgs []queue.Message) ([]insights.Timeline, []string) {
	byTrace := make(map[string]insights.Timeline, len(tls))
	for _, t := range tls {
		byTrace[t.TraceID] = t
	}
	orderOf := map[string]string{}
	for _, m := range msgs {
		if _, ok := orderOf[m.TraceID]; !ok {
			orderOf[m.TraceID] = m.OrderID
		}
	}
	out := make([]insights.Timeline, 0, len(traces))
	var silent []string
	for _, id := range traces {
		t, ok := byTrace[id]
		if !ok {
			t = insights.Timeline{TraceID: id, OrderID: orderOf[id], Events: []insights.TimelineEvent{}}
			silent = append(silent, id)
		}
		delete(byTrace, id)
		out = append(out, t)
	}
	for _, t := range tls { // none expected: Build keeps to the traces asked for
		if _, ok := byTrace[t.TraceID]; ok {
			out = append(out, t)
		}
	}
	return out, silent
}

// idList writes IDs for a one-line note: the first few, then a count.
func idList(ids []string) string {
	const shown = 5
	clean := make([]string, 0, shown)
	for _, id := range ids[:min(len(ids), shown)] {
		clean = append(clean, render.Sanitize(id))
	}
	s := strings.Join(clean, ", ")
	if len(ids) > shown {
		s += fmt.Sprintf(" and %d more", len(ids)-shown)
	}
	return s
}

func groupsText(n int, prefixes []string) string {
	s := render.Count(n, "log group")
	if len(prefixes) > 0 && n == 0 {
		s = "log groups by prefix"
	} else if len(prefixes) > 0 {
		s += " and prefixes"
	}
	return s
}

func tracesFromDLQ(ctx context.Context, opts *TimelineOptions) ([]string, []queue.Message, error) {
	ref, err := queue.ParseRef(opts.FromDLQ)
	if err != nil {
		return nil, nil, &cli.UsageError{Err: err}
	}
	flt, err := opts.Filter.Parse(opts.Now())
	if err != nil {
		return nil, nil, err
	}
	api, err := opts.SQS(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, res, err := cli.Browse(ctx, api, ref, flt, queue.BrowseOptions{Limit: opts.Limit, Force: opts.Force}, opts.IO.ErrOut)
	if err != nil {
		return nil, nil, err
	}
	if opts.Cause.ID != "" {
		// The messages already read are classified, as dlq triage does,
		// with the log groups this timeline searches.
		c := cli.CauseOptions{ID: opts.Cause.ID, Groups: opts.Groups, Prefixes: opts.Prefixes}
		sel, _, err := cli.ClassifyCause(ctx, opts.Logs, c, res.Matched, opts.Now)
		if err != nil {
			return nil, nil, err
		}
		kept := res.Matched[:0]
		for i := range res.Matched {
			if sel.Match(&res.Matched[i]) {
				kept = append(kept, res.Matched[i])
			}
		}
		res.Matched = kept
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "cause %s: %s at step %s (%s)\n", sel.Group.ID, render.Sanitize(sel.Group.Error), render.Sanitize(sel.Group.Step), render.Count(len(kept), "message"))
	}
	seen := map[string]bool{}
	var traces []string
	for _, m := range res.Matched {
		if m.TraceID == "" || seen[m.TraceID] || insights.ValidateID("trace ID", m.TraceID) != nil {
			continue
		}
		seen[m.TraceID] = true
		traces = append(traces, m.TraceID)
	}
	return traces, res.Matched, nil
}
