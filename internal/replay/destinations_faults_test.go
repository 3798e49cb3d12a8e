package replay_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
)

// faultyLambda fails the first Invoke: before the call (a throttle, the
// function never ran) or after it (the call went through, its answer is
// lost).
type faultyLambda struct {
	*lambda.Client
	after bool
	calls atomic.Int32
}

func (f *faultyLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	if f.calls.Add(1) == 1 {
		if !f.after {
			return nil, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusTooManyRequests}},
				Err:      &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded", Fault: smithy.FaultClient}}}
		}
		if _, err := f.Client.Invoke(ctx, in, opts...); err != nil {
			return nil, err
		}
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return f.Client.Invoke(ctx, in, opts...)
}

// An Invoke refused before it ran is sent again and is not uncertain; one
// whose answer was lost is sent again and counted uncertain (the function
// may run twice: an asynchronous invocation has no deduplication); a
// function that no longer exists keeps its message in the DLQ, named.
func TestReplayLambdaFaults(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c := sqs.NewFromConfig(cfg)
	p := testenv.Name(t, "lf")
	fnARN := testenv.Function(t, cfg, p+"-fn")
	for _, tc := range []struct {
		name          string
		after         bool
		wantUncertain bool
	}{{"refused before", false, false}, {"answer lost", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dlq := testenv.CreateQueue(t, c, testenv.Name(t, "lf")+"-dlq", nil)
			testenv.Send(t, c, dlq.URL, 1, onFailureRecord(fnARN, []byte(`{"orderId":"o-1"}`)))
			fl := &faultyLambda{Client: lambda.NewFromConfig(cfg), after: tc.after}
			svc := services(t)
			svc.Lambda = func(context.Context) (replay.LambdaAPI, error) { return fl, nil }
			rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: svc, Sleep: func(context.Context, time.Duration) error { return nil }})
			if rep.Sent != 1 || !rep.Verified || fl.calls.Load() != 2 || (rep.Uncertain > 0) != tc.wantUncertain {
				t.Fatalf("sent %d verified %v calls %d uncertain %d, want 1, true, 2 and uncertain %v", rep.Sent, rep.Verified, fl.calls.Load(), rep.Uncertain, tc.wantUncertain)
			}
		})
	}
	t.Run("gone", func(t *testing.T) {
		dlq := testenv.CreateQueue(t, c, testenv.Name(t, "lf")+"-dlq", nil)
		gone := strings.Replace(fnARN, p+"-fn", p+"-gone", 1)
		testenv.Send(t, c, dlq.URL, 1, onFailureRecord(gone, []byte(`{"orderId":"o-1"}`)))
		rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t)})
		if rep.Sent != 0 || rep.Failed != 1 || rep.LeftInDLQ != 1 || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0].Error, "ResourceNotFound") {
			t.Fatalf("report: %+v", rep)
		}
	})
}

// Two functions dead-letter into one DLQ and a message does not say
// which it came from: refused until a function is named.
func TestReplayLambdaDLQSharedNeedsAFunction(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c, lc := sqs.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	p := testenv.Name(t, "ls")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	for _, fn := range []string{p + "-a", p + "-b"} {
		testenv.Function(t, cfg, fn)
		testenv.FunctionDLQ(t, lc, fn, dlq.ARN)
	}
	// A function DLQ's message: the payload, the error in attributes.
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(dlq.URL), MessageBody: aws.String(`{"orderId":"o-1"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"RequestID":    {DataType: aws.String("String"), StringValue: aws.String("r-1")},
			"ErrorCode":    {DataType: aws.String("Number"), StringValue: aws.String("200")},
			"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String("boom")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	svc := services(t)
	svc.Lambda = func(context.Context) (replay.LambdaAPI, error) { return lc, nil }
	_, err = replay.Run(context.Background(), replay.Config{API: c, DLQ: dlq.URL, Services: svc})
	var de *replay.DestinationError
	if !errors.As(err, &de) || de.Fix != replay.FixTo || !strings.Contains(err.Error(), p+"-a") {
		t.Fatalf("err = %v, want a destination error naming both functions", err)
	}
	other := testenv.Function(t, cfg, p+"-other")
	_, err = replay.Run(context.Background(), replay.Config{API: c, DLQ: dlq.URL, Services: svc, To: other})
	if !errors.As(err, &de) || de.Fix != replay.FixForce {
		t.Fatalf("to a function that does not write here: err = %v, want a destination error that needs force", err)
	}
	rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: svc, To: p + "-b"})
	if rep.Sent != 1 || !rep.Verified || rep.Plan.Routes[0].Kind != replay.DestLambda || rep.Plan.Routes[0].Destination != p+"-b" {
		t.Fatalf("with To: %+v", rep)
	}
}

// A run crashed inside StartExecution (journaled sending; the execution
// started): the next run sends it again, counts it uncertain, and Step
// Functions starts no second execution (same name, same input).
func TestReplayStepFunctionsCrashAtStartExecution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t, "")
	c, eb, sf := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sfn.NewFromConfig(cfg)
	p := testenv.Name(t, "sfc")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	sm := stateMachine(t, sf, p+"-sm")
	rule := testenv.Rule(t, eb, "default", p+"-rule", ebtypes.Target{Id: aws.String("sm"), Arn: sm.StateMachineArn,
		RoleArn: aws.String("arn:aws:iam::123456789012:role/eb"), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlq.ARN)}})
	event := ebEvent("e-1", "o-1")
	sendEBFailure(t, c, dlq.URL, rule, aws.ToString(sm.StateMachineArn), event)
	ids := drainKeep(t, c, dlq.URL)
	var id string
	for k := range ids {
		id = k
	}
	// The crashed run: journaled sending, and its execution started.
	j, err := journal.OpenFile(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	if err := j.Record(ctx, []string{id}, journal.Sending); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Input: aws.String(event), Name: aws.String("dlq-replay-" + id)}); err != nil {
		t.Fatal(err)
	}
	rep := run(t, replay.Config{API: c, DLQ: dlq.URL, Services: services(t), Journal: j})
	if rep.Sent != 1 || rep.Uncertain != 1 || !rep.Verified {
		t.Fatalf("report: sent %d uncertain %d verified %v, want 1, 1, true: %+v", rep.Sent, rep.Uncertain, rep.Verified, rep)
	}
	execs, err := sf.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil || len(execs.Executions) != 1 {
		t.Fatalf("executions = %d (%v), want the one the crashed run started", len(execs.Executions), err)
	}
}
