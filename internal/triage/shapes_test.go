package triage

import (
	"testing"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/queue/shapetest"
)

// Each documented DLQ shape gives the cause it records, when the logs say
// nothing: EventBridge's error attributes at the target's name, Lambda's
// at "lambda", an invocation record's error (or, when the function never
// answered, its condition) at the function's name.
func TestMessageCauseOfDocumentedShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shape string
		want  cause
		ok    bool
	}{
		{"eventbridge-dlq", cause{source: SourceEventBridge, step: "orders-shipping",
			normalized: "SDK_CLIENT_ERROR: Unable to invoke Lambda function orders-shipping: rate exceeded (request <id>)",
			raw:        "SDK_CLIENT_ERROR: Unable to invoke Lambda function orders-shipping: rate exceeded (request 7c1f0b2a)"}, true},
		{"sns-envelope", cause{}, false},
		{"sns-raw", cause{}, false},
		{"lambda-async-dlq", cause{source: SourceLambda, step: StepLambda,
			normalized: "200: <time> <uuid> Task timed out after <n> seconds",
			raw:        "200: 2026-11-26T18:34:01.000Z e4b4a6d3-9f2c-4a51-8b36-0c7a2c1d9f10 Task timed out after 3.00 seconds"}, true},
		{"lambda-on-failure", cause{source: SourceBody, step: "orders-payments",
			normalized: "ProviderError: payment provider unavailable: HTTP 503", raw: "ProviderError: payment provider unavailable: HTTP 503"}, true},
		{"lambda-on-failure-age", cause{source: SourceBody, step: "orders-notify", normalized: "EventAgeExceeded", raw: "EventAgeExceeded"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.shape, func(t *testing.T) {
			t.Parallel()
			m := queue.FromSQS(shapetest.Load(t, tt.shape).Received("m-1", map[string]string{}))
			got, ok := messageCause(&m)
			if got != tt.want || ok != tt.ok {
				t.Errorf("cause = %+v, %v\nwant %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// An invocation record's cause keeps the ID it had when only its body was
// read (bodyError), now that Correlate reads its error too.
func TestInvocationRecordCauseIDIsStable(t *testing.T) {
	t.Parallel()
	s := shapetest.Load(t, "lambda-on-failure")
	m := queue.FromSQS(s.Received("m-1", map[string]string{}))
	if m.Error == nil {
		t.Fatal("Correlate read no error from the record")
	}
	step, raw, ok := bodyError(s.Body)
	got, _ := messageCause(&m)
	if !ok || CauseID(got.step, got.normalized) != CauseID(step, Normalize(raw)) || got.source != SourceBody {
		t.Errorf("cause %+v, want the body's (%q, %q)", got, step, raw)
	}
}

func TestResourceName(t *testing.T) {
	t.Parallel()
	for arn, want := range map[string]string{
		"arn:aws:lambda:eu-west-1:123456789012:function:orders-shipping":          "orders-shipping",
		"arn:aws:lambda:eu-west-1:123456789012:function:orders-shipping:live":     "orders-shipping",
		"arn:aws:sqs:eu-west-1:123456789012:orders-shipping":                      "orders-shipping",
		"arn:aws:states:eu-west-1:123456789012:stateMachine:order-saga":           "order-saga",
		"arn:aws:events:eu-west-1:123456789012:rule/orders/orders-placed":         "orders-placed",
		"arn:aws:events:eu-west-1:123456789012:event-bus/orders":                  "orders",
		"arn:aws:events:eu-west-1:123456789012:api-destination/crm/6f1b2c3d-uuid": "crm",
		"not an arn": "not an arn",
	} {
		if got := resourceName(arn); got != want {
			t.Errorf("resourceName(%q) = %q, want %q", arn, got, want)
		}
	}
}
