// Package testenv runs integration tests against a real local AWS emulator:
// it starts moto_server on a free loopback port once per test binary (from
// TestMain), waits until it answers, and stops it when the tests end. With
// DLQ_TEST_ENDPOINT set it uses that endpoint instead. Under CI=true a
// missing emulator fails the run; elsewhere integration tests skip. With
// -short (make unit) no emulator starts and integration tests skip.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/emulator"
)

// Region is the default region tests use; tests that need an account to
// themselves use another region (moto keeps regions apart).
const Region = "us-east-1"

// env is the state of the emulator for this test binary.
type env struct {
	endpoint string
	skipWhy  string
}

var state env // set once by Main before any test runs

// Main starts the emulator, runs the tests and stops it. Use it from
// TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	isolateCredentials()
	flag.Parse() //nolint:revive // TestMain parses the flags itself to read -short before any test runs
	if testing.Short() {
		// make unit: only the tests that need no emulator run.
		state.skipWhy = "integration test (-short: make test runs it against the emulator)"
		return m.Run()
	}
	if ep := os.Getenv("DLQ_TEST_ENDPOINT"); ep != "" {
		state.endpoint = ep
		return m.Run()
	}
	stop, ep, err := startMoto()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "testenv: %v (CI=true: the emulator is required)\n", err)
			return 1
		}
		state.skipWhy = err.Error()
		return m.Run()
	}
	defer stop()
	state.endpoint = ep
	return m.Run()
}

// Endpoint returns the emulator's URL, skipping the test when there is none.
func Endpoint(t testing.TB) string {
	t.Helper()
	if state.endpoint == "" {
		why := state.skipWhy
		if why == "" {
			why = "testenv.Main was not called from TestMain"
		}
		t.Skipf("no AWS emulator: %s", why)
	}
	return state.endpoint
}

// Config returns an AWS config for the emulator in the given region (Region
// when empty), with static test credentials and any extra middleware.
func Config(t testing.TB, region string, apiOptions ...func(*middleware.Stack) error) aws.Config {
	t.Helper()
	ep := Endpoint(t)
	if region == "" {
		region = Region
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithBaseEndpoint(ep),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	cfg.APIOptions = append(cfg.APIOptions, apiOptions...)
	return cfg
}

// Env returns environment variables that point the dlq CLI at the emulator
// with test credentials, for tests that run commands end to end.
func Env(t testing.TB, region string) map[string]string {
	t.Helper()
	if region == "" {
		region = Region
	}
	return map[string]string{
		"AWS_ACCESS_KEY_ID":         "test",
		"AWS_SECRET_ACCESS_KEY":     "test",
		"AWS_REGION":                region,
		"AWS_ENDPOINT_URL":          Endpoint(t),
		"AWS_EC2_METADATA_DISABLED": "true",
		"DLQ_CALL_TIMEOUT":          CallTimeout,
	}
}

// CallTimeout is the --call-timeout (DLQ_CALL_TIMEOUT) of commands run
// against the emulator: the default of 10 s suits AWS, not moto answering
// a large batch on a busy 2-core machine. Tests of timeouts pass
// --call-timeout themselves, against an endpoint that never answers.
const CallTimeout = "2m"

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// Name returns a resource name unique to this test run: prefix, a slug of
// the test name and random hex, at most 60 characters so that suffixes such
// as "-dlq" and ".fifo" still fit SQS's 80.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	slug := strings.Trim(unsafeChars.ReplaceAllString(t.Name(), "-"), "-")
	if len(slug) > 30 {
		slug = slug[len(slug)-30:]
	}
	n := strings.Trim(prefix+"-"+slug, "-") + "-" + hex.EncodeToString(b)
	if len(n) > 60 {
		n = n[len(n)-60:]
	}
	return strings.TrimLeft(n, "-")
}

// CallCounter counts AWS operations by name through SDK middleware.
type CallCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// NewCallCounter returns an empty counter.
func NewCallCounter() *CallCounter { return &CallCounter{counts: map[string]int{}} }

// Middleware is the API option to add to a config or client.
func (c *CallCounter) Middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("dlqCallCounter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.counts[middleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// Count returns how often an operation was called.
func (c *CallCounter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Counts returns a copy of all counts.
func (c *CallCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Reset clears the counts.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.mu.Unlock()
}

func startMoto() (stop func(), endpoint string, err error) {
	logFile, _ := os.CreateTemp("", "moto-*.log")
	var logTo io.Writer
	if logFile != nil {
		logTo = logFile
	}
	e, err := emulator.StartMoto(logTo)
	if err != nil {
		if logFile != nil {
			_ = logFile.Close()
			_ = os.Remove(logFile.Name())
		}
		return nil, "", err
	}
	return func() {
		e.Stop()
		if logFile != nil {
			_ = logFile.Close()
			_ = os.Remove(logFile.Name())
		}
	}, e.Endpoint, nil
}

// isolateCredentials points the SDK at test credentials only, so no test
// can pick up a developer's real profile or reach instance metadata.
func isolateCredentials() {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		_ = os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		_ = os.Unsetenv(k)
	}
}

// HeapPeak samples the heap in use (HeapInuse) every interval until the returned stop func
// is called, and keeps the peak: benchmarks report memory with it.
func HeapPeak(every time.Duration) (*atomic.Uint64, func()) {
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		// runtime/metrics, not ReadMemStats: that stops the world, every
		// few milliseconds, and slowed the code measured (not its baseline).
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		for {
			metrics.Read(samples)
			if inuse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inuse > peak.Load() {
				peak.Store(inuse)
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	return &peak, func() { close(done); <-finished }
}
