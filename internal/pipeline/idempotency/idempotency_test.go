package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newStore(t testing.TB, c *dynamodb.Client) *idempotency.DynamoStore {
	t.Helper()
	name := testenv.Name(t, "idem")
	if _, err := c.CreateTable(context.Background(), idempotency.CreateTableInput(name)); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return &idempotency.DynamoStore{API: c, Table: name}
}

type charge struct {
	PaymentID string `json:"paymentId"`
	Amount    int    `json:"amount"`
}

func TestConcurrentDeliveriesChargeOnce(t *testing.T) {
	t.Parallel()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	cfg := idempotency.Config{Store: newStore(t, c), Namespace: "payments"}
	key := idempotency.Key("order", "123", "payment", "attempt", "1")
	payload := map[string]any{"orderId": "123", "amount": 4999}
	var charges atomic.Int32
	pay := func(context.Context) (charge, error) { //nolint:unparam // the shape idempotency.Do takes
		n := charges.Add(1)
		time.Sleep(50 * time.Millisecond) // the provider takes a moment
		return charge{PaymentID: fmt.Sprintf("pay-%d", n), Amount: 4999}, nil
	}

	const deliveries = 64
	results := make([]charge, deliveries)
	errs := make([]error, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A delivery told "in progress" comes back later, as SQS would.
			for {
				res, _, err := idempotency.Do(context.Background(), cfg, key, payload, pay)
				if errors.Is(err, idempotency.ErrInProgress) {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				results[i], errs[i] = res, err
				return
			}
		}()
	}
	wg.Wait()
	if n := charges.Load(); n != 1 {
		t.Fatalf("%d charges for one payment, want exactly 1", n)
	}
	for i := range deliveries {
		if errs[i] != nil || results[i] != (charge{PaymentID: "pay-1", Amount: 4999}) {
			t.Fatalf("delivery %d: %+v, %v", i, results[i], errs[i])
		}
	}
}

func TestStaleLeaseTakeoverAndFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	store := newStore(t, c)
	key := "orders#order-7-payment-attempt-1"
	hash, _ := idempotency.Hash("p")
	// The lease runs out on an injected clock, not on moto's speed.
	clock := testenv.NewClock(time.Now())
	now := clock.Now()

	// Worker A acquires and dies before completing.
	stale, existing, err := store.Acquire(ctx, key, hash, 300*time.Millisecond, time.Hour, now)
	if err != nil || existing != nil {
		t.Fatalf("acquire: %v %v", err, existing)
	}
	cfg := idempotency.Config{Store: store, MaxProcessing: time.Minute, Now: clock.Now}
	var runs atomic.Int32
	op := func(context.Context) (string, error) { runs.Add(1); return "done-by-B", nil }

	// Before the lease runs out: in progress.
	if _, _, err := idempotency.Do(ctx, cfg, "orders#order-7-payment-attempt-1", "p", op); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("before expiry: err = %v, want ErrInProgress", err)
	}
	// After: B takes over and completes.
	_ = clock.Sleep(ctx, 400*time.Millisecond)
	res, outcome, err := idempotency.Do(ctx, cfg, "orders#order-7-payment-attempt-1", "p", op)
	if err != nil || outcome != idempotency.Executed || res != "done-by-B" || runs.Load() != 1 {
		t.Fatalf("takeover: %q %v %v runs=%d", res, outcome, err, runs.Load())
	}
	// A wakes up: its completion and its release are both fenced off.
	if err := store.Complete(ctx, stale, []byte(`"done-by-A"`), time.Hour, clock.Now()); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("stale complete: err = %v, want ErrLeaseLost", err)
	}
	if err := store.Release(ctx, stale); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Errorf("stale release: err = %v, want ErrLeaseLost", err)
	}
	res, outcome, err = idempotency.Do(ctx, cfg, "orders#order-7-payment-attempt-1", "p", op)
	if err != nil || outcome != idempotency.Duplicate || res != "done-by-B" {
		t.Errorf("after the fence: %q %v %v, want B's result as a duplicate", res, outcome, err)
	}
}

func TestPayloadMismatchFailureAndSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	cfg := idempotency.Config{Store: newStore(t, c)}
	ok := func(context.Context) (int, error) { return 1, nil }
	if _, _, err := idempotency.Do(ctx, cfg, "k1", map[string]int{"amount": 1}, ok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := idempotency.Do(ctx, cfg, "k1", map[string]int{"amount": 2}, ok); !errors.Is(err, idempotency.ErrPayloadMismatch) {
		t.Errorf("same key, other payload: err = %v, want ErrPayloadMismatch", err)
	}

	// A failed run frees the key: the retry runs.
	boom := errors.New("provider down")
	calls := 0
	flaky := func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, boom
		}
		return 2, nil
	}
	if _, _, err := idempotency.Do(ctx, cfg, "k2", "p", flaky); !errors.Is(err, boom) {
		t.Fatalf("first run: %v", err)
	}
	if res, outcome, err := idempotency.Do(ctx, cfg, "k2", "p", flaky); err != nil || res != 2 || outcome != idempotency.Executed {
		t.Fatalf("retry after failure: %v %v %v", res, outcome, err)
	}

	// A result over DynamoDB's item size: the caller gets it, the key is
	// recorded COMPLETE without it, and no delivery runs the operation
	// again (it used to free the key: every delivery charged again).
	runs := 0
	huge := func(context.Context) (string, error) {
		runs++
		return strings.Repeat("x", idempotency.MaxItemBytes), nil
	}
	if res, outcome, err := idempotency.Do(ctx, cfg, "k3", "p", huge); err != nil || outcome != idempotency.Executed || len(res) != idempotency.MaxItemBytes {
		t.Fatalf("huge result: %d bytes, %v, %v", len(res), outcome, err)
	}
	for range 3 {
		if res, outcome, err := idempotency.Do(ctx, cfg, "k3", "p", huge); err != nil || outcome != idempotency.Duplicate || res != "" {
			t.Fatalf("redelivery after a too-large result: %d bytes, %v, %v", len(res), outcome, err)
		}
	}
	if runs != 1 {
		t.Errorf("the operation ran %d times over 4 deliveries, want 1", runs)
	}
}

func TestDynamoCallsPerRecord(t *testing.T) {
	t.Parallel()
	counter := testenv.NewCallCounter()
	c := dynamodb.NewFromConfig(testenv.Config(t, "", counter.Middleware))
	cfg := idempotency.Config{Store: newStore(t, c)}
	op := func(context.Context) (int, error) { return 1, nil }
	counter.Reset()
	if _, _, err := idempotency.Do(context.Background(), cfg, "first", "p", op); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); fmt.Sprint(got) != "map[PutItem:1 UpdateItem:1]" {
		t.Errorf("first delivery: %v, want one PutItem and one UpdateItem", got)
	}
	counter.Reset()
	if _, outcome, err := idempotency.Do(context.Background(), cfg, "first", "p", op); err != nil || outcome != idempotency.Duplicate {
		t.Fatal(err)
	}
	if got := counter.Counts(); fmt.Sprint(got) != "map[PutItem:1]" {
		t.Errorf("duplicate: %v, want one PutItem (ALL_OLD returns the record)", got)
	}
}

func TestForBatch(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]idempotency.BatchOutcome{
		nil: idempotency.BatchSuccess,
		fmt.Errorf("x: %w", idempotency.ErrInProgress):      idempotency.BatchRetryLater,
		fmt.Errorf("x: %w", idempotency.ErrPayloadMismatch): idempotency.BatchFailure,
		errors.New("boom"): idempotency.BatchFailure,
	} {
		if got := idempotency.ForBatch(err); got != want {
			t.Errorf("ForBatch(%v) = %v, want %v", err, got, want)
		}
	}
}
