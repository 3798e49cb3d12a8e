package testenv_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// proxyClient is a Lambda client whose endpoint is the proxy.
func proxyClient(t *testing.T, p *testenv.LambdaProxy) *lambda.Client {
	t.Helper()
	return lambda.NewFromConfig(testenv.Config(t, ""), func(o *lambda.Options) { o.BaseEndpoint = aws.String(p.URL) })
}

// startFailFn runs testdata/failfn under the runtime emulator behind a proxy
// that knows it as "failfn".
func startFailFn(t *testing.T) *testenv.LambdaProxy {
	t.Helper()
	rie := testenv.StartRIE(t, testenv.BuildLambda(t, "./testdata/failfn"), nil)
	return testenv.StartLambdaProxy(t, testenv.Endpoint(t), map[string]string{"failfn": rie.InvokeURL})
}

// findInvocation is the one invocation whose payload is payload.
func findInvocation(t *testing.T, p *testenv.LambdaProxy, payload string) testenv.Invocation {
	t.Helper()
	var found []testenv.Invocation
	for _, inv := range p.Invocations() {
		if string(inv.Payload) == payload {
			found = append(found, inv)
		}
	}
	if len(found) != 1 {
		t.Fatalf("invocations with payload %s: %+v; all: %+v", payload, found, p.Invocations())
	}
	return found[0]
}

// An Event invocation through the proxy runs the orders Lambda under the
// runtime emulator before the proxy answers 202: the charge is in DynamoDB
// when Invoke returns.
func TestLambdaProxyRunsEventInvocation(t *testing.T) {
	cfg := testenv.Config(t, "")
	db := dynamodb.NewFromConfig(cfg)
	p := testenv.Name(t, "proxy")
	tables := orders.Tables{Inventory: p + "-inv", Payments: p + "-pay", Shipments: p + "-ship", Sagas: p + "-sagas", Idempotency: p + "-idem"}
	for _, in := range orders.TableInputs(tables) {
		if _, err := db.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	rie := testenv.StartRIE(t, testenv.BuildLambda(t, "../../cmd/lambda/orders"), map[string]string{
		"INVENTORY_TABLE": tables.Inventory, "PAYMENTS_TABLE": tables.Payments, "SHIPMENTS_TABLE": tables.Shipments,
		"SAGA_TABLE": tables.Sagas, "IDEMPOTENCY_TABLE": tables.Idempotency, "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
	})
	proxy := testenv.StartLambdaProxy(t, testenv.Endpoint(t), map[string]string{"orders": rie.InvokeURL})

	body, _ := json.Marshal(map[string]any{"traceId": "t-o-1", "orderId": "o-1", "type": "OrderPlaced", "attempt": 1,
		"payload": map[string]any{"orderId": "o-1", "amount": 1200, "currency": "EUR"}})
	event, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1", Body: string(body), EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
	out, err := proxyClient(t, proxy).Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("orders"),
		InvocationType: ltypes.InvocationTypeEvent, Payload: event})
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, rie.Logs.String())
	}
	if out.StatusCode != 202 || len(out.Payload) != 0 || out.FunctionError != nil {
		t.Errorf("invoke = %d %q %v, want 202, no payload, no function error", out.StatusCode, out.Payload, aws.ToString(out.FunctionError))
	}
	scan, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(tables.Payments)})
	if err != nil || scan.Count != 1 {
		t.Fatalf("payments: %v %v\n%s", scan, err, rie.Logs.String())
	}
	inv := findInvocation(t, proxy, string(event))
	if inv.Function != "orders" || inv.Type != ltypes.InvocationTypeEvent || !inv.Ran || inv.Errored {
		t.Errorf("invocation = %+v", inv)
	}
}

// The proxy finds the function however Invoke names it, and answers a
// function's error as Lambda does: X-Amz-Function-Error for RequestResponse,
// nothing for Event (recorded as errored all the same). The cases run side
// by side, which the proxy queues for the emulator.
func TestLambdaProxyInvocations(t *testing.T) {
	proxy := startFailFn(t)
	client := proxyClient(t, proxy)
	tests := []struct {
		name          string
		function      string
		qualifier     string // the Qualifier parameter
		typ           ltypes.InvocationType
		payload       string
		wantStatus    int32
		wantFnError   string
		wantResponse  string // a part of the answered payload
		wantQualifier string
		wantErrored   bool
	}{
		{name: "result", function: "failfn", typ: ltypes.InvocationTypeRequestResponse, payload: `{"case":"result"}`,
			wantStatus: 200, wantResponse: `{"case":"result"}`},
		{name: "error", function: "failfn", typ: ltypes.InvocationTypeRequestResponse, payload: `{"fail":"card declined"}`,
			wantStatus: 200, wantFnError: "Unhandled", wantResponse: `"errorMessage":"card declined"`, wantErrored: true},
		{name: "event error", function: "failfn", typ: ltypes.InvocationTypeEvent, payload: `{"fail":"async"}`,
			wantStatus: 202, wantErrored: true},
		{name: "dry run", function: "failfn", typ: ltypes.InvocationTypeDryRun, payload: `{"case":"dry"}`, wantStatus: 204},
		{name: "default type", function: "failfn", payload: `{"case":"default"}`, wantStatus: 200, wantResponse: `{"case":"default"}`},
		{name: "ARN with qualifier", function: "arn:aws:lambda:us-east-1:123456789012:function:failfn:live", typ: ltypes.InvocationTypeRequestResponse,
			payload: `{"case":"arn"}`, wantStatus: 200, wantResponse: `{"case":"arn"}`, wantQualifier: "live"},
		{name: "partial ARN", function: "123456789012:function:failfn", typ: ltypes.InvocationTypeEvent, payload: `{"case":"partial"}`, wantStatus: 202},
		{name: "Qualifier parameter", function: "failfn", qualifier: "3", typ: ltypes.InvocationTypeRequestResponse, payload: `{"case":"param"}`,
			wantStatus: 200, wantResponse: `{"case":"param"}`, wantQualifier: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := &lambda.InvokeInput{FunctionName: aws.String(tt.function), InvocationType: tt.typ, Payload: []byte(tt.payload)}
			if tt.qualifier != "" {
				in.Qualifier = aws.String(tt.qualifier)
			}
			out, err := client.Invoke(context.Background(), in)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if out.StatusCode != tt.wantStatus || aws.ToString(out.FunctionError) != tt.wantFnError || !strings.Contains(string(out.Payload), tt.wantResponse) {
				t.Errorf("invoke = %d %q %s, want %d %q containing %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload, tt.wantStatus, tt.wantFnError, tt.wantResponse)
			}
			if tt.wantStatus != 200 && len(out.Payload) != 0 {
				t.Errorf("payload %s, want none", out.Payload)
			}
			inv := findInvocation(t, proxy, tt.payload)
			wantType := tt.typ
			if wantType == "" {
				wantType = ltypes.InvocationTypeRequestResponse
			}
			if inv.Function != "failfn" || inv.Qualifier != tt.wantQualifier || inv.Type != wantType || !inv.Ran || inv.Errored != tt.wantErrored {
				t.Errorf("invocation = %+v, want failfn qualifier %q %s errored %v", inv, tt.wantQualifier, wantType, tt.wantErrored)
			}
		})
	}
}

// Everything but the emulated functions' invocations reaches moto through
// the proxy: functions created there are listed, their event-invoke configs
// kept, and an Event invocation of one is accepted without running code.
func TestLambdaProxyForwardsToMoto(t *testing.T) {
	cfg := testenv.Config(t, "")
	name := testenv.Name(t, "fn")
	arn := testenv.Function(t, cfg, name)
	proxy := startFailFn(t)
	client := proxyClient(t, proxy)
	ctx := context.Background()

	found := false
	for pages := lambda.NewListFunctionsPaginator(client, &lambda.ListFunctionsInput{}); pages.HasMorePages() && !found; {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list functions: %v", err)
		}
		for _, f := range page.Functions {
			found = found || aws.ToString(f.FunctionArn) == arn
		}
	}
	if !found {
		t.Errorf("ListFunctions through the proxy lacks %s", arn)
	}
	dlq := testenv.CreateQueue(t, sqs.NewFromConfig(cfg), name+"-dlq", nil)
	testenv.OnFailure(t, client, name, dlq.ARN, 1)
	got, err := client.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(name)})
	if err != nil || aws.ToString(got.DestinationConfig.OnFailure.Destination) != dlq.ARN {
		t.Errorf("event invoke config through the proxy = %+v, %v", got, err)
	}
	out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(arn), InvocationType: ltypes.InvocationTypeEvent, Payload: []byte(`{"to":"moto"}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("invoke %s through the proxy = %+v, %v", name, out, err)
	}
	if inv := findInvocation(t, proxy, `{"to":"moto"}`); inv.Function != name || inv.Ran {
		t.Errorf("invocation = %+v, want %s, not run", inv, name)
	}
}

// AWS_ENDPOINT_URL_LAMBDA sends the SDK's Lambda calls alone to the proxy
// when the other services' endpoint comes from AWS_ENDPOINT_URL (as
// testenv.Env sets it for the dlq CLI). An endpoint set in code
// (config.WithBaseEndpoint, which dlq's --endpoint-url sets) wins over it:
// a test that runs dlq against the proxy must not pass --endpoint-url.
func TestEndpointURLLambda(t *testing.T) {
	moto := testenv.Endpoint(t)
	proxy := startFailFn(t)
	tests := []struct {
		name       string
		env        map[string]string
		opts       []func(*config.LoadOptions) error
		wantLambda string
	}{
		{name: "AWS_ENDPOINT_URL", env: map[string]string{"AWS_ENDPOINT_URL": moto}, wantLambda: proxy.URL},
		{name: "WithBaseEndpoint", opts: []func(*config.LoadOptions) error{config.WithBaseEndpoint(moto)}, wantLambda: moto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.URL)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := config.LoadDefaultConfig(context.Background(), append(tt.opts, config.WithRegion(testenv.Region))...)
			if err != nil {
				t.Fatal(err)
			}
			lc, qc := lambda.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
			if got := aws.ToString(lc.Options().BaseEndpoint); got != tt.wantLambda {
				t.Errorf("lambda endpoint = %q, want %s (proxy %s, moto %s)", got, tt.wantLambda, proxy.URL, moto)
			}
			if got := aws.ToString(qc.Options().BaseEndpoint); got != moto {
				t.Errorf("sqs endpoint = %q, want moto %s", got, moto)
			}
			if _, err := qc.ListQueues(context.Background(), &sqs.ListQueuesInput{}); err != nil {
				t.Errorf("list queues: %v", err)
			}
			if tt.wantLambda != proxy.URL {
				return
			}
			payload := `{"endpoint":"` + tt.name + `"}`
			if _, err := lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("failfn"), Payload: []byte(payload)}); err != nil {
				t.Fatalf("invoke: %v", err)
			}
			findInvocation(t, proxy, payload)
		})
	}
}
