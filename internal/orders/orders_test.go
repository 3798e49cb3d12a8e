package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func setup(t *testing.T) (*dynamodb.Client, orders.Tables) {
	t.Helper()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "orders")
	tables := orders.Tables{Inventory: p + "-inventory", Payments: p + "-payments", Shipments: p + "-shipments", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := c.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		name := aws.ToString(in.TableName)
		t.Cleanup(func() {
			_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		})
	}
	return c, tables
}

func orderRecord(id, orderID string) events.SQSMessage {
	body, _ := json.Marshal(map[string]any{"traceId": "t-" + orderID, "orderId": orderID, "type": orders.EventOrderPlaced, "attempt": 1,
		"payload": orders.Order{OrderID: orderID, Amount: 4999, Currency: "EUR", Items: []orders.Item{{SKU: "A", Quantity: 1}}}})
	return events.SQSMessage{MessageId: id, Body: string(body), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func status(t *testing.T, c *dynamodb.Client, table, keyName, key string) string {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{keyName: &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := out.Item["status"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func TestOrderSagaHappyFailedDuplicateAndPoison(t *testing.T) {
	t.Parallel()
	c, tables := setup(t)
	p := &orders.Pipeline{DB: c, Tables: tables, Faults: func(_ context.Context, step string, o orders.Order) error {
		if o.OrderID == "o-fail" && step == "ship" {
			return errors.New("shipping provider down")
		}
		return nil
	}}
	handle := p.Handler(sqsbatch.Options{})
	poison := events.SQSMessage{MessageId: "m-poison", Body: `{"type":"OrderPlaced","payload":"not an order"}`}
	resp, err := handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		orderRecord("m-1", "o-ok"), orderRecord("m-2", "o-fail"), orderRecord("m-3", "o-ok"), poison,
	}})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	// m-3 duplicates m-1 and they run concurrently: the one that loses the
	// race sees the saga in progress (retry later) or finishes as a
	// duplicate; the poison record always fails.
	switch fmt.Sprint(failed) {
	case "[m-poison]", "[m-1 m-poison]", "[m-3 m-poison]":
	default:
		t.Fatalf("failures = %v", failed)
	}
	// Redeliver the duplicate: it completes without a second effect.
	if resp, err := handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{orderRecord("m-3b", "o-ok")}}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v %v", resp, err)
	}
	checks := []struct{ table, keyName, key, want string }{
		{tables.Inventory, "orderId", "o-ok", "RESERVED"},
		{tables.Payments, "paymentKey", orders.PaymentKey("o-ok", 1), "CHARGED"},
		{tables.Shipments, "orderId", "o-ok", "CREATED"},
		{tables.Inventory, "orderId", "o-fail", "RELEASED"},
		{tables.Payments, "paymentKey", "order-o-fail-payment-attempt-1", "REFUNDED"},
		{tables.Shipments, "orderId", "o-fail", ""},
	}
	for _, ck := range checks {
		if got := status(t, c, ck.table, ck.keyName, ck.key); got != ck.want {
			t.Errorf("%s %s = %q, want %q", ck.table, ck.key, got, ck.want)
		}
	}
}

// A poison order (a currency the provider does not take) fails before any
// step: nothing to undo, and the line that says why names the step.
func TestPoisonOrderIsRejectedBeforeAnyStep(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	p := &orders.Pipeline{Logger: trace.NewLogger(&logs, slog.LevelInfo)} // no DB: a write would panic
	body, _ := json.Marshal(map[string]any{"traceId": "t-poison", "orderId": "order-7", "type": orders.EventOrderPlaced, "attempt": 1,
		"payload": orders.Order{OrderID: "order-7", Amount: 100, Currency: "XYZ"}})
	rec := events.SQSMessage{MessageId: "m-7", Body: string(body)}
	ids, env, _ := trace.FromRecord(rec)
	err := p.HandleRecord(trace.With(context.Background(), ids), rec, env)
	if err == nil || !strings.Contains(err.Error(), "invalid currency 'XYZ' in order order-7") {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`"step":"validate"`, `"status":"error"`, `"orderId":"order-7"`, `"level":"ERROR"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s: %s", want, logs.String())
		}
	}
	if orders.Validate(orders.Order{OrderID: "o", Currency: "EUR"}) != nil {
		t.Error("EUR rejected")
	}
}

// attemptRecord is an OrderPlaced event of one attempt of order o-again.
func attemptRecord(id string, attempt int) events.SQSMessage {
	m := orderRecord(id, "o-again")
	m.Body = strings.Replace(m.Body, `"attempt":1`, fmt.Sprintf(`"attempt":%d`, attempt), 1)
	return m
}

// The saga ID carries the event's attempt: a new attempt by the producer,
// after the first one failed and was compensated, is a saga of its own
// that reserves, charges (under its own payment key) and ships again,
// not a duplicate of the first; a redelivery or a replay of that attempt
// keeps its attempt, finds its saga done, and charges nothing more.
func TestANewAttemptIsANewSagaAndItsRedeliveryChargesOnce(t *testing.T) {
	t.Parallel()
	c, tables := setup(t)
	var mu sync.Mutex
	shipDown := true
	charges := map[int]int{} // by attempt
	p := &orders.Pipeline{DB: c, Tables: tables, Faults: func(ctx context.Context, step string, o orders.Order) error {
		mu.Lock()
		defer mu.Unlock()
		if step == "charge" {
			charges[trace.From(ctx).Attempt]++
		}
		if step == "ship" && shipDown {
			return errors.New("shipping provider down")
		}
		return nil
	}}
	handle := p.Handler(sqsbatch.Options{})
	deliver := func(m events.SQSMessage) {
		t.Helper()
		if resp, err := handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{m}}); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: %+v %v", m.MessageId, resp, err)
		}
	}
	deliver(attemptRecord("m-1", 1)) // fails at ship: compensated
	mu.Lock()
	shipDown = false
	mu.Unlock()
	deliver(attemptRecord("m-1-replayed", 1)) // a replay of attempt 1: its saga is done
	deliver(attemptRecord("m-2", 2))          // the producer's new attempt
	deliver(attemptRecord("m-2b", 2))         // redelivered
	for _, ck := range []struct{ table, keyName, key, want string }{
		{tables.Inventory, "orderId", "o-again", "RESERVED"},
		{tables.Payments, "paymentKey", orders.PaymentKey("o-again", 1), "REFUNDED"},
		{tables.Payments, "paymentKey", orders.PaymentKey("o-again", 2), "CHARGED"},
		{tables.Shipments, "orderId", "o-again", "CREATED"},
		{tables.Sagas, "sagaId", orders.SagaID("o-again", 1), "COMPENSATED"},
		{tables.Sagas, "sagaId", orders.SagaID("o-again", 2), "COMPLETED"},
	} {
		if got := status(t, c, ck.table, ck.keyName, ck.key); got != ck.want {
			t.Errorf("%s %s = %q, want %q", ck.table, ck.key, got, ck.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if charges[1] != 1 || charges[2] != 1 {
		t.Errorf("charges by attempt = %v, want one each", charges)
	}
}
