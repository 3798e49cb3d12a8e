package replay

import (
	"testing"

	"github.com/dlqops/dlq/internal/queue"
)

func TestTargetInputApply(t *testing.T) {
	event := `{"version":"0","id":"e-1","detail-type":"OrderPlaced","source":"orders","account":"1","time":"2026-12-07T10:00:00Z","region":"us-east-1","resources":[],"detail":{"orderId":"o-1","amount":12,"items":[{"sku":"a\"b"}],"note":"say \"hi\""}}`
	rule := "arn:aws:events:us-east-1:1:rule/r"
	for _, tc := range []struct {
		name string
		in   targetInput
		body string
		want string
	}{
		{"none", targetInput{}, event, event},
		{"constant", targetInput{Input: `{"x":1}`}, event, `{"x":1}`},
		{"path", targetInput{InputPath: "$.detail.items[0]"}, event, `{"sku":"a\"b"}`},
		{"not an event", targetInput{Input: `{"x":1}`}, `{"orderId":"o-1"}`, `{"orderId":"o-1"}`},
		{"transformer in and out of strings", targetInput{PathsMap: map[string]string{"o": "$.detail.orderId", "n": "$.detail.amount", "note": "$.detail.note", "items": "$.detail.items"},
			Template: `{"id": "<o>", "n": <n>, "note": "<note>", "items": <items>, "s": "<items>", "rule": "<aws.events.rule-name>", "at": "<aws.events.event.ingestion-time>"}`, RuleARN: rule, RuleName: "r"},
			event, `{"id": "o-1", "n": 12, "note": "say \"hi\"", "items": [{"sku":"a\"b"}], "s": "[{\"sku\":\"a\\\"b\"}]", "rule": "r", "at": "2026-12-07T10:00:00Z"}`},
		{"text template", targetInput{PathsMap: map[string]string{"o": "$.detail.orderId"}, Template: `Order <o> failed`}, event, `Order o-1 failed`},
		{"missing path is null", targetInput{PathsMap: map[string]string{"x": "$.detail.nope"}, Template: `{"x": <x>}`}, event, `{"x": null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.apply(tc.body)
			if err != nil || got != tc.want {
				t.Errorf("apply = %s (%v)\n want %s", got, err, tc.want)
			}
		})
	}
	if _, err := (targetInput{InputPath: "$.detail.nope"}).apply(event); err == nil {
		t.Error("an input path with nothing there: want an error (the message stays)")
	}
}

func TestOriginKey(t *testing.T) {
	str := func(s string) queue.Attribute { return queue.Attribute{Type: "String", String: s} }
	for _, tc := range []struct {
		name string
		m    queue.Message
		want origin
	}{
		{"sqs", queue.Message{System: map[string]string{SourceARNAttribute: "arn:aws:sqs:us-east-1:1:src"}}, origin{kind: originSQS, arn: "arn:aws:sqs:us-east-1:1:src"}},
		{"eventbridge", queue.Message{Attributes: map[string]queue.Attribute{"RULE_ARN": str("arn:aws:events:us-east-1:1:rule/b/r"), "TARGET_ARN": str("arn:aws:sqs:us-east-1:1:t")}},
			origin{kind: originEventBridge, rule: "arn:aws:events:us-east-1:1:rule/b/r", target: "arn:aws:sqs:us-east-1:1:t"}},
		{"lambda dlq", queue.Message{Body: `{"orderId":"o-1"}`, Attributes: map[string]queue.Attribute{"RequestID": str("r"), "ErrorCode": {Type: "Number", String: "200"}, "ErrorMessage": str("boom")}}, origin{kind: originLambdaDLQ}},
		{"a user's ErrorCode attribute", queue.Message{Body: `{"orderId":"o-1"}`, Attributes: map[string]queue.Attribute{"ErrorCode": str("E42")}}, origin{}},
		{"on-failure", queue.Message{Body: `{"requestContext":{"functionArn":"arn:aws:lambda:us-east-1:1:function:f:$LATEST"},"requestPayload":{"a":1}}`},
			origin{kind: originOnFailure, arn: "arn:aws:lambda:us-east-1:1:function:f:$LATEST"}},
		{"sns", queue.Message{Body: `{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"x"}`}, origin{kind: originSNS, arn: "arn:aws:sns:us-east-1:1:t"}},
		{"plain", queue.Message{Body: `{"Type":"Notification"}`}, origin{}},
	} {
		if got := parseOrigin(originKey(&tc.m)); got != tc.want {
			t.Errorf("%s: origin %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseRuleARN(t *testing.T) {
	for arn, want := range map[string]ruleRef{
		"arn:aws:events:us-east-1:1:rule/r":       {bus: "default", name: "r"},
		"arn:aws:events:us-east-1:1:rule/bus-1/r": {bus: "bus-1", name: "r"},
	} {
		if got, ok := parseRuleARN(arn); !ok || got != want {
			t.Errorf("%s: %+v", arn, got)
		}
	}
	if _, ok := parseRuleARN("arn:aws:sqs:us-east-1:1:q"); ok {
		t.Error("a queue ARN parsed as a rule")
	}
}
