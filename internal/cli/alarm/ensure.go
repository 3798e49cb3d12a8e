package alarm

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
)

// EnsureOptions are the flags and dependencies of `dlq alarm ensure`.
type EnsureOptions struct {
	deps
	Queues   []string
	All      bool
	Prefix   string
	SNSTopic string
	// ReplaceActions makes SNSTopic the alarm's only alarm action.
	ReplaceActions bool
	DryRun         bool
	Output         render.Format
}

// NewCmdEnsure builds `dlq alarm ensure`.
func NewCmdEnsure(f *cli.Factory, runF func(context.Context, *EnsureOptions) error) *cobra.Command {
	opts := &EnsureOptions{deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "ensure [QUEUE...|--all]",
		Short: "Create or update a depth alarm on each DLQ",
		Long: `Create or update, per DLQ, the CloudWatch alarm dlq-depth-<queue> on
ApproximateNumberOfMessagesVisible > 0 (maximum, period 60 s, 1 datapoint,
missing data not breaching).

Idempotent: a second run changes nothing and says so. A DLQ already watched
by another alarm that fires on the first message is left alone ("covered")
unless --sns-topic asks for a notification.

--sns-topic adds the topic to the alarm's actions: the actions an existing
dlq alarm has (a pager, say) stay, and the output names what was added.
--replace-actions makes the topic the only alarm action instead, and the
output names what was removed. OK and insufficient-data actions are never
touched. Without --sns-topic an existing dlq alarm keeps its actions; a new
one has none, so nobody is notified. The topic must exist: a missing one is
an error and nothing is changed; if reading it is denied (another account's
topic, a role without sns:GetTopicAttributes), dlq warns and goes on.

A named queue that no queue redrives to is not a dead-letter queue: dlq
alarms it as asked, with a warning, since its depth is ordinary traffic.`,
		Example: `  # Alarm every DLQ in the account, notifying the on-call topic too
  dlq alarm ensure --all --sns-topic arn:aws:sns:eu-west-1:123456789012:oncall

  # Move every alarm from the old topic to the new one (removes the old one)
  dlq alarm ensure --all --dry-run --sns-topic arn:aws:sns:eu-west-1:123456789012:oncall-v2 --replace-actions
  dlq alarm ensure --all --sns-topic arn:aws:sns:eu-west-1:123456789012:oncall-v2 --replace-actions

  # Show what would change, without changing it
  dlq alarm ensure --all --dry-run

  # Just these DLQs
  dlq alarm ensure orders-dlq payments-dlq`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Queues, opts.Output = args, s.Output
			if err := cli.QueueSelection(cmd, s, args, &opts.Prefix); err != nil {
				return err
			}
			switch {
			case len(args) == 0 && !opts.All:
				return cli.Usagef("name the DLQs to alarm, or pass --all")
			case len(args) > 0 && opts.All:
				return cli.Usagef("name DLQs or pass --all, not both")
			}
			if opts.SNSTopic != "" && !isTopicARN(opts.SNSTopic) {
				return cli.Usagef("--sns-topic wants a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got %q", opts.SNSTopic)
			}
			if opts.ReplaceActions && opts.SNSTopic == "" {
				return cli.Usagef("--replace-actions needs --sns-topic: removing every action would silence the alarms")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return ensureRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "every DLQ in the account and region")
	cmd.Flags().StringVar(&opts.Prefix, "prefix", "", "with --all, only queues whose names start with `PREFIX`")
	cmd.Flags().StringVar(&opts.SNSTopic, "sns-topic", "", "SNS topic `ARN` to add to the alarm's actions")
	cmd.Flags().BoolVar(&opts.ReplaceActions, "replace-actions", false, "with --sns-topic, remove the alarm's other actions")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would change without changing it")
	return cmd
}

// isTopicARN reports whether s has the shape of an SNS topic ARN; an SQS
// ARN pasted by mistake is the usual slip.
func isTopicARN(s string) bool {
	parts := strings.Split(s, ":")
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "sns" && parts[5] != ""
}

func ensureRun(ctx context.Context, opts *EnsureOptions) error {
	// The topic first: a missing one stops the run before any alarm is
	// read or written.
	if opts.SNSTopic != "" {
		snsAPI, err := opts.SNS(ctx)
		if err != nil {
			return err
		}
		note, err := alarm.CheckTopic(ctx, snsAPI, opts.SNSTopic)
		if err != nil {
			return fmt.Errorf("ensure alarms: %w", err)
		}
		if note != "" {
			_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", note)
		}
	}
	t, err := opts.target(ctx, opts.Queues, opts.Prefix)
	if err != nil {
		return err
	}
	t.warnDenied(opts.IO)
	names := make([]string, 0, len(t.dlqs))
	warnings := map[string][]string{}
	for _, d := range t.dlqs {
		if d.Exists {
			names = append(names, d.Name)
			warnings[d.Name] = t.dlqWarnings(d)
		}
	}
	results, err := alarm.Ensure(ctx, t.cw, names, t.alarms, alarm.EnsureOptions{
		SNSTopicARN: opts.SNSTopic, ReplaceActions: opts.ReplaceActions, DryRun: opts.DryRun,
	})
	for i := range results {
		results[i].Warnings = warnings[results[i].Queue]
		if results[i].Warnings == nil {
			results[i].Warnings = []string{}
		}
	}
	// Report what was done even when a later put failed.
	if werr := writeEnsure(opts, results); werr != nil && err == nil {
		err = werr
	}
	for _, r := range results {
		for _, w := range r.Warnings {
			_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: %s: %s\n", render.Sanitize(r.Queue), w)
		}
	}
	if err != nil {
		return fmt.Errorf("ensure alarms: %w", err)
	}
	_, _ = fmt.Fprintln(opts.IO.ErrOut, ensureSummary(results, opts))
	return nil
}

func writeEnsure(opts *EnsureOptions, results []alarm.Result) error {
	if opts.Output != render.FormatTable {
		if results == nil {
			results = []alarm.Result{}
		}
		return render.WriteData(opts.IO.Out, opts.Output, results)
	}
	t := render.NewTable(opts.IO, "DLQ", "ALARM", "ACTION", "CHANGES")
	for _, r := range results {
		action := string(r.Action)
		if r.DryRun && (r.Action == alarm.Created || r.Action == alarm.Updated) {
			action = "would be " + action
		}
		t.AddRow(r.Queue, r.Alarm, action, strings.Join(r.Changes, "; "))
	}
	return t.Render(opts.IO.Out)
}

func ensureSummary(results []alarm.Result, opts *EnsureOptions) string {
	counts := map[alarm.Action]int{}
	for _, r := range results {
		counts[r.Action]++
	}
	if len(results) == 0 {
		return "no dead-letter queues found"
	}
	s := fmt.Sprintf("%d created, %d updated, %d unchanged, %d covered by another alarm",
		counts[alarm.Created], counts[alarm.Updated], counts[alarm.Unchanged], counts[alarm.Covered])
	if counts[alarm.Created]+counts[alarm.Updated] == 0 {
		s += ": nothing to change"
	}
	if opts.DryRun {
		s += " (dry run: nothing was changed)"
	}
	if n := withRemovedActions(results); n > 0 {
		s += fmt.Sprintf("; alarms losing actions to --replace-actions: %d", n)
	}
	if opts.SNSTopic == "" && counts[alarm.Created] > 0 {
		s += "; new alarms have no actions: pass --sns-topic to be notified"
	}
	return s
}

func withRemovedActions(results []alarm.Result) int {
	n := 0
	for _, r := range results {
		if len(r.ActionsRemoved) > 0 && r.Action == alarm.Updated {
			n++
		}
	}
	return n
}
