package sqsbatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dlqops/dlq/internal/pipeline/trace"
)

func rec(id, group, body string) events.SQSMessage {
	r := events.SQSMessage{MessageId: id, Body: body, Attributes: map[string]string{}}
	if group != "" {
		r.Attributes["MessageGroupId"] = group
		r.EventSourceARN = "arn:aws:sqs:us-east-1:1:orders.fifo"
	}
	return r
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestPartialFailuresPanicsAndTrace(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	seen := map[string]string{}
	h := func(ctx context.Context, r events.SQSMessage, env trace.Envelope) error {
		mu.Lock()
		seen[r.MessageId] = trace.From(ctx).TraceID
		mu.Unlock()
		switch r.MessageId {
		case "bad":
			return errors.New("poison")
		case "panic":
			panic("nil map")
		}
		return nil
	}
	handle := New(h, Options{Logger: trace.NewLogger(&logs, slog.LevelInfo)})
	resp, err := handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		rec("ok-1", "", `{"traceId":"t-1","orderId":"o-1","type":"OrderPlaced"}`),
		rec("bad", "", `{"traceId":"t-2","orderId":"o-2"}`),
		rec("panic", "", `{"traceId":"t-3"}`),
		rec("no-trace", "", `not json`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(failures(resp)); got != "[bad panic]" {
		t.Errorf("failures = %s", got)
	}
	if seen["ok-1"] != "t-1" || seen["bad"] != "t-2" || seen["no-trace"] == "" {
		t.Errorf("trace IDs per record = %v", seen)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["traceId"] == "" || m["traceId"] == nil {
			t.Errorf("log line without traceId: %s", line)
		}
	}
	if !strings.Contains(logs.String(), `"error":"nil map"`) || !strings.Contains(logs.String(), `"traceId":"t-3"`) {
		t.Errorf("panic not logged with its trace:\n%s", logs.String())
	}
}

func TestFIFOStopsAGroupAtItsFirstFailure(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ran []string
	h := func(ctx context.Context, r events.SQSMessage, _ trace.Envelope) error {
		mu.Lock()
		ran = append(ran, r.MessageId)
		mu.Unlock()
		if r.MessageId == "a2" {
			return errors.New("fail")
		}
		return nil
	}
	resp, err := New(h, Options{})(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		rec("a1", "A", "{}"), rec("b1", "B", "{}"), rec("a2", "A", "{}"), rec("b2", "B", "{}"), rec("a3", "A", "{}"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(failures(resp)); got != "[a2 a3]" {
		t.Errorf("failures = %s, want a2 and the rest of its group", got)
	}
	for _, id := range ran {
		if id == "a3" {
			t.Error("a3 ran after a2 failed: out of order")
		}
	}
	pos := map[string]int{}
	for i, id := range ran {
		pos[id] = i
	}
	if pos["a1"] > pos["a2"] || pos["b1"] > pos["b2"] {
		t.Errorf("group order broken: %v", ran)
	}
}

func TestDeadlineAndMissingID(t *testing.T) {
	t.Parallel()
	called := false
	h := func(context.Context, events.SQSMessage, trace.Envelope) error { called = true; return nil }
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
	defer cancel()
	resp, err := New(h, Options{DeadlineMargin: 2 * time.Second})(ctx, events.SQSEvent{Records: []events.SQSMessage{rec("late", "", "{}")}})
	if err != nil || called || fmt.Sprint(failures(resp)) != "[late]" {
		t.Errorf("near the deadline: called %v, failures %v, err %v", called, failures(resp), err)
	}
	if _, err := New(h, Options{})(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec("", "", "{}")}}); !errors.Is(err, ErrMissingMessageID) {
		t.Errorf("missing id: err = %v", err)
	}
	resp, err = New(h, Options{})(context.Background(), events.SQSEvent{})
	if err != nil || resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("empty batch: %+v %v", resp, err)
	}
}

// A record that came with an X-Ray trace logs its xrayTraceId on every
// line next to its traceId: the handler's own lines, the failure, the
// panic, the warning for a record without a traceId, and the record not
// started near the deadline. A record without one logs none, and no
// record's trace leaks into another's lines.
func TestEveryLineOfAnXRayTracedRecordCarriesItsTrace(t *testing.T) {
	t.Parallel()
	const (
		xrayOK    = "1-5759e988-bd862e3fe1be46a994272793"
		xrayBad   = "1-5759e989-000000000000000000000001"
		xrayPanic = "1-5759e98a-000000000000000000000002"
		xrayFresh = "1-5759e98b-000000000000000000000003"
		xrayLate  = "1-5759e98c-000000000000000000000004"
	)
	traced := func(id, body, header string) events.SQSMessage {
		r := rec(id, "", body)
		r.Attributes["AWSTraceHeader"] = header
		return r
	}
	var logs bytes.Buffer
	log := trace.NewLogger(&logs, slog.LevelInfo)
	h := func(ctx context.Context, r events.SQSMessage, _ trace.Envelope) error {
		log.InfoContext(ctx, "handling", "status", "started")
		switch r.MessageId {
		case "bad":
			log.WarnContext(ctx, "provider slow", "status", "retry")
			return errors.New("provider timeout")
		case "panic":
			panic("nil map")
		}
		log.InfoContext(ctx, "handled", "status", "success")
		return nil
	}
	resp, err := New(h, Options{Logger: log})(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		traced("ok", `{"traceId":"t-ok"}`, "Root="+xrayOK+";Parent=53995c3f42cd8ad8;Sampled=1"),
		traced("bad", `{"traceId":"t-bad"}`, "Sampled=1;Root="+xrayBad),
		traced("panic", `{"traceId":"t-panic"}`, "Parent=53995c3f42cd8ad8;Root="+xrayPanic),
		traced("fresh", `not json`, "Root="+xrayFresh),
		rec("plain", "", `{"traceId":"t-plain"}`),
	}})
	if err != nil || fmt.Sprint(failures(resp)) != "[bad panic]" {
		t.Fatalf("failures = %v, %v", failures(resp), err)
	}
	// The deadline path, in its own invocation.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
	defer cancel()
	if resp, err := New(h, Options{Logger: log, DeadlineMargin: time.Hour})(ctx, events.SQSEvent{Records: []events.SQSMessage{
		traced("late", `{"traceId":"t-late"}`, "Root="+xrayLate),
	}}); err != nil || fmt.Sprint(failures(resp)) != "[late]" {
		t.Fatalf("late: failures = %v, %v", failures(resp), err)
	}

	want := map[string]string{"ok": xrayOK, "bad": xrayBad, "panic": xrayPanic, "fresh": xrayFresh, "late": xrayLate, "plain": ""}
	msgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		id, _ := m["messageId"].(string)
		got, has := m["xrayTraceId"]
		if w := want[id]; w == "" && has || w != "" && got != w {
			t.Errorf("record %s: xrayTraceId %v, want %q: %s", id, got, w, line)
		}
		if tid, _ := m["traceId"].(string); tid == "" || has && !strings.Contains(line, fmt.Sprintf(`"traceId":%q,"xrayTraceId":%q`, tid, got)) {
			t.Errorf("no traceId, or xrayTraceId not next to it: %s", line)
		}
		msgs[id] = append(msgs[id], m["msg"].(string))
	}
	// Every path logged: so every path was checked above.
	for id, lines := range map[string]string{
		"ok":    "[handling handled]",
		"bad":   "[handling provider slow record failed]",
		"panic": "[handling record handler panicked]",
		"fresh": "[record carried no traceId: a new one was generated handling handled]",
		"late":  "[not started: too close to the invocation deadline]",
		"plain": "[handling handled]",
	} {
		if got := fmt.Sprint(msgs[id]); got != lines {
			t.Errorf("record %s logged %s, want %s", id, got, lines)
		}
	}
}
