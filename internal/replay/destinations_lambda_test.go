package replay_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// orderEvent is what the orders Lambda is invoked with: an SQS event with
// one order.
func orderEvent(msgID, orderID string) json.RawMessage {
	body, _ := json.Marshal(map[string]any{"traceId": "t-" + orderID, "orderId": orderID, "type": "OrderPlaced", "attempt": 1,
		"payload": map[string]any{"orderId": orderID, "amount": 1200, "currency": "EUR"}})
	ev, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: msgID, Body: string(body), EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
	return ev
}

// onFailureRecord is what Lambda sends an on-failure destination when an
// asynchronous invocation failed every retry
// (testdata/shapes/lambda-on-failure.json).
func onFailureRecord(functionARN string, payload json.RawMessage) string {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-12-07T10:00:00.000Z",
		"requestContext":  map[string]any{"requestId": "r-1", "functionArn": functionARN + ":$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
		"requestPayload":  payload,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorType": "PaymentDeclined", "errorMessage": "card declined"},
	})
	return string(b)
}

// Lambda's failed asynchronous invocations go back to the function, run
// for real by the runtime emulator: on-failure records (twice the same
// order: it is charged once) to the function the record names, and a
// function DLQ's message (the payload alone, the error in attributes) to
// the one function whose DLQ it is.
func TestReplayLambdaInvokesTheFunctionThatFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t, "")
	c, db := sqs.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	p := testenv.Name(t, "fn")
	tables := orders.Tables{Inventory: p + "-inv", Payments: p + "-pay", Shipments: p + "-ship", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := db.CreateTable(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	records := testenv.CreateQueue(t, c, p+"-records", nil)
	fnDLQ := testenv.CreateQueue(t, c, p+"-fn-dlq", nil)
	lc := lambda.NewFromConfig(cfg)
	ordersARN := testenv.Function(t, cfg, p+"-orders")
	testenv.OnFailure(t, lc, p+"-orders", records.ARN, 2)
	testenv.Function(t, cfg, p+"-legacy")
	testenv.FunctionDLQ(t, lc, p+"-legacy", fnDLQ.ARN)

	rie := testenv.StartRIE(t, testenv.BuildLambda(t, "../../cmd/lambda/orders"), map[string]string{
		"INVENTORY_TABLE": tables.Inventory, "PAYMENTS_TABLE": tables.Payments, "SHIPMENTS_TABLE": tables.Shipments,
		"SAGA_TABLE": tables.Sagas, "IDEMPOTENCY_TABLE": tables.Idempotency, "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
	})
	proxy := testenv.StartLambdaProxy(t, testenv.Endpoint(t), map[string]string{p + "-orders": rie.InvokeURL, p + "-legacy": rie.InvokeURL})
	viaProxy := lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
	svc := services(t)
	svc.Lambda = func(context.Context) (replay.LambdaAPI, error) { return viaProxy, nil }

	testenv.Send(t, c, records.URL, 1, onFailureRecord(ordersARN, orderEvent("m-1", "o-1")))
	testenv.Send(t, c, records.URL, 1, onFailureRecord(ordersARN, orderEvent("m-1", "o-1")))
	rep := run(t, replay.Config{API: c, DLQ: records.URL, Services: svc})
	if rep.Sent != 2 || !rep.Verified || rep.Plan.Routes[0].Kind != replay.DestLambda {
		t.Fatalf("on-failure records: %+v\n%s", rep, rie.Logs.String())
	}

	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(fnDLQ.URL), MessageBody: aws.String(string(orderEvent("m-2", "o-2"))),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"RequestID":    {DataType: aws.String("String"), StringValue: aws.String("r-2")},
			"ErrorCode":    {DataType: aws.String("Number"), StringValue: aws.String("200")},
			"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String("card declined")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	rep = run(t, replay.Config{API: c, DLQ: fnDLQ.URL, Services: svc})
	if rep.Sent != 1 || !rep.Verified {
		t.Fatalf("function DLQ: %+v\n%s", rep, rie.Logs.String())
	}

	invs := proxy.Invocations()
	byFn := map[string]int{}
	for _, inv := range invs {
		if inv.Type != ltypes.InvocationTypeEvent || !inv.Ran || inv.Errored {
			t.Errorf("invocation %+v: want an Event run without error", inv)
		}
		var ev events.SQSEvent
		if json.Unmarshal(inv.Payload, &ev) != nil || len(ev.Records) != 1 {
			t.Errorf("invoked with %s: want the original SQS event", inv.Payload)
		}
		byFn[inv.Function]++
	}
	if byFn[p+"-orders"] != 2 || byFn[p+"-legacy"] != 1 {
		t.Fatalf("invocations by function = %v, want 2 of orders and 1 of legacy\n%s", byFn, rie.Logs.String())
	}
	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tables.Payments)})
	if err != nil || scan.Count != 2 {
		t.Fatalf("payments: %d (%v), want o-1 charged once and o-2 once\n%s", scan.Count, err, rie.Logs.String())
	}
}
