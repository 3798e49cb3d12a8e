package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/emulator"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkReplayThroughput replays 20,000 × 1 KB messages with --order
// none and --order sent, next to a plain receive→send→delete loop with the
// same parallelism in the same run; it reports msg/s, AWS calls per
// message and peak heap. It needs a fast emulator: `make bench-replay`
// starts fauxqs, `make bench-replay-latency` puts toxiproxy in front of it.
func BenchmarkReplayThroughput(b *testing.B) {
	n := 20000
	if s := os.Getenv("BENCH_MESSAGES"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	conc := 8
	if s := os.Getenv("BENCH_CONCURRENCY"); s != "" {
		_, _ = fmt.Sscan(s, &conc)
	}
	counter := testenv.NewCallCounter()
	ctx := context.Background()
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-replay", counter.Middleware))
	for _, mode := range []string{"plain", string(replay.OrderNone), string(replay.OrderSent)} {
		b.Run(mode, func(b *testing.B) {
			var m testenv.Metrics
			for i := 0; b.Loop(); i++ {
				tag := fmt.Sprintf("%s-%d-%d", mode, i, time.Now().UnixNano())
				dlqURL := create(b, c, "bench-dlq-"+tag)
				dstURL := create(b, c, "bench-dst-"+tag)
				fillN(b, c, dlqURL, n)
				runtime.GC()
				peak, stop := testenv.HeapPeak(5 * time.Millisecond)
				counter.Reset()
				start := time.Now()
				if mode == "plain" {
					plainMove(b, c, dlqURL, dstURL, n, conc)
				} else {
					r, err := replay.Run(ctx, replay.Config{API: c, DLQ: dlqURL, To: dstURL, Force: true, Order: replay.Order(mode), Concurrency: conc})
					if err != nil || r.Deleted != n || !r.Verified {
						b.Fatalf("%v: %+v", err, r)
					}
				}
				d := time.Since(start)
				stop()
				calls := 0
				for _, v := range counter.Counts() {
					calls += v
				}
				// Leave fauxqs as empty as it was: it slows as it holds more.
				for _, u := range []string{dlqURL, dstURL} {
					_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
				}
				m.Add("msg/s", float64(n)/d.Seconds())
				m.Add("calls/msg", float64(calls)/float64(n))
				m.Add("peak-heap-MiB", float64(peak.Load())/(1<<20))
			}
			m.Report(b)
		})
	}
}

func create(b *testing.B, c *sqs.Client, name string) string {
	b.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// fillN puts n messages of about 1 KB on a queue; with keys > 0 their
// orderIds cycle through that many orders, else each has its own.
func fillN(b *testing.B, c *sqs.Client, url string, n int, keys ...int) {
	b.Helper()
	body := strings.Repeat("x", 1000)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i += 10 {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var entries []types.SendMessageBatchRequestEntry
			for j := i; j < min(i+10, n); j++ {
				order := j
				if len(keys) > 0 && keys[0] > 0 {
					order = j % keys[0]
				}
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprintf(`{"orderId":"o-%d","seq":%d,"pad":"%s"}`, order, j, body[:960]))})
			}
			if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				b.Error(err)
			}
		}(i)
	}
	wg.Wait()
}

// plainMove is the baseline: receive ten, send them, delete them, with
// workers in parallel; no journal, no ordering, no filters. With mark,
// each message carries a marker as replay's does (its one attribute):
// what that attribute costs the client and the emulator, apart from the
// rest of replay.
func plainMove(b *testing.B, c *sqs.Client, from, to string, n, workers int, mark ...bool) {
	b.Helper()
	var moved atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for moved.Load() < int64(n) {
				out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(from), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
					MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				send := make([]types.SendMessageBatchRequestEntry, len(out.Messages))
				del := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				for i, m := range out.Messages {
					send[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes}
					if len(mark) > 0 && mark[0] {
						now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
						mk, _ := json.Marshal(replay.Marker{OriginalMessageID: aws.ToString(m.MessageId), OriginalSentAt: now, DLQ: from[strings.LastIndex(from, "/")+1:], Count: 1, ReplayedAt: now})
						send[i].MessageAttributes = map[string]types.MessageAttributeValue{replay.MarkerAttribute: {DataType: aws.String("String"), StringValue: aws.String(string(mk))}}
					}
					del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
				}
				if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(to), Entries: send}); err != nil {
					b.Error(err)
					return
				}
				if _, err := c.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(from), Entries: del}); err != nil {
					b.Error(err)
					return
				}
				moved.Add(int64(len(out.Messages)))
			}
		}()
	}
	wg.Wait()
}

// BenchmarkReplayCLI times what users run: the dlq binary at default flags
// (plus --yes -o json), as a whole process, per --order mode, next to the
// plain loop, and the plain loop adding replay's marker; each iteration
// runs every one of them, in a rotating order, so that the ratios compare
// runs made side by side. It reports the medians of msg/s and of each
// mode's ratio to the plain loop, and the process's largest peak RSS. BENCH_MESSAGES (default 20,000) and
// BENCH_KEYS (orders the messages are spread over; default 500) size it.
func BenchmarkReplayCLI(b *testing.B) {
	n, keys := 20000, 500
	if s := os.Getenv("BENCH_MESSAGES"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	if s := os.Getenv("BENCH_KEYS"); s != "" {
		_, _ = fmt.Sscan(s, &keys)
	}
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-replay"))
	endpoint := os.Getenv("DLQ_BENCH_ENDPOINT")
	bin := filepath.Join(b.TempDir(), "dlq")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/dlq").CombinedOutput(); err != nil {
		b.Fatalf("build dlq: %v\n%s", err, out)
	}
	state := b.TempDir()
	env := append(os.Environ(), "XDG_STATE_HOME="+state, "XDG_CONFIG_HOME="+state, "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true")
	modes := []string{"plain", "plain-marked", string(replay.OrderKey), string(replay.OrderNone)}
	if s := os.Getenv("BENCH_MODES"); s != "" {
		modes = strings.Split(s, ",") // the first is the baseline of the ratios
	}
	var m testenv.Metrics
	rss := map[string]float64{} // the largest
	run := func(mode string, i int) (float64, float64) {
		if cmd := os.Getenv("BENCH_FRESH_FAUXQS"); cmd != "" {
			// fauxqs slows for good after large runs, even once their
			// queues are deleted: each run gets a fresh one.
			var stop func()
			c, endpoint, stop = freshFauxqs(b, cmd)
			defer stop()
		}
		tag := fmt.Sprintf("cli-%s-%d-%d", mode, i, time.Now().UnixNano())
		dlqURL := create(b, c, "bench-dlq-"+tag)
		dstURL := create(b, c, "bench-dst-"+tag)
		fillN(b, c, dlqURL, n, keys)
		start := time.Now()
		peak := 0.0
		switch mode {
		case "plain", "plain-marked":
			plainMove(b, c, dlqURL, dstURL, n, 8, mode == "plain-marked")
		default:
			args := []string{"--endpoint-url", endpoint, "--region", testenv.Region, "replay", dlqURL, "--to", dstURL, "--force", "--yes", "-o", "json"}
			if mode != string(replay.OrderKey) {
				args = append(args, "--order", mode)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			var r replay.Report
			if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil || r.Deleted != n || !r.Verified {
				b.Fatalf("%v: %+v\n%s", err, r, stderr.String())
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peak = float64(ru.Maxrss) / 1024 // KiB on Linux
			}
		}
		d := time.Since(start)
		// Leave fauxqs as empty as it was: it slows as it holds more.
		for _, u := range []string{dlqURL, dstURL} {
			_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
		return float64(n) / d.Seconds(), peak
	}
	for i := 0; b.Loop(); i++ {
		got := map[string]float64{}
		for k := range modes {
			mode := modes[(i+k)%len(modes)]
			var peak float64
			got[mode], peak = run(mode, i)
			rss[mode] = max(rss[mode], peak)
		}
		for _, mode := range modes {
			m.Add(mode+"-msg/s", got[mode])
			if base := modes[0]; mode != base {
				m.Add(mode+"-of-"+base, got[mode]/got[base])
			}
		}
	}
	m.Report(b)
	for _, mode := range modes {
		if rss[mode] > 0 {
			b.ReportMetric(rss[mode], mode+"-peak-RSS-MiB")
		}
	}
}

// BenchmarkReplayKeyTimeline replays BENCH_MESSAGES (default 300,000) over
// BENCH_KEYS orders (default 5,000) with the engine in process at default
// settings (BENCH_WINDOW: another window) and --order key (BENCH_ORDER:
// another; none streams, as the CLI with --yes does), and prints
// where the time goes to stderr: every 5 s, what was sent and deleted (flat
// while a round scans), then the run's status lines and calls. With -cpuprofile it is the profile issue 27 asks for. It takes
// minutes: not part of make test.
func BenchmarkReplayKeyTimeline(b *testing.B) {
	n, keys, window := 300000, 5000, 0
	if s := os.Getenv("BENCH_MESSAGES"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	if s := os.Getenv("BENCH_KEYS"); s != "" {
		_, _ = fmt.Sscan(s, &keys)
	}
	if s := os.Getenv("BENCH_WINDOW"); s != "" {
		_, _ = fmt.Sscan(s, &window)
	}
	order := replay.OrderKey
	if s := os.Getenv("BENCH_ORDER"); s != "" {
		order = replay.Order(s)
	}
	counter := testenv.NewCallCounter()
	ctx := context.Background()
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-replay", counter.Middleware))
	for i := 0; b.Loop(); i++ {
		tag := fmt.Sprintf("timeline-%d-%d", i, time.Now().UnixNano())
		dlqURL, dstURL := create(b, c, "bench-dlq-"+tag), create(b, c, "bench-dst-"+tag)
		fillN(b, c, dlqURL, n, keys)
		counter.Reset()
		var mu sync.Mutex
		var last replay.Progress
		var statuses []string
		start := time.Now()
		done := make(chan struct{})
		go func() {
			tick := time.NewTicker(5 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					mu.Lock()
					fmt.Fprintf(os.Stderr, "%5.0fs sent %7d deleted %7d (round total %d) in flight %d\n", time.Since(start).Seconds(), last.Sent, last.Deleted, last.Total, last.InFlight)
					mu.Unlock()
				}
			}
		}()
		var j journal.Journal
		if os.Getenv("BENCH_JOURNAL") != "" { // as the CLI: a journal file, the soft memory limit
			jf, err := journal.OpenFile(filepath.Join(b.TempDir(), "journal.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = jf.Close() })
			j = jf
		}
		r, err := replay.Run(ctx, replay.Config{API: c, DLQ: dlqURL, To: dstURL, Force: true, Order: order, SpoolDir: b.TempDir(), Window: window,
			Journal: j, LimitMemory: j != nil,
			Stream:   true, // as the CLI with --yes: --order none sends while it scans
			Progress: func(p replay.Progress) { mu.Lock(); last = p; mu.Unlock() },
			Status: func(s string) {
				mu.Lock()
				statuses = append(statuses, fmt.Sprintf("%.1fs %s", time.Since(start).Seconds(), s))
				mu.Unlock()
			}})
		close(done)
		d := time.Since(start)
		if err != nil || r.Deleted != n || !r.Verified {
			b.Fatalf("%v: %+v", err, r)
		}
		for _, s := range statuses {
			fmt.Fprintln(os.Stderr, "status: "+s)
		}
		fmt.Fprintf(os.Stderr, "%d messages in %.1f s: %.0f msg/s; calls %v\n", n, d.Seconds(), float64(n)/d.Seconds(), counter.Counts())
		for _, u := range []string{dlqURL, dstURL} {
			_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
		b.ReportMetric(float64(n)/d.Seconds(), "msg/s")
	}
}

// freshFauxqs starts `cmd` (fauxqs: node and its cli.js) on a free port
// and returns a client of it, and how to stop it.
func freshFauxqs(b *testing.B, cmd string) (*sqs.Client, string, func()) {
	b.Helper()
	port, err := emulator.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(cmd)
	p := exec.Command(f[0], f[1:]...)
	p.Env = append(os.Environ(), fmt.Sprintf("FAUXQS_PORT=%d", port), "FAUXQS_LOGGER=false")
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() { _ = p.Process.Kill(); _ = p.Wait() }
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	for range 100 {
		if r, err := http.Get(endpoint); err == nil {
			_ = r.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An option, not the config's BaseEndpoint: the loaded config's own
	// endpoint would win over that.
	c := sqs.NewFromConfig(testenv.BenchConfig(b, "bench-replay"), func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	return c, endpoint, stop
}
