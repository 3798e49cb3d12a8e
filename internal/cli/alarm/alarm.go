// Package alarm implements `dlq alarm ensure` and `dlq alarm list`: every
// DLQ gets a CloudWatch alarm on visible messages above zero, evaluated each
// minute, so no DLQ fills silently.
package alarm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
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
		// Runnable, so that cobra checks Args: a group without RunE shows
		// its help for any argument and exits 0, and a misspelt
		// subcommand in a script would pass.
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(NewCmdEnsure(f, nil), NewCmdList(f, nil))
	return cmd
}

// deps are the clients the subcommands use.
type deps struct {
	IO         *render.IOStreams
	SQS        func(context.Context) (queue.SQSAPI, error)
	CloudWatch func(context.Context) (alarm.CloudWatchAPI, error)
	SNS        func(context.Context) (alarm.SNSAPI, error)
	// EventBridge, Subscriptions and Lambda find the DLQs that rule
	// targets, SNS subscriptions and Lambda functions dead-letter into.
	EventBridge   func(context.Context) (sources.EventBridgeAPI, error)
	Subscriptions func(context.Context) (sources.SNSAPI, error)
	Lambda        func(context.Context) (sources.LambdaAPI, error)
}

func newDeps(f *cli.Factory) deps {
	return deps{
		IO:            f.IOStreams,
		SQS:           func(ctx context.Context) (queue.SQSAPI, error) { return f.SQS(ctx) },
		CloudWatch:    func(ctx context.Context) (alarm.CloudWatchAPI, error) { return f.CloudWatch(ctx) },
		SNS:           func(ctx context.Context) (alarm.SNSAPI, error) { return f.SNS(ctx) },
		EventBridge:   func(ctx context.Context) (sources.EventBridgeAPI, error) { return f.EventBridge(ctx) },
		Subscriptions: func(ctx context.Context) (sources.SNSAPI, error) { return f.SNS(ctx) },
		Lambda:        func(ctx context.Context) (sources.LambdaAPI, error) { return f.Lambda(ctx) },
	}
}

// target is what the subcommands work on: the DLQs, the depth alarms of
// the account, and the CloudWatch client that read them.
type target struct {
	dlqs   []sources.DeadLetterQueue
	alarms map[string][]alarm.Alarm
	cw     alarm.CloudWatchAPI
	// unchecked holds, by queue URL, why a named queue's sources could
	// not be listed; its Sources are then unknown, not empty.
	unchecked map[string]error
	// denied are the permissions discovery was refused: DLQs may be
	// missing.
	denied []string
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
	sc := &sourceCheck{SQSAPI: sqsAPI, refused: map[string]error{}}
	found, err := sources.Find(ctx, sources.Clients{SQS: sc, EventBridge: d.EventBridge, SNS: d.Subscriptions, Lambda: d.Lambda},
		sources.Options{Refs: refs, Prefix: prefix})
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
	return target{dlqs: found.DLQs, alarms: alarms, cw: cw, unchecked: sc.refused, denied: found.Denied}, nil
}

// sourceCheck lets the reading of named queues go on when SQS refuses
// ListDeadLetterSourceQueues (a role without the permission, an emulator
// without the call): it answers "no sources" and keeps the refusal, so
// that a command can say the queue could not be checked rather than fail,
// or call a DLQ "not a dead-letter queue". Discovery (--all) never asks.
type sourceCheck struct {
	queue.SQSAPI

	mu      sync.Mutex
	refused map[string]error // by queue URL
}

func (s *sourceCheck) ListDeadLetterSourceQueues(ctx context.Context, in *sqs.ListDeadLetterSourceQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error) {
	out, err := s.SQSAPI.ListDeadLetterSourceQueues(ctx, in, optFns...)
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) || queue.IsNotExist(err) {
		// Success, a network failure, or a queue deleted meanwhile: as before.
		return out, err
	}
	s.mu.Lock()
	s.refused[aws.ToString(in.QueueUrl)] = err
	s.mu.Unlock()
	return &sqs.ListDeadLetterSourceQueuesOutput{}, nil
}

// dlqWarnings are what to tell about alarming a queue that may not be a
// dead-letter queue: its depth is then ordinary traffic, and an alarm on it
// fires all day until people learn to ignore it.
func (t target) dlqWarnings(d sources.DeadLetterQueue) []string {
	if len(d.Sources) > 0 || len(d.Services) > 0 {
		return nil
	}
	if err, ok := t.unchecked[d.URL]; ok {
		return []string{fmt.Sprintf("could not check that it is a dead-letter queue: listing its source queues failed (%s)", errorCode(err))}
	}
	return []string{"nothing dead-letters into it (no queue, rule target, subscription or Lambda function): not a dead-letter queue, so a depth alarm fires on its ordinary traffic"}
}

// warnDenied tells, on stderr, which permissions discovery was refused:
// the DLQs behind them got no alarm.
func (t target) warnDenied(ios *render.IOStreams) {
	for _, w := range t.denied {
		_, _ = fmt.Fprintf(ios.ErrOut, "warning: %s\n", render.Sanitize(w))
	}
}

// errorCode is the service's error code, or the error when there is none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return err.Error()
}
