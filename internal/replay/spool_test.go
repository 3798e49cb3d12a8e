package replay

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// A spooled message keeps in memory only what ordering, routing and
// deleting need, and reads back byte-exact: body, every attribute (binary
// included) and the system attributes.
func TestSpoolKeepsBodiesOnDiskAndReadsThemBackExactly(t *testing.T) {
	t.Parallel()
	s, err := openSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.close() }()
	body := `{"orderId":"o-1","note":"<&> é \u2028 ` + strings.Repeat("x", 3000) + `"}`
	m := queue.Message{MessageID: "id-1", ReceiptHandle: "rh-1", Body: body, SentAt: time.UnixMilli(1700000000123).UTC(),
		GroupID: "g", OrderID: "o-1", TraceID: "t-1",
		Attributes: map[string]queue.Attribute{"bin": {Type: "Binary", Binary: []byte{0, 1, 2, 255}}, "s": {Type: "String.custom", String: "v"}},
		System:     map[string]string{"AWSTraceHeader": "Root=1-abc", SourceARNAttribute: "arn:aws:sqs:us-east-1:1:src", "ApproximateReceiveCount": "4"}}
	wantSize := messageSize(m)
	orig := m
	orig.Attributes = map[string]queue.Attribute{"bin": m.Attributes["bin"], "s": m.Attributes["s"]}
	orig.System = map[string]string{"AWSTraceHeader": "Root=1-abc", SourceARNAttribute: "arn:aws:sqs:us-east-1:1:src", "ApproximateReceiveCount": "4"}
	if err := s.keep(&m); err != nil {
		t.Fatal(err)
	}
	if m.Body != "" || m.Attributes != nil || len(m.System) != 1 || m.System[SourceARNAttribute] == "" || m.OrderID != "o-1" || m.ReceiptHandle != "rh-1" {
		t.Fatalf("in memory after keep: %+v", m)
	}
	if size, n := s.sizes(&m); size != wantSize || n != len(body) {
		t.Errorf("sizes = %d, %d; want %d, %d", size, n, wantSize, len(body))
	}
	full, err := s.load(&m)
	if err != nil {
		t.Fatal(err)
	}
	if full.Body != orig.Body || !bytes.Equal(full.Attributes["bin"].Binary, orig.Attributes["bin"].Binary) ||
		full.Attributes["s"].String != "v" || full.Attributes["s"].Type != "String.custom" || full.System["AWSTraceHeader"] != "Root=1-abc" || full.ReceiptHandle != "rh-1" {
		t.Fatalf("read back %+v, want %+v", full, orig)
	}
	// A message that was never spooled comes back as it is.
	other := queue.Message{MessageID: "id-2", Body: "b"}
	if got, err := s.load(&other); err != nil || got.Body != "b" {
		t.Fatalf("load of an unspooled message: %+v %v", got, err)
	}
}

// Messages dead-lettered from the same source share one read-only map of
// what stays in memory; a FIFO message's deduplication ID stays its own.
func TestSpoolSharesTheSourceOfHeldMessages(t *testing.T) {
	t.Parallel()
	s, err := openSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.close() }()
	src := "arn:aws:sqs:us-east-1:1:orders"
	msgs := []queue.Message{
		{MessageID: "a", Body: "1", System: map[string]string{SourceARNAttribute: src, "SentTimestamp": "1"}},
		{MessageID: "b", Body: "2", System: map[string]string{SourceARNAttribute: src}},
		{MessageID: "c", Body: "3", System: map[string]string{SourceARNAttribute: src, "MessageDeduplicationId": "d-3"}},
		{MessageID: "d", Body: "4", System: map[string]string{"SentTimestamp": "1"}},
	}
	for i := range msgs {
		if err := s.keep(&msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprintf("%p", msgs[0].System) != fmt.Sprintf("%p", msgs[1].System) || msgs[0].System[SourceARNAttribute] != src || len(msgs[0].System) != 1 {
		t.Errorf("same source, not one shared map: %p %v, %p %v", msgs[0].System, msgs[0].System, msgs[1].System, msgs[1].System)
	}
	if msgs[2].System["MessageDeduplicationId"] != "d-3" || msgs[2].System[SourceARNAttribute] != src {
		t.Errorf("FIFO message kept %v", msgs[2].System)
	}
	if msgs[3].System != nil {
		t.Errorf("nothing to keep, yet a map: %v", msgs[3].System)
	}
}
