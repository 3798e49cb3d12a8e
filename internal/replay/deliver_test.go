package replay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/sources"
)

func fakeEntries(bodies ...string) []types.SendMessageBatchRequestEntry {
	out := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i, b := range bodies {
		out[i] = types.SendMessageBatchRequestEntry{Id: aws.String(string(rune('0' + i))), MessageBody: aws.String(b),
			MessageAttributes: map[string]types.MessageAttributeValue{}}
	}
	return out
}

func httpErr(status int, code string, fault smithy.ErrorFault) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "x", Fault: fault}}}
}

// A payload that cannot be built fails its entry, final: nothing was sent,
// nothing to resend or count uncertain.
func TestPayloadRefusedFailsFinal(t *testing.T) {
	out := each(fakeEntries("a"), func(*types.SendMessageBatchRequestEntry) (string, error) {
		return "", errors.New("apply input path $.x: nothing there in the event")
	}, func(int, string) error { t.Fatal("called"); return nil })
	if len(out.Failed) != 1 || !out.Failed[0].SenderFault {
		t.Errorf("answer %+v: want the entry failed, final", out)
	}
}

// A 5xx from Invoke may come after Lambda queued the event: the entry's
// answer counts as lost (resent, counted uncertain); a throttle (4xx)
// sent nothing and is tried again; a missing function is final.
func TestInvokeOutcomes(t *testing.T) {
	for _, tc := range []struct {
		err             error
		answered, final bool
	}{
		{httpErr(500, "ServiceException", smithy.FaultServer), false, false},
		{httpErr(502, "EC2UnexpectedException", smithy.FaultServer), false, false},
		{httpErr(429, "TooManyRequestsException", smithy.FaultClient), true, false},
		{httpErr(404, "ResourceNotFoundException", smithy.FaultClient), true, true},
		{errors.New("read: connection reset by peer"), false, false},
	} {
		if a, f := outcome(tc.err); a != tc.answered || f != tc.final {
			t.Errorf("outcome(%v) = answered %v final %v, want %v %v", tc.err, a, f, tc.answered, tc.final)
		}
	}
	if out := answerEach(fakeEntries("a"), []error{httpErr(500, "ServiceException", smithy.FaultServer)}); len(out.Successful)+len(out.Failed) != 0 {
		t.Errorf("a 5xx answered as %+v, want lost (neither)", out)
	}
}

type recordingLambda struct {
	LambdaAPI
	mu  sync.Mutex
	got map[string][]string
}

func (f *recordingLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[aws.ToString(in.FunctionName)] = append(f.got[aws.ToString(in.FunctionName)], string(in.Payload))
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// Two origins that shape the payload apart keep routes of their own: an
// SNS subscription whose endpoint is a function's alias, and on-failure
// records of that alias.
func TestLambdaRoutesPerShape(t *testing.T) {
	fn := "arn:aws:lambda:us-east-1:123456789012:function:orders:live"
	topic := "arn:aws:sns:us-east-1:123456789012:orders"
	fl := &recordingLambda{got: map[string][]string{}}
	svc := &services{svc: Services{Lambda: func(context.Context) (LambdaAPI, error) { return fl, nil }}}
	svc.once.Do(func() {})
	svc.feeding = []sources.Source{{Kind: sources.KindSNS, ARN: topic + ":sub-1",
		SNS: &sources.Subscription{TopicARN: topic, Protocol: "lambda", Endpoint: fn}}}
	rt := &router{svc: svc, byARN: map[string]*queue.Queue{}, used: map[string]bool{}, sendTo: map[string]target{}, usedTo: map[string]target{}}
	ctx := context.Background()
	snsDest, _, err := rt.destination(ctx, "sns "+topic)
	if err != nil {
		t.Fatal(err)
	}
	ofDest, _, err := rt.destination(ctx, "lambda-on-failure "+fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sns route URL %q, on-failure route URL %q", snsDest.URL, ofDest.URL)
	envelope := `{"Type":"Notification","MessageId":"m1","TopicArn":"` + topic + `","Message":"{\"orderId\":\"o-1\"}","Timestamp":"2024-01-01T00:00:00Z"}`
	out, err := rt.deliverer(*snsDest).deliver(ctx, fakeEntries(envelope), []string{"id-1"})
	if err != nil {
		t.Fatal(err)
	}
	if snsDest.URL == ofDest.URL || len(out.Successful) != 1 || len(fl.got[fn]) != 1 || !strings.Contains(fl.got[fn][0], `"EventSource":"aws:sns"`) {
		t.Errorf("routes %q and %q; invoked with %q: want the SNS event rebuilt", snsDest.URL, ofDest.URL, fl.got[fn])
	}
}

type acceptingSQS struct {
	SQSAPI
	sent []types.SendMessageBatchRequestEntry
}

func (f *acceptingSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.sent = append(f.sent, in.Entries...)
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// On a FIFO destination nothing behind an entry refused before the call
// goes in that call: it would overtake it.
func TestFIFORefusedBeforeStopsTheBatch(t *testing.T) {
	f := &acceptingSQS{}
	d := &sqsDelivery{api: f, url: "u.fifo", fifo: true, rewrite: func(e *types.SendMessageBatchRequestEntry) error {
		if aws.ToString(e.MessageBody) == "first" {
			return errors.New("apply input path: nothing there")
		}
		return nil
	}}
	out, _ := d.deliver(context.Background(), fakeEntries("first", "second", "third"), nil)
	if len(f.sent) != 0 || len(out.Failed) != 1 || !out.Failed[0].SenderFault {
		t.Errorf("sent %d, answer %+v: want nothing sent and the first failed", len(f.sent), out)
	}
}
