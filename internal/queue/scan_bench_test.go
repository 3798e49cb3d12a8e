package queue_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkScanThroughput compares a full non-destructive scan of 10,000
// messages (receive, parse, match, release) with a plain receive loop
// (receive only, same parallelism) in the same run, and samples peak heap.
// It needs a fast emulator: `make bench-peek` starts fauxqs and sets
// DLQ_BENCH_ENDPOINT. moto is too slow for throughput.
func BenchmarkScanThroughput(b *testing.B) {
	ctx := context.Background()
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-peek"))
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			var m testenv.Metrics
			lostRuns := 0
			for i := 0; b.Loop(); i++ {
				// Each side gets a queue of its own, filled just before it
				// runs, and alternates going first: the emulator is never
				// busier for one than for the other.
				var scanDur, plainDur, fairDur time.Duration
				// A receive whose answer was lost (fauxqs over loopback: see
				// docs/development.md) leaves messages hidden: that
				// iteration is counted, not measured.
				lost := false
				var peakHeap uint64
				scanSide := func() {
					url := fill(b, c, fmt.Sprintf("bench-scan-%d-%d-%d", n, i, time.Now().UnixNano()), n)
					runtime.GC()
					peak, stopSampling := testenv.HeapPeak(5 * time.Millisecond)
					start := time.Now()
					res, err := queue.Scan(ctx, c, url, queue.ScanOptions{Depth: int64(n)}, func(m *queue.Message) bool {
						return m.OrderID == "order-7" // keep a handful: memory should follow matches, not scans
					})
					scanDur = time.Since(start)
					stopSampling()
					peakHeap = peak.Load()
					if err == nil && !res.HiddenUntil.IsZero() {
						lost = true // measured again in the next iteration
					} else if err != nil || res.Scanned != n || res.Released != n {
						b.Fatalf("scan: %v, scanned %d, released %d", err, res.Scanned, res.Released)
					}
					// Leave fauxqs as empty as it was: it slows as it holds more.
					_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
				}
				plainSide := func() {
					url := fill(b, c, fmt.Sprintf("bench-plain-%d-%d-%d", n, i, time.Now().UnixNano()), n)
					runtime.GC()
					var handles []string
					var ok bool
					plainDur, handles, ok = plainReceive(b, c, url, n)
					lost = lost || !ok
					// The fair baseline for a scan that must give back what it
					// received: the same receives, then the same releases.
					relStart := time.Now()
					if _, err := queue.Release(ctx, c, url, handles); err != nil {
						b.Fatal(err)
					}
					fairDur = plainDur + time.Since(relStart)
					_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
				}
				if i%2 == 0 {
					scanSide()
					plainSide()
				} else {
					plainSide()
					scanSide()
				}
				if lost {
					lostRuns++
					continue
				}
				m.Add("scan-msg/s", float64(n)/scanDur.Seconds())
				m.Add("plain-msg/s", float64(n)/plainDur.Seconds())
				m.Add("scan-%-of-plain", plainDur.Seconds()/scanDur.Seconds()*100)
				m.Add("scan-%-of-receive+release", fairDur.Seconds()/scanDur.Seconds()*100)
				m.Add("peak-heap-MiB", float64(peakHeap)/(1<<20))
			}
			m.Report(b)
			b.ReportMetric(float64(lostRuns), "lost-receive-runs")
		})
	}
}

func fill(b *testing.B, c *sqs.Client, name string, n int) string {
	b.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		b.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i += 10 {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var entries []types.SendMessageBatchRequestEntry
			for j := i; j < min(i+10, n); j++ {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)),
					MessageBody: aws.String(fmt.Sprintf(`{"traceId":"trace-%d","orderId":"order-%d","payload":{"amount":%d,"currency":"EUR","note":"%0200d"}}`, j, j, j, j))})
			}
			if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				b.Error(err)
			}
		}(i)
	}
	wg.Wait()
	return url
}

// plainReceive is the baseline: four receivers, ten messages a call, short
// polls, until n distinct messages were seen; nothing parsed, matched or
// released. It returns the time and the receipt handles, and false if a
// receive's answer was lost (it stops there).
func plainReceive(b *testing.B, c *sqs.Client, url string, n int) (time.Duration, []string, bool) {
	b.Helper()
	var mu sync.Mutex
	var handles []string
	var seen sync.Map
	var count atomic.Int64
	var lost atomic.Bool
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for count.Load() < int64(n) {
				out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
					VisibilityTimeout:           300,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}, MessageAttributeNames: []string{"All"}})
				if err != nil {
					if queue.Rejected(err) {
						b.Error(err)
					}
					lost.Store(true)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				mu.Lock()
				for _, m := range out.Messages {
					if _, dup := seen.LoadOrStore(aws.ToString(m.MessageId), true); !dup {
						count.Add(1)
					}
					handles = append(handles, aws.ToString(m.ReceiptHandle))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(start), handles, !lost.Load()
}
