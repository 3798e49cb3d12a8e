package inspect

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
)

// servicesReport is an account whose failures land in EventBridge, SNS
// and Lambda DLQs, and whose other targets drop them.
func servicesReport() *Report {
	const (
		acct   = "123456789012"
		events = "arn:aws:events:eu-west-1:" + acct + ":"
		fn     = "arn:aws:lambda:eu-west-1:" + acct + ":function:"
		topic  = "arn:aws:sns:eu-west-1:" + acct + ":orders-events"
	)
	dlq := func(name string, visible int64, services ...sources.Source) sources.DeadLetterQueue {
		return sources.DeadLetterQueue{Services: services, DeadLetterQueue: queue.DeadLetterQueue{Exists: true, Queue: queue.Queue{
			Name: name, URL: "https://sqs.eu-west-1.amazonaws.com/" + acct + "/" + name, ARN: "arn:aws:sqs:eu-west-1:" + acct + ":" + name,
			Visible: visible, RetentionSeconds: 1209600}}}
	}
	retry := &sources.Retry{MaximumRetryAttempts: aws.Int32(3), MaximumEventAgeInSeconds: aws.Int32(3600)}
	shipping := dlq("shipping-dlq", 4, sources.Source{Kind: sources.KindEventBridge, ARN: events + "rule/default/orders", Name: "default/orders",
		EventBridge: &sources.EventBridgeTarget{Bus: "default", Rule: "orders", RuleARN: events + "rule/default/orders", TargetID: "ship", TargetARN: "arn:aws:sqs:eu-west-1:" + acct + ":shipping", Retry: retry}})
	shipping.Findings = []string{"its queue policy does not let events.amazonaws.com send messages for rule default/orders → sqs:shipping (sqs:SendMessage with aws:SourceArn): those failed events cannot be dead-lettered and are dropped"}
	found := &sources.Result{
		DLQs: []sources.DeadLetterQueue{
			shipping,
			dlq("notify-dlq", 0, sources.Source{Kind: sources.KindSNS, ARN: topic + ":0b1c", Name: "orders-events",
				SNS: &sources.Subscription{TopicARN: topic, Protocol: "sqs", Endpoint: "arn:aws:sqs:eu-west-1:" + acct + ":notify", RawMessageDelivery: true}}),
			dlq("charge-dlq", 0, sources.Source{Kind: sources.KindLambda, ARN: fn + "charge:live", Name: "charge:live",
				Lambda: &sources.AsyncConfig{Function: "charge", Qualifier: "live", Via: sources.ViaOnFailure, Retry: &sources.Retry{MaximumRetryAttempts: aws.Int32(1)}}}),
		},
		Warnings: []string{"rule default/audit → lambda:audit (target audit) has no DLQ: failed events are dropped after retries"},
	}
	alarms := map[string][]alarm.Alarm{}
	for _, d := range found.DLQs {
		alarms[d.Name] = []alarm.Alarm{{Name: "dlq-depth-" + d.Name, State: "OK", Period: 60, EvaluationPeriods: 1, DatapointsToAlarm: 1,
			ComparisonOperator: "GreaterThanThreshold", Actions: []string{"arn:aws:sns:eu-west-1:" + acct + ":oncall"}, ActionsEnabled: true}}
	}
	return NewReport(found, alarms, nil)
}

// EventBridge, SNS and Lambda sources in the table (λ on a terminal) and
// in JSON with their kind's fields; the account's warnings after the
// DLQs' on a terminal, on stderr otherwise, counted by --fail-on-warning.
func TestServicesGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		format render.Format
	}{
		{"services-tty", true, render.FormatTable},
		{"services-piped", false, render.FormatTable},
		{"services-json", false, render.FormatJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetTerminalWidth(200)
			opts := &InspectOptions{IO: ios, Output: tc.format}
			r := servicesReport()
			if err := write(opts, r); err != nil {
				t.Fatal(err)
			}
			writeAccountWarnings(opts, r)
			_, _ = errOut.WriteString(r.Summary() + "\n")
			err := r.Verdict(-1, true)
			golden(t, filepath.Join("testdata", tc.name+".golden"), transcript(cli.ExitCode(context.Background(), err), err, out.String(), errOut.String()))
		})
	}
}
