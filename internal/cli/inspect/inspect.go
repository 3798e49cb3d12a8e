// Package inspect implements `dlq inspect`: every dead-letter queue in an
// account (or the ones named), its depth, its sources, whether an alarm
// watches it, and the warnings an experienced operator would raise, with
// exit codes for CI smoke checks.
package inspect

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
)

// InspectOptions are the flags and dependencies of `dlq inspect`.
type InspectOptions struct {
	IO          *render.IOStreams
	SQS         func(context.Context) (queue.SQSAPI, error)
	CloudWatch  func(context.Context) (alarm.CloudWatchAPI, error)
	EventBridge func(context.Context) (sources.EventBridgeAPI, error)
	SNS         func(context.Context) (sources.SNSAPI, error)
	Lambda      func(context.Context) (sources.LambdaAPI, error)
	Now         func() time.Time
	// Tick paces --watch: a channel that ticks every d and its stop;
	// default a time.Ticker (tests tick by hand).
	Tick func(d time.Duration) (<-chan time.Time, func())

	Queues        []string
	Prefix        string
	MaxDepth      int64 // < 0: no threshold
	FailOnWarning bool
	Watch         time.Duration
	Concurrency   int
	// Sources are the kinds of sources read (--sources); nil reads all.
	Sources sources.KindSet
	Output  render.Format
}

// NewCmdInspect builds `dlq inspect`. runF replaces the run function in
// tests of flag parsing.
func NewCmdInspect(f *cli.Factory, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{
		IO:  f.IOStreams,
		Now: f.Now,
		SQS: func(ctx context.Context) (queue.SQSAPI, error) {
			return f.SQS(ctx)
		},
		CloudWatch: func(ctx context.Context) (alarm.CloudWatchAPI, error) {
			return f.CloudWatch(ctx)
		},
		EventBridge: func(ctx context.Context) (sources.EventBridgeAPI, error) { return f.EventBridge(ctx) },
		SNS:         func(ctx context.Context) (sources.SNSAPI, error) { return f.SNS(ctx) },
		Lambda:      func(ctx context.Context) (sources.LambdaAPI, error) { return f.Lambda(ctx) },
	}
	var kinds []string
	cmd := &cobra.Command{
		Use:   "inspect [QUEUE...]",
		Short: "Show every DLQ's depth, sources, alarm and warnings",
		Long: `Show dead-letter queues with their depth (visible, in flight, delayed),
retention, what dead-letters into them, and the CloudWatch alarm that watches
them, deepest first.

With no arguments every DLQ in the account and region is discovered: a DLQ is
any queue named in another queue's RedrivePolicy, an EventBridge rule
target's or event bus's DeadLetterConfig, an SNS subscription's
RedrivePolicy, or a Lambda function's DeadLetterConfig or on-failure
destination (every published version and qualifier). --sources limits what
is read. QUEUE may be a name, a URL or an ARN; named queues get their sources
of every kind.

Warnings: a DLQ holding messages; DLQ retention not longer than a source's
(SQS keeps the original enqueue time, so messages expire early); a source
with maxReceiveCount 1; no alarm on the DLQ's depth, or one that does not fire
on the first message; a source redriving to a queue that does not exist; a
queue policy that does not let events.amazonaws.com or sns.amazonaws.com
send for the rule or topic; a DLQ under the AWS managed key alias/aws/sqs,
which those services cannot use. (Lambda writes with its execution role,
which dlq does not read.) Warnings about the account, not one DLQ, follow
the DLQs (on stderr unless on a terminal): a rule target or subscription
with no DLQ, whose failed events are dropped after retries; a Lambda
function a rule or subscription invokes with neither DLQ nor on-failure
destination; an SNS DLQ in another account or region; a DLQ that is not an
SQS queue; a permission denied, naming it (the rest is still read).

Exit codes: 0 ok; 3 when --max-depth is exceeded or, with
--fail-on-warning, when any DLQ has a warning; 1 error; 2 usage; 4 credentials.`,
		Example: `  # Every DLQ in the account, deepest first
  dlq inspect

  # Only the order pipeline's queues, as JSON
  dlq inspect --prefix orders- -o json

  # CI smoke check: exit 3 if any DLQ holds more than 0 messages
  dlq inspect --max-depth 0

  # Named DLQs, refreshed every 10 seconds
  dlq inspect orders-dlq payments-dlq --watch 10s`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Queues = args
			opts.Output = s.Output
			if err := cli.QueueSelection(cmd, s, args, &opts.Prefix); err != nil {
				return err
			}
			if err := opts.validate(cmd, kinds); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return inspectRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Prefix, "prefix", "", "only queues whose names start with `PREFIX` (default: the context's queuePrefix)")
	cmd.Flags().Int64Var(&opts.MaxDepth, "max-depth", 0, "exit 3 when any DLQ holds more than `N` messages")
	cmd.Flags().BoolVar(&opts.FailOnWarning, "fail-on-warning", false, "exit 3 when any DLQ has a warning")
	cmd.Flags().DurationVar(&opts.Watch, "watch", 0, "refresh every `DURATION` on a terminal until interrupted")
	cmd.Flags().IntVar(&opts.Concurrency, "concurrency", queue.DefaultConcurrency, "parallel reads per service")
	cmd.Flags().StringSliceVar(&kinds, "sources", nil, "read only these kinds of `SOURCES`: sqs, eventbridge, sns, lambda (default all)")
	return cmd
}

// validate checks the flags against each other and fills in what they
// imply: no --max-depth is no threshold, no --sources is every kind.
func (opts *InspectOptions) validate(cmd *cobra.Command, kinds []string) error {
	var err error
	if !cmd.Flags().Changed("max-depth") {
		opts.MaxDepth = -1
	} else if opts.MaxDepth < 0 {
		return cli.Usagef("--max-depth must be 0 or more, got %d", opts.MaxDepth)
	}
	if len(opts.Queues) > 0 && cmd.Flags().Changed("prefix") {
		return cli.Usagef("--prefix applies to discovery: name queues or give --prefix, not both")
	}
	if opts.Watch < 0 {
		return cli.Usagef("--watch must be positive, got %s", opts.Watch)
	}
	if opts.Watch > 0 && (!opts.IO.IsStdoutTTY() || opts.Output != render.FormatTable) {
		return cli.Usagef("--watch needs a terminal and table output")
	}
	if opts.Sources, err = sources.ParseKinds(kinds); err != nil {
		return cli.Usagef("--sources: %s", err)
	}
	if opts.Concurrency < 1 {
		return cli.Usagef("--concurrency must be at least 1, got %d", opts.Concurrency)
	}
	return nil
}

func inspectRun(ctx context.Context, opts *InspectOptions) error {
	if opts.Watch > 0 {
		return watch(ctx, opts)
	}
	report, err := collect(ctx, opts)
	if err != nil {
		return err
	}
	if err := write(opts, report); err != nil {
		return err
	}
	writeAccountWarnings(opts, report)
	_, _ = fmt.Fprintln(opts.IO.ErrOut, report.Summary())
	return report.Verdict(opts.MaxDepth, opts.FailOnWarning)
}

func watch(ctx context.Context, opts *InspectOptions) error {
	tick := opts.Tick
	if tick == nil {
		tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	ticks, stop := tick(opts.Watch)
	defer stop()
	for {
		report, err := collect(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		_, _ = fmt.Fprint(opts.IO.Out, "\x1b[H\x1b[2J")
		_, _ = fmt.Fprintf(opts.IO.Out, "Every %s: dlq inspect %s  %s\n\n", opts.Watch, strings.Join(opts.Queues, " "), opts.Now().Format("15:04:05"))
		if err := write(opts, report); err != nil {
			return err
		}
		_, _ = fmt.Fprintln(opts.IO.Out, report.Summary())
		select {
		case <-ctx.Done():
			// Interrupting a watch is how it ends: not a failure.
			return nil
		case <-ticks:
		}
	}
}

func collect(ctx context.Context, opts *InspectOptions) (*Report, error) {
	refs, err := queue.ParseRefs(opts.Queues)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	sqsAPI, err := opts.SQS(ctx)
	if err != nil {
		return nil, err
	}
	found, err := sources.Find(ctx, sources.Clients{SQS: sqsAPI, EventBridge: opts.EventBridge, SNS: opts.SNS, Lambda: opts.Lambda},
		sources.Options{Refs: refs, Prefix: opts.Prefix, Kinds: opts.Sources, Concurrency: opts.Concurrency})
	if err != nil {
		return nil, fmt.Errorf("inspect queues: %w", err)
	}
	var alarms map[string][]alarm.Alarm
	alarmErr := error(nil)
	if len(found.DLQs) > 0 {
		cw, err := opts.CloudWatch(ctx)
		if err == nil {
			alarms, err = alarm.DepthAlarms(ctx, cw)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			alarmErr = err
		}
	}
	return NewReport(found, alarms, alarmErr), nil
}
