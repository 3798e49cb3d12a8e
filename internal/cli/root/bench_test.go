package root

import (
	"context"
	"fmt"
	"testing"

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
	counts := counter.Counts()
	total := 0
	for _, n := range counts {
		total += n
	}
	b.ReportMetric(float64(total)/float64(b.N), "calls/op")
	b.ReportMetric(float64(counts["GetQueueAttributes"])/float64(b.N), "attrReads/op")
	b.ReportMetric(2*pairs, "queues")
}
