package root

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/testenv"
)

// snsTopic creates a topic in the emulator and returns its ARN.
func snsTopic(t *testing.T, region, name string) string {
	t.Helper()
	c := sns.NewFromConfig(testenv.Config(t, region))
	out, err := c.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(testenv.Name(t, name))})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { _, _ = c.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: out.TopicArn}) })
	return aws.ToString(out.TopicArn)
}

// refuse makes the emulator's answer to op a service error with code, as
// a role without the permission (or an emulator without the call) gets.
func refuse(op, code string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("refuse"+op,
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == op {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: code, Message: "refused by the test"}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// alarmActions returns the alarm actions of dlq's alarm on queue; nil when
// there is no such alarm.
func alarmActions(t *testing.T, queue string) []string {
	t.Helper()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	out, err := cw.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"dlq-depth-" + queue}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) == 0 {
		return nil
	}
	return out.MetricAlarms[0].AlarmActions
}

type ensureRow struct {
	Queue          string
	Action         string
	Changes        []string
	ActionsAdded   []string
	ActionsRemoved []string
	Warnings       []string
}

func ensureRows(t *testing.T, r result) []ensureRow {
	t.Helper()
	var rows []ensureRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return rows
}

// Issue 13: --sns-topic adds to what an alarm notifies; only
// --replace-actions removes, and both say what they did.
func TestAlarmEnsureAddsTopicAndReplacesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	p := pipeline(t)
	pager, slack := snsTopic(t, "", "pager"), snsTopic(t, "", "slack")
	orders := p + "-orders-dlq"

	if r := dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+pager); r.code != 0 {
		t.Fatalf("ensure with pager: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+slack)
	if r.code != 0 || !strings.Contains(r.stdout, "added action "+slack) || strings.Contains(r.stdout, "removed") ||
		!strings.Contains(r.stderr, "0 created, 2 updated") {
		t.Fatalf("ensure with slack: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := alarmActions(t, orders); !slices.Equal(got, []string{pager, slack}) {
		t.Fatalf("actions after adding slack = %v, want the pager kept", got)
	}

	r = dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+slack+" --replace-actions --dry-run -o json")
	rows := ensureRows(t, r)
	if r.code != 0 || len(rows) != 2 || rows[0].Action != "updated" || !slices.Equal(rows[0].ActionsRemoved, []string{pager}) ||
		!slices.Equal(rows[0].Changes, []string{"removed action " + pager}) ||
		!strings.Contains(r.stderr, "alarms losing actions to --replace-actions: 2") {
		t.Fatalf("replace, dry run: exit %d %+v\n%s", r.code, rows, r.stderr)
	}
	if got := alarmActions(t, orders); !slices.Equal(got, []string{pager, slack}) {
		t.Fatalf("dry run changed the actions to %v", got)
	}
	if r := dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+slack+" --replace-actions"); r.code != 0 || !strings.Contains(r.stdout, "removed action "+pager) {
		t.Fatalf("replace: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := alarmActions(t, orders); !slices.Equal(got, []string{slack}) {
		t.Fatalf("actions after replacing = %v", got)
	}
	if r := dlq(t, "", "alarm ensure --all --prefix "+p+" --replace-actions"); r.code != cli.ExitUsage {
		t.Errorf("--replace-actions without a topic: exit %d\n%s", r.code, r.stderr)
	}
}

// Issue 13: a queue no queue redrives to gets its alarm with a warning,
// and a role that may not list sources gets "could not check", not a
// failure.
func TestAlarmEnsureWarnsOnQueueThatIsNotADLQ(t *testing.T) {
	t.Parallel()
	p := pipeline(t)
	audit := p + "-audit"
	t.Cleanup(func() {
		cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"dlq-depth-" + audit}})
	})

	r := dlq(t, "", "alarm ensure "+audit+" "+p+"-orders-dlq --dry-run -o json")
	rows := ensureRows(t, r)
	if r.code != 0 || len(rows) != 2 {
		t.Fatalf("exit %d, rows %+v\n%s", r.code, rows, r.stderr)
	}
	for _, row := range rows {
		switch row.Queue {
		case audit:
			if len(row.Warnings) != 1 || !strings.Contains(row.Warnings[0], "not a dead-letter queue") {
				t.Errorf("%s: warnings %q", audit, row.Warnings)
			}
		default:
			if row.Warnings == nil || len(row.Warnings) != 0 {
				t.Errorf("%s: warnings %#v, want []", row.Queue, row.Warnings)
			}
		}
	}
	if !strings.Contains(r.stderr, "warning: "+audit+": nothing dead-letters into it (no queue, rule target, subscription or Lambda function): not a dead-letter queue") || strings.Contains(r.stderr, "warning: "+p+"-orders-dlq") {
		t.Errorf("stderr = %q", r.stderr)
	}

	r = dlq(t, "", "alarm ensure "+audit, refuse("ListDeadLetterSourceQueues", "AccessDenied"))
	if r.code != 0 || !strings.Contains(r.stderr, "warning: "+audit+": could not check that it is a dead-letter queue") ||
		!strings.Contains(r.stderr, "AccessDenied") || !strings.Contains(r.stderr, "1 created") {
		t.Fatalf("sources denied: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Issue 13: a topic that does not exist stops the run before any alarm is
// written; one that may not be read is used with a warning.
func TestAlarmEnsureChecksTheTopic(t *testing.T) {
	t.Parallel()
	p := pipeline(t)
	missing := "arn:aws:sns:us-east-1:123456789012:" + testenv.Name(t, "gone")

	r := dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+missing)
	want := "dlq: ensure alarms: SNS topic " + missing + " does not exist (nothing was changed)\n"
	if r.code != cli.ExitError || r.stderr != want || r.stdout != "" {
		t.Fatalf("missing topic: exit %d, stdout %q, stderr %q; want exit 1 and %q", r.code, r.stdout, r.stderr, want)
	}
	if got := alarmActions(t, p+"-orders-dlq"); got != nil {
		t.Fatalf("an alarm was written: actions %v", got)
	}

	r = dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+missing, refuse("GetTopicAttributes", "AuthorizationError"))
	if r.code != 0 || !strings.Contains(r.stderr, "warning: could not check that SNS topic "+missing+" exists (AuthorizationError)") ||
		!strings.Contains(r.stderr, "2 created") {
		t.Fatalf("check denied: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := alarmActions(t, p+"-orders-dlq"); !slices.Equal(got, []string{missing}) {
		t.Errorf("actions = %v", got)
	}
}
