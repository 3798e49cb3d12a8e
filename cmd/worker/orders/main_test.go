package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/worker"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want worker.Options
		err  string
	}{
		{name: "defaults", env: map[string]string{"QUEUE_URL": "https://q"}, want: worker.Options{QueueURL: "https://q"}},
		{name: "every knob", env: map[string]string{"QUEUE_URL": "https://q", "WORKER_CONCURRENCY": "16", "WORKER_BATCH_SIZE": "5",
			"WORKER_WAIT": "5s", "WORKER_VISIBILITY": "120", "WORKER_GRACE": "2m"},
			want: worker.Options{QueueURL: "https://q", Concurrency: 16, BatchSize: 5, WaitTime: 5 * time.Second, Visibility: 2 * time.Minute, Grace: 2 * time.Minute}},
		{name: "no queue", env: map[string]string{}, err: "QUEUE_URL"},
		{name: "concurrency 0", env: map[string]string{"QUEUE_URL": "q", "WORKER_CONCURRENCY": "0"}, err: "WORKER_CONCURRENCY"},
		{name: "batch of 11", env: map[string]string{"QUEUE_URL": "q", "WORKER_BATCH_SIZE": "11"}, err: "WORKER_BATCH_SIZE"},
		{name: "long poll past 20s", env: map[string]string{"QUEUE_URL": "q", "WORKER_WAIT": "30s"}, err: "WORKER_WAIT"},
		{name: "visibility not in seconds", env: map[string]string{"QUEUE_URL": "q", "WORKER_VISIBILITY": "1500ms"}, err: "WORKER_VISIBILITY"},
		{name: "grace not a duration", env: map[string]string{"QUEUE_URL": "q", "WORKER_GRACE": "soon"}, err: "WORKER_GRACE"},
		{name: "grace not past the long poll", env: map[string]string{"QUEUE_URL": "q", "WORKER_GRACE": "5s"}, err: "want more than WORKER_WAIT (20s)"},
		{name: "grace equal to the wait", env: map[string]string{"QUEUE_URL": "q", "WORKER_WAIT": "10s", "WORKER_GRACE": "10s"}, err: "WORKER_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := options(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.QueueURL != tc.want.QueueURL || got.Concurrency != tc.want.Concurrency || got.BatchSize != tc.want.BatchSize ||
				got.WaitTime != tc.want.WaitTime || got.Visibility != tc.want.Visibility || got.Grace != tc.want.Grace {
				t.Errorf("options = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// lineCounter counts the lines of the pipeline's log that contain a text,
// and closes reached once there are enough.
type lineCounter struct {
	mu      sync.Mutex
	buf     strings.Builder
	text    string
	n, want int
	reached chan struct{}
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	c.n += strings.Count(string(p), c.text)
	if c.n >= c.want && c.reached != nil {
		close(c.reached)
		c.reached = nil
	}
	return len(p), nil
}

func (c *lineCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// The built binary gets a real SIGTERM in the middle of a burst of orders:
// it exits 0 within its grace period, and every order is either done once
// (saga completed, one charge, message gone) or untouched with its message
// back in the queue.
func TestSIGTERMMidBurst(t *testing.T) {
	t.Parallel()
	ep := testenv.Endpoint(t)
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	cfg := testenv.Config(t, "")
	db, sq := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	p := testenv.Name(t, "wko")
	tables := orders.Tables{Inventory: p + "-inv", Payments: p + "-pay", Shipments: p + "-ship", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := db.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	q := testenv.CreateQueue(t, sq, p, map[string]string{"VisibilityTimeout": "30"})
	const n = 120
	orderID := func(i int) string { return fmt.Sprintf("o-%03d", i) }
	testenv.SendBatch(t, sq, q.URL, n, func(i int) string {
		b, _ := json.Marshal(map[string]any{"traceId": "t-" + orderID(i), "orderId": orderID(i), "type": orders.EventOrderPlaced, "attempt": 1,
			"payload": orders.Order{OrderID: orderID(i), Amount: 1200, Currency: "EUR", Items: []orders.Item{{SKU: "A", Quantity: 1}}}})
		return string(b)
	}, nil)

	logs := &lineCounter{text: `"msg":"saga completed"`, want: n / 4, reached: make(chan struct{})}
	reached := logs.reached
	stderr := &testenv.SyncBuffer{}
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_ENDPOINT_URL=" + ep, "AWS_REGION=" + testenv.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"QUEUE_URL=" + q.URL, "INVENTORY_TABLE=" + tables.Inventory, "PAYMENTS_TABLE=" + tables.Payments, "SHIPMENTS_TABLE=" + tables.Shipments,
		"SAGA_TABLE=" + tables.Sagas, "IDEMPOTENCY_TABLE=" + tables.Idempotency,
		"WORKER_CONCURRENCY=4", "WORKER_WAIT=1s", "WORKER_GRACE=20s"}
	cmd.Stdout, cmd.Stderr = logs, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	select {
	case <-reached:
	case err := <-exited:
		t.Fatalf("the worker exited before the burst was a quarter through: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("a quarter of the burst not through after 2 minutes\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("exit status %d on SIGTERM, want 0\n%s", exit.ExitCode(), stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a hang guard: the worker gives up itself after WORKER_GRACE
		t.Fatalf("no exit a minute after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("stderr lacks the stopped line:\n%s", stderr.String())
	}

	back := map[string]int{}
	for _, m := range testenv.Drain(t, sq, q.URL) {
		var env struct{ OrderID string }
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &env)
		back[env.OrderID]++
	}
	sagas := map[string]string{}
	scan, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(tables.Sagas), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range scan.Items {
		sagas[attr(item, "sagaId")] = attr(item, "status")
	}
	charges := map[string]int{}
	pays, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(tables.Payments), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range pays.Items {
		if attr(item, "status") == "CHARGED" {
			charges[attr(item, "orderId")]++
		}
	}
	done := 0
	for i := range n {
		id := orderID(i)
		switch {
		case sagas[orders.SagaID(id, 1)] == "COMPLETED" && back[id] == 0 && charges[id] == 1:
			done++
		case sagas[orders.SagaID(id, 1)] == "" && back[id] == 1 && charges[id] == 0:
		default:
			t.Errorf("order %s: saga %q, %d charges, %d times back in the queue: want done once and gone, or untouched and back once", id, sagas[orders.SagaID(id, 1)], charges[id], back[id])
		}
	}
	if done < n/4 || done == n {
		t.Errorf("%d of %d orders done: the SIGTERM did not land mid-burst", done, n)
	}
	t.Logf("SIGTERM after %d orders: %d done, %d back in the queue", n/4, done, len(back))
}

func attr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
