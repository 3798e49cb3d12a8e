package testenv

import (
	"context"
	"os"
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
