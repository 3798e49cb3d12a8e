// Package peek implements `dlq peek`: browse a queue's messages and filter
// them by trace, order, fields or any jq predicate without consuming them.
// Every received message is released when the scan ends, on success, on
// error and on Ctrl-C.
package peek

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// SQSAPI is what peek calls: reading the queue and scanning it.
type SQSAPI interface {
	queue.BrowseAPI
}

// PeekOptions are the flags and dependencies of `dlq peek`.
type PeekOptions struct {
	IO   *render.IOStreams
	SQS  func(context.Context) (SQSAPI, error)
	Logs func(context.Context) (insights.LogsAPI, error)
	Now  func() time.Time

	Queue   string
	Filter  cli.MessageFilter
	Cause   cli.CauseOptions
	Limit   int
	MaxScan int
	Body    bool
	Force   bool
	Output  render.Format
}

// NewCmdPeek builds `dlq peek`. runF replaces the run function in tests.
func NewCmdPeek(f *cli.Factory, runF func(context.Context, *PeekOptions) error) *cobra.Command {
	opts := &PeekOptions{
		IO:   f.IOStreams,
		Now:  f.Now,
		SQS:  func(ctx context.Context) (SQSAPI, error) { return f.SQS(ctx) },
		Logs: func(ctx context.Context) (insights.LogsAPI, error) { return f.Logs(ctx) },
	}
	cmd := &cobra.Command{
		Use:   "peek QUEUE",
		Short: "Browse and filter a queue's messages without consuming them",
		Long: `Show the messages of a queue (usually a DLQ) and filter them, leaving the
queue as it was: messages are received with a visibility timeout long enough
for the scan, then every one is released (visibility 0) when the scan ends,
also on error and on Ctrl-C. Afterwards the depth is what it was and every
message can be received again at once.

The scan receives batches of 10 with a few parallel receivers until it has
seen the queue's approximate depth, --max-scan messages, --limit matches, or
several empty long polls in a row. While it runs, a terminal's stderr shows
a progress line: messages scanned of the approximate depth, and matches.

-o ndjson, and table rows when stdout is piped, are printed as the scan finds
each match, in scan order. -o json, the table on a terminal and --body wait
for the scan to end and are sorted by sent time. Ctrl-C stops the scan,
releases every message, prints what was found so far and exits 130.

traceId and orderId come from message attributes, then the body's top level,
then an EventBridge event's detail, an SNS envelope's Message, or a Lambda
invocation record's requestPayload. The message's error is the one its DLQ's
writer recorded: a Lambda asynchronous invocation's ErrorCode, ErrorMessage
and RequestID attributes, an EventBridge target's ERROR_CODE, ERROR_MESSAGE
and EXHAUSTED_RETRY_CONDITION attributes, or an on-failure record's
responsePayload and condition. -o json names that writer as origin: sqs,
eventbridge, sns, lambda or lambda-on-failure.

--where PATH=VALUE matches a field of the unwrapped body (customer.tier=gold,
items.0.sku=A) or an attribute (attr.ErrorCode=500); --jq takes any gojq
expression over the message's JSON form (see -o json) and keeps messages for
which it is true. Conditions combine with AND.

Peeking raises each message's ApproximateReceiveCount. On a queue that has a
RedrivePolicy of its own that can move messages onward, so peek refuses such
a queue unless --force is given. On a FIFO queue only the first messages of
each message group can be received without consuming them.`,
		Example: `  # The messages of one order, wherever it appears in the payload
  dlq peek orders-payments-dlq --order-id order-1042

  # One trace, with full bodies
  dlq peek orders-payments-dlq --trace-id 4bf92f35 --body

  # Gold customers' messages that failed at least 3 times in the last hour
  dlq peek orders-payments-dlq --where customer.tier=gold --min-receives 3 --since 1h

  # The messages of one cause dlq triage showed
  dlq peek orders-payments-dlq --cause 3f9a2c

  # Lambda async failures with a timeout, as NDJSON for jq
  dlq peek orders-notify-dlq --jq '.error.message | test("timed out")' -o ndjson`,
		Args: cli.ExactArgs(1, "the queue to peek"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Queue, opts.Output = args[0], s.Output
			opts.Cause.Defaults(s)
			if _, err := queue.ParseRef(opts.Queue); err != nil {
				return &cli.UsageError{Err: err}
			}
			if opts.Limit < 0 || opts.MaxScan < 0 {
				return cli.Usagef("--limit and --max-scan must be 0 (no limit) or more")
			}
			if _, err := opts.Filter.Parse(opts.Now()); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return peekRun(cmd.Context(), opts)
		},
	}
	cli.AddFilterFlags(cmd, &opts.Filter.Options)
	cli.AddCauseFlags(cmd, &opts.Cause)
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "stop after `N` matching messages (0: no limit)")
	cmd.Flags().IntVar(&opts.MaxScan, "max-scan", 0, "scan at most `N` messages (0: the queue's depth)")
	cmd.Flags().BoolVar(&opts.Body, "body", false, "print full bodies (pretty JSON when the body is JSON)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "peek a queue that has its own RedrivePolicy")
	return cmd
}

func peekRun(ctx context.Context, opts *PeekOptions) error {
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
	o := queue.BrowseOptions{Limit: opts.Limit, MaxScan: opts.MaxScan, Force: opts.Force}
	q, err := cli.OpenBrowse(ctx, api, ref, o, opts.IO.ErrOut)
	if err != nil {
		return err
	}
	// --cause: the queue is classified first (a scan that gives every
	// message back), then scanned for that cause's messages.
	if _, err := cli.SelectCause(ctx, api, opts.Logs, ref, flt, opts.Force, opts.Cause, opts.Now, opts.IO.ErrOut); err != nil {
		return err
	}
	p := newPrinter(opts, q)
	if p.streams {
		o.Found = p.found
		// A reader that goes away (| head) must not kill dlq mid-scan with
		// messages hidden: the write fails instead, and the scan releases
		// everything before it returns the error.
		restore := keepPipeErrors()
		defer restore()
	}
	if p.live != nil {
		o.Progress = p.live.update
		p.live.draw()
	}
	res, err := queue.BrowseOpened(ctx, api, q, flt.ForQueue(q.Name).Match, o)
	werr := p.finish()
	// Ctrl-C or --timeout: what the scan found is still shown (streamed
	// output already is), then the error makes the exit code. A failed
	// write that ended the scan is its error already.
	if err != nil && !stoppedEarly(ctx, err) {
		return err
	}
	if werr == nil {
		werr = p.rest(res.Matched)
	}
	if werr != nil {
		return errors.Join(err, werr)
	}
	_, _ = fmt.Fprintln(opts.IO.ErrOut, summary(q, res, opts.Limit))
	return err
}

// stoppedEarly reports whether err is the scan ending because ctx did.
func stoppedEarly(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, ctx.Err())
}

func summary(q queue.Queue, res queue.ScanResult, limit int) string {
	s := fmt.Sprintf("scanned %d of ~%d visible messages in %s, %d matched", res.Scanned, q.Visible, q.Name, res.Found)
	if limit > 0 && res.Found >= limit {
		s += fmt.Sprintf(" (stopped at --limit %d)", limit)
	}
	if res.OverLimit {
		s += "; stopped at SQS's in-flight limit (too many messages held at once): the rest were not scanned"
	}
	if q.InFlight > 0 {
		s += fmt.Sprintf("; %d in flight were not visible to peek", q.InFlight)
	}
	s += fmt.Sprintf("; %d released", res.Released)
	if !res.HiddenUntil.IsZero() {
		// A receive whose answer was lost may have hidden up to ten
		// messages that no handle can release.
		s += fmt.Sprintf("; a receive's answer was lost: up to %d messages may stay hidden until %s", queue.MaxBatch, res.HiddenUntil.UTC().Format("15:04:05Z"))
	}
	return s
}
