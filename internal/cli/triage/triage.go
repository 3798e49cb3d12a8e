// Package triage implements `dlq triage`: why are the messages in this DLQ
// failing, one cause or many. It reads the DLQ as peek does, leaving every
// message where it was, finds each message's first failure in the
// pipeline's logs (or on the message), and prints the causes with their
// counts, largest first, each under an ID that `--cause` can name.
package triage

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
	"github.com/dlqops/dlq/internal/triage"
)

// TriageOptions are the flags and dependencies of `dlq triage`.
type TriageOptions struct {
	IO   *render.IOStreams
	SQS  func(context.Context) (queue.BrowseAPI, error)
	Logs func(context.Context) (insights.LogsAPI, error)
	Now  func() time.Time

	Queue    string
	Filter   cli.MessageFilter
	Limit    int
	MaxScan  int
	Force    bool
	Groups   []string
	Prefixes []string
	Output   render.Format
}

// NewCmdTriage builds `dlq triage`. runF replaces the run function in
// tests.
func NewCmdTriage(f *cli.Factory, runF func(context.Context, *TriageOptions) error) *cobra.Command {
	opts := &TriageOptions{
		IO:   f.IOStreams,
		Now:  f.Now,
		SQS:  func(ctx context.Context) (queue.BrowseAPI, error) { return f.SQS(ctx) },
		Logs: func(ctx context.Context) (insights.LogsAPI, error) { return f.Logs(ctx) },
	}
	cmd := &cobra.Command{
		Use:   "triage QUEUE",
		Short: "Group a DLQ's messages by the cause of their first failure",
		Long: `Answer "why are these messages here?" for a whole DLQ: one cause or
several, and how many messages each. The queue is read as peek reads it:
every message is released (visibility 0) when the scan ends, also on error
and on Ctrl-C, and nothing is deleted. Peek's filters select the messages
to triage; by default all of them.

A message's cause is the first failure of its trace in the pipeline's logs:
the first line with status error (or dlq) or level ERROR gives the error,
and the step is the one whose failure started it (the earliest line of a
step with status error, or retry with an error, up to then; else the
function's name); Lambda's own "Task timed out" lines count for every trace
of the invocation. The traces are looked up with Logs Insights, up to
100 per query, in the log groups timeline searches: --log-group and
--log-group-prefix (repeatable), or the context's logGroups and
logGroupPrefix; each query covers its messages' sent times, from 10 minutes
before to 6 hours after. Without log groups, or for a trace that logged no
failure, the message speaks for itself: the ERROR_CODE and ERROR_MESSAGE
attributes EventBridge records on a target's DLQ message (step: the target's
name), the ErrorCode and ErrorMessage attributes Lambda records on an
asynchronous invocation's DLQ message (step "lambda"), or error fields of its
body (errorType and errorMessage, error, lastError; a Lambda on-failure
record's responsePayload, else its condition, at the function's name).
Anything else is "unknown".

Error texts are normalised so that one cause is one group: quoted values,
UUIDs, timestamps, IDs (o-7, order-123, hex request IDs) and numbers are
masked; an HTTP status after HTTP, status or code is kept. Each cause has a
6-digit ID derived from its step and normalised error, the same on every
run.

The table is sorted by count, largest first; -o json and -o ndjson add the
raw example, the sources and every message ID (docs/json-output.md).`,
		Example: `  # Why is the payments DLQ filling?
  dlq triage orders-payments-dlq --log-group-prefix /aws/lambda/orders-

  # With the context's log groups, as JSON
  dlq triage orders-payments-dlq -o json

  # The message IDs of one cause
  dlq triage orders-payments-dlq -o json | jq -r '.groups[] | select(.id == "959df6") | .messageIds[]'

  # Only what failed in the last hour
  dlq triage orders-payments-dlq --since 1h`,
		Args: cli.ExactArgs(1, "the queue to triage"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Queue, opts.Output = args[0], s.Output
			if _, err := queue.ParseRef(opts.Queue); err != nil {
				return &cli.UsageError{Err: err}
			}
			if opts.Limit < 0 || opts.MaxScan < 0 {
				return cli.Usagef("--limit and --max-scan must be 0 (no limit) or more")
			}
			if _, err := opts.Filter.Parse(opts.Now()); err != nil {
				return err
			}
			if len(opts.Groups) == 0 && len(opts.Prefixes) == 0 {
				opts.Groups, opts.Prefixes = s.LogGroups, s.LogGroupPrefix
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return triageRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.Groups, "log-group", nil, "log group `NAME` to search for first failures; repeatable")
	fs.StringArrayVar(&opts.Prefixes, "log-group-prefix", nil, "search log groups whose names start with `PREFIX`; repeatable")
	fs.IntVar(&opts.Limit, "limit", 0, "triage at most `N` matching messages (0: all)")
	fs.IntVar(&opts.MaxScan, "max-scan", 0, "scan at most `N` messages (0: the queue's depth)")
	fs.BoolVar(&opts.Force, "force", false, "read a queue that has its own RedrivePolicy")
	cli.AddFilterFlags(cmd, &opts.Filter.Options)
	return cmd
}

func triageRun(ctx context.Context, opts *TriageOptions) error {
	began := time.Now()
	ref, err := queue.ParseRef(opts.Queue)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	flt, err := opts.Filter.Parse(opts.Now())
	if err != nil {
		return err
	}
	api, err := opts.SQS(ctx)
	if err != nil {
		return err
	}
	// The same non-destructive scan as peek: everything received is
	// released before Collect returns, whatever happened.
	q, res, err := cli.Browse(ctx, api, ref, flt, queue.BrowseOptions{Limit: opts.Limit, MaxScan: opts.MaxScan, Force: opts.Force}, opts.IO.ErrOut)
	if err != nil {
		return err
	}
	src, err := cli.LogSource(ctx, opts.Logs, opts.Groups, opts.Prefixes)
	if err != nil {
		return err
	}
	if src == nil {
		_, _ = fmt.Fprintln(opts.IO.ErrOut, "note: no log groups (--log-group, --log-group-prefix, or the context's logGroups): causes come from the messages alone")
	}
	rep, err := triage.Classify(ctx, triage.Options{Logs: src, Now: opts.Now}, res.Matched)
	if err != nil {
		return fmt.Errorf("triage %s: %w", q.Name, err)
	}
	if err := write(opts, Result{Queue: q.Name, Scanned: res.Scanned, Matched: len(res.Matched), Groups: rep.Groups}); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, t := range rep.Truncated {
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: more than %d log lines in the second at %s: first failures there may be missed\n",
			insights.MaxRows, t.UTC().Format(insights.TimeFormat))
	}
	_, _ = fmt.Fprintln(opts.IO.ErrOut, summary(q, res, rep, src != nil, time.Since(began)))
	return nil
}

// summary is the line on stderr: what was read, where the causes came
// from, what it cost.
func summary(q queue.Queue, res queue.ScanResult, rep triage.Report, logs bool, took time.Duration) string {
	s := fmt.Sprintf("scanned %d of ~%d visible messages in %s, %d matched: %s", res.Scanned, q.Visible, q.Name, len(res.Matched),
		render.Count(len(rep.Groups), "cause"))
	var from []string
	for _, part := range []struct {
		n    int
		what string
	}{{rep.FromLogs, "from logs"}, {rep.FromLambda, "from Lambda's error attributes"},
		{rep.FromEventBridge, "from EventBridge's error attributes"}, {rep.FromBody, "from the body"}, {rep.Unknown, "unknown"}} {
		if part.n > 0 {
			from = append(from, fmt.Sprintf("%d %s", part.n, part.what))
		}
	}
	if len(from) > 0 {
		s += " (" + strings.Join(from, ", ") + ")"
	}
	if logs {
		s += fmt.Sprintf("; %s looked up in %s", render.Count(rep.Traces, "trace"), render.Count(rep.Queries, "query"))
	}
	if res.OverLimit {
		s += "; stopped at SQS's in-flight limit: the rest were not scanned"
	}
	if q.InFlight > 0 {
		s += fmt.Sprintf("; %d in flight were not visible", q.InFlight)
	}
	return s + fmt.Sprintf("; %d released; %s", res.Released, took.Round(time.Millisecond))
}
