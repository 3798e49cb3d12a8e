package filter

import (
	"testing"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/queue/shapetest"
)

// Filters look into each documented DLQ shape's payload: an EventBridge
// event's detail, an SNS notification's Message, an invocation record's
// requestPayload (and the detail of an EventBridge event inside one),
// then the body itself; --jq sees the origin and the error's condition.
func TestMatchDocumentedShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts  Options
		match []string
	}{
		{Options{Where: []string{"customer.tier=gold"}}, []string{"eventbridge-dlq", "sns-envelope", "lambda-on-failure"}},
		{Options{Where: []string{"requestContext.condition=EventAgeExceeded"}}, []string{"lambda-on-failure-age"}},
		{Options{OrderID: "order-4002"}, []string{"lambda-on-failure-age"}},
		{Options{TraceID: "3c4d5e6f70819293"}, []string{"lambda-on-failure"}},
		{Options{ErrorCode: "ProviderError"}, []string{"lambda-on-failure"}},
		{Options{JQ: `.error.condition == "MaximumRetryAttempts"`}, []string{"eventbridge-dlq"}},
		{Options{JQ: `.origin == "sns"`}, []string{"sns-envelope"}},
	}
	for _, tt := range tests {
		f, err := New(tt.opts, now)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, name := range shapetest.Names {
			m := queue.FromSQS(shapetest.Load(t, name).Received("m-1", map[string]string{}))
			if f.Match(&m) {
				got = append(got, name)
			}
		}
		if len(got) != len(tt.match) {
			t.Errorf("%+v matched %v, want %v", tt.opts, got, tt.match)
			continue
		}
		for i := range got {
			if got[i] != tt.match[i] {
				t.Errorf("%+v matched %v, want %v", tt.opts, got, tt.match)
				break
			}
		}
	}
}
