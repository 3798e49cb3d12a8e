package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/pipeline/worker"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("DLQ_BENCH_CHILD"); mode != "" {
		os.Exit(benchChild(mode)) // a consumer process of BenchmarkWorkerThroughput
	}
	os.Exit(testenv.Main(m))
}

// waitUntil polls cond until it holds; a test that waits longer than
// limit failed (the limit is a hang guard, never what the test checks).
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func depth(t *testing.T, c *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

// ledger records each attempt at a record.
type ledger struct {
	mu       sync.Mutex
	attempts map[string][]int // group → the sequence number of each attempt, in order
	ok       map[int]int      // the body's n → successful runs
}

func newLedger() *ledger { return &ledger{attempts: map[string][]int{}, ok: map[int]int{}} }

func (l *ledger) record(group string, seq, n int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts[group] = append(l.attempts[group], seq)
	if ok {
		l.ok[n]++
	}
}

func (l *ledger) succeeded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ok)
}

func body(n int) string { return fmt.Sprintf(`{"n":%d}`, n) }

func bodyN(rec events.SQSMessage) int {
	var b struct{ N int }
	_ = json.Unmarshal([]byte(rec.Body), &b)
	return b.N
}

func startWorker(t *testing.T, w *worker.Worker) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run worker: %v", err)
			}
		}
	})
	return func() error {
		stopped = true
		cancel()
		return <-done
	}
}

// A burst with a poison record: every good record is processed once and
// deleted; the poison one is failed on each of its maxReceiveCount
// deliveries and then SQS's redrive moves it to the DLQ.
func TestBurstWithPoisonDeadLettered(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	name := testenv.Name(t, "wk")
	dlq := testenv.CreateQueue(t, c, name+"-dlq", nil)
	const maxReceives, n, poison = 2, 60, 17
	src := testenv.CreateQueue(t, c, name, testenv.With(testenv.Redrive(dlq.ARN, maxReceives), map[string]string{"VisibilityTimeout": "3"}))
	testenv.SendBatch(t, c, src.URL, n, body, nil)

	l := newLedger()
	h := sqsbatch.New(func(_ context.Context, rec events.SQSMessage, _ trace.Envelope) error {
		i := bodyN(rec)
		l.record("", i, i, i != poison)
		if i == poison {
			return errors.New("poison")
		}
		return nil
	}, sqsbatch.Options{})
	// One receive loop: moto 5.2.1 now and then hands a message to two
	// concurrent receives (TestStopMidBurstLosesNothing tolerates that);
	// here every delivery must be the worker's doing.
	w := worker.New(c, worker.Options{QueueURL: src.URL, Handler: h, Concurrency: 1, WaitTime: time.Second})
	stop := startWorker(t, w)
	waitUntil(t, 2*time.Minute, "the poison record in the DLQ and the source queue empty", func() bool {
		v, f := depth(t, c, src.URL)
		dv, _ := depth(t, c, dlq.URL)
		return v == 0 && f == 0 && dv == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if want := map[bool]int{true: 0, false: 1}[i == poison]; l.ok[i] != want {
			t.Errorf("record %d processed %d times, want %d", i, l.ok[i], want)
		}
	}
	if got := slices.DeleteFunc(slices.Clone(l.attempts[""]), func(i int) bool { return i != poison }); len(got) != maxReceives {
		t.Errorf("poison attempted %d times, want maxReceiveCount (%d)", len(got), maxReceives)
	}
	left := testenv.Drain(t, c, dlq.URL)
	if len(left) != 1 || aws.ToString(left[0].Body) != body(poison) {
		t.Errorf("DLQ holds %d messages, want only the poison one", len(left))
	}
	if s := w.Stats(); s.Deleted != n-1 || s.Failed != maxReceives || s.Undeleted != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// FIFO: records of a group run in order, across batches, also when one
// fails: the rest of its group waits for its redelivery. One receive loop:
// moto 5.2.1 does not keep a group locked against a concurrent long poll
// (it checks the groups in flight once, when the poll starts), nor
// redeliver a group's head first when more than one of its messages come
// back at once; AWS does both, and with one loop neither case arises.
func TestFIFOOrderPerGroup(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "wkf")+".fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "3"})
	const groups, perGroup = 5, 8
	// Message i is the (i/groups)-th of group i%groups; n encodes both.
	testenv.SendBatch(t, c, q.URL, groups*perGroup, body, func(i int) string { return fmt.Sprintf("g%d", i%groups) })

	l := newLedger()
	var once sync.Once
	h := sqsbatch.New(func(_ context.Context, rec events.SQSMessage, _ trace.Envelope) error {
		i := bodyN(rec)
		group, seq := rec.Attributes["MessageGroupId"], i/groups
		fail := false
		if group == "g1" && seq == 3 {
			once.Do(func() { fail = true })
		}
		l.record(group, seq, i, !fail)
		if fail {
			return errors.New("first delivery of g1's fourth fails")
		}
		return nil
	}, sqsbatch.Options{})
	w := worker.New(c, worker.Options{QueueURL: q.URL, Handler: h, Concurrency: 1, WaitTime: time.Second})
	stop := startWorker(t, w)
	waitUntil(t, 2*time.Minute, "every record processed", func() bool { return l.succeeded() == groups*perGroup })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for g := range groups {
		want := []int{0, 1, 2, 3, 4, 5, 6, 7}
		if g == 1 {
			want = []int{0, 1, 2, 3, 3, 4, 5, 6, 7}
		}
		if got := l.attempts[fmt.Sprintf("g%d", g)]; !slices.Equal(got, want) {
			t.Errorf("group g%d ran %v, want %v", g, got, want)
		}
	}
	if v, f := depth(t, c, q.URL); v+f != 0 {
		t.Errorf("%d messages left in the queue", v+f)
	}
}

// A record that runs three times longer than the queue's visibility
// timeout is not delivered to anyone else meanwhile: the heartbeat keeps
// it hidden; it is deleted when it is done.
func TestVisibilityExtendedWhileARecordRuns(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	const visibility = 2 * time.Second
	q := testenv.CreateQueue(t, c, testenv.Name(t, "wkv"), map[string]string{"VisibilityTimeout": "2"})
	testenv.Send(t, c, q.URL, 1, body(1))

	started, release := make(chan time.Time), make(chan struct{})
	var mu sync.Mutex
	invocations := 0
	h := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		invocations++
		first := invocations == 1
		mu.Unlock()
		if first {
			started <- time.Now()
			<-release
		}
		return events.SQSEventResponse{}, nil
	}
	// Renewed every half second: a loaded machine may run a heartbeat
	// late by up to 1.5 s before the hold lapses.
	w := worker.New(c, worker.Options{QueueURL: q.URL, Handler: h, Concurrency: 2, WaitTime: time.Second, Heartbeat: 500 * time.Millisecond})
	stop := startWorker(t, w)
	since := <-started
	for time.Since(since) < 3*visibility {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			close(release)
			t.Fatalf("the record was delivered again %s after it started, while it ran", time.Since(since).Round(time.Millisecond))
		}
	}
	close(release)
	waitUntil(t, time.Minute, "the record deleted", func() bool { return w.Stats().Deleted == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if invocations != 1 || w.Stats().Extended < 1 {
		t.Errorf("%d invocations, %d extensions: want 1 invocation, renewed", invocations, w.Stats().Extended)
	}
	if v, f := depth(t, c, q.URL); v+f != 0 {
		t.Errorf("%d messages left in the queue", v+f)
	}
}

// A stop mid-burst, with four receive loops: Run returns nil, and every
// message is either processed and gone, or back in the queue, never both,
// never neither. (Processed twice is SQS's at-least-once delivery, which
// idempotency absorbs: moto 5.2.1 hands a message to two concurrent
// receives about once in 400, so it is counted, not failed.)
func TestStopMidBurstLosesNothing(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "wks"), map[string]string{"VisibilityTimeout": "30"})
	const n = 150
	testenv.SendBatch(t, c, q.URL, n, body, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLedger()
	h := sqsbatch.New(func(_ context.Context, rec events.SQSMessage, _ trace.Envelope) error {
		l.record("", bodyN(rec), bodyN(rec), true)
		if l.succeeded() >= n/3 {
			cancel() // SIGTERM, with batches in flight and receives out
		}
		return nil
	}, sqsbatch.Options{})
	w := worker.New(c, worker.Options{QueueURL: q.URL, Handler: h, Concurrency: 4, WaitTime: time.Second})
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	back := map[int]int{}
	for _, m := range testenv.Drain(t, c, q.URL) {
		var b struct{ N int }
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &b)
		back[b.N]++
	}
	dup := 0
	for i := range n {
		if (l.ok[i] > 0) == (back[i] > 0) || back[i] > 1 {
			t.Errorf("message %d processed %d times and %d times back in the queue: want exactly one of the two", i, l.ok[i], back[i])
		}
		dup += max(l.ok[i]-1, 0)
	}
	s := w.Stats()
	if int(s.Deleted) != len(l.ok)+dup || s.Undeleted != 0 || len(back) == 0 || len(l.ok) < n/3 {
		t.Errorf("stats %+v; %d processed, %d back: want the stop to land mid-burst and every processed one deleted", s, len(l.ok), len(back))
	}
	t.Logf("stop mid-burst: %d processed (%d delivered twice by the emulator), %d back in the queue (%d released unstarted)", len(l.ok), dup, len(back), s.Released)
}
