package filter

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

var now = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

func msg(body string, attrs map[string]string, sentAgo time.Duration, receives string) *queue.Message {
	ma := map[string]types.MessageAttributeValue{}
	for k, v := range attrs {
		ma[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	m := queue.FromSQS(types.Message{
		MessageId: aws.String("m-1"), Body: aws.String(body), MessageAttributes: ma,
		Attributes: map[string]string{
			"SentTimestamp":           fmtMillis(now.Add(-sentAgo)),
			"ApproximateReceiveCount": receives,
		},
	})
	return &m
}

func fmtMillis(t time.Time) string { return itoa(t.UnixMilli()) }

func itoa(n int64) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestMatch(t *testing.T) {
	t.Parallel()
	order := msg(`{"traceId":"t-1","orderId":"o-1","customer":{"tier":"gold","id":42},"items":[{"sku":"A"}],"paid":false}`, nil, 10*time.Minute, "4")
	sns := msg(`{"Type":"Notification","Message":"{\"orderId\":\"o-2\",\"customer\":{\"tier\":\"silver\"}}","MessageAttributes":{"traceId":{"Type":"String","Value":"t-2"}}}`, nil, 2*time.Hour, "1")
	lambda := msg(`{"orderId":"o-3"}`, map[string]string{"ErrorCode": "500", "ErrorMessage": "boom", "RequestID": "r-1"}, time.Minute, "2")
	text := msg(`not json at all`, nil, time.Minute, "1")

	tests := []struct {
		name string
		opts Options
		m    *queue.Message
		want bool
	}{
		{"no conditions", Options{}, text, true},
		{"trace", Options{TraceID: "t-1"}, order, true},
		{"trace mismatch", Options{TraceID: "t-2"}, order, false},
		{"trace from SNS attributes", Options{TraceID: "t-2"}, sns, true},
		{"order from SNS message", Options{OrderID: "o-2"}, sns, true},
		{"where nested", Options{Where: []string{"customer.tier=gold"}}, order, true},
		{"where number", Options{Where: []string{"customer.id=42"}}, order, true},
		{"where array", Options{Where: []string{"items.0.sku=A"}}, order, true},
		{"where bool", Options{Where: []string{"paid=false"}}, order, true},
		{"where in SNS payload", Options{Where: []string{"customer.tier=silver"}}, sns, true},
		{"where envelope field", Options{Where: []string{"Type=Notification"}}, sns, true},
		{"where all must hold", Options{Where: []string{"customer.tier=gold", "customer.id=7"}}, order, false},
		{"where attr", Options{Where: []string{"attr.ErrorCode=500"}}, lambda, true},
		{"where on non-JSON", Options{Where: []string{"customer.tier=gold"}}, text, false},
		{"jq", Options{JQ: `.body | fromjson | .customer.tier == "gold"`}, order, true},
		{"jq false", Options{JQ: `.receiveCount > 10`}, order, false},
		{"jq error is no match", Options{JQ: `.body | fromjson | .x`}, text, false},
		{"jq on error field", Options{JQ: `.error.code == "500"`}, lambda, true},
		{"since", Options{Since: time.Hour}, order, true},
		{"since excludes old", Options{Since: time.Hour}, sns, false},
		{"until duration", Options{Until: "1h"}, sns, true},
		{"until excludes new", Options{Until: "1h"}, order, false},
		{"until RFC3339", Options{Until: "2026-11-26T17:55:00Z"}, order, true},
		{"min receives", Options{MinReceives: 4}, order, true},
		{"min receives excludes", Options{MinReceives: 5}, order, false},
		{"error code", Options{ErrorCode: "500"}, lambda, true},
		{"error code absent", Options{ErrorCode: "500"}, order, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.opts, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.m); got != tt.want {
				t.Errorf("Match = %v, want %v (trace %q order %q)", got, tt.want, tt.m.TraceID, tt.m.OrderID)
			}
			// A filter that says it needs no body decides the same on a
			// message whose body a Raw scan did not parse.
			if !f.NeedsBody() {
				raw := *tt.m
				raw.TraceID, raw.OrderID, raw.XRayTraceID, raw.Error, raw.Parsed, raw.Unwrapped = "", "", "", nil, nil, nil
				if got := f.Match(&raw); got != tt.want {
					t.Errorf("Match on the unparsed message = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestNeedsBody(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts Options
		want bool
	}{
		{Options{}, false},
		{Options{Since: time.Hour, Until: "1h", MinReceives: 3}, false},
		{Options{TraceID: "t"}, true},
		{Options{OrderID: "o"}, true},
		{Options{ErrorCode: "500"}, true},
		{Options{Where: []string{"a=b"}}, true},
		{Options{JQ: "true"}, true},
	} {
		f, err := New(tt.opts, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.NeedsBody(); got != tt.want {
			t.Errorf("NeedsBody(%+v) = %v, want %v", tt.opts, got, tt.want)
		}
	}
	f, _ := New(Options{}, now)
	if !f.Empty() {
		t.Error("a filter without conditions is not empty")
	}
	if !f.Also(func(*queue.Message) bool { return true }).NeedsBody() || f.Empty() {
		t.Error("a filter with a condition computed elsewhere says it needs no body, or is empty")
	}
	for _, o := range []Options{{Since: time.Hour}, {Until: "1h"}, {MinReceives: 2}, {OrderID: "o"}} {
		if f, _ := New(o, now); f.Empty() {
			t.Errorf("New(%+v) is empty", o)
		}
	}
}

func TestNewRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Where: []string{"customer.tier"}},
		{Where: []string{"=gold"}},
		{Where: []string{"a..b=1"}},
		{Where: []string{"attr.=1"}},
		{JQ: `.body |`},
		{JQ: `$undefined`},
		{Until: "yesterday"},
		{Since: -time.Minute},
		{MinReceives: -1},
	} {
		if _, err := New(o, now); err == nil {
			t.Errorf("New(%+v) accepted a malformed filter", o)
		}
	}
}
