package replay

import (
	"encoding/json"
	"strings"

	"github.com/dlqops/dlq/internal/queue"
)

// The attributes AWS sets on the DLQ messages of the services other than
// SQS (docs/replay.md names the pages they come from).
const (
	// EventBridge, on a rule target's DLQ message.
	attrRuleARN   = "RULE_ARN"
	attrTargetARN = "TARGET_ARN"
	// Lambda, on an asynchronous invocation's DLQ message.
	attrRequestID = "RequestID"
	attrErrorCode = "ErrorCode"
)

// failureAttributes are the attributes a service adds to say why it
// dead-lettered a message: not part of the event, not sent back.
var failureAttributes = map[string]bool{
	attrRuleARN: true, attrTargetARN: true, "ERROR_CODE": true, "ERROR_MESSAGE": true,
	"EXHAUSTED_RETRY_CONDITION": true, "RETRY_ATTEMPTS": true,
	attrRequestID: true, attrErrorCode: true, "ErrorMessage": true,
}

// originKind is the service that dead-lettered a message.
type originKind string

// The kinds of origin, as the first word of an origin key.
const (
	originSQS         originKind = "sqs"
	originEventBridge originKind = "eventbridge"
	originOnFailure   originKind = "lambda-on-failure"
	originLambdaDLQ   originKind = "lambda"
	originSNS         originKind = "sns"
	originUnknown     originKind = ""
)

// origin is where a dead-lettered message says it failed.
type origin struct {
	kind originKind
	// arn is the source queue (sqs), the function with its qualifier
	// (on-failure) or the topic (sns); rule and target are EventBridge's.
	arn, rule, target string
}

// originKey is the message's origin as one string, which the round's
// table interns: a source queue's ARN as SQS recorded it, else the kind
// and its ARNs separated by spaces ("" when the message does not say).
func originKey(m *queue.Message) string {
	if src := m.System[SourceARNAttribute]; src != "" {
		return src
	}
	if rule, target := m.Attributes[attrRuleARN].String, m.Attributes[attrTargetARN].String; rule != "" && target != "" {
		return string(originEventBridge) + " " + rule + " " + target
	}
	if queue.LambdaDLQAttributes(m.Attributes) {
		return string(originLambdaDLQ)
	}
	body := strings.TrimSpace(m.Body)
	if !strings.HasPrefix(body, "{") || !strings.Contains(body, `"requestContext"`) && !strings.Contains(body, `"Notification"`) {
		return "" // cheap for the usual body: no JSON parsed
	}
	var probe struct {
		RequestContext *struct {
			FunctionARN string `json:"functionArn"`
		} `json:"requestContext"`
		RequestPayload json.RawMessage `json:"requestPayload"`
		Type           string          `json:"Type"`
		TopicARN       string          `json:"TopicArn"`
	}
	if json.Unmarshal([]byte(body), &probe) != nil {
		return ""
	}
	switch {
	case probe.RequestContext != nil && probe.RequestContext.FunctionARN != "" && probe.RequestPayload != nil:
		return string(originOnFailure) + " " + probe.RequestContext.FunctionARN
	case probe.Type == "Notification" && probe.TopicARN != "":
		return string(originSNS) + " " + probe.TopicARN
	}
	return ""
}

// parseOrigin reads an origin key back.
func parseOrigin(key string) origin {
	if strings.HasPrefix(key, "arn:") {
		return origin{kind: originSQS, arn: key}
	}
	f := strings.Fields(key)
	if len(f) == 0 {
		return origin{}
	}
	o := origin{kind: originKind(f[0])}
	switch {
	case o.kind == originEventBridge && len(f) == 3:
		o.rule, o.target = f[1], f[2]
	case len(f) == 2:
		o.arn = f[1]
	}
	return o
}
