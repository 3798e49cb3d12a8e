package saga_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/testenv"
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

// Another worker holds a compensation's key (it crashed while refunding):
// the compensation waits out its lease, then takes over and refunds,
// instead of giving up after a few quick attempts and dead-lettering a
// saga that was fine.
func TestCompensationWaitsOutAnotherWorkersLease(t *testing.T) {
	t.Parallel()
	w := &world{failAt: "ship", compFails: map[string]int{}}
	var dead []saga.State
	o, _ := chargeRefundHeldElsewhere(t, w, &dead, "saga-held")
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-held", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 || len(dead) != 0 {
		t.Fatalf("status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
}

// chargeRefundHeldElsewhere is an orchestrator on an injected clock (leases
// of 2 minutes) whose saga's refund key another worker holds, as one that
// crashed while refunding.
func chargeRefundHeldElsewhere(t *testing.T, w *world, dead *[]saga.State, sagaID string) (*saga.Orchestrator, *testenv.Clock) {
	t.Helper()
	o := setup(t).orchestrator(w, dead)
	clk := testenv.NewClock(time.Now())
	o.Now, o.Sleep = clk.Now, clk.Sleep
	o.Idem.Now, o.Idem.MaxProcessing = clk.Now, 2*time.Minute
	key := sagaID + "-charge-compensate-1"
	if _, _, err := o.Idem.Store.Acquire(context.Background(), key, mustHash(t, key), 2*time.Minute, time.Hour, clk.Now()); err != nil {
		t.Fatal(err)
	}
	return o, clk
}

func mustHash(t *testing.T, payload string) string {
	t.Helper()
	h, err := idempotency.Hash(payload)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The refund cannot reach the store (every write of this delivery fails):
// the outcome is not known, so nothing is given up. The saga stays
// COMPENSATING, nothing is dead-lettered, the delivery is retried, and the
// redelivery finishes the compensation.
func TestACompensationThatCannotFinishNowIsRetriedNotDeadLettered(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	f := &storeFaults{match: "-charge-compensate-1"}
	f.failPut.Store(-1)
	o.Idem = faultyIdem(e, f)
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-refund-later", 1)
	if err == nil || errors.Is(err, saga.ErrCompensationFailed) || st.Status != saga.StatusCompensating || len(dead) != 0 || w.count("undo-charge") != 0 {
		t.Fatalf("first delivery: status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
	f.failPut.Store(0)
	st, err = o.Run(ctx, "saga-refund-later", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 || len(dead) != 0 {
		t.Fatalf("redelivery: status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
}

// Handing a failed saga to its DLQ fails: the delivery is retried (not
// acknowledged as done), and the redelivery hands it over.
func TestADeadLetterThatFailsIsSentAgain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{"charge": -1}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	publish := o.DeadLetter
	var calls int
	o.DeadLetter = func(ctx context.Context, s saga.State) error {
		if calls++; calls == 1 {
			return errors.New("sqs: connection reset")
		}
		return publish(ctx, s)
	}
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-dl", 1)
	if err == nil || errors.Is(err, saga.ErrCompensationFailed) || st.Status != saga.StatusCompensationFailed || len(dead) != 0 {
		t.Fatalf("first delivery: status %s, err %v, dead %d: want a plain error so the message comes back", st.Status, err, len(dead))
	}
	st, err = o.Run(ctx, "saga-dl", 1)
	if !errors.Is(err, saga.ErrCompensationFailed) || len(dead) != 1 || dead[0].SagaID != "saga-dl" {
		t.Fatalf("redelivery: status %s, err %v, dead %d", st.Status, err, len(dead))
	}
}

// Under a deadline (Lambda), a compensation held by another worker does
// not wait out the lease inside the invocation: the delivery is retried.
func TestACompensationHeldElsewhereUnderADeadlineRetriesTheDelivery(t *testing.T) {
	t.Parallel()
	w := &world{failAt: "ship", compFails: map[string]int{}}
	var dead []saga.State
	o, clk := chargeRefundHeldElsewhere(t, w, &dead, "saga-deadline")
	ctx, cancel := context.WithTimeout(trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"}), 30*time.Second)
	defer cancel()
	begin := clk.Now()
	st, err := o.Run(ctx, "saga-deadline", 1)
	if !errors.Is(err, idempotency.ErrInProgress) || st.Status != saga.StatusCompensating || len(dead) != 0 {
		t.Fatalf("status %s, err %v, dead %d", st.Status, err, len(dead))
	}
	if waited := clk.Now().Sub(begin); waited > 30*time.Second {
		t.Errorf("waited %s inside a 30 s invocation", waited)
	}
}

// The failing step is undone too: an earlier attempt of it took effect and
// lost its answer (Retryable), then a later attempt was refused. Without
// its undo the goods would ship unpaid.
func TestTheFailedStepIsUndoneWhenAnEarlierAttemptTookEffect(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	tries := 0
	o.Def.Steps[2].Action = func(context.Context) error {
		if tries++; tries == 1 {
			w.add("ship") // it happened; the answer was lost
			return saga.Retryable(errors.New("shipping: connection reset"))
		}
		return errors.New("shipping refused the address")
	}
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	if _, err := o.Run(ctx, "saga-half-shipped", 1); !saga.IsRetryable(err) {
		t.Fatalf("first delivery: %v", err)
	}
	st, err := o.Run(ctx, "saga-half-shipped", 1)
	if err != nil || st.Status != saga.StatusCompensated || fmt.Sprint(w.effects) != "[reserve charge ship undo-ship undo-charge undo-reserve]" {
		t.Fatalf("status %s, effects %v, err %v", st.Status, w.effects, err)
	}
}

// A refund refused once, with too little of the invocation left to try
// again: the saga is not dead-lettered for attempts it never made. It stays
// COMPENSATING, the delivery is retried, and the refund goes through.
func TestACompensationCutByTheDeadlineIsRetriedNotDeadLettered(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{"charge": 1}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	ctx, cancel := context.WithTimeout(trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"}), time.Minute)
	defer cancel()
	deadline, _ := ctx.Deadline()
	clk := testenv.NewClock(deadline.Add(-500 * time.Millisecond)) // half a second of the invocation left
	o.Now, o.Sleep = clk.Now, clk.Sleep
	o.Idem.Now = clk.Now
	st, err := o.Run(ctx, "saga-cut", 1)
	if err == nil || errors.Is(err, saga.ErrCompensationFailed) || st.Status != saga.StatusCompensating || len(dead) != 0 {
		t.Fatalf("first delivery: status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
	st, err = o.Run(context.Background(), "saga-cut", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 || len(dead) != 0 {
		t.Fatalf("redelivery: status %s, effects %v, err %v, dead %d", st.Status, w.effects, err, len(dead))
	}
}
