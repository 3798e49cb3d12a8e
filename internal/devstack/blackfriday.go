package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// Clients are the emulator's clients.
type Clients struct {
	SQS  *sqs.Client
	DB   *dynamodb.Client
	Logs *cwl.Client
	CW   *cloudwatch.Client
}

// Stack is the order pipeline as the SAM template deploys it.
type Stack struct {
	Prefix       string
	OrdersURL    string
	OrdersARN    string
	OrdersDLQ    string
	OrdersDLQURL string
	SagaDLQ      string
	SagaDLQURL   string
	Tables       orders.Tables
	LogGroup     string
}

// MaxReceiveCount of the orders queue, as in the template.
const MaxReceiveCount = 3

// ProvisionOrders creates the template's resources on the emulator:
// queues with their DLQs, tables (TTL on the idempotency table), the
// function's log group, and a depth alarm on each DLQ. The orders queue's
// visibility timeout is short so that retries happen in seconds.
func ProvisionOrders(ctx context.Context, c Clients, prefix string) (Stack, error) {
	s := Stack{Prefix: prefix, OrdersDLQ: prefix + "orders-dlq", SagaDLQ: prefix + "saga-dlq", LogGroup: "/aws/lambda/" + prefix + "orders",
		Tables: orders.Tables{Inventory: prefix + "inventory", Payments: prefix + "payments", Shipments: prefix + "shipments", Sagas: prefix + "sagas", Idempotency: prefix + "idempotency"}}
	var err error
	if s.OrdersDLQURL, err = createQueue(ctx, c.SQS, s.OrdersDLQ, map[string]string{"MessageRetentionPeriod": "1209600"}); err != nil {
		return s, err
	}
	if s.SagaDLQURL, err = createQueue(ctx, c.SQS, s.SagaDLQ, map[string]string{"MessageRetentionPeriod": "1209600"}); err != nil {
		return s, err
	}
	dlqARN, err := queueARN(ctx, c.SQS, s.OrdersDLQURL)
	if err != nil {
		return s, err
	}
	s.OrdersURL, err = createQueue(ctx, c.SQS, prefix+"orders", map[string]string{
		"VisibilityTimeout": "2",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, MaxReceiveCount),
	})
	if err != nil {
		return s, err
	}
	if s.OrdersARN, err = queueARN(ctx, c.SQS, s.OrdersURL); err != nil {
		return s, err
	}
	for _, in := range orders.TableInputs(s.Tables) {
		if _, err := c.DB.CreateTable(ctx, in); err != nil && !isExists(err) {
			return s, fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	_, _ = c.DB.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(s.Tables.Idempotency),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)}})
	if _, err := c.Logs.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(s.LogGroup)}); err != nil && !isExists(err) {
		return s, fmt.Errorf("create log group: %w", err)
	}
	if _, err := c.Logs.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(s.LogGroup), LogStreamName: aws.String("runner")}); err != nil && !isExists(err) {
		return s, fmt.Errorf("create log stream: %w", err)
	}
	existing, err := alarm.DepthAlarms(ctx, c.CW)
	if err != nil {
		return s, err
	}
	if _, err := alarm.Ensure(ctx, c.CW, []string{s.OrdersDLQ, s.SagaDLQ}, existing, alarm.EnsureOptions{}); err != nil {
		return s, err
	}
	return s, nil
}

// isExists reports whether the service answered that what was to be
// created exists already (a table, a log group: the demo provisions
// idempotently).
func isExists(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.ErrorCode()
	return strings.HasSuffix(code, "AlreadyExistsException") || code == "ResourceInUseException"
}

// Scenario is a scaled Black Friday.
type Scenario struct {
	Orders int
	// DuplicateEvery: every Nth order is delivered twice (50 = 2 %).
	DuplicateEvery int
	// The payment provider is down for orders in [PaymentFrom, PaymentTo)
	// of the burst (fractions): their charges fail with a transient error
	// until the outage is fixed, so they exhaust maxReceiveCount.
	PaymentFrom, PaymentTo float64
	// The shipping provider rejects orders in [ShipFrom, ShipTo): those
	// sagas compensate (release, refund).
	ShipFrom, ShipTo float64
	// PoisonEvery: every Nth order (offset by 7, so never a duplicate)
	// has a currency the provider does not take (100 = 1 %): the pipeline
	// rejects it as a permanent error and it ends in the DLQ, where no
	// replay can help it.
	PoisonEvery int
	// Chaos, when set, injects faults into the pipeline's DynamoDB and
	// provider calls (CHAOS=P make demo). In process only: not with
	// WorkerBinary.
	Chaos *Chaos
	// WorkerBinary, when set, is a built cmd/worker/orders: the pipeline
	// runs in it, a subprocess, as in a container (RUNTIME=worker make
	// demo). Empty: in process, as Lambda's event source mapping runs the
	// function (RUNTIME=lambda, the default).
	WorkerBinary string
}

// PoisonCurrency is the currency of poison orders.
const PoisonCurrency = "XYZ"

// IsPoison reports whether order id is a poison order.
func (sc Scenario) IsPoison(id string) bool {
	i, err := strconv.Atoi(strings.TrimPrefix(id, "order-"))
	return err == nil && sc.PoisonEvery > 0 && i%sc.PoisonEvery == 7%sc.PoisonEvery
}

// Poisoned counts the scenario's poison orders.
func (sc Scenario) Poisoned() int {
	n := 0
	for i := 0; i < sc.Orders; i++ {
		if sc.IsPoison(OrderID(i)) {
			n++
		}
	}
	return n
}

// DefaultScenario is sized for a demo that finishes well within two
// minutes on moto.
func DefaultScenario(orders int) Scenario {
	return Scenario{Orders: orders, DuplicateEvery: 50, PaymentFrom: 0.20, PaymentTo: 0.30, ShipFrom: 0.60, ShipTo: 0.65, PoisonEvery: 100}
}

// frac is where order id falls in the burst (0 to 1).
func (sc Scenario) frac(id string) float64 {
	i, _ := strconv.Atoi(strings.TrimPrefix(id, "order-"))
	return float64(i) / float64(sc.Orders)
}

// InPaymentOutage reports whether the payment outage hits order id.
func (sc Scenario) InPaymentOutage(id string) bool {
	f := sc.frac(id)
	return f >= sc.PaymentFrom && f < sc.PaymentTo
}

// FailRules are the scenario's outages as the pipeline's FAIL_STEPS
// rules: the payment provider down for the orders in [PaymentFrom,
// PaymentTo) while paymentDown, the shipping provider refusing those in
// [ShipFrom, ShipTo).
func (sc Scenario) FailRules(paymentDown bool) []orders.FailRule {
	var rules []orders.FailRule
	span := func(in func(f float64) bool) (from, to string, ok bool) {
		for i := 0; i < sc.Orders; i++ {
			if id := OrderID(i); in(sc.frac(id)) {
				if !ok {
					from, ok = id, true
				}
				to = id
			}
		}
		return from, to, ok
	}
	if from, to, ok := span(func(f float64) bool { return f >= sc.PaymentFrom && f < sc.PaymentTo }); ok && paymentDown {
		rules = append(rules, orders.FailRule{Step: "charge", Outage: true, From: from, To: to})
	}
	if from, to, ok := span(func(f float64) bool { return f >= sc.ShipFrom && f < sc.ShipTo }); ok {
		rules = append(rules, orders.FailRule{Step: "ship", From: from, To: to})
	}
	return rules
}

// OrderID names order i.
func OrderID(i int) string { return fmt.Sprintf("order-%05d", i) }

// PlaceOrders publishes the burst: each order with a new traceId, every
// DuplicateEvery-th delivered twice.
func PlaceOrders(ctx context.Context, c *sqs.Client, s Stack, sc Scenario) error {
	pub := &trace.Publisher{API: c}
	for i := 0; i < sc.Orders; i++ {
		id := OrderID(i)
		octx := trace.With(ctx, trace.IDs{TraceID: trace.NewTraceID(), OrderID: id, Attempt: 1})
		o := orders.Order{OrderID: id, CustomerID: fmt.Sprintf("c-%d", i%97), Amount: 1000 + i%5000, Currency: "EUR", Items: []orders.Item{{SKU: "SKU-" + strconv.Itoa(i%13), Quantity: 1 + i%3}}}
		if sc.IsPoison(id) {
			o.Currency = PoisonCurrency
		}
		times := 1
		if sc.DuplicateEvery > 0 && i%sc.DuplicateEvery == 0 {
			times = 2 // at-least-once delivery
		}
		for range times {
			if _, err := pub.Publish(octx, s.OrdersURL, orders.EventOrderPlaced, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitIdle waits until the orders queue holds nothing, visible or in
// flight, twice in a row (or ctx ends).
func WaitIdle(ctx context.Context, c *sqs.Client, url string) error {
	quiet := 0
	for quiet < 2 {
		n, err := depth(ctx, c, url)
		if err != nil {
			return err
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// DLQOrderIDs returns the order IDs in a queue without consuming
// anything (a non-destructive scan, like dlq peek).
func DLQOrderIDs(ctx context.Context, c *sqs.Client, url string) ([]string, error) {
	return allOrderIDs(ctx, Clients{SQS: c}, url)
}

var _ io.Writer = (*LogShipper)(nil)
