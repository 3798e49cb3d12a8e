package alarm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
)

// fakeServices is an account with one EventBridge rule whose target
// dead-letters into eventsDLQ, and one Lambda function whose on-failure
// destination is chargeDLQ; SNS refuses to list subscriptions.
type fakeServices struct{ eventsDLQ, chargeDLQ string }

func (fakeServices) ListEventBuses(context.Context, *eventbridge.ListEventBusesInput, ...func(*eventbridge.Options)) (*eventbridge.ListEventBusesOutput, error) {
	return &eventbridge.ListEventBusesOutput{EventBuses: []ebtypes.EventBus{{Name: aws.String("default"), Arn: aws.String("arn:aws:events:eu-west-1:123456789012:event-bus/default")}}}, nil
}

func (fakeServices) DescribeEventBus(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	return &eventbridge.DescribeEventBusOutput{}, nil
}

func (fakeServices) ListRules(context.Context, *eventbridge.ListRulesInput, ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error) {
	return &eventbridge.ListRulesOutput{Rules: []ebtypes.Rule{{Name: aws.String("orders"), EventBusName: aws.String("default"), Arn: aws.String("arn:aws:events:eu-west-1:123456789012:rule/orders")}}}, nil
}

func (f fakeServices) ListTargetsByRule(context.Context, *eventbridge.ListTargetsByRuleInput, ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error) {
	return &eventbridge.ListTargetsByRuleOutput{Targets: []ebtypes.Target{{Id: aws.String("t"), Arn: aws.String(arnPrefix + "orders-events"),
		DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(arnPrefix + f.eventsDLQ)}}}}, nil
}

func (fakeServices) ListSubscriptions(context.Context, *sns.ListSubscriptionsInput, ...func(*sns.Options)) (*sns.ListSubscriptionsOutput, error) {
	return nil, &smithy.OperationError{ServiceID: "SNS", OperationName: "ListSubscriptions", Err: &smithy.GenericAPIError{Code: "AuthorizationError"}}
}

func (fakeServices) GetSubscriptionAttributes(context.Context, *sns.GetSubscriptionAttributesInput, ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	panic("no subscription was listed")
}

func (fakeServices) ListFunctions(context.Context, *lambda.ListFunctionsInput, ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	return &lambda.ListFunctionsOutput{Functions: []ltypes.FunctionConfiguration{{FunctionName: aws.String("charge"), Version: aws.String("$LATEST"),
		FunctionArn: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:charge")}}}, nil
}

func (f fakeServices) ListFunctionEventInvokeConfigs(context.Context, *lambda.ListFunctionEventInvokeConfigsInput, ...func(*lambda.Options)) (*lambda.ListFunctionEventInvokeConfigsOutput, error) {
	return &lambda.ListFunctionEventInvokeConfigsOutput{FunctionEventInvokeConfigs: []ltypes.FunctionEventInvokeConfig{{
		FunctionArn:       aws.String("arn:aws:lambda:eu-west-1:123456789012:function:charge:$LATEST"),
		DestinationConfig: &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String(arnPrefix + f.chargeDLQ)}},
	}}}, nil
}

// `alarm ensure --all` and `alarm list` cover the DLQs that only an
// EventBridge target or a Lambda function names, and say which
// permission kept them from reading SNS.
func TestAlarmsCoverEveryKindOfDLQ(t *testing.T) {
	t.Parallel()
	withServices := func(d deps) deps {
		svc := fakeServices{eventsDLQ: "orders-events-dlq", chargeDLQ: "orders-charge-dlq"}
		d.EventBridge = func(context.Context) (sources.EventBridgeAPI, error) { return svc, nil }
		d.Subscriptions = func(context.Context) (sources.SNSAPI, error) { return svc, nil }
		d.Lambda = func(context.Context) (sources.LambdaAPI, error) { return svc, nil }
		return d
	}
	api, cw, topics := account()
	api.queues["orders-events"], api.queues["orders-events-dlq"], api.queues["orders-charge-dlq"] = "", "", ""
	denied := "warning: sns:ListSubscriptions denied (AuthorizationError): SNS subscriptions were not read"

	ios, _, stdout, stderr := render.Test()
	opts := &EnsureOptions{deps: withServices(depsFor(ios, api, cw, topics)), All: true, Prefix: "orders-", DryRun: true, Output: render.FormatJSON}
	if err := ensureRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var results []struct{ Queue, Action string }
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for _, r := range results {
		created[r.Queue] = r.Action == "created"
	}
	if !created["orders-events-dlq"] || !created["orders-charge-dlq"] {
		t.Errorf("ensure --all results %+v: want alarms for orders-events-dlq and orders-charge-dlq", results)
	}
	if created["orders-events"] {
		t.Errorf("ensure --all alarms the rule's target, not its DLQ: %+v", results)
	}
	if !strings.Contains(stderr.String(), denied) || strings.Contains(stderr.String(), "not a dead-letter queue") {
		t.Errorf("stderr = %q, want the denied permission and no not-a-DLQ warning", stderr)
	}

	ios, _, stdout, stderr = render.Test()
	if err := listRun(context.Background(), &ListOptions{deps: withServices(depsFor(ios, api, cw, topics)), Prefix: "orders-", Output: render.FormatTable}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"orders-events-dlq", "orders-charge-dlq"} {
		if !strings.Contains(stdout.String(), q+"  ") && !strings.Contains(stdout.String(), q+"\t") {
			t.Errorf("alarm list lacks %s:\n%s", q, stdout)
		}
	}
	if !strings.Contains(stderr.String(), denied) {
		t.Errorf("stderr = %q, want %q", stderr, denied)
	}
}
