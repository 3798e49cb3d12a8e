package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// findRIE finds aws-lambda-rie on PATH or in the repository's .tools/bin
// (make tools installs it there).
func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../../../.tools/bin/aws-lambda-rie"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("aws-lambda-rie not found (make tools installs it); required under CI=true")
	}
	t.Skip("aws-lambda-rie not found: run make tools")
	return ""
}

// The built bootstrap runs under the Lambda runtime interface emulator: an
// SQS event with a good order, its duplicate and a poison record returns
// the right batchItemFailures, and the order's effects are in DynamoDB.
func TestBootstrapUnderRIE(t *testing.T) {
	rie := findRIE(t)
	ep := testenv.Endpoint(t)
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}

	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "rie")
	tables := orders.Tables{Inventory: p + "-inv", Payments: p + "-pay", Shipments: p + "-ship", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := c.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}

	port, apiPort := freePort(t), freePort(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+ep, "AWS_REGION="+testenv.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"INVENTORY_TABLE="+tables.Inventory, "PAYMENTS_TABLE="+tables.Payments, "SHIPMENTS_TABLE="+tables.Shipments,
		"SAGA_TABLE="+tables.Sagas, "IDEMPOTENCY_TABLE="+tables.Idempotency, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	logs := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

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
		url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp, err = http.Post(url, "application/json", bytes.NewReader(body))
			if err == nil {
				break
			}
		}
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
