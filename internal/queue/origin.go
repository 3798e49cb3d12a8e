package queue

import "strings"

// Origins: what wrote a message into its DLQ, read from the message's own
// shape (Message.Origin). Each is a constant, so the field costs a scan
// that keeps many messages no memory of its own.
const (
	// OriginSQS: SQS moved it from a source queue (maxReceiveCount); it
	// carries the DeadLetterQueueSourceArn system attribute.
	OriginSQS = "sqs"
	// OriginEventBridge: an EventBridge rule target's DLQ; the body is
	// the event, with RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
	// EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS attributes.
	OriginEventBridge = "eventbridge"
	// OriginLambda: a Lambda function's DLQ of asynchronous invocations;
	// the body is the payload, with RequestID, ErrorCode and ErrorMessage
	// attributes.
	OriginLambda = "lambda"
	// OriginLambdaOnFailure: a Lambda on-failure destination's invocation
	// record (requestContext, requestPayload, responsePayload).
	OriginLambdaOnFailure = "lambda-on-failure"
	// OriginSNS: an SNS subscription's DLQ with raw delivery off; the body
	// is the notification envelope. (With raw delivery on, the body and
	// attributes are the message's own: nothing tells it apart.)
	OriginSNS = "sns"
)

// The system attribute SQS sets on a message it moved to a DLQ.
const sourceARNAttribute = "DeadLetterQueueSourceArn"

// The attributes EventBridge sets on a message it sends to a target's DLQ
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
const (
	ebRuleARN        = "RULE_ARN"
	ebTargetARN      = "TARGET_ARN"
	ebErrorCode      = "ERROR_CODE"
	ebErrorMessage   = "ERROR_MESSAGE"
	ebRetryCondition = "EXHAUSTED_RETRY_CONDITION"
)

// attributeOrigin is the origin the message's attributes tell, "" when
// they tell none. SQS's own attribute comes first: a message moved from a
// source queue failed its consumer there, whatever its body looks like.
func attributeOrigin(m *Message) string {
	switch {
	case m.System[sourceARNAttribute] != "":
		return OriginSQS
	case attrString(m.Attributes, ebRuleARN) != "" || attrString(m.Attributes, ebTargetARN) != "":
		return OriginEventBridge
	case LambdaDLQAttributes(m.Attributes):
		return OriginLambda
	}
	return ""
}

// LambdaDLQAttributes reports whether attrs are those Lambda sets on a
// failed asynchronous invocation it sends to the function's DLQ: RequestID,
// ErrorCode (a Number) and ErrorMessage. A user attribute of one of those
// names alone does not make a message Lambda's.
func LambdaDLQAttributes(attrs map[string]Attribute) bool {
	code, ok := attrs["ErrorCode"]
	_, hasMsg := attrs["ErrorMessage"]
	return ok && strings.HasPrefix(code.Type, "Number") && hasMsg && attrString(attrs, "RequestID") != ""
}

// bodyOrigin is the origin the parsed body's shape tells, "" when it
// tells none.
func bodyOrigin(parsed any) string {
	obj, ok := parsed.(map[string]any)
	switch {
	case !ok:
		return ""
	case invocationRecord(obj):
		return OriginLambdaOnFailure
	case snsNotification(obj):
		return OriginSNS
	}
	return ""
}

// attributeError is the failure recorded in the message's attributes: a
// Lambda asynchronous invocation's (ErrorCode, ErrorMessage, RequestID)
// or an EventBridge target's (ERROR_CODE, ERROR_MESSAGE,
// EXHAUSTED_RETRY_CONDITION); nil when there is none.
func attributeError(attrs map[string]Attribute) *MessageError {
	if code := attrString(attrs, "ErrorCode"); code != "" || attrString(attrs, "RequestID") != "" {
		return &MessageError{Code: code, Message: attrString(attrs, "ErrorMessage"), RequestID: attrString(attrs, "RequestID")}
	}
	e := MessageError{
		Code:      attrString(attrs, ebErrorCode),
		Message:   attrString(attrs, ebErrorMessage),
		Condition: attrString(attrs, ebRetryCondition),
	}
	if e == (MessageError{}) {
		return nil
	}
	return &e
}

// recordError is the failure an invocation record reports
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
// the function's errorType and errorMessage (its functionError, such as
// Unhandled, when the payload has no type), the request ID and the
// condition (RetriesExhausted, EventAgeExceeded); nil for any other body.
func recordError(parsed any) *MessageError {
	obj, ok := parsed.(map[string]any)
	if !ok || !invocationRecord(obj) {
		return nil
	}
	rc, _ := obj["requestContext"].(map[string]any)
	e := &MessageError{}
	fill(&e.RequestID, rc, "requestId")
	fill(&e.Condition, rc, "condition")
	if rp, ok := obj["responsePayload"].(map[string]any); ok {
		fill(&e.Code, rp, "errorType")
		fill(&e.Message, rp, "errorMessage")
	}
	if rsc, ok := obj["responseContext"].(map[string]any); ok {
		fill(&e.Code, rsc, "functionError")
	}
	if e.Code == "" && e.Message == "" && e.Condition == "Success" {
		return nil // an on-success destination's record
	}
	return e
}

// invocationRecord reports whether obj is a Lambda destination's
// invocation record: a requestContext naming the function, and the
// request's payload.
func invocationRecord(obj map[string]any) bool {
	rc, ok := obj["requestContext"].(map[string]any)
	if !ok {
		return false
	}
	_, hasPayload := obj["requestPayload"]
	_, hasFunction := rc["functionArn"]
	return hasPayload && hasFunction
}

// snsNotification reports whether obj is an SNS notification envelope
// (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html).
func snsNotification(obj map[string]any) bool {
	_, ok := obj["Message"].(string)
	return ok && obj["Type"] == "Notification"
}

// snsRecord is the one SNS notification of a Lambda event from SNS
// ({"Records":[{"EventSource":"aws:sns","Sns":{...}}]}): what a function
// subscribed to a topic was invoked with.
func snsRecord(obj map[string]any) (map[string]any, bool) {
	recs, ok := obj["Records"].([]any)
	if !ok || len(recs) != 1 {
		return nil, false
	}
	rec, ok := recs[0].(map[string]any)
	if !ok || !strings.EqualFold(stringField(rec, "EventSource"), "aws:sns") {
		return nil, false
	}
	sns, ok := rec["Sns"].(map[string]any)
	return sns, ok
}

func stringField(obj map[string]any, key string) string {
	s, _ := obj[key].(string)
	return s
}
