// Package orders is the reference order pipeline: reserve inventory, charge
// the payment, create the shipment, with release, refund and cancel as
// compensations, joined by an orchestrated saga and run from SQS through
// the idempotent batch handler. The Lambda in cmd/lambda/orders, the
// container worker in cmd/worker/orders and `make demo` run exactly this
// code, configured by FromEnv.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// Order is the payload of an OrderPlaced event.
type Order struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	Amount     int    `json:"amount"` // minor units
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
}

// Item is one line of an order.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// EventOrderPlaced is the type of the event that starts the saga.
const EventOrderPlaced = "OrderPlaced"

// Tables names the DynamoDB tables of the pipeline.
type Tables struct {
	Inventory   string // reservations, key orderId
	Payments    string // charges, key paymentKey
	Shipments   string // shipments, key orderId
	Sagas       string // saga log, key sagaId
	Idempotency string // idempotency records, key id
}

// DynamoAPI is the part of the DynamoDB client the services call.
type DynamoAPI interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Intercept wraps db so that every call goes through call: op names it
// ("PutItem"), in is its input (*dynamodb.PutItemInput, ...), and do makes
// it (call may run do or not, and answer what it likes). Fault injection uses it: the fault-point
// sweep and the demo's chaos.
func Intercept(db DynamoAPI, call func(op string, in any, do func() error) error) DynamoAPI {
	return &intercepted{db: db, call: call}
}

type intercepted struct {
	db   DynamoAPI
	call func(op string, in any, do func() error) error
}

func (d *intercepted) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.PutItemOutput, err error) {
	err = d.call("PutItem", in, func() error { out, err = d.db.PutItem(ctx, in, o...); return err })
	return out, err
}

func (d *intercepted) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	err = d.call("UpdateItem", in, func() error { out, err = d.db.UpdateItem(ctx, in, o...); return err })
	return out, err
}

func (d *intercepted) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.DeleteItemOutput, err error) {
	err = d.call("DeleteItem", in, func() error { out, err = d.db.DeleteItem(ctx, in, o...); return err })
	return out, err
}

func (d *intercepted) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.GetItemOutput, err error) {
	err = d.call("GetItem", in, func() error { out, err = d.db.GetItem(ctx, in, o...); return err })
	return out, err
}

// Faults lets the demo and tests make a step's downstream service fail.
// nil means everything works.
type Faults func(ctx context.Context, step string, o Order) error

// Currencies the payment provider accepts.
var Currencies = map[string]bool{"EUR": true, "USD": true, "GBP": true, "CHF": true, "SEK": true, "PLN": true}

// Validate rejects an order no step could process: a permanent error.
func Validate(o Order) error {
	if !Currencies[o.Currency] {
		return fmt.Errorf("invalid currency '%s' in order %s", o.Currency, o.OrderID)
	}
	return nil
}

// Pipeline wires the services, the saga and the idempotency store.
type Pipeline struct {
	DB         DynamoAPI
	Tables     Tables
	Faults     Faults
	Logger     *slog.Logger
	DeadLetter func(ctx context.Context, s saga.State) error
	Now        func() time.Time
	// Compensation overrides the compensation retry policy (tests).
	Compensation saga.RetryPolicy
	// IdempotencyTTL is how long a step's record suppresses a rerun; 0:
	// idempotency.DefaultTTL (15 days: longer than a DLQ keeps a message).
	IdempotencyTTL time.Duration
	// Sleep waits between retries (compensations, recording a result);
	// nil: real time. Tests inject it with Now.
	Sleep func(context.Context, time.Duration) error
}

// PaymentKey is the business key of a payment: order-{id}-payment-attempt-{n}.
func PaymentKey(orderID string, attempt int) string {
	return idempotency.Key("order", orderID, "payment", "attempt", strconv.Itoa(attempt))
}

// SagaID names the saga of one attempt of an order:
// saga-{id}-attempt-{n}. The attempt is the event's (the envelope's
// attempt): a redelivery or a replay of the same event keeps it and finds
// its saga done, while a new attempt by the producer is a new saga, not a
// duplicate.
func SagaID(orderID string, attempt int) string {
	return idempotency.Key("saga", orderID, "attempt", strconv.Itoa(attempt))
}

// Definition is the order saga for one order and attempt.
func (p *Pipeline) Definition(o Order, attempt int) saga.Definition {
	step := func(name string, do, undo func(context.Context) error) saga.Step {
		return saga.Step{Name: name, Action: func(ctx context.Context) error {
			if p.Faults != nil {
				if err := p.Faults(ctx, name, o); err != nil {
					return err
				}
			}
			return do(ctx)
		}, Compensate: undo}
	}
	return saga.Definition{
		Name: "order",
		Steps: []saga.Step{
			step("reserve", func(ctx context.Context) error {
				return p.setStatus(ctx, p.Tables.Inventory, "orderId", o.OrderID, o, "RESERVED", create("RELEASED"))
			},
				func(ctx context.Context) error {
					return p.setStatus(ctx, p.Tables.Inventory, "orderId", o.OrderID, o, "RELEASED", move("RESERVED"))
				}),
			step("charge", func(ctx context.Context) error {
				return p.setStatus(ctx, p.Tables.Payments, "paymentKey", PaymentKey(o.OrderID, attempt), o, "CHARGED", create(""))
			}, func(ctx context.Context) error {
				return p.setStatus(ctx, p.Tables.Payments, "paymentKey", PaymentKey(o.OrderID, attempt), o, "REFUNDED", move("CHARGED"))
			}),
			step("ship", func(ctx context.Context) error {
				return p.setStatus(ctx, p.Tables.Shipments, "orderId", o.OrderID, o, "CREATED", create("CANCELLED"))
			},
				func(ctx context.Context) error {
					return p.setStatus(ctx, p.Tables.Shipments, "orderId", o.OrderID, o, "CANCELLED", move("CREATED"))
				}),
		},
		Compensation: p.Compensation,
	}
}

// write is when a record may be written: absent (a forward action
// creates it), or in state from (a compensation moves it on; a forward
// action takes back what an earlier attempt's compensation left, so a
// new attempt of an order reserves and ships again).
type write struct {
	absent bool
	from   string
}

// create writes a record that is absent, or that an earlier attempt left
// undone (undone "": never).
func create(undone string) write { return write{absent: true, from: undone} }

// move writes a record that is in state from.
func move(from string) write { return write{from: from} }

// setStatus writes a service's record. A forward action creates it only if
// absent or undone by an earlier attempt (the service's own guard against
// a second effect, under the saga's idempotency); a compensation moves it
// from the state it expects.
func (p *Pipeline) setStatus(ctx context.Context, table, keyName, key string, o Order, status string, w write) error {
	ids := trace.From(ctx)
	item := map[string]types.AttributeValue{
		keyName:     &types.AttributeValueMemberS{Value: key},
		"orderId":   &types.AttributeValueMemberS{Value: o.OrderID},
		"status":    &types.AttributeValueMemberS{Value: status},
		"amount":    &types.AttributeValueMemberN{Value: strconv.Itoa(o.Amount)},
		"traceId":   &types.AttributeValueMemberS{Value: ids.TraceID},
		"updatedAt": &types.AttributeValueMemberS{Value: p.now().UTC().Format(time.RFC3339Nano)},
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ExpressionAttributeNames: map[string]string{}}
	var conds []string
	if w.absent {
		conds = append(conds, "attribute_not_exists(#k)")
		in.ExpressionAttributeNames["#k"] = keyName
	}
	if w.from != "" {
		conds = append(conds, "#s = :from")
		in.ExpressionAttributeNames["#s"] = "status"
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":from": &types.AttributeValueMemberS{Value: w.from}}
	}
	in.ConditionExpression = aws.String(strings.Join(conds, " OR "))
	_, err := p.DB.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Keyed by business IDs, an existing record is this very operation
		// done before (a worker that died after its effect): done. For a
		// compensation: already undone, or never done.
		return nil
	}
	if err != nil {
		// Not a refusal: the write may have happened (a lost answer) or
		// not. Either way it is no reason to cancel the order: the
		// delivery is retried, and the conditional write then finds what
		// happened.
		return saga.Retryable(fmt.Errorf("write %s %s: %w", table, key, err))
	}
	return nil
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// HandleRecord runs the saga of one OrderPlaced record. A saga in progress
// elsewhere fails the record so SQS redelivers it later; a saga that
// completed, or failed and was compensated, succeeds; a saga whose
// compensation failed was dead-lettered with its trace and succeeds too,
// so it is not retried forever.
func (p *Pipeline) HandleRecord(ctx context.Context, _ events.SQSMessage, env trace.Envelope) error {
	if env.Type != EventOrderPlaced {
		return fmt.Errorf("unexpected event type %q", env.Type)
	}
	var o Order
	if err := json.Unmarshal(env.Payload, &o); err != nil {
		return fmt.Errorf("decode order: %w", err)
	}
	if o.OrderID == "" {
		return errors.New("decode order: no orderId in the payload")
	}
	attempt := max(env.Attempt, 1)
	ctx = trace.Update(ctx, func(i *trace.IDs) { i.OrderID = o.OrderID })
	if err := Validate(o); err != nil {
		// A poison order: no retry can fix it, so nothing is started and
		// nothing needs undoing. Its receives run out and it waits in the
		// DLQ for a person, with this line saying why.
		p.logger().ErrorContext(ctx, "order rejected", "step", "validate", "status", "error", "error", err.Error())
		return err
	}
	orch := &saga.Orchestrator{
		Def: p.Definition(o, attempt),
		Log: &saga.DynamoLog{API: p.DB, Table: p.Tables.Sagas},
		Idem: idempotency.Config{Store: &idempotency.DynamoStore{API: p.DB, Table: p.Tables.Idempotency, Sleep: p.Sleep}, Namespace: "orders", TTL: p.IdempotencyTTL,
			Now: p.Now, Sleep: p.Sleep},
		Logger:     p.logger(),
		DeadLetter: p.DeadLetter,
		Now:        p.Now,
		Sleep:      p.Sleep,
	}
	_, err := orch.Run(ctx, SagaID(o.OrderID, attempt), attempt)
	if errors.Is(err, saga.ErrCompensationFailed) {
		return nil
	}
	return err
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Handler is the Lambda SQS handler of the pipeline.
func (p *Pipeline) Handler(o sqsbatch.Options) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	if o.Logger == nil {
		o.Logger = p.logger()
	}
	return sqsbatch.New(p.HandleRecord, o)
}

// TableInputs are the pipeline's tables (on-demand billing).
func TableInputs(t Tables) []*dynamodb.CreateTableInput {
	table := func(name, key string) *dynamodb.CreateTableInput {
		return &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		}
	}
	return []*dynamodb.CreateTableInput{
		table(t.Inventory, "orderId"), table(t.Payments, "paymentKey"), table(t.Shipments, "orderId"),
		saga.CreateTableInput(t.Sagas), idempotency.CreateTableInput(t.Idempotency),
	}
}

// TablesFromEnv reads table names from the Lambda's environment.
func TablesFromEnv(getenv func(string) string) Tables {
	return Tables{
		Inventory: getenv("INVENTORY_TABLE"), Payments: getenv("PAYMENTS_TABLE"), Shipments: getenv("SHIPMENTS_TABLE"),
		Sagas: getenv("SAGA_TABLE"), Idempotency: getenv("IDEMPOTENCY_TABLE"),
	}
}
