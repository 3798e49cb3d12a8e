// Package replay implements `dlq replay`: move a DLQ's messages back to
// their source queue, in order, at a set rate, with a dry run and a plan
// first, never losing a message.
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/cli/peek"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
)

// SQSAPI is what replay calls.
type SQSAPI interface {
	queue.SQSAPI
	engine.SQSAPI
}

// ReplayOptions are the flags and dependencies of `dlq replay`.
type ReplayOptions struct {
	IO  *render.IOStreams
	SQS func(context.Context) (SQSAPI, error)
	Now func() time.Time
	Env render.Env

	DLQ          string
	To           string
	Filter       filter.Options
	Order        string
	Rate         float64
	Concurrency  int
	Limit        int
	MaxScan      int
	DryRun       bool
	Yes          bool
	Journal      string
	Dedup        string
	StopOnReturn int
	Force        bool
	Visibility   time.Duration
	Output       render.Format
}

// NewCmdReplay builds `dlq replay`.
func NewCmdReplay(f *cli.Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{IO: f.IOStreams, Now: f.Now, Env: f.Env,
		SQS: func(ctx context.Context) (SQSAPI, error) { return f.SQS(ctx) }}
	cmd := &cobra.Command{
		Use:   "replay DLQ",
		Short: "Move a DLQ's messages back to their source queue, never losing one",
		Long: `Replay messages from a dead-letter queue to its source queue (or --to).

First a plan: the matching messages are received and held, and on a
terminal the plan (count, bytes, destination, FIFO groups, oldest and newest,
samples, warnings) is shown and confirmed; --yes skips the question for
scripts, --dry-run prints the plan and gives every message back untouched.

Then each message is sent with its body byte-exact, every message attribute,
its AWSTraceHeader and FIFO group, plus one attribute dlq-replay recording
the original message ID, sent time, DLQ and replay count. A message is
deleted from the DLQ only after its send succeeded and was journaled; failed
entries are retried, then left in the DLQ and listed. --order sent (default)
keeps SentTimestamp order (FIFO: per message group, groups in parallel);
--order none sends concurrently. --rate caps messages per second.

A journal ($XDG_STATE_HOME/dlq/, or --journal) records each message before
and after its send, so a replay that crashed or was interrupted resumes:
what was sent is deleted, not resent. The one window where a crash can send
a message twice is between SQS accepting a batch and the journal recording
it; the pipeline's idempotency (business keys) absorbs that duplicate.

Exit codes: 0 all moved; 3 messages were left in the DLQ; 130 interrupted
(held messages are given back first); 2 usage; 1 error.`,
		Example: `  # See what would happen
  dlq replay orders-payments-dlq --dry-run

  # Replay one order's messages to the source queue, no questions
  dlq replay orders-payments-dlq --order-id order-1042 --yes

  # Everything, 50 messages a second, stop if 20 replayed messages fail again
  dlq replay orders-payments-dlq --rate 50 --stop-on-return 20 --yes

  # As fast as possible, order not needed
  dlq replay orders-notify-dlq --order none --concurrency 16 --yes`,
		Args: cli.ExactArgs(1, "the DLQ to replay"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.DLQ, opts.Output = args[0], s.Output
			if _, err := queue.ParseRef(opts.DLQ); err != nil {
				return &cli.UsageError{Err: err}
			}
			if opts.To != "" {
				if _, err := queue.ParseRef(opts.To); err != nil {
					return &cli.UsageError{Err: err}
				}
			}
			switch {
			case opts.Order != string(engine.OrderSent) && opts.Order != string(engine.OrderNone):
				return cli.Usagef("--order must be sent or none, got %q", opts.Order)
			case opts.Dedup != string(engine.DedupNew) && opts.Dedup != string(engine.DedupOriginal):
				return cli.Usagef("--dedup must be new or original, got %q", opts.Dedup)
			case opts.Rate < 0 || opts.Concurrency < 1 || opts.Limit < 0 || opts.MaxScan < 0 || opts.StopOnReturn < 0:
				return cli.Usagef("--rate, --limit, --max-scan and --stop-on-return must be 0 or more, --concurrency at least 1")
			case opts.Visibility < 3*time.Second || opts.Visibility > 12*time.Hour:
				return cli.Usagef("--visibility must be between 3s and 12h")
			}
			if _, err := filter.New(opts.Filter, opts.Now()); err != nil {
				return &cli.UsageError{Err: err}
			}
			// Decided before anything is received or journaled.
			if !opts.Yes && !opts.DryRun && !opts.IO.IsStderrTTY() {
				return cli.Usagef("not on a terminal: pass --yes to replay, or --dry-run to see the plan")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return replayRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.To, "to", "", "destination `QUEUE` (default: the DLQ's single source queue)")
	peek.AddFilterFlags(cmd, &opts.Filter)
	fs.StringVar(&opts.Order, "order", string(engine.OrderSent), "sent: SentTimestamp order; none: concurrently")
	fs.Float64Var(&opts.Rate, "rate", 0, "at most `N` messages per second (0: no limit)")
	fs.IntVar(&opts.Concurrency, "concurrency", 8, "batches in flight with --order none; FIFO groups in parallel")
	fs.IntVar(&opts.Limit, "limit", 0, "replay at most `N` messages (0: all matching)")
	fs.IntVar(&opts.MaxScan, "max-scan", 0, "scan at most `N` messages (0: the queue's depth)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the plan; change nothing")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	fs.StringVar(&opts.Journal, "journal", "", "journal `PATH` (default $XDG_STATE_HOME/dlq/replay-DLQ-to-DEST.jsonl)")
	fs.StringVar(&opts.Dedup, "dedup", string(engine.DedupNew), "FIFO deduplication IDs: new or original")
	fs.IntVar(&opts.StopOnReturn, "stop-on-return", 0, "stop when `N` replayed messages land back in the DLQ")
	fs.BoolVar(&opts.Force, "force", false, "allow a destination that is not a source of the DLQ")
	fs.DurationVar(&opts.Visibility, "visibility", 5*time.Minute, "how long held messages stay hidden between heartbeats")
	return cmd
}

func replayRun(ctx context.Context, opts *ReplayOptions) error {
	api, err := opts.SQS(ctx)
	if err != nil {
		return err
	}
	dlqRef, _ := queue.ParseRef(opts.DLQ)
	dlqURL, err := queue.ResolveURL(ctx, api, dlqRef)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	dlq, err := queue.Attributes(ctx, api, dlqURL)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	dest, err := destination(ctx, api, dlq, opts)
	if err != nil {
		return err
	}
	flt, _ := filter.New(opts.Filter, opts.Now())
	path := opts.Journal
	if path == "" {
		path = engine.DefaultJournalPath(opts.Env, dlq.Name, dest.Name)
	}
	var journal engine.Journal
	if !opts.DryRun {
		j, err := engine.OpenFileJournal(path)
		if err != nil {
			return err
		}
		defer func() { _ = j.Close() }()
		journal = j
	}
	cfg := engine.Config{API: api, DLQ: dlq, Destination: dest, Filter: flt, Order: engine.Order(opts.Order), Dedup: engine.Dedup(opts.Dedup),
		Rate: opts.Rate, Concurrency: opts.Concurrency, Limit: opts.Limit, MaxScan: opts.MaxScan, DryRun: opts.DryRun,
		Journal: journal, StopOnReturn: opts.StopOnReturn, Visibility: opts.Visibility, Now: opts.Now}
	if opts.IO.IsStderrTTY() && !opts.DryRun {
		cfg.Progress = progressBar(opts.IO.ErrOut)
	}

	held, err := engine.Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	if opts.DryRun || held.Plan.Messages == 0 {
		report, err := held.DryRunReport(ctx)
		if err != nil {
			return err
		}
		report.DryRun = opts.DryRun
		writePlan(opts.IO.ErrOut, report, dest)
		return writeReport(opts, report)
	}
	if !opts.Yes {
		writePlan(opts.IO.ErrOut, held.Report(), dest)
		ok, err := confirm(opts, held.Plan.Messages, dest.Name)
		if err != nil || !ok {
			if relErr := held.Release(ctx); relErr != nil {
				return relErr
			}
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintln(opts.IO.ErrOut, "nothing replayed: every message is back in the DLQ")
			return nil
		}
	}
	report, err := held.Execute(ctx)
	// FIFO queues show only the first messages of each group while the
	// rest wait: go on in rounds until a round finds nothing new.
	for err == nil && dest.FIFO && report.Matched > 0 && !report.LeftBehind() && report.Stopped == "" && (opts.Limit == 0 || report.Deleted < opts.Limit) {
		next, perr := engine.Prepare(ctx, cfg)
		if perr != nil {
			err = perr
			break
		}
		if next.Plan.Messages == 0 {
			_ = next.Release(ctx)
			break
		}
		var r engine.Report
		r, err = next.Execute(ctx)
		report = engine.Merge(report, r)
	}
	if opts.IO.IsStderrTTY() && cfg.Progress != nil {
		_, _ = fmt.Fprintln(opts.IO.ErrOut)
	}
	if werr := writeReport(opts, report); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if report.LeftBehind() {
		return &cli.ConditionError{Message: fmt.Sprintf("dlq: %d message(s) left in %s (%d failed, %d not reached%s)",
			report.Failed+report.Remaining, dlq.Name, report.Failed, report.Remaining, stopped(report))}
	}
	return nil
}

func stopped(r engine.Report) string {
	if r.Stopped == "" {
		return ""
	}
	return "; stopped: " + r.Stopped
}

// destination resolves the destination, with bad choices as usage errors.
func destination(ctx context.Context, api SQSAPI, dlq queue.Queue, opts *ReplayOptions) (queue.Queue, error) {
	dest, err := engine.ResolveDestination(ctx, api, dlq, opts.To, opts.Force)
	var de *engine.DestinationError
	if errors.As(err, &de) {
		return dest, &cli.UsageError{Err: err}
	}
	if err != nil {
		return dest, fmt.Errorf("replay: %w", err)
	}
	return dest, nil
}

func confirm(opts *ReplayOptions, n int, dest string) (bool, error) {
	if !opts.IO.IsStderrTTY() {
		return false, cli.Usagef("not on a terminal: pass --yes to replay, or --dry-run to see the plan")
	}
	_, _ = fmt.Fprintf(opts.IO.ErrOut, "Replay %d message(s) to %s? [y/N] ", n, render.Sanitize(dest))
	line, err := bufio.NewReader(opts.IO.In).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}
