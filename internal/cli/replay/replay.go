// Package replay implements `dlq replay`: move a DLQ's messages back to
// their source queue, in order, at a set rate, with a dry run and a plan
// first, never losing a message.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// SQSAPI is what replay calls.
type SQSAPI = engine.SQSAPI

// ReplayOptions are the flags and dependencies of `dlq replay`.
type ReplayOptions struct {
	IO   *render.IOStreams
	SQS  func(context.Context) (SQSAPI, error)
	Logs func(context.Context) (insights.LogsAPI, error)
	// Services send where EventBridge, SNS and Lambda failed to deliver.
	Services engine.Services
	Now      func() time.Time
	Env      render.Env
	// Run is the replay engine, engine.Run; tests give canned reports.
	Run func(context.Context, engine.Config) (engine.Report, error)

	DLQ          string
	To           string
	Filter       cli.MessageFilter
	Cause        cli.CauseOptions
	Order        string
	OrderKey     string
	orderKey     *filter.Path
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
	ViaBus       bool
	ToTopic      bool
	Canary       int
	CanaryWait   time.Duration
	CanaryOnly   bool
	NoWait       bool
	Visibility   time.Duration
	Output       render.Format
}

// NewCmdReplay builds `dlq replay`.
func NewCmdReplay(f *cli.Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{IO: f.IOStreams, Now: f.Now, Env: f.Env, Run: engine.Run,
		SQS:      func(ctx context.Context) (SQSAPI, error) { return f.SQS(ctx) },
		Logs:     func(ctx context.Context) (insights.LogsAPI, error) { return f.Logs(ctx) },
		Services: services(f)}
	cmd := &cobra.Command{
		Use:   "replay DLQ",
		Short: "Move a DLQ's messages back to where they failed, never losing one",
		Long: `Replay messages from a dead-letter queue back to where they came from.

Each message goes back to the queue SQS recorded when it dead-lettered it
(DeadLetterQueueSourceArn), else to the DLQ's single source; --to QUEUE
sends to one queue and takes only the messages that came from it (--force:
every selected message, even to a queue that is not a source).

Messages other services dead-lettered go back to where they failed:
  EventBridge   the rule target named by RULE_ARN and TARGET_ARN, with the
                target's Input, InputPath or InputTransformer applied (SQS,
                SNS, Lambda, Step Functions, an event bus); --via-bus puts
                the events back on the rule's bus instead.
  SNS           the failed subscription's endpoint (SQS or Lambda), never
                the topic, so no other subscriber gets a notification twice;
                --to-topic publishes to the topic instead.
  Lambda        an on-failure record: an asynchronous Invoke of the function
                it names, with its requestPayload; a function DLQ's message:
                the function whose DLQ it is (--to FUNCTION when several
                share it).
A destination that no longer exists, or of a kind replay does not send to,
keeps its messages in the DLQ with the reason (exit 3).

First a plan: the matching messages are received and held (a heartbeat
keeps them hidden, also while you read the question), and on a terminal the
plan (count, bytes, destinations, FIFO groups, oldest and newest, samples,
warnings) is shown and confirmed; --yes skips the question for scripts,
--dry-run prints the plan and gives every message back untouched.

Then each message is sent with its body byte-exact, every message attribute,
its AWSTraceHeader and FIFO group, plus one attribute dlq-replay recording
the original message ID, sent time, DLQ and replay count. A message is
deleted from the DLQ only after its send succeeded and was journaled; failed
entries are retried, then left in the DLQ and listed.

--order key (default) sends the messages of each entity (orderId, else
traceId, else the message group; --order-key PATH) in SentTimestamp order,
many entities in parallel; --order sent is strict and global (slow); --order
none has no order, and with --yes on a standard DLQ it sends while it scans,
holding a bounded window (the plan is printed at the end, as a record).
FIFO queues go group by group, strictly: a group stops at its first message
that cannot go, other groups go on. Batches in flight adapt to throughput
unless --concurrency fixes them; --rate caps messages per second.

A journal ($XDG_STATE_HOME/dlq/, or --journal) records each message before
and after its send, and how long each run holds messages. Run the same
command again after a crash, kill -9 or Ctrl-C: it waits for messages a
killed run still holds (--no-wait skips that), deletes what was sent instead
of sending it again, and sends the rest. docs/replay.md lists every case
where a message can arrive twice; the report counts them as uncertain.

At the end the DLQ is read again. Exit codes: 0 verified: no message of this
replay is left in the DLQ; 3 some are left (or could not be checked), with
why and what to do next; 130 interrupted (held messages are given back
first); 2 usage; 1 error.`,
		Example: `  # See what would happen
  dlq replay orders-payments-dlq --dry-run

  # Replay only the cause you fixed (an ID from dlq triage); poison stays
  dlq triage orders-dlq
  dlq replay orders-dlq --cause 3f9a2c --dry-run
  dlq replay orders-dlq --cause 3f9a2c --yes

  # Replay one order's messages, no questions
  dlq replay orders-payments-dlq --order-id order-1042 --yes

  # Prove the fix on 10 orders first; the rest moves only if all 10 are
  # consumed (their traces' logs say so, or the source drained). Run it
  # again after a Ctrl-C: it resumes the same canary
  dlq replay orders-dlq --cause 3f9a2c --canary 10 --log-group-prefix /aws/lambda/orders- --yes

  # Everything, 50 messages a second, stop if 20 replayed messages fail again
  dlq replay orders-payments-dlq --rate 50 --stop-on-return 20 --yes

  # A DLQ shared by several queues, only what came from orders-payments
  dlq replay shared-dlq --to orders-payments --yes

  # An EventBridge target's DLQ: each event back to the target that failed
  dlq replay orders-events-dlq --dry-run

  # A Lambda function's DLQ shared by two functions: name the one to invoke
  dlq replay async-dlq --to orders-charge --yes

  # Notifications carry no orderId: keep order per customer instead
  dlq replay orders-notify-dlq --order-key customer.id --yes

  # No order needed at all: sends while it scans, in bounded memory
  dlq replay orders-notify-dlq --order none --yes

  # In a script: branch on the verified outcome
  dlq replay orders-payments-dlq --yes -o json > report.json; echo "exit $?"`,
		Args: cli.ExactArgs(1, "the DLQ to replay"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.DLQ, opts.Output = args[0], s.Output
			opts.Cause.Defaults(s)
			if err := opts.validate(); err != nil {
				return err
			}
			if _, err := opts.Filter.Parse(opts.Now()); err != nil {
				return err
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
	addFlags(cmd, opts)
	return cmd
}

// addFlags declares replay's flags on cmd.
func addFlags(cmd *cobra.Command, opts *ReplayOptions) {
	fs := cmd.Flags()
	fs.StringVar(&opts.To, "to", "", "destination `QUEUE` (default: where each message failed), or the Lambda function to invoke for a function DLQ several functions share")
	cli.AddFilterFlags(cmd, &opts.Filter.Options)
	cli.AddCauseFlags(cmd, &opts.Cause)
	fs.Lookup("log-group").Usage = "log group `NAME` where the pipeline logs, read for --cause and --canary; repeatable (default: the context's logGroups)"
	fs.Lookup("log-group-prefix").Usage = "log groups whose names start with `PREFIX`, read for --cause and --canary; repeatable"
	fs.StringVar(&opts.Order, "order", string(engine.OrderKey), "key: in SentTimestamp order per entity (orderId, traceId, group), entities in parallel; sent: strictly by SentTimestamp (slow); none: no order")
	fs.StringVar(&opts.OrderKey, "order-key", "", "the entity key of --order key, a `PATH` as in --where (default orderId, else traceId, else the message group)")
	fs.Float64Var(&opts.Rate, "rate", 0, "at most `N` messages per second (0: no limit)")
	fs.IntVar(&opts.Concurrency, "concurrency", 0, "batches in flight (FIFO: groups in parallel); 0: adaptive, raised while throughput grows")
	fs.IntVar(&opts.Limit, "limit", 0, "replay at most `N` messages (0: all matching)")
	fs.IntVar(&opts.MaxScan, "max-scan", 0, "scan at most `N` messages (0: the queue's depth)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the plan; change nothing")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	fs.StringVar(&opts.Journal, "journal", "", "journal `PATH` (default $XDG_STATE_HOME/dlq/replay-REGION-ACCOUNT-DLQ.jsonl)")
	fs.StringVar(&opts.Dedup, "dedup", string(engine.DedupNew), "FIFO deduplication IDs: new or original")
	fs.IntVar(&opts.StopOnReturn, "stop-on-return", 0, "stop when `N` replayed messages land back in the DLQ")
	fs.BoolVar(&opts.Force, "force", false, "allow a destination that is not a source of the DLQ")
	fs.IntVar(&opts.Canary, "canary", 0, "send `N` messages first (one of each of N order keys), wait for the verdict, and move the rest only if every one was consumed")
	fs.DurationVar(&opts.CanaryWait, "canary-wait", 0, "how long to watch the canary (default: the source queue's maxReceiveCount × visibility timeout + receive wait, and a margin)")
	fs.BoolVar(&opts.CanaryOnly, "canary-only", false, "stop after the canary's verdict, whatever it is")
	fs.BoolVar(&opts.ViaBus, "via-bus", false, "put events an EventBridge target failed to take back on the rule's bus (every matching rule sees them again) instead of sending them to the target")
	fs.BoolVar(&opts.ToTopic, "to-topic", false, "publish notifications an SNS subscription failed to deliver to the topic again (every subscriber gets them) instead of to the subscription's endpoint")
	fs.DurationVar(&opts.Visibility, "visibility", engine.DefaultVisibility, "how long held messages stay hidden; renewed every third of it, so a killed run's messages come back after at most this")
	fs.BoolVar(&opts.NoWait, "no-wait", false, "do not wait for messages an interrupted run still holds (exit 3 if any)")
}

func replayRun(ctx context.Context, opts *ReplayOptions) error {
	api, err := opts.SQS(ctx)
	if err != nil {
		return err
	}
	flt, _ := opts.Filter.Parse(opts.Now()) // parsed when the command started
	// --cause: the DLQ is classified first (a scan that gives every message
	// back); the replay then takes exactly that cause's messages, by ID,
	// and its final check looks for those.
	var cause *cli.Cause
	if opts.Cause.ID != "" {
		ref, _ := queue.ParseRef(opts.DLQ)
		// The classification reads the DLQ as the replay will, whatever
		// RedrivePolicy the DLQ has of its own.
		if cause, err = cli.SelectCause(ctx, api, opts.Logs, ref, flt, true, opts.Cause, opts.Now, opts.IO.ErrOut); err != nil {
			return err
		}
	}
	cfg, closeJournal, err := engineConfig(ctx, opts, api, flt)
	if err != nil {
		return err
	}
	defer closeJournal()
	live := watchRun(ctx, opts, &cfg)
	report, err := opts.Run(ctx, cfg)
	live.Clear()
	if done, err := engineError(&report, &err); done {
		return err
	}
	causeMissed(opts, cause, &report)
	if opts.DryRun || report.Plan == nil || report.Plan.Messages == 0 || report.Streamed {
		writePlan(opts.IO.ErrOut, report) // a streamed run shows what it took
	}
	if werr := writeReport(opts, report); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	return verdict(opts, report)
}

// engineConfig is the engine's configuration from the flags: the
// canary's log groups, and (unless a dry run) the journal, which
// closeJournal closes.
func engineConfig(ctx context.Context, opts *ReplayOptions, api engine.SQSAPI, flt *filter.Filter) (cfg engine.Config, closeJournal func(), err error) {
	cfg = engine.Config{API: api, DLQ: opts.DLQ, To: opts.To, Force: opts.Force, Services: opts.Services, ViaBus: opts.ViaBus, ToTopic: opts.ToTopic,
		Canary: opts.Canary, CanaryWait: opts.CanaryWait, CanaryOnly: opts.CanaryOnly, Filter: flt, Order: engine.Order(opts.Order), OrderKey: opts.orderKey, Dedup: engine.Dedup(opts.Dedup),
		Rate: opts.Rate, Concurrency: opts.Concurrency, Limit: opts.Limit, MaxScan: opts.MaxScan, DryRun: opts.DryRun, NoWait: opts.NoWait,
		StopOnReturn: opts.StopOnReturn, Visibility: opts.Visibility, Now: opts.Now, LimitMemory: true,
		// --yes confirms no plan: --order none sends while it scans.
		Stream: opts.Yes && !opts.DryRun}
	closeJournal = func() {}
	if opts.Canary > 0 {
		// The canary's verdict reads its traces' successes and the
		// returned messages' first failures there.
		if cfg.Logs, err = cli.LogSource(ctx, opts.Logs, opts.Cause.Groups, opts.Cause.Prefixes); err != nil {
			return cfg, closeJournal, err
		}
		cfg.CanarySelection = canarySelection(opts)
	}
	if !opts.DryRun {
		j, err := openJournal(ctx, api, opts)
		if err != nil {
			return cfg, closeJournal, err
		}
		cfg.Journal, closeJournal = j, func() { _ = j.Close() }
		cfg.SpoolDir = filepath.Dir(j.Location()) // held bodies next to the journal, not in memory
	}
	return cfg, closeJournal, nil
}

// verdict ends the command with the run's outcome: exit 3 with why when
// the canary stopped it or something of the replay is left in the DLQ,
// else the verified outcome in one line.
func verdict(opts *ReplayOptions, report engine.Report) error {
	if report.Stopped == engine.StopCanary && report.Canary != nil {
		return &cli.ConditionError{Message: fmt.Sprintf("canary %s: %s", report.Canary.Verdict, report.NextStep)}
	}
	if report.LeftBehind() {
		return &cli.ConditionError{Message: fmt.Sprintf("not verified: %d message(s) of this replay are still in %s (%s)%s: %s",
			report.LeftInDLQ, report.DLQ, leftReasons(report.Left), stopped(report), report.NextStep)}
	}
	_, err := fmt.Fprintln(opts.IO.ErrOut, outcome(report))
	return err
}

// canarySelection names what the canary is picked from, so that a
// stopped canary is resumed only by a run of the same selection and
// destination.
func canarySelection(opts *ReplayOptions) string {
	b, _ := json.Marshal(struct {
		Filter           any
		Cause, To, Order string
		OrderKey         string
		ViaBus, ToTopic  bool
		Limit            int
	}{opts.Filter.Options, opts.Cause.ID, opts.To, opts.Order, opts.OrderKey, opts.ViaBus, opts.ToTopic, opts.Limit})
	return string(b)
}

// outcome is the last line of a replay that left nothing behind: the
// verified fact, in words (one that left something ends with its
// ConditionError instead).
func outcome(r engine.Report) string {
	if r.DryRun {
		n := 0
		if r.Plan != nil {
			n = r.Plan.Messages
		}
		return fmt.Sprintf("dry run: %d message(s) would move; nothing was sent, every message is back in %s", n, render.Sanitize(r.DLQ))
	}
	return fmt.Sprintf("verified: %d moved, the DLQ re-read holds none of them (%.1f s)", r.Deleted, r.DurationSeconds)
}

// watchRun sets what a run shows while it goes: one live line on stderr
// (what it waits for; progress on a terminal) and, unless it is a dry
// run, the plan before anything is sent (with --yes too), then the
// question.
func watchRun(ctx context.Context, opts *ReplayOptions, cfg *engine.Config) *render.LiveLine {
	tty := opts.IO.IsStderrTTY()
	live := render.NewLiveLine(opts.IO.ErrOut, tty, 0)
	cfg.Status = func(s string) {
		if s != "" && !strings.HasPrefix(s, "canary:") {
			s += " (--no-wait to skip)"
		}
		live.Status(s)
	}
	if tty && !opts.DryRun {
		cfg.Progress = progressBar(live)
	}
	if !opts.DryRun {
		cfg.Confirm = func(r engine.Report) (bool, error) {
			live.Clear()
			writePlan(opts.IO.ErrOut, r)
			if opts.Yes {
				return true, nil
			}
			return confirm(ctx, opts, r.Plan.Messages, r.Destination)
		}
	}
	return live
}

// engineError turns the engine's error into the CLI's. done: the command
// ends with *err, without a report; else *err (maybe a usage error after
// a streaming run moved some messages) goes with the report.
func engineError(report *engine.Report, err *error) (done bool, _ error) {
	var de *engine.DestinationError
	switch {
	case errors.As(*err, &de):
		// The whole text: a give-back that failed with it says messages
		// may stay hidden.
		uerr := &cli.UsageError{Err: errors.New(strings.Replace((*err).Error(), de.Error(), flagWords(de), 1))}
		if report.Sent == 0 && report.Deleted == 0 {
			return true, uerr
		}
		// A streaming run stopped at a message it cannot route after
		// moving others: the report says what moved.
		*err = uerr
	case errors.Is(*err, engine.ErrDeclined):
		// Nothing moved and the DLQ still holds the selection: exit 0
		// would say it was verified empty.
		n := 0
		if report.Plan != nil {
			n = report.Plan.Messages
		}
		return true, &cli.ConditionError{Message: fmt.Sprintf("dlq: declined: nothing moved; the %d message(s) of the plan are back in %s", n, report.DLQ)}
	case *err != nil && report.DLQ == "":
		return true, fmt.Errorf("replay: %w", *err)
	}
	return false, nil
}

// causeMissed accounts for messages that were in the DLQ when --cause
// classified it, but hidden (a killed run's hold, another reader): nobody
// knows their cause, so the run cannot say it moved every message of it.
func causeMissed(opts *ReplayOptions, cause *cli.Cause, report *engine.Report) {
	n := cause.Missed()
	if n == 0 {
		return
	}
	why := fmt.Sprintf("%d message(s) in %s were hidden when --cause classified it (a killed run's hold, or another reader): run the same command again to classify and move them", n, report.DLQ)
	if opts.DryRun {
		report.Warnings = append(report.Warnings, why)
		return
	}
	report.Verified = false
	report.Left.Unchecked += n
	report.LeftInDLQ += n
	report.NextStep = strings.TrimPrefix(report.NextStep+"; "+why, "; ")
}

// openJournal opens --journal, else the DLQ's own journal, keyed by its
// ARN, reading the one it had under its name before (LegacyPath).
func openJournal(ctx context.Context, api engine.SQSAPI, opts *ReplayOptions) (*journal.File, error) {
	if opts.Journal != "" {
		return journal.OpenFile(opts.Journal)
	}
	ref, err := queue.ParseRef(opts.DLQ)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	url, err := queue.ResolveURL(ctx, api, ref)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	q, err := queue.Attributes(ctx, api, url)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return journal.OpenFile(journal.DefaultPath(opts.Env, q.ARN), journal.LegacyPath(opts.Env, q.Name))
}

// flagWords is a destination error with its fix in the CLI's flags.
func flagWords(de *engine.DestinationError) string {
	switch de.Fix {
	case engine.FixTo:
		return de.Msg + ": pass --to QUEUE"
	case engine.FixForce:
		return de.Msg + ": pass --force to replay there anyway"
	}
	return de.Msg
}

func leftReasons(l engine.Left) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{l.Failed, "failed"}, {l.HeldByEarlierRun, "held by an earlier run"}, {l.NotReached, "not reached"}, {l.Unchecked, "could not be checked"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

func stopped(r engine.Report) string {
	if r.Stopped == "" {
		return ""
	}
	return "; stopped: " + string(r.Stopped)
}

// confirm asks on the terminal. Ctrl-C while it waits ends the run like
// anywhere else (the held messages are given back, exit 130).
func confirm(ctx context.Context, opts *ReplayOptions, n int, dest string) (bool, error) {
	if !opts.IO.IsStderrTTY() {
		return false, cli.Usagef("not on a terminal: pass --yes to replay, or --dry-run to see the plan")
	}
	_, _ = fmt.Fprintf(opts.IO.ErrOut, "Replay %d message(s) to %s? [y/N] ", n, render.Sanitize(dest))
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(opts.IO.In).ReadString('\n')
		got <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		_, _ = fmt.Fprintln(opts.IO.ErrOut)
		return false, ctx.Err()
	case a := <-got:
		if a.err != nil && !errors.Is(a.err, io.EOF) {
			return false, a.err
		}
		s := strings.ToLower(strings.TrimSpace(a.line))
		return s == "y" || s == "yes", nil
	}
}

// services builds replay's clients for destinations other than SQS.
func services(f *cli.Factory) engine.Services {
	return engine.Services{
		Lambda:        func(ctx context.Context) (engine.LambdaAPI, error) { return f.Lambda(ctx) },
		SNS:           func(ctx context.Context) (engine.SNSAPI, error) { return f.SNS(ctx) },
		EventBridge:   func(ctx context.Context) (engine.EventBridgeAPI, error) { return f.EventBridge(ctx) },
		StepFunctions: func(ctx context.Context) (engine.StepFunctionsAPI, error) { return f.StepFunctions(ctx) },
	}
}

// validate checks the flags that need no AWS call.
func (o *ReplayOptions) validate() error {
	if _, err := queue.ParseRef(o.DLQ); err != nil {
		return &cli.UsageError{Err: err}
	}
	if o.To != "" && !engine.IsFunctionARN(o.To) {
		if _, err := queue.ParseRef(o.To); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	if o.OrderKey != "" {
		if o.Order != string(engine.OrderKey) {
			return cli.Usagef("--order-key needs --order key")
		}
		p, err := filter.ParsePath(o.OrderKey)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		o.orderKey = &p
	}
	switch {
	case o.Order != string(engine.OrderKey) && o.Order != string(engine.OrderSent) && o.Order != string(engine.OrderNone):
		return cli.Usagef("--order must be key, sent or none, got %q", o.Order)
	case o.Dedup != string(engine.DedupNew) && o.Dedup != string(engine.DedupOriginal):
		return cli.Usagef("--dedup must be new or original, got %q", o.Dedup)
	case o.Rate < 0 || o.Concurrency < 0 || o.Limit < 0 || o.MaxScan < 0 || o.StopOnReturn < 0:
		return cli.Usagef("--rate, --concurrency, --limit, --max-scan and --stop-on-return must be 0 or more")
	case o.Visibility < 3*time.Second || o.Visibility > 12*time.Hour:
		return cli.Usagef("--visibility must be between 3s and 12h")
	case o.Canary < 0 || o.CanaryWait < 0:
		return cli.Usagef("--canary and --canary-wait must be 0 or more")
	case o.Canary == 0 && (o.CanaryWait > 0 || o.CanaryOnly):
		return cli.Usagef("--canary-wait and --canary-only need --canary N")
	}
	return nil
}
