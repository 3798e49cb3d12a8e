package root

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

type peekedMessage struct {
	MessageID    string `json:"messageId"`
	Queue        string `json:"queue"`
	SentAt       string `json:"sentAt"`
	ReceiveCount int    `json:"receiveCount"`
	TraceID      string `json:"traceId"`
	OrderID      string `json:"orderId"`
	GroupID      string `json:"groupId"`
	Body         string `json:"body"`
	Attributes   map[string]struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"attributes"`
	SystemAttributes map[string]string `json:"systemAttributes"`
	Error            *struct {
		Code, Message, RequestID string
	} `json:"error"`
}

func send(t *testing.T, c *sqs.Client, url, body string, attrs map[string]types.MessageAttributeValue) {
	t.Helper()
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageAttributes: attrs}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func strAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// depthAndIDs proves a peek left the queue as it was: the depth, nothing
// in flight, and every message receivable at once.
func assertUntouched(t *testing.T, c *sqs.Client, url string, want int) {
	t.Helper()
	ctx := context.Background()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if v, nv := out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]; v != fmt.Sprint(want) || nv != "0" {
		t.Fatalf("after peek: %s visible, %s in flight; want %d and 0", v, nv, want)
	}
}

func peekJSON(t *testing.T, args string) []peekedMessage {
	t.Helper()
	r := dlq(t, "", args+" -o json")
	if r.code != 0 {
		t.Fatalf("dlq %s: exit %d: %s", args, r.code, r.stderr)
	}
	var msgs []peekedMessage
	if err := json.Unmarshal([]byte(r.stdout), &msgs); err != nil {
		t.Fatalf("dlq %s: %v\n%s", args, err, r.stdout)
	}
	return msgs
}

func TestPeekFiltersAcrossEnvelopes(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "peek"), nil)
	send(t, c, q.URL, `{"traceId":"t-plain","orderId":"o-1","customer":{"tier":"gold"}}`, nil)
	send(t, c, q.URL, `{"Type":"Notification","MessageId":"sns-1","Message":"{\"traceId\":\"t-sns\",\"orderId\":\"o-2\",\"customer\":{\"tier\":\"gold\"}}"}`, nil)
	send(t, c, q.URL, `{"version":"0","detail-type":"OrderPlaced","source":"shop","detail":{"traceId":"t-eb","orderId":"o-3","customer":{"tier":"silver"}}}`, nil)
	send(t, c, q.URL, `binary-ish payload, not JSON`, map[string]types.MessageAttributeValue{"traceId": strAttr("t-attr"), "orderId": strAttr("o-4")})
	send(t, c, q.URL, `{"orderId":"o-5"}`, map[string]types.MessageAttributeValue{
		"ErrorCode": strAttr("500"), "ErrorMessage": strAttr("Task timed out after 30.00 seconds"), "RequestID": strAttr("req-5"),
		"blob": {DataType: aws.String("Binary"), BinaryValue: []byte{0xde, 0xad, 0xbe, 0xef}},
	})

	tests := []struct {
		filter string
		orders []string
	}{
		{"", []string{"o-1", "o-2", "o-3", "o-4", "o-5"}},
		{"--trace-id t-plain", []string{"o-1"}},
		{"--trace-id t-sns", []string{"o-2"}},
		{"--trace-id t-eb", []string{"o-3"}},
		{"--trace-id t-attr", []string{"o-4"}},
		{"--order-id o-3", []string{"o-3"}},
		{"--where customer.tier=gold", []string{"o-1", "o-2"}},
		{"--where attr.ErrorCode=500", []string{"o-5"}},
		{"--error-code 500", []string{"o-5"}},
		{`--jq .body|test("not.JSON")`, []string{"o-4"}},
		{"--min-receives 50", nil},
		{`--jq .queue=="` + q.Name + `"and.orderId=="o-2"`, []string{"o-2"}},
	}
	for _, tt := range tests {
		msgs := peekJSON(t, "peek "+q.Name+" "+tt.filter)
		var got []string
		for _, m := range msgs {
			got = append(got, m.OrderID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.orders) {
			t.Errorf("peek %s: orders %v, want %v", tt.filter, got, tt.orders)
		}
		assertUntouched(t, c, q.URL, 5)
	}

	m := peekJSON(t, "peek "+q.URL+" --order-id o-5")[0]
	if m.Error == nil || m.Error.Code != "500" || m.Error.RequestID != "req-5" || m.Attributes["blob"].Value != "3q2+7w==" || m.Attributes["blob"].Type != "Binary" {
		t.Errorf("lambda DLQ message = %+v", m)
	}
	if m.Queue != q.Name || m.SentAt == "" || m.ReceiveCount < 1 || m.SystemAttributes["SentTimestamp"] == "" {
		t.Errorf("message fields = %+v", m)
	}
}

func TestPeekUntrustedAndHugeBodies(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "huge"), nil)
	evil := "{\"orderId\":\"o-evil\",\"note\":\"\\u001b]52;c;cHduZWQ=\\u0007\\u001b[2J\"}"
	rawEvil := "plain \x1b[31mred\x1b[0m and \u202eevil\x07 order"
	send(t, c, q.URL, evil, nil)
	send(t, c, q.URL, rawEvil, map[string]types.MessageAttributeValue{"orderId": strAttr("o-raw\x1b[1m")})
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameMaximumMessageSize}})
	if err != nil {
		t.Fatal(err)
	}
	maxSize, err := strconv.Atoi(out.Attributes["MaximumMessageSize"])
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"orderId":"o-huge","pad":"` + strings.Repeat("x", maxSize-40) + `"}`
	send(t, c, q.URL, huge, nil)

	for _, args := range []string{"peek " + q.Name, "peek " + q.Name + " --body"} {
		for _, tty := range []bool{false, true} {
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(tty)
			argv := append([]string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region}, strings.Fields(args)...)
			if code := Run(context.Background(), ios, emulatorEnv, argv, BuildInfo{}); code != 0 {
				t.Fatalf("%s: exit %d: %s", args, code, stderr.String())
			}
			o := stdout.String()
			if strings.ContainsAny(o, "\x1b\x07\u202e") {
				t.Errorf("%s (tty %v): raw control characters reached the output: %q", args, tty, o[:min(len(o), 300)])
			}
			// A terminal table truncates the body preview; elsewhere all of it shows.
			previewOnly := tty && !strings.Contains(args, "--body")
			if !strings.Contains(o, `\x1b[31mred`) || (!previewOnly && !strings.Contains(o, `\u202eevil`)) {
				t.Errorf("%s (tty %v): escapes not shown visibly", args, tty)
			}
			if !tty && !strings.Contains(args, "--body") && !strings.Contains(o, strings.Repeat("x", maxSize-40)) {
				t.Errorf("piped table cut the huge body")
			}
		}
	}
	msgs := peekJSON(t, "peek "+q.Name)
	bodies := map[string]string{}
	for _, m := range msgs {
		bodies[m.OrderID] = m.Body
	}
	if bodies["o-evil"] != evil || bodies["o-raw\x1b[1m"] != rawEvil || bodies["o-huge"] != huge {
		t.Errorf("JSON did not carry the exact bodies (%d messages)", len(msgs))
	}
	assertUntouched(t, c, q.URL, 3)
}

func TestPeekRefusesQueueWithRedrivePolicy(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "force")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 5))
	send(t, c, src.URL, `{"orderId":"o-1"}`, nil)

	r := dlq(t, "", "peek "+src.Name)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "has a RedrivePolicy (maxReceiveCount 5, to "+d.Name+")") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("without --force: exit %d, %q", r.code, r.stderr)
	}
	assertUntouched(t, c, src.URL, 1)
	r = dlq(t, "", "peek "+src.Name+" --force -o json")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: "+src.Name+" has a RedrivePolicy") || !strings.Contains(r.stdout, `"orderId": "o-1"`) {
		t.Fatalf("with --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertUntouched(t, c, src.URL, 1)
}

func TestPeekBadInput(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "bad"), nil)
	send(t, c, q.URL, `{"orderId":"o-1"}`, nil)
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"peek " + q.Name + "-nope", cli.ExitError, `queue "` + q.Name + `-nope" does not exist`},
		{"peek " + q.Name + " --where customer.tier", cli.ExitUsage, "invalid --where"},
		{"peek " + q.Name + " --jq .body|", cli.ExitUsage, "invalid --jq"},
		{"peek " + q.Name + " --until yesterday", cli.ExitUsage, "invalid --until"},
		{"peek", cli.ExitUsage, "takes 1 argument"},
		{"peek " + q.Name + " --limit -1", cli.ExitUsage, "--limit"},
	} {
		r := dlq(t, "", tc.args)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d with %q on one line", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	assertUntouched(t, c, q.URL, 1)
}

func TestPeekInterruptedReleasesAndExits130(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "sigint"), nil)
	for i := 0; i < 25; i++ {
		send(t, c, q.URL, fmt.Sprintf(`{"orderId":"o-%d"}`, i), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C arrives while the first receive is on the wire.
	interrupt := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("interrupt",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == "ReceiveMessage" {
					cancel()
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
	ios, _, _, stderr := render.Test()
	argv := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "peek", q.Name, "--limit", "0"}
	code := Run(ctx, ios, emulatorEnv, argv, BuildInfo{}, interrupt)
	if code != cli.ExitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q; want 130", code, stderr.String())
	}
	assertUntouched(t, c, q.URL, 25)
}

// receivedIDs is a middleware that records the message IDs every receive
// returns and calls onReceive with how many it has seen in all.
type receivedIDs struct {
	mu        sync.Mutex
	ids       map[string]bool
	onReceive func(total int)
}

func (r *receivedIDs) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("received-ids",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if o, ok := out.Result.(*sqs.ReceiveMessageOutput); ok && err == nil {
				r.mu.Lock()
				if r.ids == nil {
					r.ids = map[string]bool{}
				}
				for _, m := range o.Messages {
					r.ids[aws.ToString(m.MessageId)] = true
				}
				total := len(r.ids)
				r.mu.Unlock()
				if r.onReceive != nil {
					r.onReceive(total)
				}
			}
			return out, md, err
		}), middleware.After)
}

func (r *receivedIDs) sorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// firstLineOut is stdout that closes first once a whole line is written.
type firstLineOut struct {
	testenv.SyncBuffer
	first chan struct{}
	once  sync.Once
}

func (f *firstLineOut) Write(p []byte) (int, error) {
	n, err := f.SyncBuffer.Write(p)
	if bytes.IndexByte(p, '\n') >= 0 {
		f.once.Do(func() { close(f.first) })
	}
	return n, err
}

// -o ndjson end to end: the first line is out while the scan still runs
// (every receive but the first waits for it), then one JSON object a
// line, each message once, and the queue as it was.
func TestPeekNDJSONStreamsEveryMessageOnce(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "stream"), nil)
	testenv.SendBatch(t, c, q.URL, 35, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) }, nil)

	out := &firstLineOut{first: make(chan struct{})}
	var started atomic.Int32
	waitForFirstLine := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("wait-for-first-line",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == "ReceiveMessage" && started.Add(1) > 1 {
					select {
					case <-out.first:
					case <-time.After(10 * time.Second): // only if the test fails: no line comes
						t.Error("a receive waited 10s for the first line: nothing was printed while the scan ran")
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	rec := &receivedIDs{}
	ios, _, _, stderr := render.Test()
	ios.Out = out
	argv := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "peek", q.Name, "--limit", "0", "-o", "ndjson"}
	if code := Run(context.Background(), ios, emulatorEnv, argv, BuildInfo{}, waitForFirstLine, rec.middleware); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var ids []string
	orders := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var m peekedMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m.Queue != q.Name || m.SentAt == "" {
			t.Errorf("line %q", line)
		}
		ids = append(ids, m.MessageID)
		orders[m.OrderID] = true
	}
	sort.Strings(ids)
	if len(orders) != 35 || fmt.Sprint(ids) != fmt.Sprint(rec.sorted()) {
		t.Errorf("%d lines with %d orders; want each of the 35 messages once", len(ids), len(orders))
	}
	if !strings.Contains(stderr.String(), "scanned 35 of ~35 visible messages in "+q.Name+", 35 matched; 35 released") {
		t.Errorf("stderr = %q", stderr.String())
	}
	assertUntouched(t, c, q.URL, 35)
}

// Ctrl-C once the scan has found some messages: exit 130, what was found
// is printed (for -o json one valid document), and the queue is as it was.
func TestPeekInterruptedPrintsWhatItFound(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "sigint-found"), nil)
	const total, found = 80, 10
	testenv.SendBatch(t, c, q.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) }, nil)

	for _, output := range []string{"json", "ndjson", "table"} {
		t.Run(output, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &receivedIDs{onReceive: func(n int) {
				if n >= found {
					cancel()
				}
			}}
			ios, _, stdout, stderr := render.Test()
			argv := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "peek", q.Name, "--limit", "0", "-o", output}
			code := Run(ctx, ios, emulatorEnv, argv, BuildInfo{}, rec.middleware)
			if code != cli.ExitInterrupted || !strings.HasSuffix(stderr.String(), "interrupted\n") {
				t.Fatalf("exit %d, stderr %q; want 130", code, stderr.String())
			}
			var got []string
			switch output {
			case "json":
				var msgs []peekedMessage
				if err := json.Unmarshal(stdout.Bytes(), &msgs); err != nil {
					t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
				}
				for _, m := range msgs {
					got = append(got, m.MessageID)
				}
			case "ndjson":
				for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
					var m peekedMessage
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					got = append(got, m.MessageID)
				}
			default:
				for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
					got = append(got, strings.Split(line, "\t")[0])
				}
			}
			sort.Strings(got)
			want := rec.sorted()
			if len(want) < found || len(want) >= total {
				t.Fatalf("%d messages received: the interrupt did not stop the scan midway", len(want))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("printed %d messages, received %d:\n%v\n%v", len(got), len(want), got, want)
			}
			if !strings.HasSuffix(stderr.String(), fmt.Sprintf("%d matched; %d released\ninterrupted\n", len(want), len(want))) {
				t.Errorf("stderr = %q: want the summary of what was found, then interrupted", stderr.String())
			}
			assertUntouched(t, c, q.URL, total)
		})
	}
}
