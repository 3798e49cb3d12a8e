package queue

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestCorrelationExtraction(t *testing.T) {
	t.Parallel()
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	tests := []struct {
		name        string
		body        string
		attrs       map[string]types.MessageAttributeValue
		trace, oid  string
		errCode     string
		unwrappedOK func(any) bool
	}{
		{name: "attributes first", body: `{"traceId":"body-t","orderId":"body-o"}`,
			attrs: map[string]types.MessageAttributeValue{"traceId": str("attr-t"), "orderId": str("attr-o")}, trace: "attr-t", oid: "attr-o"},
		{name: "body top level", body: `{"traceId":"t-1","orderId":123}`, trace: "t-1", oid: "123"},
		{name: "eventbridge detail", body: `{"version":"0","detail-type":"OrderPlaced","source":"shop","detail":{"traceId":"t-eb","orderId":"o-eb"}}`, trace: "t-eb", oid: "o-eb",
			unwrappedOK: func(v any) bool { m, ok := v.(map[string]any); return ok && m["traceId"] == "t-eb" }},
		{name: "sns message", body: `{"Type":"Notification","MessageId":"x","Message":"{\"traceId\":\"t-sns\",\"orderId\":\"o-sns\"}"}`, trace: "t-sns", oid: "o-sns"},
		{name: "sns wrapping eventbridge", body: `{"Type":"Notification","Message":"{\"detail-type\":\"X\",\"detail\":{\"orderId\":\"o-deep\"}}","MessageAttributes":{"traceId":{"Type":"String","Value":"t-attr"}}}`, trace: "t-attr", oid: "o-deep"},
		{name: "sns non-JSON message", body: `{"Type":"Notification","Message":"plain text"}`,
			unwrappedOK: func(v any) bool { return v == "plain text" }},
		{name: "lambda async DLQ", body: `{"orderId":"o-9"}`,
			attrs: map[string]types.MessageAttributeValue{"ErrorCode": str("200"), "ErrorMessage": str("Task timed out"), "RequestID": str("req-1")}, oid: "o-9", errCode: "200"},
		{name: "not JSON", body: "\x1b[31mhello"},
		{name: "broken JSON", body: `{"traceId": "t`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := FromSQS(types.Message{MessageId: aws.String("id"), Body: aws.String(tt.body), MessageAttributes: tt.attrs})
			if m.TraceID != tt.trace || m.OrderID != tt.oid {
				t.Errorf("trace %q order %q, want %q %q", m.TraceID, m.OrderID, tt.trace, tt.oid)
			}
			if (m.Error == nil) != (tt.errCode == "") || (m.Error != nil && (m.Error.Code != tt.errCode || m.Error.RequestID != "req-1")) {
				t.Errorf("error = %+v, want code %q", m.Error, tt.errCode)
			}
			if tt.unwrappedOK != nil && !tt.unwrappedOK(m.Unwrapped) {
				t.Errorf("unwrapped = %#v", m.Unwrapped)
			}
		})
	}
}

func TestViewEncodesBinaryAsBase64(t *testing.T) {
	t.Parallel()
	m := FromSQS(types.Message{MessageId: aws.String("id"), Body: aws.String("x"),
		Attributes: map[string]string{"SentTimestamp": "1795720637415", "ApproximateReceiveCount": "3", "MessageGroupId": "g-1"},
		MessageAttributes: map[string]types.MessageAttributeValue{
			"blob": {DataType: aws.String("Binary"), BinaryValue: []byte{0xff, 0x00, 0x1b}},
			"n":    {DataType: aws.String("Number.int"), StringValue: aws.String("42")},
		}})
	v := m.View("q")
	if v.Attributes["blob"].Value != "/wAb" || v.Attributes["n"] != (ViewValue{Type: "Number.int", Value: "42"}) {
		t.Errorf("attributes = %+v", v.Attributes)
	}
	if v.SentAt != "2026-11-26T19:17:17.415Z" || v.ReceiveCount != 3 || v.GroupID != "g-1" || v.Queue != "q" {
		t.Errorf("view = %+v", v)
	}
}

// A message's X-Ray trace is read as the pipeline reads a record's
// (trace.FromRecord): AWSTraceHeader, else a traceparent attribute, else
// the body's top-level traceparent; its JSON form names it xrayTraceId.
func TestXRayTraceExtraction(t *testing.T) {
	t.Parallel()
	const (
		header = "Parent=53995c3f42cd8ad8;Sampled=1;Root=1-5759e988-bd862e3fe1be46a994272793"
		tp     = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	)
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	for _, tc := range []struct {
		name   string
		header string
		attrs  map[string]types.MessageAttributeValue
		body   string
		want   string
	}{
		{"trace header", header, nil, `{"traceId":"t-1"}`, "1-5759e988-bd862e3fe1be46a994272793"},
		{"header beats traceparent", header, map[string]types.MessageAttributeValue{"traceparent": str(tp)}, `{"traceparent":"` + tp + `"}`, "1-5759e988-bd862e3fe1be46a994272793"},
		{"traceparent attribute", "", map[string]types.MessageAttributeValue{"traceparent": str(tp)}, "not JSON", "1-4bf92f35-77b34da6a3ce929d0e0e4736"},
		{"body traceparent", "", nil, `{"traceId":"t-1","traceparent":"` + tp + `"}`, "1-4bf92f35-77b34da6a3ce929d0e0e4736"},
		{"malformed header ignored", "Root=1-5759e988;Sampled=1", nil, `{"traceparent":"` + tp + `"}`, "1-4bf92f35-77b34da6a3ce929d0e0e4736"},
		{"none", "", nil, `{"traceId":"1-5759e988-bd862e3fe1be46a994272793"}`, ""},
	} {
		raw := types.Message{MessageId: aws.String("id"), Body: aws.String(tc.body), MessageAttributes: tc.attrs, Attributes: map[string]string{}}
		if tc.header != "" {
			raw.Attributes["AWSTraceHeader"] = tc.header
		}
		m := FromSQS(raw)
		if m.XRayTraceID != tc.want || m.View("q").XRayTraceID != tc.want {
			t.Errorf("%s: XRayTraceID = %q, want %q", tc.name, m.XRayTraceID, tc.want)
		}
	}
}
