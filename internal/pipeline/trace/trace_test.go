package trace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestHandlerStampsIDsWithoutLeaks(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := trace.NewLogger(&buf, slog.LevelInfo)
	first := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1", SagaID: "s-1", Step: "charge", Attempt: 2, MessageID: "m-1"})
	log.InfoContext(first, "charging", "status", "started")
	log.ErrorContext(first, "charge failed", "status", "error", "error", "timeout")
	second := trace.With(context.Background(), trace.IDs{TraceID: "t-2"})
	log.InfoContext(second, "next invocation")
	log.Info("no context at all")

	xrayCtx := trace.With(context.Background(), trace.IDs{TraceID: "t-3", XRayTraceID: "1-5759e988-bd862e3fe1be46a994272793"})
	log.WarnContext(xrayCtx, "from an X-Ray traced record")

	got := lines(t, &buf)
	if got[0]["traceId"] != "t-1" || got[0]["orderId"] != "o-1" || got[0]["sagaId"] != "s-1" || got[0]["step"] != "charge" ||
		got[0]["attempt"] != float64(2) || got[0]["messageId"] != "m-1" || got[0]["msg"] != "charging" || got[0]["level"] != "INFO" {
		t.Errorf("first line = %v", got[0])
	}
	if got[1]["traceId"] != "t-1" || got[1]["error"] != "timeout" || got[1]["level"] != "ERROR" {
		t.Errorf("error line = %v", got[1])
	}
	if got[2]["traceId"] != "t-2" || got[2]["orderId"] != nil || got[2]["step"] != nil {
		t.Errorf("second invocation leaked IDs: %v", got[2])
	}
	if v, ok := got[3]["traceId"]; !ok || v != "" {
		t.Errorf("a line without context must still carry traceId: %v", got[3])
	}
	for i, l := range got[:4] {
		if _, ok := l["xrayTraceId"]; ok {
			t.Errorf("line %d has xrayTraceId without an X-Ray trace: %v", i, l)
		}
	}
	if got[4]["traceId"] != "t-3" || got[4]["xrayTraceId"] != "1-5759e988-bd862e3fe1be46a994272793" {
		t.Errorf("X-Ray line = %v", got[4])
	}
	// Next to traceId, as docs/log-schema.md shows it.
	if l := strings.Split(strings.TrimSpace(buf.String()), "\n")[4]; !strings.Contains(l, `"traceId":"t-3","xrayTraceId":"1-5759e988-bd862e3fe1be46a994272793"`) {
		t.Errorf("xrayTraceId is not next to traceId: %s", l)
	}
}

func TestFromRecord(t *testing.T) {
	t.Parallel()
	str := func(s string) events.SQSMessageAttribute {
		return events.SQSMessageAttribute{DataType: "String", StringValue: &s}
	}
	ids, env, fresh := trace.FromRecord(events.SQSMessage{MessageId: "m", Body: `{"traceId":"body-t","orderId":"o-1","type":"OrderPlaced","attempt":3}`,
		MessageAttributes: map[string]events.SQSMessageAttribute{"traceId": str("attr-t")}})
	if ids.TraceID != "attr-t" || ids.OrderID != "o-1" || ids.Attempt != 3 || ids.MessageID != "m" || env.Type != "OrderPlaced" || fresh {
		t.Errorf("ids = %+v env = %+v fresh %v", ids, env, fresh)
	}
	if ids.XRayTraceID != "" {
		t.Errorf("record without an X-Ray trace has %q", ids.XRayTraceID)
	}
	ids, _, fresh = trace.FromRecord(events.SQSMessage{MessageId: "m", Body: "not json", Attributes: map[string]string{"ApproximateReceiveCount": "4"}})
	if ids.TraceID == "" || !fresh || ids.Attempt != 4 {
		t.Errorf("record without trace: %+v fresh %v", ids, fresh)
	}
}

// Where a record's X-Ray trace comes from: the AWSTraceHeader system
// attribute first, then a traceparent message attribute, then the
// envelope's traceparent; malformed ones are ignored.
func TestFromRecordXRayTrace(t *testing.T) {
	t.Parallel()
	const (
		header   = "Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
		fromHead = "1-5759e988-bd862e3fe1be46a994272793"
		tpAttr   = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		fromAttr = "1-4bf92f35-77b34da6a3ce929d0e0e4736"
		tpBody   = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		fromBody = "1-0af76519-16cd43dd8448eb211c80319c"
	)
	str := func(s string) events.SQSMessageAttribute {
		return events.SQSMessageAttribute{DataType: "String", StringValue: &s}
	}
	body := func(tp string) string { return `{"traceId":"t-1","orderId":"o-1","traceparent":"` + tp + `"}` }
	for _, tc := range []struct {
		name   string
		header string
		attrs  map[string]events.SQSMessageAttribute
		body   string
		want   string
	}{
		{"header", header, nil, `{"traceId":"t-1"}`, fromHead},
		{"header beats both traceparents", header, map[string]events.SQSMessageAttribute{"traceparent": str(tpAttr)}, body(tpBody), fromHead},
		{"attribute beats body", "", map[string]events.SQSMessageAttribute{"traceparent": str(tpAttr)}, body(tpBody), fromAttr},
		{"attribute name in any case", "", map[string]events.SQSMessageAttribute{"Traceparent": str(tpAttr)}, `{}`, fromAttr},
		{"body", "", nil, body(tpBody), fromBody},
		{"malformed header: body", "Root=1-nope;Sampled=1", nil, body(tpBody), fromBody},
		{"invalid attribute: body", "", map[string]events.SQSMessageAttribute{"traceparent": str("ff-" + tpAttr[3:])}, body(tpBody), fromBody},
		{"binary attribute ignored", "", map[string]events.SQSMessageAttribute{"traceparent": {DataType: "Binary", BinaryValue: []byte(tpAttr)}}, `{}`, ""},
		{"all-zero trace-id", "", nil, body("00-00000000000000000000000000000000-b7ad6b7169203331-01"), ""},
		{"body not JSON", "", nil, "traceparent: " + tpBody, ""},
	} {
		rec := events.SQSMessage{MessageId: "m", Body: tc.body, Attributes: map[string]string{}, MessageAttributes: tc.attrs}
		if tc.header != "" {
			rec.Attributes["AWSTraceHeader"] = tc.header
		}
		ids, _, _ := trace.FromRecord(rec)
		if ids.XRayTraceID != tc.want {
			t.Errorf("%s: XRayTraceID = %q, want %q", tc.name, ids.XRayTraceID, tc.want)
		}
	}
	// Two spellings: the exact name wins, whatever the map's order.
	rec := events.SQSMessage{MessageId: "m", Body: `{}`, MessageAttributes: map[string]events.SQSMessageAttribute{
		"TRACEPARENT": str(tpBody), "traceparent": str(tpAttr), "TraceParent": str(tpBody)}}
	for range 20 {
		if ids, _, _ := trace.FromRecord(rec); ids.XRayTraceID != fromAttr {
			t.Fatalf("two spellings: XRayTraceID = %q, want the exact name's %q", ids.XRayTraceID, fromAttr)
		}
	}
}

func TestPublishCarriesIDsThatPeekFinds(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "pub"), nil)
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-pub", OrderID: "o-pub", SagaID: "saga-o-pub"})
	p := &trace.Publisher{API: c}
	if _, err := p.Publish(ctx, q.URL, "PaymentRequested", map[string]int{"amount": 4999}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, out)
	}
	m := queue.FromSQS(out.Messages[0])
	if m.TraceID != "t-pub" || m.OrderID != "o-pub" || m.Attributes["sagaId"].String != "saga-o-pub" {
		t.Errorf("message = %+v", m)
	}
	var env trace.Envelope
	if err := json.Unmarshal([]byte(m.Body), &env); err != nil || env.TraceID != "t-pub" || env.Type != "PaymentRequested" || env.Attempt != 1 || string(env.Payload) != `{"amount":4999}` {
		t.Errorf("envelope = %+v (%v)", env, err)
	}
	if _, ok := out.Messages[0].Attributes["AWSTraceHeader"]; ok || m.XRayTraceID != "" || strings.Contains(m.Body, "traceparent") {
		t.Errorf("an event without an X-Ray trace got one: %v", out.Messages[0].Attributes)
	}
}

// An event published in the context of an X-Ray traced record carries the
// trace in its AWSTraceHeader: peek reads it, and the next step's record
// has the same X-Ray trace ID, so its log lines join the same trace.
func TestPublishCarriesTheXRayTrace(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "pubxray"), nil)
	const xrayID = "1-5759e988-bd862e3fe1be46a994272793"
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-x", OrderID: "o-x", XRayTraceID: xrayID})
	if _, err := (&trace.Publisher{API: c}).Publish(ctx, q.URL, "PaymentRequested", map[string]int{"amount": 1}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v %v", err, out)
	}
	raw := out.Messages[0]
	if h := raw.Attributes["AWSTraceHeader"]; h != "Root="+xrayID {
		t.Errorf("AWSTraceHeader = %q, want Root=%s", h, xrayID)
	}
	if m := queue.FromSQS(raw); m.XRayTraceID != xrayID || m.TraceID != "t-x" {
		t.Errorf("peek sees trace %q, X-Ray %q", m.TraceID, m.XRayTraceID)
	}
	rec := events.SQSMessage{MessageId: aws.ToString(raw.MessageId), Body: aws.ToString(raw.Body), Attributes: raw.Attributes}
	if ids, _, _ := trace.FromRecord(rec); ids.XRayTraceID != xrayID || ids.TraceID != "t-x" {
		t.Errorf("next step's IDs = %+v", ids)
	}
}
