package triage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

const queueURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-payments-dlq"

// fakeMessage is a message of a fakeDLQ: its body, Lambda's error
// attributes (code "" : none) and how long before now it was sent.
type fakeMessage struct {
	body      string
	errorCode string
	errorText string
	ago       time.Duration
}

// fakeDLQ is a narrow fake of the calls triage makes: one standard queue
// that hands each of its messages out once, up to ten a receive, and
// records which were given back. Calls triage does not make panic on the
// nil embedded interface.
type fakeDLQ struct {
	queue.BrowseAPI
	msgs []fakeMessage
	// redrive gives the queue a RedrivePolicy of its own.
	redrive bool

	mu       sync.Mutex
	given    []string
	released map[string]bool
}

func (f *fakeDLQ) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // the SDK interface's name
	if aws.ToString(in.QueueName) != "orders-payments-dlq" {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(queueURL)}, nil
}

func (f *fakeDLQ) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	a := map[string]string{
		"QueueArn":                              "arn:aws:sqs:eu-west-1:123456789012:orders-payments-dlq",
		"ApproximateNumberOfMessages":           strconv.Itoa(len(f.msgs)),
		"ApproximateNumberOfMessagesNotVisible": "1",
	}
	if f.redrive {
		a["RedrivePolicy"] = `{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:orders-graveyard","maxReceiveCount":3}`
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fakeDLQ) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.ReceiveMessageOutput{}
	for len(f.given) < len(f.msgs) && len(out.Messages) < 10 {
		i := len(f.given)
		m := f.msgs[i]
		id := fmt.Sprintf("m-%d", i+1)
		f.given = append(f.given, id)
		sm := types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(m.body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(now.Add(-m.ago).UnixMilli(), 10)}}
		if m.errorCode != "" {
			sm.MessageAttributes = map[string]types.MessageAttributeValue{
				"ErrorCode":    {DataType: aws.String("Number"), StringValue: aws.String(m.errorCode)},
				"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String(m.errorText)},
				"RequestID":    {DataType: aws.String("String"), StringValue: aws.String("req-" + id)},
			}
		}
		out.Messages = append(out.Messages, sm)
	}
	return out, nil
}

func (f *fakeDLQ) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released == nil {
		f.released = map[string]bool{}
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		if e.VisibilityTimeout == 0 {
			f.released[strings.TrimPrefix(aws.ToString(e.ReceiptHandle), "rh-")] = true
		}
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// assertReleased fails unless every message handed out was given back:
// triage leaves the queue as it found it.
func (f *fakeDLQ) assertReleased(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.given) == 0 {
		t.Error("no message was received")
	}
	for _, id := range f.given {
		if !f.released[id] {
			t.Errorf("%s was received and never released", id)
		}
	}
}

// paymentsDLQ holds five failures: three of one cause recorded in the
// body (request IDs differ), one Lambda recorded on the message, and one
// that says nothing.
func paymentsDLQ() *fakeDLQ {
	charge := func(order, trace, request string, ago time.Duration) fakeMessage {
		return fakeMessage{ago: ago, body: fmt.Sprintf(`{"orderId":%q,"traceId":%q,"step":"charge","error":"payment provider: HTTP 503 (request %s)"}`, order, trace, request)}
	}
	return &fakeDLQ{msgs: []fakeMessage{
		charge("order-1042", "4bf92f3577b34da6", "4f1c0a9b", 50*time.Minute),
		charge("order-1043", "9c1e0d2a41f7b388", "77aa01c2", 45*time.Minute),
		{ago: 30 * time.Minute, body: `{"orderId":"order-1050","traceId":"1f0e2d3c4b5a6978"}`, errorCode: "200", errorText: "Unhandled: card 4111 declined\x1b[31m"},
		charge("order-1044", "2a2b2c2d2e2f3031", "0c0d0e0f", 40*time.Minute),
		{ago: 20 * time.Minute, body: `{"orderId":"order-1060"}`},
	}}
}

// runOptions are `dlq triage orders-payments-dlq` on ios against api, with
// no log groups and a clock stopped at now.
func runOptions(ios *render.IOStreams, api queue.BrowseAPI, output render.Format) *TriageOptions {
	return &TriageOptions{IO: ios, Output: output, Queue: "orders-payments-dlq", Now: func() time.Time { return now },
		SQS: func(context.Context) (queue.BrowseAPI, error) { return api, nil }}
}

// took is the wall time at the end of the summary, the one part of the
// output no clock of the test decides.
var took = regexp.MustCompile(`; [0-9][0-9.]*(ns|µs|ms|s)\n$`)

// A whole triage for a terminal, a pipe and JSON: the causes largest
// first on stdout, the note and the summary on stderr, and every message
// given back.
func TestTriageRunGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		format render.Format
	}{
		{"run-tty", true, render.FormatTable},
		{"run-piped", false, render.FormatTable},
		{"run-json", false, render.FormatJSON},
		{"run-ndjson", false, render.FormatNDJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetTerminalWidth(160)
			api := paymentsDLQ()
			if err := triageRun(context.Background(), runOptions(ios, api, tc.format)); err != nil {
				t.Fatal(err)
			}
			errOut := stderr.String()
			if !took.MatchString(errOut) {
				t.Fatalf("stderr does not end with the summary's duration: %q", errOut)
			}
			errOut = took.ReplaceAllString(errOut, "; <took>\n")
			testenv.Golden(t, filepath.Join("testdata", tc.name+".golden"), []byte("-- stdout --\n"+stdout.String()+"-- stderr --\n"+errOut), *update)
			if tc.format == render.FormatTable && strings.Contains(stdout.String(), "\x1b") {
				t.Error("a control character from a message reached the output")
			}
			api.assertReleased(t)
		})
	}
}

// Peek's filters select what is triaged; the rest is scanned and given
// back.
func TestTriageRunFilters(t *testing.T) {
	t.Parallel()
	ios, _, stdout, stderr := render.Test()
	api := paymentsDLQ()
	opts := runOptions(ios, api, render.FormatTable)
	opts.Filter.Since = 42 * time.Minute
	if err := triageRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(stdout.String(), "\n"); rows != 3 {
		t.Errorf("%d causes, want 3 (one each for order-1044, order-1050 and order-1060):\n%s", rows, stdout)
	}
	if !strings.Contains(stderr.String(), "scanned 5 of ~5 visible messages in orders-payments-dlq, 3 matched: 3 causes (1 from Lambda's error attributes, 1 from the body, 1 unknown); 1 in flight were not visible; 5 released") {
		t.Errorf("stderr = %q", stderr)
	}
	api.assertReleased(t)
}

// Failures keep their exit codes, and whatever was received is given
// back first.
func TestTriageRunErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		change   func(*TriageOptions, *fakeDLQ)
		wantExit int
		wantErr  string
		received bool // the scan ran: everything must be released
	}{
		{name: "own redrive policy", change: func(_ *TriageOptions, api *fakeDLQ) { api.redrive = true }, wantExit: cli.ExitUsage,
			wantErr: "orders-payments-dlq has a RedrivePolicy (maxReceiveCount 3, to orders-graveyard): reading it raises each message's ApproximateReceiveCount and can move messages there; pass --force to read it anyway"},
		{name: "missing queue", change: func(o *TriageOptions, _ *fakeDLQ) { o.Queue = "orders-nope-dlq" }, wantExit: cli.ExitError,
			wantErr: `queue "orders-nope-dlq" does not exist`},
		{name: "bad queue", change: func(o *TriageOptions, _ *fakeDLQ) { o.Queue = "bad/name" }, wantExit: cli.ExitUsage, wantErr: `invalid queue "bad/name"`},
		{name: "no credentials", change: func(o *TriageOptions, _ *fakeDLQ) {
			o.SQS = func(context.Context) (queue.BrowseAPI, error) {
				return nil, &cli.CredentialsError{Err: errors.New("no profile")}
			}
		}, wantExit: cli.ExitAuth, wantErr: "no usable AWS credentials"},
		{name: "no logs credentials", change: func(o *TriageOptions, _ *fakeDLQ) {
			o.Groups = []string{"/aws/lambda/orders-charge"}
			o.Logs = func(context.Context) (insights.LogsAPI, error) {
				return nil, &cli.CredentialsError{Err: errors.New("expired")}
			}
		}, wantExit: cli.ExitAuth, wantErr: "no usable AWS credentials", received: true},
		{name: "broken pipe", change: func(o *TriageOptions, _ *fakeDLQ) { o.IO.Out = brokenPipe{} }, wantExit: cli.ExitError,
			wantErr: "write output: write |1: broken pipe", received: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			api := paymentsDLQ()
			opts := runOptions(ios, api, render.FormatTable)
			tt.change(opts, api)
			err := triageRun(context.Background(), opts)
			if code := cli.ExitCode(context.Background(), err); code != tt.wantExit || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("exit %d, %v; want %d with %q", code, err, tt.wantExit, tt.wantErr)
			}
			if tt.received {
				api.assertReleased(t)
			} else if len(api.given) > 0 {
				t.Errorf("%d messages received before the run failed", len(api.given))
			}
		})
	}
}

// brokenPipe is a stdout whose reader has gone.
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("write |1: broken pipe") }
