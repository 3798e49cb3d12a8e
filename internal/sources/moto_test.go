package sources

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/dlqops/dlq/internal/testenv"
)

// motoRegion keeps this test's buses, subscriptions and functions apart
// from any other test's: the account's warnings are about all of them.
const motoRegion = "eu-central-1"

// Discovery against the emulator: what moto keeps of EventBridge targets'
// and buses' DeadLetterConfig, SNS subscriptions' RedrivePolicy and raw
// delivery, Lambda event-invoke configs and (through internal/emulator's
// patch) functions' DeadLetterConfig comes back as sources of the right
// DLQs, with the warnings. moto keeps one event-invoke config per
// function, whatever the qualifier: TestFindEveryKind covers qualifiers
// with a fake.
func TestFindOnTheEmulator(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, motoRegion)
	q, eb, sn, la := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sns.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	p := testenv.Name(t, "src")
	events := "arn:aws:events:" + motoRegion + ":123456789012:"
	bus := p + "-bus"
	shipRule := events + "rule/" + bus + "/ship"

	shipDLQ := testenv.CreateQueue(t, q, p+"-ship-dlq", testenv.SendPolicy("events.amazonaws.com", shipRule))
	busDLQ := testenv.CreateQueue(t, q, p+"-bus-dlq", nil)
	topic := testenv.Topic(t, sn, p+"-events")
	notifyDLQ := testenv.CreateQueue(t, q, p+"-notify-dlq", testenv.With(testenv.SendPolicy("sns.amazonaws.com", topic), map[string]string{"KmsMasterKeyId": "alias/aws/sqs"}))
	chargeDLQ := testenv.CreateQueue(t, q, p+"-charge-dlq", nil)
	ship := testenv.CreateQueue(t, q, p+"-ship", nil)
	notify := testenv.CreateQueue(t, q, p+"-notify", nil)

	testenv.EventBus(t, eb, bus, busDLQ.ARN)
	testenv.Rule(t, eb, bus, "ship", ebtypes.Target{Id: aws.String("t1"), Arn: aws.String(ship.ARN), InputPath: aws.String("$.detail"),
		DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(shipDLQ.ARN)},
		RetryPolicy:      &ebtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(3), MaximumEventAgeInSeconds: aws.Int32(600)}})
	charge := testenv.Function(t, cfg, p+"-charge")
	audit := testenv.Function(t, cfg, p+"-audit")
	testenv.OnFailure(t, la, p+"-charge", chargeDLQ.ARN, 1)
	testenv.FunctionDLQ(t, la, p+"-charge", chargeDLQ.ARN)
	testenv.Rule(t, eb, bus, "charge", ebtypes.Target{Id: aws.String("charge"), Arn: aws.String(charge),
		DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(busDLQ.ARN)}})
	testenv.Rule(t, eb, "default", p+"-audit", ebtypes.Target{Id: aws.String("audit"), Arn: aws.String(audit)})
	sub := testenv.Subscribe(t, sn, topic, "sqs", notify.ARN, map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q}`, notifyDLQ.ARN), "RawMessageDelivery": "true"})
	testenv.Subscribe(t, sn, topic, "lambda", audit, nil)

	res, err := Find(context.Background(), Clients{SQS: q,
		EventBridge: func(context.Context) (EventBridgeAPI, error) { return eb, nil },
		SNS:         func(context.Context) (SNSAPI, error) { return sn, nil },
		Lambda:      func(context.Context) (LambdaAPI, error) { return la, nil },
	}, Options{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`%[1]s-bus-dlq exists=true depth=0
  < bus %[1]s-bus [%[2]sevent-bus/%[1]s-bus]
  < rule %[1]s-bus/charge → lambda:%[1]s-charge [%[2]srule/%[1]s-bus/charge]
  ! its queue policy does not let events.amazonaws.com send messages for bus %[1]s-bus; rule %[1]s-bus/charge → lambda:%[1]s-charge (sqs:SendMessage with aws:SourceArn): those failed events cannot be dead-lettered and are dropped
%[1]s-charge-dlq exists=true depth=0
  < lambda %[1]s-charge (dlq) [arn:aws:lambda:%[3]s:123456789012:function:%[1]s-charge:$LATEST]
  < lambda %[1]s-charge (on-failure) [arn:aws:lambda:%[3]s:123456789012:function:%[1]s-charge:$LATEST]
  < lambda %[1]s-charge:1 (dlq) [arn:aws:lambda:%[3]s:123456789012:function:%[1]s-charge:1]
%[1]s-notify-dlq exists=true depth=0
  < sns %[1]s-events → sqs:%[1]s-notify [%[4]s]
  ! it is encrypted with the AWS managed key alias/aws/sqs, whose key policy cannot admit sns.amazonaws.com: their failed events cannot be dead-lettered; use SSE-SQS or a customer managed key
%[1]s-ship-dlq exists=true depth=0
  < rule %[1]s-bus/ship → sqs:%[1]s-ship [%[2]srule/%[1]s-bus/ship]
! lambda %[1]s-audit is invoked asynchronously (rule default/%[1]s-audit → lambda:%[1]s-audit; sns %[1]s-events → lambda:%[1]s-audit) but has neither a DLQ nor an on-failure destination: events that fail every retry are dropped
! rule default/%[1]s-audit → lambda:%[1]s-audit (target audit) has no DLQ: failed events are dropped after retries
! sns %[1]s-events → lambda:%[1]s-audit has no DLQ: failed events are dropped after retries
`, p, events, motoRegion, sub)
	if diff := cmp.Diff(want, describe(res)); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	for _, d := range res.DLQs {
		for _, s := range d.Services {
			if s.EventBridge != nil && s.EventBridge.TargetID == "t1" {
				r := s.EventBridge.Retry
				if r == nil || aws.ToInt32(r.MaximumRetryAttempts) != 3 || aws.ToInt32(r.MaximumEventAgeInSeconds) != 600 || s.EventBridge.InputPath != "$.detail" {
					t.Errorf("target t1 = %+v, want its retry policy and input path", s.EventBridge)
				}
			}
			if s.SNS != nil && !s.SNS.RawMessageDelivery {
				t.Errorf("subscription %s: raw delivery not read", s.ARN)
			}
			if s.Lambda != nil && s.Lambda.Qualifier == "$LATEST" && (s.Lambda.Retry == nil || aws.ToInt32(s.Lambda.Retry.MaximumRetryAttempts) != 1) {
				t.Errorf("function %s: retry settings %+v, want 1 attempt", s.ARN, s.Lambda.Retry)
			}
		}
	}
}
