// Package timeline implements `dlq timeline`: a trace's (or an order's)
// whole story from CloudWatch Logs Insights in one command, and the stories
// of the traces whose messages sit in a DLQ.
package timeline

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/cli/peek"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// TimelineOptions are the flags and dependencies of `dlq timeline`.
type TimelineOptions struct {
	IO   *render.IOStreams
	Logs func(context.Context) (insights.LogsAPI, error)
	SQS  func(context.Context) (peek.SQSAPI, error)
	Now  func() time.Time

	TraceID  string
	OrderID  string
	FromDLQ  string
	Filter   filter.Options
	Limit    int
	Force    bool
	Groups   []string
	Prefixes []string
	Since    time.Duration
	Start    string
	End      string
	Output   render.Format
}

// NewCmdTimeline builds `dlq timeline`. runF replaces the run function in
// tests.
func NewCmdTimeline(f *cli.Factory, runF func(context.Context, *TimelineOptions) error) *cobra.Command {
	opts := &TimelineOptions{
		IO:   f.IOStreams,
		Now:  f.Now,
		Logs: func(ctx context.Context) (insights.LogsAPI, error) { return f.Logs(ctx) },
		SQS:  func(ctx context.Context) (peek.SQSAPI, error) { return f.SQS(ctx) },
	}
	cmd := &cobra.Command{
		Use:   "timeline [TRACE_ID | --order-id ID | --from-dlq QUEUE]",
		Short: "Show a trace's whole story from CloudWatch Logs Insights",
		Long: `Reconstruct what happened to a trace, an order, or the messages in a DLQ
from the pipeline's logs, in one command: the Logs Insights queries are
built, run, polled, paged past the 10,000-row cap and merged for you.

Log groups come from --log-group and --log-group-prefix (both repeatable) or
the context's logGroups / logGroupPrefix. Each query takes 50 groups; more
run as several queries. Prefixes use the SOURCE command where the endpoint
supports it and are listed with DescribeLogGroups where it does not.

Every row is checked on this side to carry the requested traceId (or
orderId) in dlq's log schema (docs/log-schema.md) before it is shown.
Lambda's own START, END, REPORT and "Task timed out" lines are joined
through the request IDs of the trace's invocations.

With --from-dlq, the traces of the DLQ's messages that match the peek
filters are read without consuming anything, and all of them are queried
at once, in a window around the messages' sent times.`,
		Example: `  # One trace, last 24 hours
  dlq timeline 4bf92f3577b34da6 --log-group-prefix /aws/lambda/orders-

  # Everything logged about an order in a given hour
  dlq timeline --order-id order-1042 --start 2026-11-26T18:00:00Z --end 2026-11-26T19:00:00Z

  # The stories of the first 5 messages in a DLQ, as JSON
  dlq timeline --from-dlq orders-payments-dlq --limit 5 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Output = s.Output
			if len(args) == 1 {
				opts.TraceID = args[0]
			}
			if n := countSet(opts.TraceID, opts.OrderID, opts.FromDLQ); n != 1 {
				return cli.Usagef("give exactly one of TRACE_ID, --order-id or --from-dlq")
			}
			for kind, id := range map[string]string{"trace ID": opts.TraceID, "order ID": opts.OrderID} {
				if id != "" {
					if err := insights.ValidateID(kind, id); err != nil {
						return &cli.UsageError{Err: err}
					}
				}
			}
			if len(opts.Groups) == 0 && len(opts.Prefixes) == 0 {
				opts.Groups, opts.Prefixes = s.LogGroups, s.LogGroupPrefix
			}
			if len(opts.Groups) == 0 && len(opts.Prefixes) == 0 {
				return cli.Usagef("no log groups: pass --log-group or --log-group-prefix, or set logGroups or logGroupPrefix in the context")
			}
			if opts.FromDLQ != "" {
				if _, err := queue.ParseRef(opts.FromDLQ); err != nil {
					return &cli.UsageError{Err: err}
				}
				if _, err := filter.New(opts.Filter, opts.Now()); err != nil {
					return &cli.UsageError{Err: err}
				}
			} else if filterSet(cmd) {
				return cli.Usagef("message filters apply to --from-dlq")
			}
			if _, _, err := window(opts, nil); err != nil {
				return &cli.UsageError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return timelineRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.OrderID, "order-id", "", "the order's events instead of a trace's")
	fs.StringVar(&opts.FromDLQ, "from-dlq", "", "the traces of the messages in this DLQ `QUEUE`")
	fs.IntVar(&opts.Limit, "limit", 10, "with --from-dlq, at most `N` messages")
	fs.BoolVar(&opts.Force, "force", false, "with --from-dlq, read a queue that has its own RedrivePolicy")
	fs.StringArrayVar(&opts.Groups, "log-group", nil, "log group `NAME` to search; repeatable")
	fs.StringArrayVar(&opts.Prefixes, "log-group-prefix", nil, "search log groups whose names start with `PREFIX`; repeatable")
	fs.DurationVar(&opts.Since, "since", 24*time.Hour, "search the last `DURATION`")
	fs.StringVar(&opts.Start, "start", "", "search from `TIME` (RFC3339)")
	fs.StringVar(&opts.End, "end", "", "search until `TIME` (RFC3339; default now)")
	peek.AddFilterFlags(cmd, &opts.Filter)
	return cmd
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
	for _, name := range []string{"trace-id", "where", "jq", "until", "min-receives", "error-code"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			return true
		}
	}
	return false
}

// window is the time range to search: --start/--end, else --since before
// now; with messages from a DLQ and neither given, from ten minutes before
// the oldest message was sent until six hours after the newest (or now).
func window(opts *TimelineOptions, msgs []queue.Message) (time.Time, time.Time, error) {
	now := opts.Now()
	end := now
	if opts.End != "" {
		t, err := time.Parse(time.RFC3339, opts.End)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("invalid --end %q: want RFC3339, e.g. 2026-11-26T19:00:00Z", opts.End)
		}
		end = t
	}
	if opts.Start != "" {
		t, err := time.Parse(time.RFC3339, opts.Start)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("invalid --start %q: want RFC3339, e.g. 2026-11-26T18:00:00Z", opts.Start)
		}
		if !t.Before(end) {
			return time.Time{}, time.Time{}, fmt.Errorf("--start %s is not before --end %s", opts.Start, end.Format(time.RFC3339))
		}
		return t, end, nil
	}
	if opts.Since <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("--since must be positive")
	}
	if len(msgs) > 0 && opts.End == "" {
		first, last := msgs[0].SentAt, msgs[0].SentAt
		for _, m := range msgs {
			if m.SentAt.Before(first) {
				first = m.SentAt
			}
			if m.SentAt.After(last) {
				last = m.SentAt
			}
		}
		return first.Add(-10 * time.Minute), minTime(last.Add(6*time.Hour), now), nil
	}
	return end.Add(-opts.Since), end, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func timelineRun(ctx context.Context, opts *TimelineOptions) error {
	began := time.Now()
	req := insights.Request{Groups: opts.Groups, Prefixes: opts.Prefixes, OrderID: opts.OrderID}
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
	if err := writeTimelines(opts, tls); err != nil {
		return err
	}
	for _, t := range res.Truncated {
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: more than %d events in the second at %s: some may be missing\n", insights.MaxRows, t.UTC().Format(time.RFC3339))
	}
	_, _ = fmt.Fprintf(opts.IO.ErrOut, "%d events in %d timeline(s) from %s, %s to %s; %d queries in %s\n",
		len(res.Events), len(tls), groupsText(res.Groups, opts.Prefixes), start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339),
		res.Queries, time.Since(began).Round(time.Millisecond))
	return nil
}

func groupsText(n int, prefixes []string) string {
	s := fmt.Sprintf("%d log group(s)", n)
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
	flt, err := filter.New(opts.Filter, opts.Now())
	if err != nil {
		return nil, nil, &cli.UsageError{Err: err}
	}
	api, err := opts.SQS(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, res, err := peek.Collect(ctx, api, ref, flt, peek.CollectOptions{Limit: opts.Limit, Force: opts.Force, Warn: opts.IO.ErrOut})
	if err != nil {
		return nil, nil, err
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
