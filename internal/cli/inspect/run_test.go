package inspect

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
)

const (
	account     = "123456789012"
	urlPrefix   = "https://sqs.eu-west-1.amazonaws.com/" + account + "/"
	arnPrefix   = "arn:aws:sqs:eu-west-1:" + account + ":"
	oncallARN   = "arn:aws:sns:eu-west-1:" + account + ":oncall"
	notExisting = "AWS.SimpleQueueService.NonExistentQueue"
)

// fakeQueue is one queue of a fakeSQS: its depth, retention and the DLQ
// its RedrivePolicy names ("" : none).
type fakeQueue struct {
	visible, inFlight, retention int
	dlq                          string
	maxReceives                  int
}

// fakeSQS is a narrow fake of the SQS calls inspect makes: a fixed
// account of queues, listed in one page, each with its attributes. A
// queue's RedrivePolicy may name a DLQ that does not exist. Calls inspect
// does not make panic on the nil embedded interface.
type fakeSQS struct {
	queue.SQSAPI
	queues map[string]fakeQueue
	// listErr fails ListQueues (discovery).
	listErr error
}

func (f *fakeSQS) ListQueues(_ context.Context, in *sqs.ListQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := &sqs.ListQueuesOutput{}
	for name := range f.queues {
		if strings.HasPrefix(name, aws.ToString(in.QueueNamePrefix)) {
			out.QueueUrls = append(out.QueueUrls, urlPrefix+name)
		}
	}
	sort.Strings(out.QueueUrls)
	return out, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // the SDK interface's name
	if _, ok := f.queues[aws.ToString(in.QueueName)]; !ok {
		return nil, &smithy.GenericAPIError{Code: notExisting, Message: "The specified queue does not exist."}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(urlPrefix + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	name := strings.TrimPrefix(aws.ToString(in.QueueUrl), urlPrefix)
	q, ok := f.queues[name]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: notExisting, Message: "The specified queue does not exist."}
	}
	a := map[string]string{
		"QueueArn":                              arnPrefix + name,
		"ApproximateNumberOfMessages":           fmt.Sprint(q.visible),
		"ApproximateNumberOfMessagesNotVisible": fmt.Sprint(q.inFlight),
		"ApproximateNumberOfMessagesDelayed":    "0",
		"MessageRetentionPeriod":                fmt.Sprint(q.retention),
	}
	if strings.HasSuffix(name, ".fifo") {
		a["FifoQueue"] = "true"
	}
	if q.dlq != "" {
		a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, arnPrefix+q.dlq, q.maxReceives)
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fakeSQS) ListDeadLetterSourceQueues(_ context.Context, in *sqs.ListDeadLetterSourceQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error) {
	dlq := strings.TrimPrefix(aws.ToString(in.QueueUrl), urlPrefix)
	out := &sqs.ListDeadLetterSourceQueuesOutput{}
	for name, q := range f.queues {
		if q.dlq == dlq {
			out.QueueUrls = append(out.QueueUrls, urlPrefix+name)
		}
	}
	sort.Strings(out.QueueUrls)
	return out, nil
}

// fakeCloudWatch answers DescribeAlarms with its alarms in one page, or
// with err.
type fakeCloudWatch struct {
	alarm.CloudWatchAPI
	alarms []cwtypes.MetricAlarm
	err    error
}

func (f *fakeCloudWatch) DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &cloudwatch.DescribeAlarmsOutput{MetricAlarms: f.alarms}, nil
}

// depthAlarm is a metric alarm on queue's visible messages.
func depthAlarm(name, queueName string, state cwtypes.StateValue, threshold float64, period int32, actions ...string) cwtypes.MetricAlarm {
	return cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: state, Namespace: aws.String(alarm.Namespace), MetricName: aws.String(alarm.MetricName),
		Dimensions: []cwtypes.Dimension{{Name: aws.String(alarm.Dimension), Value: aws.String(queueName)}},
		Statistic:  cwtypes.StatisticMaximum, Period: aws.Int32(period), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(threshold),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, AlarmActions: actions, ActionsEnabled: aws.Bool(true)}
}

// orders is the order pipeline's account: a DLQ holding messages under a
// firing alarm, a healthy one, one without an alarm behind a source that
// dead-letters at once, and a source redriving to a DLQ that is gone.
func orders() (*fakeSQS, *fakeCloudWatch) {
	api := &fakeSQS{queues: map[string]fakeQueue{
		"orders-payments":          {retention: 345600, dlq: "orders-payments-dlq", maxReceives: 5},
		"orders-payments-dlq":      {visible: 42, inFlight: 3, retention: 1209600},
		"orders-inventory":         {retention: 345600, dlq: "orders-inventory-dlq", maxReceives: 5},
		"orders-inventory-dlq":     {retention: 1209600},
		"orders-shipping.fifo":     {retention: 345600, dlq: "orders-shipping-dlq.fifo", maxReceives: 1},
		"orders-shipping-dlq.fifo": {retention: 1209600},
		"orders-legacy":            {retention: 345600, dlq: "orders-legacy-dlq", maxReceives: 3},
	}}
	cw := &fakeCloudWatch{alarms: []cwtypes.MetricAlarm{
		depthAlarm("dlq-depth-orders-payments-dlq", "orders-payments-dlq", cwtypes.StateValueAlarm, 0, 60, oncallARN),
		depthAlarm("dlq-depth-orders-inventory-dlq", "orders-inventory-dlq", cwtypes.StateValueOk, 0, 60, oncallARN),
	}}
	return api, cw
}

// result is DLQs of queues alone, as sources.Find returns them.
func result(dlqs []queue.DeadLetterQueue) *sources.Result {
	r := &sources.Result{}
	for _, d := range dlqs {
		r.DLQs = append(r.DLQs, sources.DeadLetterQueue{DeadLetterQueue: d})
	}
	return r
}

// noServices is an account without EventBridge rules, SNS subscriptions
// or Lambda functions: every list is empty, and the default bus has no
// DLQ.
type noServices struct{}

func (noServices) ListEventBuses(context.Context, *eventbridge.ListEventBusesInput, ...func(*eventbridge.Options)) (*eventbridge.ListEventBusesOutput, error) {
	return &eventbridge.ListEventBusesOutput{}, nil
}

func (noServices) DescribeEventBus(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	return &eventbridge.DescribeEventBusOutput{}, nil
}

func (noServices) ListRules(context.Context, *eventbridge.ListRulesInput, ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error) {
	return &eventbridge.ListRulesOutput{}, nil
}

func (noServices) ListTargetsByRule(context.Context, *eventbridge.ListTargetsByRuleInput, ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error) {
	return &eventbridge.ListTargetsByRuleOutput{}, nil
}

func (noServices) ListSubscriptions(context.Context, *sns.ListSubscriptionsInput, ...func(*sns.Options)) (*sns.ListSubscriptionsOutput, error) {
	return &sns.ListSubscriptionsOutput{}, nil
}

func (noServices) GetSubscriptionAttributes(context.Context, *sns.GetSubscriptionAttributesInput, ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	return &sns.GetSubscriptionAttributesOutput{}, nil
}

func (noServices) ListFunctions(context.Context, *lambda.ListFunctionsInput, ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	return &lambda.ListFunctionsOutput{}, nil
}

func (noServices) ListFunctionEventInvokeConfigs(context.Context, *lambda.ListFunctionEventInvokeConfigsInput, ...func(*lambda.Options)) (*lambda.ListFunctionEventInvokeConfigsOutput, error) {
	return &lambda.ListFunctionEventInvokeConfigsOutput{}, nil
}

// runOptions are `dlq inspect` on ios against api and cw, in an account
// with no other sources.
func runOptions(ios *render.IOStreams, api queue.SQSAPI, cw alarm.CloudWatchAPI, output render.Format) *InspectOptions {
	return &InspectOptions{IO: ios, Output: output, MaxDepth: -1, Concurrency: 4,
		SQS:         func(context.Context) (queue.SQSAPI, error) { return api, nil },
		CloudWatch:  func(context.Context) (alarm.CloudWatchAPI, error) { return cw, nil },
		EventBridge: func(context.Context) (sources.EventBridgeAPI, error) { return noServices{}, nil },
		SNS:         func(context.Context) (sources.SNSAPI, error) { return noServices{}, nil },
		Lambda:      func(context.Context) (sources.LambdaAPI, error) { return noServices{}, nil }}
}

// transcript is what a run shows: its exit code and error, stdout, and
// stderr.
func transcript(code int, err error, stdout, stderr string) []byte {
	s := fmt.Sprintf("exit %d\n", code)
	if err != nil {
		s += fmt.Sprintf("error: %s\n", err)
	}
	return []byte(s + "-- stdout --\n" + stdout + "-- stderr --\n" + stderr)
}

// A whole inspection of an account, for a terminal, a pipe and JSON: the
// DLQs deepest first with their sources, alarms and warnings, the data on
// stdout and the summary on stderr.
func TestInspectRunGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		format render.Format
	}{
		{"run-tty", true, render.FormatTable},
		{"run-piped", false, render.FormatTable},
		{"run-json", false, render.FormatJSON},
		{"run-ndjson", false, render.FormatNDJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetTerminalWidth(160)
			api, cw := orders()
			ctx := context.Background()
			err := inspectRun(ctx, runOptions(ios, api, cw, tc.format))
			code := cli.ExitCode(ctx, err)
			if code != cli.ExitOK {
				t.Errorf("exit %d (%v), want 0: no threshold was asked for", code, err)
			}
			if want := "4 DLQs, 1 with messages (orders-payments-dlq 45), 4 warnings\n"; stderr.String() != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), transcript(code, err, stdout.String(), stderr.String()))
		})
	}
}

// The exit code is the verdict CI reads: 3 only for what was asked to be
// checked, 4 for access, 1 for other failures, 2 for bad input; a DLQ's
// alarms that cannot be read are unknown, not a failure.
func TestInspectRunExitCodes(t *testing.T) {
	t.Parallel()
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "User is not authorized to perform: sqs:listqueues"}
	for _, tt := range []struct {
		name       string
		change     func(*InspectOptions, *fakeSQS, *fakeCloudWatch)
		wantExit   int
		wantErr    string // the error's text
		wantStderr string // in stderr
	}{
		{name: "no threshold", wantExit: cli.ExitOK},
		{name: "under the threshold", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.MaxDepth = 45 }, wantExit: cli.ExitOK},
		{name: "over the threshold", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.MaxDepth = 44 }, wantExit: cli.ExitCondition,
			wantErr: "dlq: check failed: DLQs over --max-depth 44: orders-payments-dlq (45)"},
		{name: "smoke check", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.MaxDepth = 0 }, wantExit: cli.ExitCondition,
			wantErr: "DLQs over --max-depth 0: orders-payments-dlq (45)"},
		{name: "warnings fail", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.FailOnWarning = true }, wantExit: cli.ExitCondition,
			wantErr: "dlq: check failed: DLQs with warnings: orders-payments-dlq, orders-legacy-dlq, orders-shipping-dlq.fifo"},
		{name: "healthy DLQ named", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) {
			o.Queues, o.MaxDepth, o.FailOnWarning = []string{"orders-inventory-dlq"}, 0, true
		}, wantExit: cli.ExitOK, wantStderr: "1 DLQ, 0 with messages, 0 warnings"},
		{name: "alarms denied", change: func(_ *InspectOptions, _ *fakeSQS, cw *fakeCloudWatch) {
			cw.err = &smithy.OperationError{ServiceID: "CloudWatch", OperationName: "DescribeAlarms",
				Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: cloudwatch:DescribeAlarms"}}
		}, wantExit: cli.ExitOK, wantStderr: "4 DLQs, 1 with messages (orders-payments-dlq 45), 3 warnings; alarms unknown: describe alarms: AccessDenied: not authorized to perform: cloudwatch:DescribeAlarms"},
		{name: "listing denied", change: func(_ *InspectOptions, api *fakeSQS, _ *fakeCloudWatch) { api.listErr = denied }, wantExit: cli.ExitAuth,
			wantErr: "inspect queues: list queues: api error AccessDenied"},
		{name: "listing fails", change: func(_ *InspectOptions, api *fakeSQS, _ *fakeCloudWatch) { api.listErr = errors.New("connection reset") }, wantExit: cli.ExitError,
			wantErr: "inspect queues: list queues: connection reset"},
		{name: "named queue missing", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.Queues = []string{"orders-nope-dlq"} }, wantExit: cli.ExitError,
			wantErr: `inspect queues: queue "orders-nope-dlq" does not exist`},
		{name: "bad queue", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.Queues = []string{"bad/name"} }, wantExit: cli.ExitUsage,
			wantErr: `invalid queue "bad/name"`},
		{name: "no credentials", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) {
			o.SQS = func(context.Context) (queue.SQSAPI, error) {
				return nil, &cli.CredentialsError{Profile: "prod", Err: errors.New("the SSO session has expired")}
			}
		}, wantExit: cli.ExitAuth, wantErr: "no usable AWS credentials (profile prod, no region)"},
		{name: "no DLQs", change: func(o *InspectOptions, _ *fakeSQS, _ *fakeCloudWatch) { o.Prefix, o.MaxDepth = "billing-", 0 },
			wantExit: cli.ExitOK, wantStderr: "no dead-letter queues found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, stderr := render.Test()
			api, cw := orders()
			opts := runOptions(ios, api, cw, render.FormatTable)
			if tt.change != nil {
				tt.change(opts, api, cw)
			}
			ctx := context.Background()
			err := inspectRun(ctx, opts)
			if code := cli.ExitCode(ctx, err); code != tt.wantExit {
				t.Errorf("exit %d (%v), want %d", code, err, tt.wantExit)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one with %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("err = %v", err)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
		})
	}
}

// Ctrl-C during the inspection, while queues or alarms are read: exit
// 130, and nothing printed as if the account had been read (alarms cut
// short are not "unknown").
func TestInspectRunInterrupted(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"queues", "alarms"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			api, cw := orders()
			interrupted := fmt.Errorf("operation error: %w", context.Canceled)
			if stage == "queues" {
				api.listErr = interrupted
			} else {
				cw.err = interrupted
			}
			cancel()
			err := inspectRun(ctx, runOptions(ios, api, cw, render.FormatTable))
			if code := cli.ExitCode(ctx, err); code != cli.ExitInterrupted {
				t.Errorf("exit %d (%v), want 130", code, err)
			}
			if stdout.Len()+stderr.Len() > 0 {
				t.Errorf("an interrupted inspection printed:\n%s%s", stdout, stderr)
			}
		})
	}
}
