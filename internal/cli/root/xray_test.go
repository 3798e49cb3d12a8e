package root

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

const (
	xrayA = "1-5759e988-bd862e3fe1be46a994272793"
	// xrayB differs from xrayA in its last digit: a lookalike.
	xrayB = "1-5759e988-bd862e3fe1be46a994272794"
)

// sendTraced sends body with an X-Ray trace header in the message's
// AWSTraceHeader system attribute, as an X-Ray instrumented producer does
// (none when header is empty), and message attributes.
func sendTraced(t *testing.T, c *sqs.Client, url, body, header string, attrs map[string]types.MessageAttributeValue) {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageAttributes: attrs}
	if header != "" {
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(header)},
		}
	}
	if _, err := c.SendMessage(context.Background(), in); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// receiveAll receives n messages as Lambda's event source mapping does
// (every system and message attribute) and turns them into the records
// of one SQS event.
func receiveAll(t *testing.T, c *sqs.Client, q testenv.Queue, n int) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for deadline := time.Now().Add(30 * time.Second); len(ev.Records) < n && time.Now().Before(deadline); {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			rec := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{}, EventSource: "aws:sqs", EventSourceARN: q.ARN}
			for k, v := range m.MessageAttributes {
				rec.MessageAttributes[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
			}
			ev.Records = append(ev.Records, rec)
		}
	}
	if len(ev.Records) != n {
		t.Fatalf("received %d messages, want %d", len(ev.Records), n)
	}
	return ev
}

// shipLines puts the JSON log lines in buf into group, each at its own
// "time", as Lambda's runtime ships a function's stdout.
func shipLines(t *testing.T, c *cwl.Client, group string, buf *bytes.Buffer) int {
	t.Helper()
	var lines []logLine
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Time.IsZero() {
			t.Fatalf("log line without time: %q (%v)", l, err)
		}
		lines = append(lines, logLine{group, rec.Time, l})
	}
	putLogs(t, c, lines)
	return len(lines)
}

type xrayTimelineJSON struct {
	TraceID     string `json:"traceId"`
	OrderID     string `json:"orderId"`
	XRayTraceID string `json:"xrayTraceId"`
	Events      []struct {
		TraceID string `json:"traceId"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Error   string `json:"error"`
	} `json:"events"`
}

// The X-Ray link end to end: messages that reach SQS with an
// AWSTraceHeader are received and handled by an sqsbatch handler whose
// lines go to CloudWatch Logs; `dlq timeline <X-Ray ID>` then shows the
// lines of every record of that X-Ray trace (two of the pipeline's traces,
// the failure included) and none of another X-Ray trace, a lookalike, or a
// record without one. The ID works bare, as a pasted header, and through
// --xray-trace-id; a pipeline trace's timeline names its X-Ray trace.
func TestTimelineByXRayTraceEndToEnd(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "xray"), nil)
	group := "/aws/lambda/" + testenv.Name(t, "xray-payments")
	sendTraced(t, c, q.URL, `{"traceId":"t-a","orderId":"o-a","type":"PaymentRequested","attempt":1}`, "Root="+xrayA+";Parent=53995c3f42cd8ad8;Sampled=1", nil)
	sendTraced(t, c, q.URL, `{"traceId":"t-d","orderId":"o-d","type":"PaymentRequested","attempt":1}`, "Sampled=1;Parent=0e4736a3ce929d0e;Root="+xrayA, nil)
	sendTraced(t, c, q.URL, `{"traceId":"t-b","orderId":"o-b","type":"PaymentRequested","attempt":1}`, "Root="+xrayB+";Sampled=1", nil)
	sendTraced(t, c, q.URL, `{"traceId":"t-c","orderId":"o-c","type":"PaymentRequested","attempt":1}`, "", nil)
	ev := receiveAll(t, c, q, 4)

	var buf bytes.Buffer
	log := trace.NewLogger(&buf, slog.LevelInfo)
	handle := sqsbatch.New(func(ctx context.Context, _ events.SQSMessage, env trace.Envelope) error {
		ctx = trace.Update(ctx, func(ids *trace.IDs) { ids.Step = "charge" })
		log.InfoContext(ctx, "charging "+env.OrderID, "status", "started")
		if env.OrderID == "o-d" {
			return errors.New("card declined")
		}
		log.InfoContext(ctx, "charged "+env.OrderID, "status", "success")
		return nil
	}, sqsbatch.Options{Logger: log})
	resp, err := handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("batch: %+v, %v", resp, err)
	}
	if n := shipLines(t, logs, group, &buf); n != 8 {
		t.Fatalf("%d log lines shipped, want 8:\n%s", n, buf.String())
	}

	// The lines were written just now; Logs Insights counts whole
	// seconds, so the window reaches past now rather than end in the
	// second they were written in.
	now := time.Now().UTC()
	window := " --start " + now.Add(-time.Hour).Format(time.RFC3339) + " --end " + now.Add(time.Hour).Format(time.RFC3339)
	r := dlq(t, "", "timeline "+xrayA+" --log-group "+group+window+" -o json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var tl xrayTimelineJSON
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var got []string
	for _, e := range tl.Events {
		got = append(got, e.TraceID+"/"+e.Status+"/"+e.Message+"/"+e.Error)
	}
	sort.Strings(got)
	want := []string{"t-a/started/charging o-a/", "t-a/success/charged o-a/", "t-d/error/record failed/card declined", "t-d/started/charging o-d/"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %q\nwant     %q", got, want)
	}
	if tl.XRayTraceID != xrayA || (tl.TraceID != "t-a" && tl.TraceID != "t-d") {
		t.Errorf("timeline = %+v", tl)
	}
	if !strings.Contains(r.stderr, "4 events in 1 timeline from 1 log group") {
		t.Errorf("summary = %q", r.stderr)
	}

	// The same lookup, by a pasted header and by flag.
	for _, alt := range []string{
		"timeline Root=" + xrayA + ";Parent=53995c3f42cd8ad8;Sampled=1 --log-group " + group + window + " -o json",
		"timeline --xray-trace-id " + xrayA + " --log-group " + group + window + " -o json",
		"timeline --xray-trace-id Sampled=1;Root=" + xrayA + " --log-group " + group + window + " -o json",
	} {
		if a := dlq(t, "", alt); a.code != 0 || a.stdout != r.stdout {
			t.Errorf("%s: exit %d %s\n%s", alt, a.code, a.stderr, a.stdout)
		}
	}

	// The lookalike's own trace finds only its own lines.
	r = dlq(t, "", "timeline "+xrayB+" --log-group "+group+window+" -o json")
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || r.code != 0 {
		t.Fatalf("lookalike: exit %d %v\n%s", r.code, err, r.stderr)
	}
	if len(tl.Events) != 2 || tl.TraceID != "t-b" || tl.XRayTraceID != xrayB {
		t.Errorf("lookalike's timeline = %+v", tl)
	}

	// Piped: one line per event, each led by its own pipeline trace.
	r = dlq(t, "", "timeline "+xrayA+" --log-group "+group+window)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var traces []string
	for _, l := range lines {
		traces = append(traces, strings.SplitN(l, "\t", 2)[0])
	}
	sort.Strings(traces)
	if r.code != 0 || fmt.Sprint(traces) != "[t-a t-a t-d t-d]" {
		t.Errorf("piped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A pipeline trace's timeline names the X-Ray trace it belongs to; a
	// trace without one says "".
	r = dlq(t, "", "timeline t-a --log-group "+group+window+" -o json")
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || r.code != 0 || tl.XRayTraceID != xrayA || len(tl.Events) != 2 {
		t.Errorf("t-a: exit %d %v %+v", r.code, err, tl)
	}
	r = dlq(t, "", "timeline t-c --log-group "+group+window+" -o json")
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || r.code != 0 || tl.XRayTraceID != "" || len(tl.Events) != 2 ||
		!strings.Contains(r.stdout, `"xrayTraceId": ""`) {
		t.Errorf("t-c: exit %d %v %+v", r.code, err, tl)
	}

	// An X-Ray trace nobody logged: said so, exit 0.
	r = dlq(t, "", "timeline 1-5759e988-000000000000000000000001 --log-group "+group+window)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no log lines found for X-Ray trace 1-5759e988-000000000000000000000001") {
		t.Errorf("unknown X-Ray trace: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// dlqTTY runs one invocation with stdout on a terminal cols wide.
func dlqTTY(t *testing.T, cols int, args string) result {
	t.Helper()
	ios, _, out, errOut := render.Test()
	ios.SetStdoutTTY(true)
	ios.SetTerminalWidth(cols)
	argv := append([]string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region}, strings.Fields(args)...)
	dir := t.TempDir()
	env := func(k string) (string, bool) {
		if k == "XDG_CONFIG_HOME" || k == "XDG_STATE_HOME" {
			return dir, true
		}
		return "", false
	}
	code := Run(context.Background(), ios, env, argv, BuildInfo{Version: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// Peek shows the X-Ray trace of each message, from its AWSTraceHeader or
// a traceparent: in JSON as xrayTraceId, in piped lines as the last field,
// on a terminal as a column wide terminals have room for and narrow ones
// drop first, and in --body's header line.
func TestPeekShowsTheXRayTrace(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "peekxray"), nil)
	sendTraced(t, c, q.URL, `{"traceId":"t-a","orderId":"o-a"}`, "Root="+xrayA+";Parent=53995c3f42cd8ad8;Sampled=1", nil)
	sendTraced(t, c, q.URL, `{"traceId":"t-p","orderId":"o-p"}`, "", map[string]types.MessageAttributeValue{
		"traceparent": strAttr("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")})
	sendTraced(t, c, q.URL, `{"traceId":"t-c","orderId":"o-c"}`, "", nil)

	r := dlq(t, "", "peek "+q.Name+" -o json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var msgs []struct {
		OrderID          string            `json:"orderId"`
		XRayTraceID      *string           `json:"xrayTraceId"`
		SystemAttributes map[string]string `json:"systemAttributes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &msgs); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	want := map[string]string{"o-a": xrayA, "o-p": "1-4bf92f35-77b34da6a3ce929d0e0e4736", "o-c": ""}
	for _, m := range msgs {
		if m.XRayTraceID == nil {
			t.Errorf("%s: no xrayTraceId", m.OrderID)
		} else if *m.XRayTraceID != want[m.OrderID] {
			t.Errorf("%s: xrayTraceId = %q, want %q", m.OrderID, *m.XRayTraceID, want[m.OrderID])
		}
		if m.OrderID == "o-a" && m.SystemAttributes["AWSTraceHeader"] != "Root="+xrayA+";Parent=53995c3f42cd8ad8;Sampled=1" {
			t.Errorf("systemAttributes = %v", m.SystemAttributes)
		}
	}
	if len(msgs) != 3 {
		t.Errorf("%d messages, want 3", len(msgs))
	}

	r = dlq(t, "", "peek "+q.Name)
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 8 || f[7] != want[f[4]] {
			t.Errorf("piped line %q: want 8 fields, the X-Ray trace of %s last", line, f[4])
		}
	}

	wide := dlqTTY(t, 200, "peek "+q.Name)
	head := strings.SplitN(wide.stdout, "\n", 2)[0]
	if wide.code != 0 || !strings.Contains(head, "X-RAY TRACE ID") || !strings.Contains(wide.stdout, xrayA) || !strings.Contains(wide.stdout, "1-4bf92f35-77b34da6a3ce929d0e0e4736") {
		t.Errorf("wide terminal: exit %d\n%s%s", wide.code, wide.stdout, wide.stderr)
	}
	// Narrower than every column: the X-Ray trace ID gives way first; the
	// pipeline's trace ID and the body stay.
	narrow := dlqTTY(t, 120, "peek "+q.Name)
	head = strings.SplitN(narrow.stdout, "\n", 2)[0]
	if narrow.code != 0 || strings.Contains(head, "X-RAY") || strings.Contains(narrow.stdout, xrayA) || !strings.Contains(head, "TRACE ID") || !strings.Contains(head, "BODY") {
		t.Errorf("narrow terminal: exit %d\n%s%s", narrow.code, narrow.stdout, narrow.stderr)
	}
	// --body names it in each message's header line.
	body := dlq(t, "", "peek "+q.Name+" --order-id o-a --body")
	if body.code != 0 || !strings.Contains(body.stdout, "  trace t-a  xray "+xrayA+"  order o-a") {
		t.Errorf("--body: exit %d\n%s%s", body.code, body.stdout, body.stderr)
	}
	assertUntouched(t, c, q.URL, 3)
}
