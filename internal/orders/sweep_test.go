package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/testenv"
)

// faultKind is what happens at the faulted call.
type faultKind int

const (
	faultBefore  faultKind = iota // the call fails before it reaches DynamoDB
	faultAfter                    // the call happens, its answer is lost
	faultTimeout                  // the call times out without reaching DynamoDB
	faultCrash                    // the call happens and the process dies: nothing more in this delivery
)

func (k faultKind) String() string {
	return [...]string{"before", "after (lost answer)", "timeout", "crash"}[k]
}

var (
	errInjected = errors.New("injected: connection reset by peer")
	errCrashed  = errors.New("injected: the process died")
)

// sweepDB numbers every DynamoDB call of the order pipeline (its
// services' tables, the saga log, the idempotency store) and injects one
// fault at call number at (-1: none). It counts the charges that took
// effect.
type sweepDB struct {
	payments string

	mu      sync.Mutex
	calls   int
	at      int
	kind    faultKind
	crashed bool // this delivery's process died
	charges int
}

// call runs one DynamoDB call through the fault plan.
func (s *sweepDB) call(_ string, in any, do func() error) error {
	s.mu.Lock()
	if s.crashed {
		s.mu.Unlock()
		return errCrashed
	}
	n := s.calls
	s.calls++
	fault := n == s.at
	s.mu.Unlock()
	if fault {
		switch s.kind {
		case faultBefore:
			return errInjected
		case faultTimeout:
			return fmt.Errorf("operation error DynamoDB: %w", context.DeadlineExceeded)
		}
	}
	err := do()
	if put, ok := in.(*dynamodb.PutItemInput); ok && err == nil && aws.ToString(put.TableName) == s.payments {
		if st, ok := put.Item["status"].(*types.AttributeValueMemberS); ok && st.Value == "CHARGED" {
			s.mu.Lock()
			s.charges++
			s.mu.Unlock()
		}
	}
	if fault {
		if s.kind == faultCrash {
			s.mu.Lock()
			s.crashed = true
			s.mu.Unlock()
			return errCrashed
		}
		return errInjected // faultAfter: it happened, the answer is lost
	}
	return err
}

// sweepRun is one order through the pipeline with at most one fault,
// driven to quiescence by redeliveries.
type sweepRun struct {
	orderID    string
	charges    int
	calls      int
	status     saga.Status
	deliveries int
	dead       int
	untraced   []string
}

func runOrder(t *testing.T, c *dynamodb.Client, tables orders.Tables, orderID string, shipFails bool, at int, kind faultKind) sweepRun {
	t.Helper()
	db := &sweepDB{payments: tables.Payments, at: at, kind: kind}
	clk := testenv.NewClock(time.Now())
	var logs testenv.SyncBuffer
	run := sweepRun{orderID: orderID}
	p := &orders.Pipeline{DB: orders.Intercept(c, db.call), Tables: tables, Now: clk.Now, Sleep: clk.Sleep,
		Logger: trace.NewLogger(&logs, slog.LevelInfo),
		Faults: func(_ context.Context, step string, _ orders.Order) error {
			if shipFails && step == "ship" {
				return errors.New("shipping refused the address") // a business failure
			}
			return nil
		},
		DeadLetter: func(context.Context, saga.State) error { run.dead++; return nil }}
	o := orders.Order{OrderID: orderID, Amount: 4999, Currency: "EUR", Items: []orders.Item{{SKU: "A", Quantity: 1}}}
	payload, _ := json.Marshal(o)
	env := trace.Envelope{TraceID: "t-" + orderID, OrderID: orderID, Type: orders.EventOrderPlaced, Attempt: 1, Payload: payload}
	ctx := trace.With(context.Background(), trace.IDs{TraceID: env.TraceID, OrderID: orderID})
	for run.deliveries < 12 {
		run.deliveries++
		db.mu.Lock()
		db.crashed = false // a new process
		db.mu.Unlock()
		err := p.HandleRecord(ctx, events.SQSMessage{MessageId: fmt.Sprint("m-", run.deliveries)}, env)
		// SQS redelivers after the visibility timeout; leases run out.
		_ = clk.Sleep(ctx, 6*time.Minute)
		if err == nil {
			break
		}
	}
	run.charges, run.calls = db.charges, db.calls
	st, err := (&saga.DynamoLog{API: c, Table: tables.Sagas}).Load(context.Background(), orders.SagaID(orderID, 1))
	if err != nil {
		t.Fatal(err)
	}
	if st != nil {
		run.status = st.Status
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if line != "" && (json.Unmarshal([]byte(line), &m) != nil || m["traceId"] != env.TraceID) {
			run.untraced = append(run.untraced, line)
		}
	}
	return run
}

// violations checks the money invariants of one order after quiescence.
func violations(t *testing.T, c *dynamodb.Client, tables orders.Tables, r sweepRun) []string {
	t.Helper()
	inv := status(t, c, tables.Inventory, "orderId", r.orderID)
	pay := status(t, c, tables.Payments, "paymentKey", orders.PaymentKey(r.orderID, 1))
	ship := status(t, c, tables.Shipments, "orderId", r.orderID)
	var v []string
	switch r.status {
	case saga.StatusCompleted:
		if inv != "RESERVED" || pay != "CHARGED" || ship != "CREATED" {
			v = append(v, fmt.Sprintf("completed but inventory %q, payment %q, shipment %q", inv, pay, ship))
		}
	case saga.StatusCompensated:
		if inv == "RESERVED" || pay == "CHARGED" || ship == "CREATED" {
			v = append(v, fmt.Sprintf("compensated but inventory %q, payment %q, shipment %q", inv, pay, ship))
		}
	default:
		v = append(v, fmt.Sprintf("ended %q after %d deliveries (not completed, not compensated)", r.status, r.deliveries))
	}
	if r.charges > 1 {
		v = append(v, fmt.Sprintf("%d charges", r.charges))
	}
	if pay == "CHARGED" && r.status != saga.StatusCompleted {
		v = append(v, "a charge without a completed order or a refund")
	}
	if r.dead > 0 {
		v = append(v, fmt.Sprintf("%d saga(s) dead-lettered", r.dead))
	}
	if len(r.untraced) > 0 {
		v = append(v, fmt.Sprintf("%d log line(s) without the traceId, e.g. %s", len(r.untraced), r.untraced[0]))
	}
	return v
}

// The fault-point sweep: for each DynamoDB call of a reference run of the
// order pipeline (a happy order, and one whose shipment is refused so the
// saga compensates), and for each fault kind, the order runs again with
// that one fault and is redelivered until it settles. Every order must end
// completed, or compensated with nothing left charged, reserved or
// shipped; never two charges, never a charge without a completed order.
func TestFaultPointSweep(t *testing.T) {
	t.Parallel()
	c, tables := setup(t)
	start := time.Now()
	points, runs := 0, 0
	for _, sc := range []struct {
		name      string
		shipFails bool
		want      saga.Status
	}{{"happy", false, saga.StatusCompleted}, {"compensating", true, saga.StatusCompensated}} {
		ref := runOrder(t, c, tables, "ref-"+sc.name, sc.shipFails, -1, faultBefore)
		if v := violations(t, c, tables, ref); len(v) > 0 || ref.status != sc.want {
			t.Fatalf("%s reference run: %s, %v", sc.name, ref.status, v)
		}
		points += ref.calls
		for at := 0; at < ref.calls; at++ {
			for kind := faultBefore; kind <= faultCrash; kind++ {
				runs++
				r := runOrder(t, c, tables, fmt.Sprintf("%s-%d-%d", sc.name, at, kind), sc.shipFails, at, kind)
				for _, v := range violations(t, c, tables, r) {
					t.Errorf("%s order, fault %s at call %d of %d: %s", sc.name, kind, at, ref.calls, v)
				}
			}
		}
	}
	t.Logf("%d fault points × 4 kinds = %d runs in %s", points, runs, time.Since(start).Round(time.Millisecond))
}
