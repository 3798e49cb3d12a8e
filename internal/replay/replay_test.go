package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type pair struct {
	c        *sqs.Client
	dlq, src queue.Queue
}

func newPair(t *testing.T, fifo bool, srcAttrs map[string]string) pair {
	t.Helper()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "rp")
	suffix, attrs := "", map[string]string{}
	if fifo {
		suffix, attrs = ".fifo", map[string]string{"FifoQueue": "true"}
	}
	d := testenv.CreateQueue(t, c, p+"-dlq"+suffix, attrs)
	s := testenv.CreateQueue(t, c, p+"-src"+suffix, testenv.With(attrs, srcAttrs, testenv.Redrive(d.ARN, 3)))
	read := func(u string) queue.Queue {
		q, err := queue.Attributes(context.Background(), c, u)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	return pair{c: c, dlq: read(d.URL), src: read(s.URL)}
}

func (p *pair) refresh(t *testing.T) {
	t.Helper()
	q, err := queue.Attributes(context.Background(), p.c, p.dlq.URL)
	if err != nil {
		t.Fatal(err)
	}
	p.dlq = q
}

func marker(t *testing.T, m types.Message) replay.Marker {
	t.Helper()
	var mk replay.Marker
	a, ok := m.MessageAttributes[replay.MarkerAttribute]
	if !ok || json.Unmarshal([]byte(aws.ToString(a.StringValue)), &mk) != nil {
		t.Fatalf("message %s has no marker", aws.ToString(m.MessageId))
	}
	return mk
}

func run(t *testing.T, cfg replay.Config) replay.Report {
	t.Helper()
	r, err := replay.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplayFidelityOrderAndMarker(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	ctx := context.Background()
	bin := []byte{0x00, 0xff, 0x1b, 0x80, 'z'}
	for i := 0; i < 12; i++ {
		_, err := p.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.dlq.URL),
			MessageBody: aws.String(fmt.Sprintf("{\"seq\":%d,\"note\":\"tab\\t \u00e9 \\u001b\"}  ", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"traceId":   {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("t-%d", i))},
				"amount":    {DataType: aws.String("Number"), StringValue: aws.String("49.99")},
				"count":     {DataType: aws.String("Number.int"), StringValue: aws.String(strconv.Itoa(i))},
				"id":        {DataType: aws.String("String.uuid"), StringValue: aws.String("6f1c2b8e-0000-4000-8000-00000000000" + strconv.Itoa(i%10))},
				"signature": {DataType: aws.String("Binary"), BinaryValue: bin},
				"blob":      {DataType: aws.String("Binary.gzip"), BinaryValue: []byte{1, 2, 3}},
			},
			MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("Root=1-5759e988-bd862e3fe1be46a99427%04d", i))},
			}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond) // distinct SentTimestamps
	}
	originals := drainKeep(t, p.c, p.dlq.URL)
	p.refresh(t)
	// moto's SendMessageBatch drops MessageSystemAttributes (a moto gap), so
	// the AWSTraceHeader is checked on the requests replay makes.
	var mu sync.Mutex
	traceHeaders := map[string]string{}
	capture := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("captureBatch", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if b, ok := in.Parameters.(*sqs.SendMessageBatchInput); ok {
				mu.Lock()
				for _, e := range b.Entries {
					traceHeaders[aws.ToString(e.MessageBody)] = aws.ToString(e.MessageSystemAttributes["AWSTraceHeader"].StringValue)
				}
				mu.Unlock()
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	}
	api := sqs.NewFromConfig(testenv.Config(t, "", capture))
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderSent})
	if r.Matched != 12 || r.Sent != 12 || r.Deleted != 12 || r.Failed != 0 || r.LeftBehind() {
		t.Fatalf("report = %+v", r)
	}
	got := testenv.Drain(t, p.c, p.src.URL)
	if len(got) != 12 {
		t.Fatalf("%d messages in the source, want 12", len(got))
	}
	if left := testenv.Drain(t, p.c, p.dlq.URL); len(left) != 0 {
		t.Fatalf("%d messages left in the DLQ", len(left))
	}
	var sent []string
	for _, m := range got {
		mk := marker(t, m)
		o, ok := originals[mk.OriginalMessageID]
		if !ok {
			t.Fatalf("marker names unknown message %s", mk.OriginalMessageID)
		}
		if aws.ToString(m.Body) != aws.ToString(o.Body) {
			t.Errorf("body changed: %q → %q", aws.ToString(o.Body), aws.ToString(m.Body))
		}
		for name, a := range o.MessageAttributes {
			b := m.MessageAttributes[name]
			if aws.ToString(a.DataType) != aws.ToString(b.DataType) || aws.ToString(a.StringValue) != aws.ToString(b.StringValue) || !bytes.Equal(a.BinaryValue, b.BinaryValue) {
				t.Errorf("attribute %s changed: %+v → %+v", name, a, b)
			}
		}
		if th := o.Attributes["AWSTraceHeader"]; th == "" || traceHeaders[aws.ToString(o.Body)] != th {
			t.Errorf("AWSTraceHeader %q sent as %q", th, traceHeaders[aws.ToString(o.Body)])
		}
		if mk.Count != 1 || mk.DLQ != p.dlq.Name || mk.OriginalSentAt == "" {
			t.Errorf("marker = %+v", mk)
		}
		sent = append(sent, mk.OriginalSentAt)
	}
	if !sort.StringsAreSorted(sent) {
		t.Errorf("not replayed in SentTimestamp order: %v", sent)
	}
}

// drainKeep reads every message of a queue by ID and leaves them there.
func drainKeep(t *testing.T, c *sqs.Client, url string) map[string]types.Message {
	t.Helper()
	out := map[string]types.Message{}
	var handles []string
	for empty := 0; empty < 2; {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range r.Messages {
			out[aws.ToString(m.MessageId)] = m
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
	}
	if _, err := queue.Release(context.Background(), c, url, handles); err != nil {
		t.Fatal(err)
	}
	return out
}

func sendN(t *testing.T, c *sqs.Client, url string, n int, body func(int) string) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body(i))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplayFilterDryRunAndOversize(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, map[string]string{"MaximumMessageSize": "1024"})
	sendN(t, p.c, p.dlq.URL, 6, func(i int) string {
		return fmt.Sprintf(`{"orderId":"o-%d","tier":"%s"}`, i, map[bool]string{true: "gold", false: "silver"}[i%2 == 0])
	})
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"o-big","tier":"gold","pad":"` + strings.Repeat("x", 2000) + `"}` })
	p.refresh(t)
	flt, err := filter.New(filter.Options{Where: []string{"tier=gold"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// Dry run: the plan, and nothing moves.
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, DryRun: true})
	if r.Matched != 4 || r.Sent != 0 || r.Plan == nil || len(r.Plan.Warnings) != 1 {
		t.Fatalf("dry run = %+v plan %+v", r, r.Plan)
	}
	if n := len(drainKeep(t, p.c, p.dlq.URL)); n != 7 {
		t.Fatalf("dry run changed the DLQ: %d messages", n)
	}

	r = run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Filter: flt, Order: replay.OrderNone})
	if r.Sent != 3 || r.Deleted != 3 || r.Failed != 1 || !r.LeftBehind() || len(r.Failures) != 1 || !strings.Contains(r.Failures[0].Error, "maximum message size") {
		t.Fatalf("report = %+v", r)
	}
	left := testenv.Drain(t, p.c, p.dlq.URL)
	var leftOrders []string
	for _, m := range left {
		var b struct{ OrderID string }
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &b)
		leftOrders = append(leftOrders, b.OrderID)
	}
	sort.Strings(leftOrders)
	if fmt.Sprint(leftOrders) != "[o-1 o-3 o-5 o-big]" {
		t.Errorf("left in the DLQ: %v, want the silver orders and the oversize one", leftOrders)
	}
	if got := testenv.Drain(t, p.c, p.src.URL); len(got) != 3 {
		t.Errorf("%d in the source, want 3", len(got))
	}
}

func TestReplayFIFOKeepsGroupOrder(t *testing.T) {
	t.Parallel()
	p := newPair(t, true, nil)
	for i := 0; i < 6; i++ {
		g := fmt.Sprintf("g-%d", i%2)
		_, err := p.c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(p.dlq.URL),
			MessageBody: aws.String(fmt.Sprintf(`{"group":%q,"seq":%d}`, g, i)), MessageGroupId: aws.String(g), MessageDeduplicationId: aws.String(fmt.Sprint("d", i))})
		if err != nil {
			t.Fatal(err)
		}
	}
	p.refresh(t)
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Order: replay.OrderSent})
	if r.Failed != 0 || r.Sent == 0 {
		t.Fatalf("report = %+v", r)
	}
	got := testenv.Drain(t, p.c, p.src.URL)
	last := map[string]int{}
	for _, m := range got {
		var b struct {
			Group string
			Seq   int
		}
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &b)
		if m.Attributes["MessageGroupId"] != b.Group {
			t.Errorf("group %q → %q", b.Group, m.Attributes["MessageGroupId"])
		}
		if prev, ok := last[b.Group]; ok && b.Seq < prev {
			t.Errorf("group %s out of order: %d after %d", b.Group, b.Seq, prev)
		}
		last[b.Group] = b.Seq
	}
	if len(got) != r.Sent {
		t.Errorf("%d in the source, report says %d sent", len(got), r.Sent)
	}
}

func TestReplayResumeDeletesWhatWasSent(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	p.refresh(t)
	// A previous run sent two messages and crashed before deleting them.
	all := drainKeep(t, p.c, p.dlq.URL)
	var ids []string
	for id := range all {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	j, err := journal.OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	if err := j.Record(context.Background(), ids[:2], journal.Sending); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(context.Background(), ids[:2], journal.Sent); err != nil {
		t.Fatal(err)
	}
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Journal: j})
	if r.Skipped != 2 || r.Sent != 3 || r.Deleted != 5 || r.LeftBehind() {
		t.Fatalf("report = %+v", r)
	}
	if n := len(testenv.Drain(t, p.c, p.src.URL)); n != 3 {
		t.Errorf("%d sent to the source, want only the 3 not sent before", n)
	}
	if n := len(testenv.Drain(t, p.c, p.dlq.URL)); n != 0 {
		t.Errorf("%d left in the DLQ", n)
	}
	states, _ := j.Load()
	for _, id := range ids {
		if states[id] != journal.Deleted {
			t.Errorf("journal %s = %s, want deleted", id, states[id])
		}
	}
}

func TestReplayStopsOnReturnStorm(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	sendN(t, p.c, p.dlq.URL, 100, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	p.refresh(t)
	// The "fixed" consumer still fails: every replayed message goes straight
	// back to the DLQ, marker and all.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			out, err := p.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.src.URL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
			if err != nil {
				continue
			}
			for _, m := range out.Messages {
				_, _ = p.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.dlq.URL), MessageBody: m.Body, MessageAttributes: m.MessageAttributes})
				_, _ = p.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(p.src.URL), ReceiptHandle: m.ReceiptHandle})
			}
		}
	}()
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Rate: 10, StopOnReturn: 5})
	cancel()
	if r.Stopped != replay.StopStorm || !strings.Contains(r.NextStep, "came back to the DLQ") || r.Remaining == 0 || r.Deleted >= 100 || !r.LeftBehind() {
		t.Fatalf("report = %+v, want a run stopped by returning messages", r)
	}
}
