package queue

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dlqops/dlq/internal/queue/shapetest"
)

// Each DLQ shape AWS documents gives its IDs, its error, its origin and
// the payload filters look into (Unwrapped).
func TestDocumentedShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shape, origin, trace, order string
		err                         *MessageError
		// tier is customer.tier in the unwrapped payload ("" when absent).
		tier string
	}{
		{shape: "eventbridge-dlq", origin: OriginEventBridge, trace: "4bf92f3577b34da6", order: "order-1042", tier: "gold",
			err: &MessageError{Code: "SDK_CLIENT_ERROR", Message: "Unable to invoke Lambda function orders-shipping: rate exceeded (request 7c1f0b2a)", Condition: "MaximumRetryAttempts"}},
		{shape: "sns-envelope", origin: OriginSNS, trace: "9c1e0d2a41f7b388", order: "order-2001", tier: "gold"},
		{shape: "sns-raw", origin: "", trace: "1f0e2d3c4b5a6978", order: "order-2002", tier: "silver"},
		{shape: "lambda-async-dlq", origin: OriginLambda, trace: "2a2b2c2d2e2f3031", order: "order-3001",
			err: &MessageError{Code: "200", Message: "2026-11-26T18:34:01.000Z e4b4a6d3-9f2c-4a51-8b36-0c7a2c1d9f10 Task timed out after 3.00 seconds", RequestID: "e4b4a6d3-9f2c-4a51-8b36-0c7a2c1d9f10"}},
		{shape: "lambda-on-failure", origin: OriginLambdaOnFailure, trace: "3c4d5e6f70819293", order: "order-4001", tier: "gold",
			err: &MessageError{Code: "ProviderError", Message: "payment provider unavailable: HTTP 503", RequestID: "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2", Condition: "RetriesExhausted"}},
		{shape: "lambda-on-failure-age", origin: OriginLambdaOnFailure, trace: "4d5e6f708192a3b4", order: "order-4002",
			err: &MessageError{RequestID: "5d2e0b0e-3b8f-4c1e-9e7a-0f5a7f3b2c11", Condition: "EventAgeExceeded"}},
	}
	if len(tests) != len(shapetest.Names) {
		t.Fatalf("%d shapes tested, %d in testdata", len(tests), len(shapetest.Names))
	}
	for _, tt := range tests {
		t.Run(tt.shape, func(t *testing.T) {
			t.Parallel()
			m := FromSQS(shapetest.Load(t, tt.shape).Received("m-1", map[string]string{}))
			if m.Origin != tt.origin || m.TraceID != tt.trace || m.OrderID != tt.order {
				t.Errorf("origin %q trace %q order %q, want %q %q %q", m.Origin, m.TraceID, m.OrderID, tt.origin, tt.trace, tt.order)
			}
			if diff := cmp.Diff(tt.err, m.Error); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			var tier string
			if obj, ok := m.Unwrapped.(map[string]any); ok {
				if c, ok := obj["customer"].(map[string]any); ok {
					tier, _ = c["tier"].(string)
				}
			}
			if tier != tt.tier {
				t.Errorf("unwrapped customer.tier = %q, want %q (unwrapped %v)", tier, tt.tier, m.Unwrapped)
			}
			var view map[string]any
			b, _ := json.Marshal(m.View("q"))
			if err := json.Unmarshal(b, &view); err != nil || view["origin"] != tt.origin {
				t.Errorf("view's origin = %v, want %q", view["origin"], tt.origin)
			}
		})
	}
}

// SQS's DeadLetterQueueSourceArn says the message was moved from a source
// queue, whatever its body looks like: its consumer there failed.
func TestOriginSQSComesFirst(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sns-envelope", "lambda-on-failure", "sns-raw"} {
		m := FromSQS(shapetest.Load(t, name).Received("m-1", map[string]string{"DeadLetterQueueSourceArn": "arn:aws:sqs:eu-west-1:123456789012:orders"}))
		if m.Origin != OriginSQS {
			t.Errorf("%s moved by SQS: origin %q, want %q", name, m.Origin, OriginSQS)
		}
	}
}

// Further shapes inside an invocation record: a function subscribed to a
// topic was invoked with an SNS event, whose notification holds the IDs.
func TestInvocationRecordOfAnSNSEvent(t *testing.T) {
	t.Parallel()
	body := `{"version":"1.0","requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:eu-west-1:123456789012:function:notify","condition":"RetriesExhausted","approximateInvokeCount":3},` +
		`"requestPayload":{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","Sns":{"Type":"Notification","Message":"{\"orderId\":\"o-sns\"}","MessageAttributes":{"traceId":{"Type":"String","Value":"t-sns"}}}}]},` +
		`"responsePayload":{"errorMessage":"boom"}}`
	m := FromSQS(shapetest.Shape{Body: body}.Received("m-1", nil))
	if m.TraceID != "t-sns" || m.OrderID != "o-sns" || m.Origin != OriginLambdaOnFailure || m.Error == nil || m.Error.Message != "boom" {
		t.Errorf("trace %q order %q origin %q error %+v", m.TraceID, m.OrderID, m.Origin, m.Error)
	}
	// An on-success destination's record records no failure.
	m = FromSQS(shapetest.Shape{Body: `{"requestContext":{"functionArn":"arn:aws:lambda:eu-west-1:1:function:f","condition":"Success"},"requestPayload":{},"responsePayload":{"ok":true}}`}.Received("m-2", nil))
	if m.Error != nil {
		t.Errorf("on-success record: error %+v, want none", m.Error)
	}
}
