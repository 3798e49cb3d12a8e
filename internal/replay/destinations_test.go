package replay_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// services are the replay's clients for destinations other than SQS, on
// the emulator.
func services(t *testing.T) replay.Services {
	cfg := testenv.Config(t, "")
	eb, sn, sf, lc := eventbridge.NewFromConfig(cfg), sns.NewFromConfig(cfg), sfn.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	return replay.Services{
		Lambda:        func(context.Context) (replay.LambdaAPI, error) { return lc, nil },
		EventBridge:   func(context.Context) (replay.EventBridgeAPI, error) { return eb, nil },
		SNS:           func(context.Context) (replay.SNSAPI, error) { return sn, nil },
		StepFunctions: func(context.Context) (replay.StepFunctionsAPI, error) { return sf, nil },
	}
}

// stateMachine creates a state machine that succeeds at once (moto runs
// no definition).
func stateMachine(t *testing.T, sf *sfn.Client, name string) *sfn.CreateStateMachineOutput {
	t.Helper()
	sm, err := sf.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn"),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// ebEvent is an EventBridge event as a target's DLQ keeps it (the body of
// the DLQ message is the event: testdata/shapes/eventbridge-target-dlq.json).
func ebEvent(id, orderID string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": id, "detail-type": "OrderPlaced", "source": "orders", "account": "123456789012",
		"time": "2026-12-07T10:00:00Z", "region": testenv.Region, "resources": []string{},
		"detail": map[string]any{"orderId": orderID, "amount": 1200},
	})
	return string(b)
}

// sendEBFailure puts into the DLQ what EventBridge puts there when a
// target failed every retry: the event, with the rule, the target and the
// error as attributes.
func sendEBFailure(t *testing.T, c *sqs.Client, dlqURL, ruleARN, targetARN, body string) {
	t.Helper()
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"RULE_ARN": str(ruleARN), "TARGET_ARN": str(targetARN), "ERROR_CODE": str("SDK_CLIENT_ERROR"),
			"ERROR_MESSAGE": str("Unable to invoke the target"), "EXHAUSTED_RETRY_CONDITION": str("MaximumRetryAttempts"),
			"RETRY_ATTEMPTS": str("185"),
		}})
	if err != nil {
		t.Fatal(err)
	}
}

// A rule's targets failed: each event goes back to the target that failed
// it, shaped as the target shapes it (an input transformer on the queue,
// a constant input on the state machine), and not to the others; a target
// of a kind replay does not send to keeps its event in the DLQ.
func TestReplayEventBridgeTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t, "")
	c, eb, sf := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sfn.NewFromConfig(cfg)
	p := testenv.Name(t, "ebt")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	shaped := testenv.CreateQueue(t, c, p+"-shaped", nil)
	plain := testenv.CreateQueue(t, c, p+"-plain", nil)
	sm := stateMachine(t, sf, p+"-sm")
	dl := &ebtypes.DeadLetterConfig{Arn: aws.String(dlq.ARN)}
	kinesis := "arn:aws:kinesis:" + testenv.Region + ":123456789012:stream/" + p
	rule := testenv.Rule(t, eb, "default", p+"-rule",
		ebtypes.Target{Id: aws.String("shaped"), Arn: aws.String(shaped.ARN), DeadLetterConfig: dl, InputTransformer: &ebtypes.InputTransformer{
			InputPathsMap: map[string]string{"order": "$.detail.orderId", "amount": "$.detail.amount"},
			InputTemplate: aws.String(`{"orderId": "<order>", "amount": <amount>, "rule": "<aws.events.rule-name>", "note": "order <order>"}`)}},
		ebtypes.Target{Id: aws.String("plain"), Arn: aws.String(plain.ARN), DeadLetterConfig: dl},
		ebtypes.Target{Id: aws.String("sm"), Arn: sm.StateMachineArn, DeadLetterConfig: dl, Input: aws.String(`{"replayed":true}`), RoleArn: aws.String("arn:aws:iam::123456789012:role/eb")},
		ebtypes.Target{Id: aws.String("kinesis"), Arn: aws.String(kinesis), DeadLetterConfig: dl, RoleArn: aws.String("arn:aws:iam::123456789012:role/eb")},
	)
	sendEBFailure(t, c, dlq.URL, rule, shaped.ARN, ebEvent("e-1", "o-1"))
	sendEBFailure(t, c, dlq.URL, rule, plain.ARN, ebEvent("e-2", "o-2"))
	sendEBFailure(t, c, dlq.URL, rule, aws.ToString(sm.StateMachineArn), ebEvent("e-3", "o-3"))
	sendEBFailure(t, c, dlq.URL, rule, kinesis, ebEvent("e-4", "o-4"))

	rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t), Order: replay.OrderNone})
	if rep.Sent != 3 || rep.Failed != 1 || rep.Verified {
		t.Fatalf("report: sent %d failed %d verified %v, want 3, 1 and not verified (one stays): %+v", rep.Sent, rep.Failed, rep.Verified, rep)
	}
	kinds := map[string]int{}
	for _, r := range rep.Plan.Routes {
		kinds[r.Kind] += r.Messages
	}
	if kinds["sqs"] != 2 || kinds["stepfunctions"] != 1 || kinds["none"] != 1 {
		t.Errorf("plan routes by kind = %v", kinds)
	}

	got := testenv.Drain(t, c, shaped.URL)
	if len(got) != 1 {
		t.Fatalf("shaped target got %d messages, want 1", len(got))
	}
	want := `{"orderId": "o-1", "amount": 1200, "rule": "` + p + `-rule", "note": "order o-1"}`
	if b := aws.ToString(got[0].Body); b != want {
		t.Errorf("shaped target's body\n got %s\nwant %s", b, want)
	}
	if _, ok := got[0].MessageAttributes["RULE_ARN"]; ok {
		t.Errorf("the failure's attributes went with the event: %v", got[0].MessageAttributes)
	}
	if _, ok := got[0].MessageAttributes[replay.MarkerAttribute]; !ok {
		t.Errorf("no replay marker on the queue target's message")
	}
	plainGot := testenv.Drain(t, c, plain.URL)
	if len(plainGot) != 1 || aws.ToString(plainGot[0].Body) != ebEvent("e-2", "o-2") {
		t.Errorf("plain target got %d messages (want the event e-2 as it was): %v", len(plainGot), plainGot)
	}
	execs, err := sf.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs.Executions) != 1 || !strings.HasPrefix(aws.ToString(execs.Executions[0].Name), "dlq-replay-") {
		t.Fatalf("executions = %+v, want one named dlq-replay-…", execs.Executions)
	}
	d, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: execs.Executions[0].ExecutionArn})
	if err != nil || aws.ToString(d.Input) != `{"replayed":true}` {
		t.Errorf("execution input = %q (%v), want the target's constant input", aws.ToString(d.Input), err)
	}
	left := testenv.Drain(t, c, dlq.URL)
	if len(left) != 1 || !strings.Contains(aws.ToString(left[0].Body), `"e-4"`) {
		t.Fatalf("left in the DLQ: %d messages, want the kinesis target's event e-4", len(left))
	}
	if !strings.Contains(routeWhy(rep), "(kinesis)") {
		t.Errorf("the refusal does not name the target's kind: %+v", rep.Plan.Routes)
	}
}

func routeWhy(rep replay.Report) string {
	var b strings.Builder
	for _, r := range rep.Plan.Routes {
		b.WriteString(r.Why + " ")
	}
	return b.String()
}

// notification is an SNS notification as an SQS subscriber with raw
// delivery off gets it, and as the subscription's DLQ keeps it
// (testdata/shapes/sns-notification.json).
func notification(topicARN, id, message string) string {
	b, _ := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": id, "TopicArn": topicARN, "Message": message,
		"Timestamp": "2026-12-07T10:00:00.000Z", "SignatureVersion": "1", "Signature": "c2ln",
		"SigningCertURL":    "https://sns." + testenv.Region + ".amazonaws.com/cert.pem",
		"UnsubscribeURL":    "https://sns." + testenv.Region + ".amazonaws.com/?Action=Unsubscribe",
		"MessageAttributes": map[string]any{"traceId": map[string]string{"Type": "String", "Value": "t-" + id}},
	})
	return string(b)
}

// A subscription failed to deliver: the notification goes back to that
// subscription's endpoint, and no other subscriber of the topic gets it
// again; with ToTopic it is published to the topic, and every subscriber
// gets it, as the plan warns.
func TestReplaySNSSubscriptionEndpoint(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c, sn := sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	p := testenv.Name(t, "sns")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	failed := testenv.CreateQueue(t, c, p+"-failed", nil)
	other := testenv.CreateQueue(t, c, p+"-other", nil)
	topic := testenv.Topic(t, sn, p+"-topic")
	testenv.Subscribe(t, sn, topic, "sqs", failed.ARN, map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlq.ARN + `"}`})
	testenv.Subscribe(t, sn, topic, "sqs", other.ARN, nil)
	body := notification(topic, "n-1", `{"orderId":"o-1"}`)
	testenv.Send(t, c, dlq.URL, 1, body)

	rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t)})
	if rep.Sent != 1 || !rep.Verified {
		t.Fatalf("report: %+v", rep)
	}
	got := testenv.Drain(t, c, failed.URL)
	if len(got) != 1 || aws.ToString(got[0].Body) != body {
		t.Fatalf("the failed subscription's queue got %d messages, want the notification as it was: %v", len(got), got)
	}
	if n := len(testenv.Drain(t, c, other.URL)); n != 0 {
		t.Errorf("the other subscriber got %d messages: a notification was published twice", n)
	}

	testenv.Send(t, c, dlq.URL, 1, body)
	rep = run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t), ToTopic: true})
	if rep.Sent != 1 || !rep.Verified || !strings.Contains(strings.Join(rep.Plan.Warnings, " "), "every subscriber") {
		t.Fatalf("to the topic: report %+v", rep)
	}
	for _, q := range []testenv.Queue{failed, other} {
		got := testenv.Drain(t, c, q.URL)
		if len(got) != 1 || !strings.Contains(aws.ToString(got[0].Body), `{\"orderId\":\"o-1\"}`) {
			t.Errorf("%s got %v, want the message once, published again", q.Name, got)
		}
	}
}

// With ViaBus an event goes back on its rule's bus, where every matching
// rule sees it: the failed target's and another rule's queue; an event
// of an AWS service cannot be put back and stays.
func TestReplayEventBridgeViaBus(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c, eb := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	p := testenv.Name(t, "via")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	target := testenv.CreateQueue(t, c, p+"-target", nil)
	seen := testenv.CreateQueue(t, c, p+"-seen", nil)
	bus := p + "-bus"
	testenv.EventBus(t, eb, bus, "")
	rule := testenv.Rule(t, eb, bus, p+"-rule", ebtypes.Target{Id: aws.String("q"), Arn: aws.String(target.ARN),
		DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlq.ARN)}})
	testenv.Rule(t, eb, bus, p+"-watch", ebtypes.Target{Id: aws.String("seen"), Arn: aws.String(seen.ARN)})
	sendEBFailure(t, c, dlq.URL, rule, target.ARN, ebEvent("e-1", "o-1"))
	fromS3 := strings.Replace(ebEvent("e-2", "o-2"), `"source":"orders"`, `"source":"aws.s3"`, 1)
	sendEBFailure(t, c, dlq.URL, rule, target.ARN, fromS3)

	rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t), ViaBus: true})
	if rep.Sent != 1 || rep.Failed != 1 || !strings.Contains(strings.Join(rep.Plan.Warnings, " "), "new event ID") {
		t.Fatalf("report: %+v", rep)
	}
	for _, q := range []testenv.Queue{target, seen} {
		got := testenv.Drain(t, c, q.URL)
		var ev struct {
			ID     string `json:"id"`
			Detail struct {
				OrderID string `json:"orderId"`
			} `json:"detail"`
		}
		if len(got) != 1 || json.Unmarshal([]byte(*got[0].Body), &ev) != nil || ev.Detail.OrderID != "o-1" || ev.ID == "e-1" {
			t.Errorf("%s got %d message(s) (%+v), want event o-1 once, with a new ID", q.Name, len(got), ev)
		}
	}
	left := testenv.Drain(t, c, dlq.URL)
	if len(left) != 1 || !strings.Contains(*left[0].Body, "aws.s3") {
		t.Fatalf("left in the DLQ: %v, want the aws.s3 event", left)
	}

	// The rule is disabled now: on its bus an event might reach nobody.
	if _, err := eb.DisableRule(context.Background(), &eventbridge.DisableRuleInput{Name: aws.String(p + "-rule"), EventBusName: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	sendEBFailure(t, c, dlq.URL, rule, target.ARN, ebEvent("e-3", "o-3"))
	rep = run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t), ViaBus: true})
	if rep.Sent != 0 || rep.Failed != 1 || !strings.Contains(routeWhy(rep), "is disabled") {
		t.Fatalf("to a disabled rule's bus: %+v", rep)
	}
}
