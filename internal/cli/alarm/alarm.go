// Package alarm implements `dlq alarm ensure` and `dlq alarm list`: every
// DLQ gets a CloudWatch alarm on visible messages above zero, evaluated each
// minute, so no DLQ fills silently.
package alarm

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// NewCmdAlarm builds `dlq alarm` and its subcommands.
func NewCmdAlarm(f *cli.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarm <command>",
		Short: "Make sure no DLQ fills without an alarm",
		Long: `Manage the CloudWatch alarms that watch DLQ depth.

The rule dlq follows: alert when a DLQ's ApproximateNumberOfMessagesVisible
is above zero, evaluated over one minute, one datapoint, missing data not
breaching.`,
		Args: cli.NoArgs,
	}
	cmd.AddCommand(NewCmdEnsure(f, nil), NewCmdList(f, nil))
	return cmd
}

// deps are the clients both subcommands use.
type deps struct {
	IO         *render.IOStreams
	SQS        func(context.Context) (queue.SQSAPI, error)
	CloudWatch func(context.Context) (alarm.CloudWatchAPI, error)
}

func newDeps(f *cli.Factory) deps {
	return deps{
		IO:         f.IOStreams,
		SQS:        func(ctx context.Context) (queue.SQSAPI, error) { return f.SQS(ctx) },
		CloudWatch: func(ctx context.Context) (alarm.CloudWatchAPI, error) { return f.CloudWatch(ctx) },
	}
}

// target is what both subcommands work on: the DLQs, the depth alarms of
// the account, and the CloudWatch client that read them.
type target struct {
	dlqs   []queue.DeadLetterQueue
	alarms map[string][]alarm.Alarm
	cw     alarm.CloudWatchAPI
}

// target finds the named DLQs, or all under prefix, with the depth alarms.
func (d deps) target(ctx context.Context, args []string, prefix string) (target, error) {
	refs, err := queue.ParseRefs(args)
	if err != nil {
		return target{}, &cli.UsageError{Err: err}
	}
	sqsAPI, err := d.SQS(ctx)
	if err != nil {
		return target{}, err
	}
	dlqs, err := queue.FindDeadLetterQueues(ctx, sqsAPI, refs, prefix, queue.DefaultConcurrency)
	if err != nil {
		return target{}, fmt.Errorf("find dead-letter queues: %w", err)
	}
	cw, err := d.CloudWatch(ctx)
	if err != nil {
		return target{}, err
	}
	alarms, err := alarm.DepthAlarms(ctx, cw)
	if err != nil {
		return target{}, err
	}
	return target{dlqs: dlqs, alarms: alarms, cw: cw}, nil
}
