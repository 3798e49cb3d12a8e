package alarm

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	urlPrefix = "https://sqs.eu-west-1.amazonaws.com/123456789012/"
	arnPrefix = "arn:aws:sqs:eu-west-1:123456789012:"
	pagerARN  = "arn:aws:sns:eu-west-1:123456789012:pager"
)

// fakeSQS is a narrow fake of the SQS calls the alarm commands make: an
// account of queues, each a source of the DLQ it names ("" : none),
// listed in one page. Calls they do not make panic on the nil embedded
// interface.
type fakeSQS struct {
	queue.SQSAPI
	queues map[string]string // name: the DLQ its RedrivePolicy names
	// sourcesErr refuses ListDeadLetterSourceQueues, by queue name.
	sourcesErr map[string]error
}

func (f *fakeSQS) ListQueues(_ context.Context, in *sqs.ListQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error) {
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
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(urlPrefix + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	name := strings.TrimPrefix(aws.ToString(in.QueueUrl), urlPrefix)
	dlq, ok := f.queues[name]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}
	}
	a := map[string]string{"QueueArn": arnPrefix + name, "ApproximateNumberOfMessages": "0"}
	if dlq != "" {
		a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":5}`, arnPrefix+dlq)
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fakeSQS) ListDeadLetterSourceQueues(_ context.Context, in *sqs.ListDeadLetterSourceQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error) {
	dlq := strings.TrimPrefix(aws.ToString(in.QueueUrl), urlPrefix)
	if err := f.sourcesErr[dlq]; err != nil {
		return nil, err
	}
	out := &sqs.ListDeadLetterSourceQueuesOutput{}
	for name, target := range f.queues {
		if target == dlq {
			out.QueueUrls = append(out.QueueUrls, urlPrefix+name)
		}
	}
	sort.Strings(out.QueueUrls)
	return out, nil
}

// fakeCloudWatch holds the account's metric alarms in one page and
// records every alarm put; the put of an alarm named in putErr fails.
type fakeCloudWatch struct {
	alarm.CloudWatchAPI
	alarms   []cwtypes.MetricAlarm
	putErr   map[string]error
	describe error

	mu   sync.Mutex
	puts []*cloudwatch.PutMetricAlarmInput
}

func (f *fakeCloudWatch) DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	if f.describe != nil {
		return nil, f.describe
	}
	return &cloudwatch.DescribeAlarmsOutput{MetricAlarms: f.alarms}, nil
}

func (f *fakeCloudWatch) PutMetricAlarm(_ context.Context, in *cloudwatch.PutMetricAlarmInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricAlarmOutput, error) {
	if err := f.putErr[aws.ToString(in.AlarmName)]; err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, in)
	return &cloudwatch.PutMetricAlarmOutput{}, nil
}

// put lists the names of the alarms put, in order.
func (f *fakeCloudWatch) put() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, in := range f.puts {
		names = append(names, aws.ToString(in.AlarmName))
	}
	return names
}

// fakeSNS answers GetTopicAttributes with err (nil: the topic exists).
type fakeSNS struct {
	alarm.SNSAPI
	err   error
	asked bool
}

func (f *fakeSNS) GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error) {
	f.asked = true
	return &sns.GetTopicAttributesOutput{}, f.err
}

// depthAlarm is an alarm on queue's visible messages: maximum over
// period seconds above threshold, one datapoint, missing data not
// breaching, notifying actions.
func depthAlarm(name, queueName string, state cwtypes.StateValue, threshold float64, period int32, actions ...string) cwtypes.MetricAlarm {
	return cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: state, Namespace: aws.String(alarm.Namespace), MetricName: aws.String(alarm.MetricName),
		Dimensions: []cwtypes.Dimension{{Name: aws.String(alarm.Dimension), Value: aws.String(queueName)}},
		Statistic:  cwtypes.StatisticMaximum, Period: aws.Int32(period), EvaluationPeriods: aws.Int32(1), DatapointsToAlarm: aws.Int32(1),
		Threshold: aws.Float64(threshold), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		AlarmActions: actions, ActionsEnabled: aws.Bool(true)}
}

// account is the order pipeline's: a DLQ without an alarm, one with
// dlq's alarm as wanted, one with dlq's alarm drifted (a threshold of 5
// over five minutes), one covered by the shipping team's own alarm, and a
// source redriving to a DLQ that was deleted (nothing to alarm).
func account() (*fakeSQS, *fakeCloudWatch, *fakeSNS) {
	api := &fakeSQS{queues: map[string]string{
		"orders-payments": "orders-payments-dlq", "orders-payments-dlq": "",
		"orders-inventory": "orders-inventory-dlq", "orders-inventory-dlq": "",
		"orders-notify": "orders-notify-dlq", "orders-notify-dlq": "",
		"orders-shipping.fifo": "orders-shipping-dlq.fifo", "orders-shipping-dlq.fifo": "",
		"orders-legacy": "orders-legacy-dlq",
	}}
	cw := &fakeCloudWatch{alarms: []cwtypes.MetricAlarm{
		depthAlarm("dlq-depth-orders-inventory-dlq", "orders-inventory-dlq", cwtypes.StateValueOk, 0, 60, pagerARN),
		depthAlarm("dlq-depth-orders-notify-dlq", "orders-notify-dlq", cwtypes.StateValueOk, 5, 300),
		depthAlarm("shipping-team-dlq", "orders-shipping-dlq.fifo", cwtypes.StateValueAlarm, 0, 60, pagerARN),
	}}
	return api, cw, &fakeSNS{}
}

// depsFor are the subcommands' clients on ios: the fakes.
func depsFor(ios *render.IOStreams, api *fakeSQS, cw *fakeCloudWatch, topics *fakeSNS) deps {
	return deps{IO: ios,
		SQS:        func(context.Context) (queue.SQSAPI, error) { return api, nil },
		CloudWatch: func(context.Context) (alarm.CloudWatchAPI, error) { return cw, nil },
		SNS:        func(context.Context) (alarm.SNSAPI, error) { return topics, nil }}
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

// outputs are the ways a run's output is read.
var outputs = []struct {
	name   string
	tty    bool
	format render.Format
}{
	{"tty", true, render.FormatTable},
	{"piped", false, render.FormatTable},
	{"json", false, render.FormatJSON},
}
