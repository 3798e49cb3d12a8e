package root

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkInspect discovers and inspects 300 queues (150 source/DLQ
// pairs) in a region of their own: wall time per full `dlq inspect` and the
// AWS calls it makes. Run with `make bench`.
func BenchmarkInspect(b *testing.B) {
	const region, pairs = "sa-east-1", 150
	c := sqs.NewFromConfig(testenv.Config(b, region))
	p := testenv.Name(b, "bench")
	for i := 0; i < pairs; i++ {
		d := testenv.CreateQueue(b, c, fmt.Sprintf("%s-%03d-dlq", p, i), nil)
		testenv.CreateQueue(b, c, fmt.Sprintf("%s-%03d", p, i), testenv.Redrive(d.ARN, 3))
	}
	counter := testenv.NewCallCounter()
	args := []string{"--endpoint-url", testenv.Endpoint(b), "--region", region, "inspect", "-o", "json"}
	env := func(string) (string, bool) { return "", false }
	b.ResetTimer()
	for b.Loop() {
		ios, _, _, errOut := render.Test()
		if code := Run(context.Background(), ios, env, args, BuildInfo{}, counter.Middleware); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
	}
	b.StopTimer()
	reportCalls(b, counter, "GetQueueAttributes")
	b.ReportMetric(2*pairs, "queues")
}

// reportCalls reports the AWS calls a run made, in all and of each of ops.
func reportCalls(b *testing.B, counter *testenv.CallCounter, ops ...string) {
	b.Helper()
	counts := counter.Counts()
	total := 0
	for _, n := range counts {
		total += n
	}
	b.ReportMetric(float64(total)/float64(b.N), "calls/op")
	for _, op := range ops {
		b.ReportMetric(float64(counts[op])/float64(b.N), op+"/op")
	}
}

// BenchmarkTimeline reconstructs a trace of 1,000 events spread over five
// log groups (with as many lines of other traces beside them) on moto,
// found by prefix: wall time per `dlq timeline` and queries issued.
func BenchmarkTimeline(b *testing.B) {
	c := cwl.NewFromConfig(testenv.Config(b, "sa-east-1"))
	p := "/aws/lambda/" + testenv.Name(b, "tlbench")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var lines []logLine
	for i := 0; i < 1000; i++ {
		g := fmt.Sprintf("%s-%d", p, i%5)
		at := base.Add(time.Duration(i) * 10 * time.Millisecond)
		lines = append(lines,
			logLine{g, at, fmt.Sprintf(`{"traceId":"t-bench","orderId":"o-1","step":"s%d","status":"success","msg":"event %d","requestId":"r-%d"}`, i%5, i, i%50)},
			logLine{g, at.Add(time.Millisecond), fmt.Sprintf(`{"traceId":"t-other-%d","msg":"noise"}`, i)})
	}
	putLogs(b, c, lines)
	args := []string{"--endpoint-url", testenv.Endpoint(b), "--region", "sa-east-1", "timeline", "t-bench", "--log-group-prefix", p + "-", "--since", "2h", "-o", "json"}
	counter := testenv.NewCallCounter()
	env := func(string) (string, bool) { return "", false }
	for b.Loop() {
		ios, _, out, errOut := render.Test()
		if code := Run(context.Background(), ios, env, args, BuildInfo{}, counter.Middleware); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		if n := strings.Count(out.String(), `"offsetMs"`); n != 1000 {
			b.Fatalf("%d events, want 1000", n)
		}
	}
	counts := counter.Counts()
	b.ReportMetric(float64(counts["StartQuery"])/float64(b.N), "queries/op")
	b.ReportMetric(float64(counts["GetQueryResults"])/float64(b.N), "polls/op")
	b.ReportMetric(float64(counts["DescribeLogGroups"])/float64(b.N), "describes/op")
}
