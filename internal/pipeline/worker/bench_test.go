package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/pipeline/worker"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkWorkerThroughput drains BENCH_MESSAGES (default 20,000)
// messages of 250 bytes with the worker and a no-op handler, next to a
// plain receive→delete loop with as many receive loops, in the same run.
// Each consumer runs in a process of its own (this test binary, started
// again in bench-child mode), so that it reports its own peak RSS;
// msg/s is timed inside the child, from its first receive to its last
// delete. It needs a fast emulator: `make bench-worker` starts fauxqs and
// sets DLQ_BENCH_ENDPOINT.
func BenchmarkWorkerThroughput(b *testing.B) {
	n := 20000
	if s := os.Getenv("BENCH_MESSAGES"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-worker"))
	for _, conc := range []int{4, 16} {
		for _, mode := range []string{"plain", "worker"} {
			b.Run(fmt.Sprintf("loops=%d/%s", conc, mode), func(b *testing.B) {
				var m testenv.Metrics
				for i := 0; b.Loop(); i++ {
					out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("bench-worker-%s-%d-%d", mode, i, time.Now().UnixNano()))})
					if err != nil {
						b.Fatal(err)
					}
					url := aws.ToString(out.QueueUrl)
					fillQueue(b, c, url, n)
					cmd := exec.Command(os.Args[0], "-test.run", "^$")
					cmd.Env = append(os.Environ(), "DLQ_BENCH_CHILD="+mode, "DLQ_BENCH_QUEUE="+url, fmt.Sprintf("DLQ_BENCH_N=%d", n), fmt.Sprintf("DLQ_BENCH_LOOPS=%d", conc))
					var stderr strings.Builder
					cmd.Stderr = &stderr
					got, err := cmd.Output()
					if err != nil {
						b.Fatalf("%s child: %v\n%s", mode, err, stderr.String())
					}
					secs, err := strconv.ParseFloat(strings.TrimSpace(string(got)), 64)
					if err != nil {
						b.Fatalf("%s child answered %q: %v\n%s", mode, got, err, stderr.String())
					}
					// Leave fauxqs as empty as it was: it slows as it holds more.
					_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
					m.Add("msg/s", float64(n)/secs)
					if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
						m.Add("peak-RSS-MiB", float64(ru.Maxrss)/1024) // KiB on Linux
					}
				}
				m.Report(b)
			})
		}
	}
}

func fillQueue(b *testing.B, c *sqs.Client, url string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i += 10 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var entries []types.SendMessageBatchRequestEntry
			for j := i; j < min(i+10, n); j++ {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)),
					MessageBody: aws.String(fmt.Sprintf(`{"traceId":"trace-%d","orderId":"order-%d","type":"OrderPlaced","payload":{"amount":%d,"note":"%0150d"}}`, j, j, j, j))})
			}
			if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// benchChild is the consumer process of BenchmarkWorkerThroughput: it
// drains the queue its environment names and prints how many seconds that
// took.
func benchChild(mode string) int {
	url := os.Getenv("DLQ_BENCH_QUEUE")
	n, _ := strconv.Atoi(os.Getenv("DLQ_BENCH_N"))
	loops, _ := strconv.Atoi(os.Getenv("DLQ_BENCH_LOOPS"))
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(testenv.Region), config.WithBaseEndpoint(os.Getenv("DLQ_BENCH_ENDPOINT")),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := sqs.NewFromConfig(cfg)
	var took time.Duration
	switch mode {
	case "plain":
		took, err = plainReceiveDelete(c, url, n, loops)
	case "worker":
		took, err = workerDrain(c, url, n, loops)
	default:
		err = fmt.Errorf("unknown bench mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(took.Seconds())
	return 0
}

// plainReceiveDelete is the baseline: receive ten, delete them in one
// batch call, again, on as many loops, until n are deleted.
func plainReceiveDelete(c *sqs.Client, url string, n, loops int) (time.Duration, error) {
	start := time.Now()
	var deleted atomic.Int64
	var end time.Time // when the last delete answered: the loops' last long polls are not timed
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, loops)
	for range loops {
		wg.Go(func() {
			for deleted.Load() < int64(n) {
				out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
					MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
				if err != nil {
					errs <- err
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				for i, m := range out.Messages {
					entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
				}
				res, err := c.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
				if err != nil {
					errs <- err
					return
				}
				if deleted.Add(int64(len(res.Successful))) >= int64(n) {
					once.Do(func() { end = time.Now() })
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return end.Sub(start), <-errs
}

// workerDrain runs the worker with a no-op handler until it has deleted n,
// and stops it (the stop, up to a long poll, is not timed).
func workerDrain(c *sqs.Client, url string, n, loops int) (time.Duration, error) {
	start := time.Now()
	noop := func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}
	w := worker.New(c, worker.Options{QueueURL: url, Handler: noop, Concurrency: loops, WaitTime: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for w.Stats().Deleted < int64(n) {
		select {
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("worker stopped after %d: %w", w.Stats().Deleted, err)
		case <-tick.C:
		}
	}
	took := time.Since(start)
	cancel()
	return took, <-done
}
