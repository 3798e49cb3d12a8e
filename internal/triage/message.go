package triage

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

// StepLambda is the step of a cause Lambda recorded on an asynchronous
// invocation's DLQ message (ErrorCode, ErrorMessage): the function's
// name is not on the message.
const StepLambda = "lambda"

// StepEventBridge is the step of a cause EventBridge recorded on a
// target's DLQ message that names neither target nor rule.
const StepEventBridge = "eventbridge"

// messageCause is the failure a message records about itself, for when
// the logs have nothing: the error attributes EventBridge sets on a
// target's DLQ message, else the ErrorCode and ErrorMessage attributes
// Lambda sets on an asynchronous invocation's DLQ message, else error
// fields in its body (an invocation record's among them, or its condition
// when the function never answered).
func messageCause(m *queue.Message) (cause, bool) {
	if m.Origin == queue.OriginEventBridge && m.Error != nil {
		return eventBridgeCause(m), true
	}
	body := parseBody(m.Body)
	// Correlate reads an invocation record's error into m.Error when no
	// attribute records one: that error is the body's, read below as it
	// always was, so that its cause keeps its ID.
	fromRecord := body.Origin == queue.OriginLambdaOnFailure && m.Error != nil && body.Error != nil && *m.Error == *body.Error
	if e := m.Error; e != nil && (e.Code != "" || e.Message != "") && !fromRecord {
		return lambdaCause(e), true
	}
	if step, raw, ok := errorIn(&body); ok {
		return cause{source: SourceBody, step: step, normalized: Normalize(raw), raw: raw}, true
	}
	if body.Origin == queue.OriginLambdaOnFailure && body.Error != nil && body.Error.Condition != "" {
		obj, _ := body.Parsed.(map[string]any)
		raw := body.Error.Condition
		if body.Error.Code != "" {
			raw = body.Error.Code + " (" + raw + ")" // a functionError (Unhandled) without errorType
		}
		return cause{source: SourceBody, step: objectStep(obj), normalized: Normalize(raw), raw: raw}, true
	}
	return cause{}, false
}

// lambdaCause is the cause Lambda's error attributes record.
func lambdaCause(e *queue.MessageError) cause {
	normalized := Normalize(e.Message)
	raw := e.Message
	if e.Code != "" {
		// The code is Lambda's HTTP status, part of the cause: a
		// throttle is not a function error.
		normalized = strings.TrimSuffix(e.Code+": "+normalized, ": ")
		raw = strings.TrimSuffix(e.Code+": "+raw, ": ")
	}
	return cause{source: SourceLambda, step: StepLambda, normalized: normalized, raw: raw}
}

// eventBridgeCause is the cause EventBridge's attributes record on a
// target's DLQ message: ERROR_CODE and ERROR_MESSAGE (else the condition
// that ended the retries), at the step of the target's name (else the
// rule's): the pipeline's own step is not on the message.
func eventBridgeCause(m *queue.Message) cause {
	e := m.Error
	raw := joinCode(e.Code, e.Message)
	normalized := joinCode(e.Code, Normalize(e.Message))
	if raw == "" {
		raw, normalized = e.Condition, Normalize(e.Condition)
	}
	step := StepEventBridge
	for _, name := range []string{"TARGET_ARN", "RULE_ARN"} {
		if a, ok := m.Attributes[name]; ok && a.String != "" {
			step = resourceName(a.String)
			break
		}
	}
	return cause{source: SourceEventBridge, step: step, normalized: normalized, raw: raw}
}

// resourceName is the name in an ARN: a function's without its qualifier,
// an API destination's, else the resource's last part
// (rule/BUS/NAME, stateMachine:NAME, a queue's or topic's name).
func resourceName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return arn
	}
	res := parts[5]
	switch {
	case strings.HasPrefix(res, "function:"):
		return functionName(arn)
	case strings.HasPrefix(res, "api-destination/"):
		return strings.Split(res, "/")[1]
	}
	if i := strings.LastIndexAny(res, "/:"); i >= 0 && i < len(res)-1 {
		return res[i+1:]
	}
	return res
}

// parseBody is the body alone, parsed and unwrapped as peek and the
// filters do: the scan dropped the parsed body to save memory, and the
// body's shape (its Origin and Error) must not mix with the attributes'.
func parseBody(body string) queue.Message {
	return queue.FromSQS(sqstypes.Message{Body: aws.String(body)})
}

// bodyError finds error fields in a message body, at its top level and,
// inside SNS and EventBridge envelopes, in the event they carry:
//   - a Lambda destination's invocation record: responsePayload's
//     errorType and errorMessage, the function from requestContext;
//   - errorType and errorMessage (Lambda's error shape);
//   - error, as a string or an object with message and code (or type);
//   - lastError;
//
// and the step from failedStep or step.
func bodyError(body string) (step, raw string, ok bool) {
	parsed := parseBody(body)
	return errorIn(&parsed)
}

// errorIn is bodyError of a parsed body.
func errorIn(parsed *queue.Message) (step, raw string, ok bool) {
	for _, v := range []any{parsed.Parsed, parsed.Unwrapped} {
		obj, isObj := v.(map[string]any)
		if !isObj {
			continue
		}
		if raw := objectError(obj); raw != "" {
			return objectStep(obj), raw, true
		}
	}
	return "", "", false
}

func objectError(obj map[string]any) string {
	if rp, ok := obj["responsePayload"].(map[string]any); ok {
		if raw := lambdaError(rp); raw != "" {
			return raw
		}
	}
	if raw := lambdaError(obj); raw != "" {
		return raw
	}
	if e, ok := obj["error"].(map[string]any); ok {
		msg := firstString(e, "message", "Message", "errorMessage")
		code := firstString(e, "code", "Code", "type", "errorType")
		if raw := joinCode(code, msg); raw != "" {
			return raw
		}
	}
	return firstString(obj, "error", "lastError")
}

// lambdaError reads Lambda's error shape: {"errorType": ..., "errorMessage": ...}.
func lambdaError(obj map[string]any) string {
	return joinCode(firstString(obj, "errorType"), firstString(obj, "errorMessage"))
}

func objectStep(obj map[string]any) string {
	if rc, ok := obj["requestContext"].(map[string]any); ok {
		if arn := firstString(rc, "functionArn"); arn != "" {
			return functionName(arn)
		}
	}
	return firstString(obj, "failedStep", "step")
}

// functionName is NAME in arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER].
func functionName(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) >= 7 && parts[5] == "function" {
		return parts[6]
	}
	return arn
}

func joinCode(code, msg string) string {
	switch {
	case code == "":
		return msg
	case msg == "":
		return code
	}
	return fmt.Sprintf("%s: %s", code, msg)
}

func firstString(obj map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := obj[k].(string); ok && strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
