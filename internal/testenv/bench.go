package testenv

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
)

// BenchConfig returns an AWS config for the fast emulator a throughput
// benchmark needs (DLQ_BENCH_ENDPOINT, set by the Makefile target that
// starts fauxqs), and skips the benchmark without one: moto is too slow to
// measure throughput.
func BenchConfig(b *testing.B, makeTarget string, apiOptions ...func(*middleware.Stack) error) aws.Config {
	b.Helper()
	ep := os.Getenv("DLQ_BENCH_ENDPOINT")
	if ep == "" {
		b.Skipf("DLQ_BENCH_ENDPOINT not set: run make %s", makeTarget)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(Region), config.WithBaseEndpoint(ep),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")))
	if err != nil {
		b.Fatalf("load AWS config: %v", err)
	}
	cfg.APIOptions = append(cfg.APIOptions, apiOptions...)
	return cfg
}

// Metrics collects a benchmark's figures over its iterations and reports
// each one's median: b.ReportMetric keeps only the last value it is given,
// and an iteration that waited out a lost answer would skew a mean.
type Metrics struct {
	names  []string
	values map[string][]float64
}

// Add records one iteration's value of the metric unit.
func (m *Metrics) Add(unit string, v float64) {
	if m.values == nil {
		m.values = map[string][]float64{}
	}
	if _, ok := m.values[unit]; !ok {
		m.names = append(m.names, unit)
	}
	m.values[unit] = append(m.values[unit], v)
}

// Report reports the median of every metric added, in the order first
// added.
func (m *Metrics) Report(b *testing.B) {
	for _, unit := range m.names {
		b.ReportMetric(Median(m.values[unit]), unit)
	}
}

// Median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
