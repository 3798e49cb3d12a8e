// Command orders runs the order pipeline on a long-poll SQS worker, for
// containers (ECS on Fargate) under sustained load: the handler the Lambda
// in cmd/lambda/orders runs, with the same environment (orders.FromEnv),
// consuming QUEUE_URL through internal/pipeline/worker.
//
// Environment, besides the Lambda's (INVENTORY_TABLE, PAYMENTS_TABLE,
// SHIPMENTS_TABLE, SAGA_TABLE, IDEMPOTENCY_TABLE, SAGA_DLQ_URL,
// IDEMPOTENCY_TTL, FAIL_STEPS) and the AWS SDK's (AWS_REGION, ...):
//
//	QUEUE_URL            the queue to consume (required)
//	WORKER_CONCURRENCY   batches in flight, each its own receive loop (default 4)
//	WORKER_BATCH_SIZE    records a receive asks for, 1 to 10 (default 10)
//	WORKER_WAIT          long poll, 1s to 20s (default 20s); also the longest an idle worker takes to stop
//	WORKER_VISIBILITY    the hold on a received record, renewed every third of it while it runs
//	                     (default: the queue's visibility timeout)
//	WORKER_GRACE         how long SIGTERM lets batches in flight finish (default 25s: under ECS's 30 s stopTimeout)
//
// Durations are Go durations (25s, 2m) or whole seconds. stdout carries
// the pipeline's log lines (docs/log-schema.md), stderr the worker's own
// (started, stopping, stopped with its counts, receive errors). On SIGTERM
// or SIGINT it stops receiving, finishes the batches in flight, releases
// what it received but did not start, and exits 0; 1 when the grace period
// ran out first or the queue cannot be read, 2 on a configuration error.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/pipeline/worker"
)

// version is stamped by the release (-X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	pipelineLog := trace.NewLogger(stdout, slog.LevelInfo)
	log := trace.NewLogger(stderr, slog.LevelInfo)
	o, err := options(getenv)
	if err != nil {
		log.Error("configure the worker", "status", "error", "error", err.Error())
		return 2
	}
	// Loaded before the stop can end it: a SIGTERM at start still exits
	// through Run (0: nothing was received).
	cfg, err := config.LoadDefaultConfig(context.WithoutCancel(ctx))
	if err != nil {
		log.Error("load AWS config", "status", "error", "error", err.Error())
		return 1
	}
	client := sqs.NewFromConfig(cfg)
	p, err := orders.FromEnv(getenv, dynamodb.NewFromConfig(cfg), client, pipelineLog)
	if err != nil {
		log.Error("configure the order pipeline", "status", "error", "error", err.Error())
		return 2
	}
	o.Handler = p.Handler(sqsbatch.Options{Logger: pipelineLog})
	o.Logger = log
	w := worker.New(client, o)
	log.Info("worker started", "queue", o.QueueURL, "concurrency", o.Concurrency, "version", version)
	if err := w.Run(ctx); err != nil {
		log.Error("worker stopped", "status", "error", "error", err.Error(), "stats", w.Stats().String())
		return 1
	}
	return 0
}

// options reads the worker's knobs from the environment.
func options(getenv func(string) string) (worker.Options, error) {
	o := worker.Options{QueueURL: getenv("QUEUE_URL")}
	if o.QueueURL == "" {
		return o, fmt.Errorf("read QUEUE_URL: not set")
	}
	var err error
	if o.Concurrency, err = integer(getenv, "WORKER_CONCURRENCY", 1, 1000); err != nil {
		return o, err
	}
	if o.BatchSize, err = integer(getenv, "WORKER_BATCH_SIZE", 1, 10); err != nil {
		return o, err
	}
	if o.WaitTime, err = seconds(getenv, "WORKER_WAIT", time.Second, worker.DefaultWaitTime); err != nil {
		return o, err
	}
	if o.Visibility, err = seconds(getenv, "WORKER_VISIBILITY", time.Second, 12*time.Hour); err != nil {
		return o, err
	}
	if o.Grace, err = seconds(getenv, "WORKER_GRACE", time.Second, time.Hour); err != nil {
		return o, err
	}
	grace, wait := o.Grace, o.WaitTime
	if grace == 0 {
		grace = worker.DefaultGrace
	}
	if wait == 0 {
		wait = worker.DefaultWaitTime
	}
	if grace <= wait {
		// A stopped worker waits out a long poll in flight.
		return o, fmt.Errorf("read WORKER_GRACE %s: want more than WORKER_WAIT (%s)", grace, wait)
	}
	return o, nil
}

// integer reads a whole number in [lo, hi]; 0 when unset.
func integer(getenv func(string) string, name string, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("read %s %q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// seconds reads a duration of whole seconds in [lo, hi], given as a Go
// duration or a number of seconds; 0 when unset.
func seconds(getenv func(string) string, name string, lo, hi time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < lo || d > hi || d%time.Second != 0 {
		return 0, fmt.Errorf("read %s %q: want whole seconds from %s to %s, such as 25s", name, v, lo, hi)
	}
	return d, nil
}
