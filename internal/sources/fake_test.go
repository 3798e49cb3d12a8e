package sources

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/queue"
)

const (
	acct      = "123456789012"
	region1   = "eu-west-1"
	qURL      = "https://sqs.eu-west-1.amazonaws.com/" + acct + "/"
	qARN      = "arn:aws:sqs:eu-west-1:" + acct + ":"
	fnARN     = "arn:aws:lambda:eu-west-1:" + acct + ":function:"
	topicARN  = "arn:aws:sns:eu-west-1:" + acct + ":"
	eventsARN = "arn:aws:events:eu-west-1:" + acct + ":"
)

// denied is a refusal for want of permission, as the SDK returns it.
func denied(service, op string) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op,
		Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform " + op}}
}

// fakeQueue is a queue of fakeSQS.
type fakeQueue struct {
	visible     int
	redriveTo   string // a queue name
	policy, kms string
}

// fakeSQS answers the SQS calls Find makes from a fixed set of queues.
type fakeSQS struct {
	queue.SQSAPI
	queues map[string]fakeQueue
}

func (f *fakeSQS) ListQueues(_ context.Context, in *sqs.ListQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error) {
	out := &sqs.ListQueuesOutput{}
	for n := range f.queues {
		if strings.HasPrefix(n, aws.ToString(in.QueueNamePrefix)) {
			out.QueueUrls = append(out.QueueUrls, qURL+n)
		}
	}
	sort.Strings(out.QueueUrls)
	return out, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // the SDK's name
	if _, ok := f.queues[aws.ToString(in.QueueName)]; !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(qURL + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	n := strings.TrimPrefix(aws.ToString(in.QueueUrl), qURL)
	q, ok := f.queues[n]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}
	}
	a := map[string]string{"QueueArn": qARN + n, "ApproximateNumberOfMessages": fmt.Sprint(q.visible), "MessageRetentionPeriod": "1209600"}
	if q.redriveTo != "" {
		a["MessageRetentionPeriod"] = "345600" // shorter than its DLQ's
		a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":5}`, qARN+q.redriveTo)
	}
	if q.policy != "" {
		a["Policy"] = q.policy
	}
	if q.kms != "" {
		a["KmsMasterKeyId"] = q.kms
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fakeSQS) ListDeadLetterSourceQueues(_ context.Context, in *sqs.ListDeadLetterSourceQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error) {
	dlq := strings.TrimPrefix(aws.ToString(in.QueueUrl), qURL)
	out := &sqs.ListDeadLetterSourceQueuesOutput{}
	for n, q := range f.queues {
		if q.redriveTo == dlq {
			out.QueueUrls = append(out.QueueUrls, qURL+n)
		}
	}
	return out, nil
}

// fakeRule is a rule of fakeEventBridge.
type fakeRule struct {
	bus, name string
	targets   []ebtypes.Target
	disabled  bool
}

// fakeEventBridge answers from fixed buses and rules, pageSize rules a
// page, and fails the operations named in errs.
type fakeEventBridge struct {
	buses    map[string]string // bus name → its DLQ ARN ("" none)
	rules    []fakeRule
	pageSize int
	errs     map[string]error

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeEventBridge) count(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	return f.errs[op]
}

func (f *fakeEventBridge) ListEventBuses(context.Context, *eventbridge.ListEventBusesInput, ...func(*eventbridge.Options)) (*eventbridge.ListEventBusesOutput, error) {
	if err := f.count("ListEventBuses"); err != nil {
		return nil, err
	}
	out := &eventbridge.ListEventBusesOutput{}
	for n := range f.buses {
		out.EventBuses = append(out.EventBuses, ebtypes.EventBus{Name: aws.String(n), Arn: aws.String(eventsARN + "event-bus/" + n)})
	}
	sort.Slice(out.EventBuses, func(i, j int) bool { return *out.EventBuses[i].Name < *out.EventBuses[j].Name })
	return out, nil
}

func (f *fakeEventBridge) DescribeEventBus(_ context.Context, in *eventbridge.DescribeEventBusInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	if err := f.count("DescribeEventBus"); err != nil {
		return nil, err
	}
	out := &eventbridge.DescribeEventBusOutput{Name: in.Name}
	if d := f.buses[aws.ToString(in.Name)]; d != "" {
		out.DeadLetterConfig = &ebtypes.DeadLetterConfig{Arn: aws.String(d)}
	}
	return out, nil
}

func (f *fakeEventBridge) ListRules(_ context.Context, in *eventbridge.ListRulesInput, _ ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error) {
	if err := f.count("ListRules"); err != nil {
		return nil, err
	}
	var all []ebtypes.Rule
	for _, r := range f.rules {
		if r.bus != aws.ToString(in.EventBusName) {
			continue
		}
		arn := eventsARN + "rule/" + r.name
		if r.bus != "default" {
			arn = eventsARN + "rule/" + r.bus + "/" + r.name
		}
		rule := ebtypes.Rule{Name: aws.String(r.name), Arn: aws.String(arn), EventBusName: aws.String(r.bus), State: ebtypes.RuleStateEnabled}
		if r.disabled {
			rule.State = ebtypes.RuleStateDisabled
		}
		all = append(all, rule)
	}
	start := 0
	if t := aws.ToString(in.NextToken); t != "" {
		_, _ = fmt.Sscan(t, &start)
	}
	size := f.pageSize
	if size == 0 {
		size = len(all)
	}
	end := min(start+size, len(all))
	out := &eventbridge.ListRulesOutput{Rules: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func (f *fakeEventBridge) ListTargetsByRule(_ context.Context, in *eventbridge.ListTargetsByRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error) {
	if err := f.count("ListTargetsByRule"); err != nil {
		return nil, err
	}
	for _, r := range f.rules {
		if r.name == aws.ToString(in.Rule) && r.bus == aws.ToString(in.EventBusName) {
			return &eventbridge.ListTargetsByRuleOutput{Targets: r.targets}, nil
		}
	}
	return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException"}
}

// target is an EventBridge target, with a DLQ when dlq is not "".
func target(id, arn, dlq string) ebtypes.Target {
	t := ebtypes.Target{Id: aws.String(id), Arn: aws.String(arn)}
	if dlq != "" {
		t.DeadLetterConfig = &ebtypes.DeadLetterConfig{Arn: aws.String(dlq)}
	}
	return t
}

// fakeSub is a subscription of fakeSNS.
type fakeSub struct {
	arn, topic, protocol, endpoint, dlq string
	raw                                 bool
}

// fakeSNS answers from fixed subscriptions, one page each.
type fakeSNS struct {
	subs []fakeSub
	errs map[string]error
}

func (f *fakeSNS) ListSubscriptions(_ context.Context, in *sns.ListSubscriptionsInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsOutput, error) {
	if err := f.errs["ListSubscriptions"]; err != nil {
		return nil, err
	}
	i := 0
	if t := aws.ToString(in.NextToken); t != "" {
		_, _ = fmt.Sscan(t, &i)
	}
	out := &sns.ListSubscriptionsOutput{}
	if i >= len(f.subs) {
		return out, nil
	}
	s := f.subs[i]
	out.Subscriptions = []snstypes.Subscription{{SubscriptionArn: aws.String(s.arn), TopicArn: aws.String(s.topic), Protocol: aws.String(s.protocol), Endpoint: aws.String(s.endpoint)}}
	if i+1 < len(f.subs) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

func (f *fakeSNS) GetSubscriptionAttributes(_ context.Context, in *sns.GetSubscriptionAttributesInput, _ ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	if err := f.errs["GetSubscriptionAttributes"]; err != nil {
		return nil, err
	}
	for _, s := range f.subs {
		if s.arn != aws.ToString(in.SubscriptionArn) {
			continue
		}
		a := map[string]string{"RawMessageDelivery": fmt.Sprint(s.raw)}
		if s.dlq != "" {
			a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q}`, s.dlq)
		}
		return &sns.GetSubscriptionAttributesOutput{Attributes: a}, nil
	}
	return nil, &smithy.GenericAPIError{Code: "NotFound"}
}

// fakeFunction is a function of fakeLambda: its versions' DLQs (by
// version, "$LATEST" too) and event-invoke configs' on-failure
// destinations (by qualifier).
type fakeFunction struct {
	dlqs      map[string]string
	onFailure map[string]string
	retries   int32
}

// fakeLambda answers from fixed functions. It is how a function's
// DeadLetterConfig is tested: moto does not keep it.
type fakeLambda struct {
	functions map[string]fakeFunction
	errs      map[string]error
}

func (f *fakeLambda) ListFunctions(_ context.Context, in *lambda.ListFunctionsInput, _ ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	if err := f.errs["ListFunctions"]; err != nil {
		return nil, err
	}
	if in.FunctionVersion != ltypes.FunctionVersionAll {
		return nil, fmt.Errorf("ListFunctions without FunctionVersion=ALL lists $LATEST only")
	}
	out := &lambda.ListFunctionsOutput{}
	for name, fn := range f.functions {
		versions := []string{"$LATEST"}
		for v := range fn.dlqs {
			if v != "$LATEST" {
				versions = append(versions, v)
			}
		}
		for _, v := range versions {
			c := ltypes.FunctionConfiguration{FunctionName: aws.String(name), FunctionArn: aws.String(fnARN + name + ":" + v), Version: aws.String(v)}
			if d := fn.dlqs[v]; d != "" {
				c.DeadLetterConfig = &ltypes.DeadLetterConfig{TargetArn: aws.String(d)}
			}
			out.Functions = append(out.Functions, c)
		}
	}
	return out, nil
}

func (f *fakeLambda) ListFunctionEventInvokeConfigs(_ context.Context, in *lambda.ListFunctionEventInvokeConfigsInput, _ ...func(*lambda.Options)) (*lambda.ListFunctionEventInvokeConfigsOutput, error) {
	if err := f.errs["ListFunctionEventInvokeConfigs"]; err != nil {
		return nil, err
	}
	name := aws.ToString(in.FunctionName)
	out := &lambda.ListFunctionEventInvokeConfigsOutput{}
	for q, d := range f.functions[name].onFailure {
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, ltypes.FunctionEventInvokeConfig{
			FunctionArn:          aws.String(fnARN + name + ":" + q),
			MaximumRetryAttempts: aws.Int32(f.functions[name].retries),
			DestinationConfig:    &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String(d)}},
		})
	}
	return out, nil
}

// clients wraps fakes as Find's clients.
func clients(q *fakeSQS, eb *fakeEventBridge, sn *fakeSNS, la *fakeLambda) Clients {
	return Clients{
		SQS:         q,
		EventBridge: func(context.Context) (EventBridgeAPI, error) { return eb, nil },
		SNS:         func(context.Context) (SNSAPI, error) { return sn, nil },
		Lambda:      func(context.Context) (LambdaAPI, error) { return la, nil },
	}
}
