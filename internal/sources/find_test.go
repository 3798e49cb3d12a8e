package sources

import (
	"context"
	"fmt"
	"strings"
	"testing"

	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"
)

// sendPolicy is a queue policy letting service send for sourceARN.
func sendPolicy(service, sourceARN string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":%q},"Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, service, sourceARN)
}

// pipeline is an order pipeline whose failures land in every kind of DLQ,
// with every way of dropping them.
func pipeline() (*fakeSQS, *fakeEventBridge, *fakeSNS, *fakeLambda) {
	q := &fakeSQS{queues: map[string]fakeQueue{
		"orders-payments":     {redriveTo: "orders-payments-dlq"},
		"orders-payments-dlq": {visible: 2},
		// EventBridge's DLQ, allowed for the rule; its bus's, with no policy
		"orders-shipping-dlq": {visible: 1, policy: sendPolicy("events.amazonaws.com", eventsARN+"rule/orders/ship")},
		"orders-bus-dlq":      {},
		// SNS's, under the AWS managed key, allowed for the topic
		"orders-notify-dlq": {kms: "alias/aws/sqs", policy: sendPolicy("sns.amazonaws.com", topicARN+"orders-events")},
		// Lambda's DLQ and on-failure destination: no policy needed
		"orders-charge-dlq": {},
		"orders-notify":     {},
	}}
	eb := &fakeEventBridge{buses: map[string]string{"default": "", "orders": qARN + "orders-bus-dlq"}, pageSize: 1}
	eb.rules = []fakeRule{
		{bus: "orders", name: "ship", targets: targets(target("t1", qARN+"orders-shipping", qARN+"orders-shipping-dlq"))},
		{bus: "orders", name: "audit", targets: targets(target("t1", fnARN+"audit", ""))},
		{bus: "default", name: "charge", targets: targets(target("charge", fnARN+"charge", qARN+"orders-bus-dlq"))},
		{bus: "default", name: "old", disabled: true, targets: targets(target("t1", fnARN+"audit", ""))},
	}
	sn := &fakeSNS{subs: []fakeSub{
		{arn: topicARN + "orders-events:1", topic: topicARN + "orders-events", protocol: "sqs", endpoint: qARN + "orders-notify", dlq: qARN + "orders-notify-dlq", raw: true},
		{arn: topicARN + "orders-events:2", topic: topicARN + "orders-events", protocol: "lambda", endpoint: fnARN + "audit"},
		{arn: topicARN + "orders-events:3", topic: topicARN + "orders-events", protocol: "https", endpoint: "https://hooks.example.com/x", dlq: "arn:aws:sqs:us-east-1:" + acct + ":hooks-dlq"},
		{arn: "PendingConfirmation", topic: topicARN + "orders-events", protocol: "email", endpoint: "a@example.com"},
	}}
	la := &fakeLambda{functions: map[string]fakeFunction{
		"charge": {dlqs: map[string]string{"$LATEST": qARN + "orders-charge-dlq", "3": qARN + "orders-charge-dlq"},
			onFailure: map[string]string{"live": qARN + "orders-charge-dlq", "$LATEST": topicARN + "charge-failures"}, retries: 1},
		"audit": {},
	}}
	return q, eb, sn, la
}

func targets(t ...ebtypes.Target) []ebtypes.Target { return t }

// describe is a result in a few lines: each DLQ with its sources and
// warnings, then the account's warnings.
func describe(r *Result) string {
	var b strings.Builder
	for _, d := range r.DLQs {
		fmt.Fprintf(&b, "%s exists=%v depth=%d\n", d.Name, d.Exists, d.Depth())
		for _, s := range d.Sources {
			fmt.Fprintf(&b, "  < queue %s\n", s.Name)
		}
		for _, s := range d.Services {
			fmt.Fprintf(&b, "  < %s [%s]\n", s, s.ARN)
		}
		for _, w := range d.Warnings() {
			fmt.Fprintf(&b, "  ! %s\n", w)
		}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "! %s\n", w)
	}
	return b.String()
}

func TestFindEveryKind(t *testing.T) {
	t.Parallel()
	q, eb, sn, la := pipeline()
	res, err := Find(context.Background(), clients(q, eb, sn, la), Options{Prefix: "orders-", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := `orders-payments-dlq exists=true depth=2
  < queue orders-payments
  ! holds 2 messages
orders-shipping-dlq exists=true depth=1
  < rule orders/ship → sqs:orders-shipping [arn:aws:events:eu-west-1:123456789012:rule/orders/ship]
  ! holds 1 message
orders-bus-dlq exists=true depth=0
  < rule default/charge → lambda:charge [arn:aws:events:eu-west-1:123456789012:rule/charge]
  < bus orders [arn:aws:events:eu-west-1:123456789012:event-bus/orders]
  ! its queue policy does not let events.amazonaws.com send messages for rule default/charge → lambda:charge; bus orders (sqs:SendMessage with aws:SourceArn): those failed events cannot be dead-lettered and are dropped
orders-charge-dlq exists=true depth=0
  < lambda charge (dlq) [arn:aws:lambda:eu-west-1:123456789012:function:charge:$LATEST]
  < lambda charge:3 (dlq) [arn:aws:lambda:eu-west-1:123456789012:function:charge:3]
  < lambda charge:live (on-failure) [arn:aws:lambda:eu-west-1:123456789012:function:charge:live]
orders-notify-dlq exists=true depth=0
  < sns orders-events → sqs:orders-notify [arn:aws:sns:eu-west-1:123456789012:orders-events:1]
  ! it is encrypted with the AWS managed key alias/aws/sqs, whose key policy cannot admit sns.amazonaws.com: their failed events cannot be dead-lettered; use SSE-SQS or a customer managed key
! lambda audit is invoked asynchronously (rule orders/audit → lambda:audit; sns orders-events → lambda:audit) but has neither a DLQ nor an on-failure destination: events that fail every retry are dropped
! lambda charge (on-failure) dead-letters into arn:aws:sns:eu-west-1:123456789012:charge-failures, which is not an SQS queue: dlq reads only queues, so those failed events are not shown
! rule orders/audit → lambda:audit (target t1) has no DLQ: failed events are dropped after retries
! sns orders-events → https:hooks.example.com dead-letters into arn:aws:sqs:us-east-1:123456789012:hooks-dlq, in another account or region than the subscription (123456789012, eu-west-1): SNS requires the DLQ in the subscription's account and region, so failed events are dropped
! sns orders-events → lambda:audit has no DLQ: failed events are dropped after retries
`
	if diff := cmp.Diff(want, describe(res)); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	if got := eb.calls["ListRules"]; got != 4 {
		t.Errorf("ListRules calls = %d, want 4: two rules on each bus, one a page", got)
	}
}

// A target's DLQ in another region is not read (dlq reads one region's
// queues) and a warning says where it is.
func TestFindDLQInAnotherRegion(t *testing.T) {
	t.Parallel()
	q, eb, sn, la := pipeline()
	other := "arn:aws:sqs:us-east-1:" + acct + ":orders-far-dlq"
	eb.rules = []fakeRule{{bus: "orders", name: "far", targets: targets(target("t1", qARN+"orders-shipping", other))}}
	res, err := Find(context.Background(), clients(q, eb, sn, la), Options{Prefix: "orders-far"})
	if err != nil {
		t.Fatal(err)
	}
	want := "! rule orders/far → sqs:orders-shipping dead-letters into " + other + " in us-east-1: dlq reads one region's queues; inspect that region too\n"
	if got := describe(&Result{DLQs: res.DLQs, Warnings: filter(res.Warnings, "rule orders/far")}); got != want {
		t.Errorf("Find:\n%s\nwant:\n%s", got, want)
	}
}

// filter keeps the lines that start with prefix.
func filter(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
