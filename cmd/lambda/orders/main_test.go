package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// The built bootstrap runs under the Lambda runtime interface emulator: an
// SQS event with a good order, its duplicate and a poison record returns
// the right batchItemFailures, and the order's effects are in DynamoDB.
func TestBootstrapUnderRIE(t *testing.T) {
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "rie")
	tables := orders.Tables{Inventory: p + "-inv", Payments: p + "-pay", Shipments: p + "-ship", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := c.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	rie := testenv.StartRIE(t, testenv.BuildLambda(t, "."), map[string]string{
		"INVENTORY_TABLE": tables.Inventory, "PAYMENTS_TABLE": tables.Payments, "SHIPMENTS_TABLE": tables.Shipments,
		"SAGA_TABLE": tables.Sagas, "IDEMPOTENCY_TABLE": tables.Idempotency, "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
	})
	logs := rie.Logs

	rec := func(id, orderID string) events.SQSMessage {
		body, _ := json.Marshal(map[string]any{"traceId": "t-" + orderID, "orderId": orderID, "type": "OrderPlaced", "attempt": 1,
			"payload": map[string]any{"orderId": orderID, "amount": 1200, "currency": "EUR"}})
		return events.SQSMessage{MessageId: id, Body: string(body), EventSource: "aws:sqs", Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	}
	event := events.SQSEvent{Records: []events.SQSMessage{
		rec("m-1", "o-1"),
		{MessageId: "m-poison", Body: "{not json", EventSource: "aws:sqs"},
	}}
	invoke := func(ev events.SQSEvent) events.SQSEventResponse {
		t.Helper()
		body, _ := json.Marshal(ev)
		resp, err := http.Post(rie.InvokeURL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, logs.String())
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		var out events.SQSEventResponse
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("response %s: %v\n%s", raw, err, logs.String())
		}
		return out
	}
	out := invoke(event)
	if len(out.BatchItemFailures) != 1 || out.BatchItemFailures[0].ItemIdentifier != "m-poison" {
		t.Fatalf("batchItemFailures = %+v\n%s", out.BatchItemFailures, logs.String())
	}
	// The same order delivered again: a duplicate, no failure, no second effect.
	out = invoke(events.SQSEvent{Records: []events.SQSMessage{rec("m-1-again", "o-1")}})
	if len(out.BatchItemFailures) != 0 {
		t.Fatalf("duplicate delivery failed: %+v\n%s", out.BatchItemFailures, logs.String())
	}
	scan, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(tables.Payments)})
	if err != nil || scan.Count != 1 {
		t.Fatalf("payments: %v %v", scan, err)
	}
	if !strings.Contains(logs.String(), `"status":"duplicate"`) || !strings.Contains(logs.String(), `"traceId":"t-o-1"`) {
		t.Errorf("function logs lack the duplicate or the trace:\n%s", logs.String())
	}
}
