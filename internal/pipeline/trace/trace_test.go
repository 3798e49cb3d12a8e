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
	ids, _, fresh = trace.FromRecord(events.SQSMessage{MessageId: "m", Body: "not json", Attributes: map[string]string{"ApproximateReceiveCount": "4"}})
	if ids.TraceID == "" || !fresh || ids.Attempt != 4 {
		t.Errorf("record without trace: %+v fresh %v", ids, fresh)
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
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MessageAttributeNames: []string{"All"}})
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
}
