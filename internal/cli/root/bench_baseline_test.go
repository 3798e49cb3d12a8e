package root

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/queue"
)

// callRecorder keeps every request a command made (its service and input),
// for a baseline that makes the same requests and does nothing else.
type callRecorder struct {
	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	service string
	input   any
}

func (r *callRecorder) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("dlqCallRecorder",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.mu.Lock()
			r.calls = append(r.calls, recordedCall{service: middleware.GetServiceID(ctx), input: in.Parameters})
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// sameCalls makes the recorded requests again, each service's side by
// side with queue.DefaultConcurrency in flight, as dlq reads the services,
// but without waiting for one answer to make the next request: a floor
// for the same wire work.
func sameCalls(ctx context.Context, cfg aws.Config, calls []recordedCall) error {
	c := struct {
		sqs *sqs.Client
		eb  *eventbridge.Client
		sn  *sns.Client
		la  *lambda.Client
		cw  *cloudwatch.Client
	}{sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sns.NewFromConfig(cfg), lambda.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg)}
	byService := map[string][]any{}
	for _, call := range calls {
		byService[call.service] = append(byService[call.service], call.input)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, inputs := range byService {
		g.Go(func() error {
			sg, sctx := errgroup.WithContext(gctx)
			sg.SetLimit(queue.DefaultConcurrency)
			for _, in := range inputs {
				sg.Go(func() error { return call(sctx, c.sqs, c.eb, c.sn, c.la, c.cw, in) })
			}
			return sg.Wait()
		})
	}
	return g.Wait()
}

// call makes one recorded request again.
func call(ctx context.Context, s *sqs.Client, eb *eventbridge.Client, sn *sns.Client, la *lambda.Client, cw *cloudwatch.Client, in any) error {
	var err error
	switch p := in.(type) {
	case *sqs.ListQueuesInput:
		_, err = s.ListQueues(ctx, p)
	case *sqs.GetQueueAttributesInput:
		_, err = s.GetQueueAttributes(ctx, p)
	case *sqs.ListDeadLetterSourceQueuesInput:
		_, err = s.ListDeadLetterSourceQueues(ctx, p)
	case *sqs.GetQueueUrlInput:
		_, err = s.GetQueueUrl(ctx, p)
	case *eventbridge.ListEventBusesInput:
		_, err = eb.ListEventBuses(ctx, p)
	case *eventbridge.DescribeEventBusInput:
		_, err = eb.DescribeEventBus(ctx, p)
	case *eventbridge.ListRulesInput:
		_, err = eb.ListRules(ctx, p)
	case *eventbridge.ListTargetsByRuleInput:
		_, err = eb.ListTargetsByRule(ctx, p)
	case *sns.ListSubscriptionsInput:
		_, err = sn.ListSubscriptions(ctx, p)
	case *sns.GetSubscriptionAttributesInput:
		_, err = sn.GetSubscriptionAttributes(ctx, p)
	case *lambda.ListFunctionsInput:
		_, err = la.ListFunctions(ctx, p)
	case *lambda.ListFunctionEventInvokeConfigsInput:
		_, err = la.ListFunctionEventInvokeConfigs(ctx, p)
	case *cloudwatch.DescribeAlarmsInput:
		_, err = cw.DescribeAlarms(ctx, p)
	default:
		return fmt.Errorf("the baseline does not make %T", in)
	}
	return err
}

// BenchmarkInspectSameCallsLoop is the baseline of
// BenchmarkInspectEveryKindAtScale: the requests one `dlq inspect` made,
// recorded, then made again with the same concurrency and nothing else
// (no waiting between a list and what it lists, no processing). Its time
// is what the emulator and the latency take for that wire work. Run with
// `make bench-inspect`.
func BenchmarkInspectSameCallsLoop(b *testing.B) {
	s := scaleAccount(b)
	rec := &callRecorder{}
	args := []string{"--endpoint-url", s.endpoint, "--region", s.region, "inspect", "-o", "json"}
	env := func(string) (string, bool) { return "", false }
	if code := runInspect(args, env, rec.middleware); code != 0 {
		b.Fatalf("exit %d", code)
	}
	cfg := s.config(b)
	b.ResetTimer()
	for b.Loop() {
		if err := sameCalls(context.Background(), cfg, rec.calls); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(rec.calls)), "calls/op")
}
