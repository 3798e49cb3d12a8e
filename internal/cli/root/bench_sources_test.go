package root

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkInspectEveryKindAtScale is `dlq inspect` at default flags over
// an account of 1,000 queues (500 source/DLQ pairs), 200 EventBridge rules
// (a target each, with a DLQ), 500 SNS subscriptions (with a DLQ) and 300
// Lambda functions (an on-failure destination each), in a region of its
// own, through toxiproxy adding 20 ms each way (about AWS's round trip):
// wall time per run and the AWS calls it makes. Run with `make
// bench-inspect`.
func BenchmarkInspectEveryKindAtScale(b *testing.B) {
	s := scaleAccount(b)
	counter := testenv.NewCallCounter()
	args := []string{"--endpoint-url", s.endpoint, "--region", s.region, "inspect", "-o", "json"}
	env := func(string) (string, bool) { return "", false }
	b.ResetTimer()
	for b.Loop() {
		ios, _, out, errOut := render.Test()
		if code := Run(context.Background(), ios, env, args, BuildInfo{}, counter.Middleware); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		if n := strings.Count(strings.ReplaceAll(out.String(), " ", ""), `"kind":"lambda"`); n < 300 {
			b.Fatalf("%d Lambda sources in the output, want 300:\n%.2000s\n%s", n, out.String(), errOut.String())
		}
	}
	b.StopTimer()
	reportCalls(b, counter, "GetQueueAttributes", "ListDeadLetterSourceQueues", "GetSubscriptionAttributes", "ListTargetsByRule", "ListFunctionEventInvokeConfigs")
}

// scaled is an account of every kind of DLQ source at scale, behind
// toxiproxy.
type scaled struct {
	region   string
	endpoint string // toxiproxy's
}

// config is an AWS configuration that reaches the account through
// toxiproxy.
func (s scaled) config(b *testing.B) aws.Config {
	cfg := testenv.Config(b, s.region)
	cfg.BaseEndpoint = aws.String(s.endpoint)
	return cfg
}

// scaleAccount creates 1,000 queues (500 source/DLQ pairs), 200 rules, 500
// subscriptions and 300 functions in a region of their own, and puts
// toxiproxy in front of the emulator with 20 ms each way
// (BENCH_LATENCY_MS=0 measures the emulator alone, for comparison).
func scaleAccount(b *testing.B) scaled {
	b.Helper()
	const region = "ap-south-1"
	cfg := testenv.Config(b, region)
	dlqs := scaleQueues(b, sqs.NewFromConfig(cfg), 500)
	scaleRules(b, eventbridge.NewFromConfig(cfg), dlqs, 200)
	scaleSubscriptions(b, sns.NewFromConfig(cfg), dlqs, 50, 10)
	scaleFunctions(b, cfg, dlqs, 300)
	tp := testenv.StartToxiproxy(b)
	latency := 20
	if v, ok := os.LookupEnv("BENCH_LATENCY_MS"); ok {
		latency, _ = strconv.Atoi(v)
	}
	for _, dir := range []string{"upstream", "downstream"} {
		tp.Add(b, testenv.Toxic{Name: "latency-" + dir, Type: "latency", Stream: dir, Toxicity: 1, Attributes: map[string]any{"latency": latency}})
	}
	return scaled{region: region, endpoint: tp.Endpoint()}
}

// runInspect runs `dlq inspect` with args, and the API options.
func runInspect(args []string, env func(string) (string, bool), opts ...func(*middleware.Stack) error) int {
	ios, _, _, _ := render.Test()
	return Run(context.Background(), ios, env, args, BuildInfo{}, opts...)
}

// scaleQueues creates n source/DLQ pairs and returns the DLQs' ARNs.
func scaleQueues(b *testing.B, c *sqs.Client, n int) []string {
	b.Helper()
	arns := make([]string, n)
	for i := range n {
		d := testenv.CreateQueue(b, c, fmt.Sprintf("scale-%03d-dlq", i), nil)
		testenv.CreateQueue(b, c, fmt.Sprintf("scale-%03d", i), testenv.Redrive(d.ARN, 3))
		arns[i] = d.ARN
	}
	return arns
}

// scaleRules creates n rules on the default bus, each with an SQS target
// that dead-letters into one of dlqs.
func scaleRules(b *testing.B, c *eventbridge.Client, dlqs []string, n int) {
	b.Helper()
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("scale-rule-%03d", i)
		if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(`{"source":["orders"]}`)}); err != nil {
			b.Fatal(err)
		}
		target := strings.TrimSuffix(dlqs[i%len(dlqs)], "-dlq")
		if _, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("t"), Arn: aws.String(target),
			DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlqs[i%len(dlqs)])}}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// scaleSubscriptions creates topics with perTopic SQS subscriptions each,
// every one dead-lettering into one of dlqs.
func scaleSubscriptions(b *testing.B, c *sns.Client, dlqs []string, topics, perTopic int) {
	b.Helper()
	ctx := context.Background()
	for t := range topics {
		out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("scale-topic-%02d", t))})
		if err != nil {
			b.Fatal(err)
		}
		for s := range perTopic {
			i := t*perTopic + s
			if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: out.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(strings.TrimSuffix(dlqs[i%len(dlqs)], "-dlq")),
				Attributes: map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q}`, dlqs[i%len(dlqs)])}, ReturnSubscriptionArn: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// scaleFunctions creates n Lambda functions (one role for all; moto runs
// no code), each with an on-failure destination in one of dlqs.
func scaleFunctions(b *testing.B, cfg aws.Config, dlqs []string, n int) {
	b.Helper()
	ctx := context.Background()
	role, pkg := testenv.LambdaRole(b, cfg, "scale-role"), testenv.StubPackage()
	c := lambda.NewFromConfig(cfg)
	for i := range n {
		name := fmt.Sprintf("scale-fn-%03d", i)
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Runtime: ltypes.RuntimeProvidedal2023,
			Handler: aws.String("bootstrap"), Role: aws.String(role), Code: &ltypes.FunctionCode{ZipFile: pkg}}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_, _ = c.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		})
		if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(name), MaximumRetryAttempts: aws.Int32(2),
			DestinationConfig: &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String(dlqs[i%len(dlqs)])}}}); err != nil {
			b.Fatal(err)
		}
	}
}
