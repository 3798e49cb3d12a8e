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

// messageCause is the failure a message records about itself, for when
// the logs have nothing: the ErrorCode and ErrorMessage attributes
// Lambda sets on an asynchronous invocation's DLQ message, else error
// fields in its body.
func messageCause(m *queue.Message) (cause, bool) {
	if e := m.Error; e != nil && (e.Code != "" || e.Message != "") {
		normalized := Normalize(e.Message)
		raw := e.Message
		if e.Code != "" {
			// The code is Lambda's HTTP status, part of the cause: a
			// throttle is not a function error.
			normalized = strings.TrimSuffix(e.Code+": "+normalized, ": ")
			raw = strings.TrimSuffix(e.Code+": "+raw, ": ")
		}
		return cause{source: SourceLambda, step: StepLambda, normalized: normalized, raw: raw}, true
	}
	if step, raw, ok := bodyError(m.Body); ok {
		return cause{source: SourceBody, step: step, normalized: Normalize(raw), raw: raw}, true
	}
	return cause{}, false
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
	// Unwrapped as peek and the filters do; the scan dropped the parsed
	// body to save memory, so it is parsed again here.
	parsed := queue.FromSQS(sqstypes.Message{Body: aws.String(body)})
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
