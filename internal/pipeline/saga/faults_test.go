package saga_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// storeFaults wraps the idempotency table: writes to keys containing
// match fail (PutItem: Acquire, UpdateItem: Complete) while their counter
// is above zero (-1: always).
type storeFaults struct {
	idempotency.DynamoAPI
	match             string
	failPut, failComp atomic.Int32
}

func hit(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v == 0 {
			return false
		}
		if v < 0 || n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (f *storeFaults) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if strings.Contains(fmt.Sprint(in.Item["id"]), f.match) && hit(&f.failPut) {
		return nil, errors.New("dynamodb: connection reset")
	}
	return f.DynamoAPI.PutItem(ctx, in, o...)
}

func (f *storeFaults) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if strings.Contains(fmt.Sprint(in.Key["id"]), f.match) && hit(&f.failComp) {
		return nil, errors.New("dynamodb: throttled")
	}
	return f.DynamoAPI.UpdateItem(ctx, in, o...)
}

func faultyIdem(e env, f *storeFaults) idempotency.Config {
	store := *e.idem.Store.(*idempotency.DynamoStore)
	f.DynamoAPI = store.API
	store.API = f
	return idempotency.Config{Store: &store, Sleep: func(context.Context, time.Duration) error { return nil }}
}

// The charge ran but recording it kept failing: it is a completed step.
// When shipping then fails, the charge is refunded (it used to be left
// charged: effects [reserve charge undo-reserve], status COMPENSATED).
func TestAChargeWhoseRecordFailedIsRefunded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	f := &storeFaults{match: "-charge-1"}
	f.failComp.Store(-1)
	o.Idem = faultyIdem(e, f)
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-unrecorded", 1)
	if err != nil || st.Status != saga.StatusCompensated || fmt.Sprint(w.effects) != "[reserve charge undo-charge undo-reserve]" {
		t.Fatalf("status %s, effects %v, err %v", st.Status, w.effects, err)
	}
	assertTraced(t, e.logs)
}

// The store cannot take the charge's key (three writes in a row fail:
// Acquire's own resends too): the charge did not run, and that is no
// reason to cancel the order. The saga keeps its place, the delivery is
// retried, and the order completes.
func TestAStoreOutageBeforeAStepRetriesInsteadOfCompensating(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	f := &storeFaults{match: "-charge-1"}
	f.failPut.Store(3)
	o.Idem = faultyIdem(e, f)
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-outage", 1)
	if !errors.Is(err, idempotency.ErrUnavailable) || st.Status != saga.StatusRunning || fmt.Sprint(w.effects) != "[reserve]" {
		t.Fatalf("first delivery: status %s, effects %v, err %v", st.Status, w.effects, err)
	}
	st, err = o.Run(ctx, "saga-outage", 1)
	if err != nil || st.Status != saga.StatusCompleted || fmt.Sprint(w.effects) != "[reserve charge ship]" {
		t.Fatalf("redelivery: status %s, effects %v, err %v", st.Status, w.effects, err)
	}
}

// clock is an injected clock that sleeping advances.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// Another worker holds a compensation's key (it crashed while refunding):
// the compensation waits out its lease, then takes over and refunds,
// instead of giving up after a few quick attempts and dead-lettering a
// saga that was fine.
func TestCompensationWaitsOutAnotherWorkersLease(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	clk := &clock{now: time.Now()}
	o.Now, o.Sleep = clk.Now, clk.Sleep
	o.Idem.Now, o.Idem.MaxProcessing = clk.Now, 2*time.Minute
	key := "saga-held-charge-compensate-1"
	if _, _, err := o.Idem.Store.Acquire(context.Background(), key, mustHash(t, key), 2*time.Minute, time.Hour, clk.Now()); err != nil {
		t.Fatal(err)
	}
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-held", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 || len(dead) != 0 {
		t.Fatalf("status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
}

func mustHash(t *testing.T, payload string) string {
	t.Helper()
	h, err := idempotency.Hash(payload)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
