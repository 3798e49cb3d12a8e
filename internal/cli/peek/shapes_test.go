package peek

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/queue/shapetest"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// shapeView is the part of peek's JSON the shapes decide.
type shapeView struct {
	MessageID string              `json:"messageId"`
	Origin    *string             `json:"origin"`
	TraceID   string              `json:"traceId"`
	OrderID   string              `json:"orderId"`
	Error     *queue.MessageError `json:"error"`
}

// peekMoto runs `dlq peek ARGS -o json` through the cobra command against
// the emulator.
func peekMoto(t *testing.T, args string) []shapeView {
	t.Helper()
	ios, _, stdout, stderr := render.Test()
	f := cli.NewFactory(ios, func() (cli.Settings, error) {
		return cli.Settings{EndpointURL: testenv.Endpoint(t), Region: testenv.Region, Output: render.FormatJSON}, nil
	})
	if err := testenv.ExecuteCommand(NewCmdPeek(f, nil), ios, args); err != nil {
		t.Fatalf("dlq peek %s: %v\n%s", args, err, stderr)
	}
	var out []shapeView
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("dlq peek %s: %v\n%s", args, err, stdout)
	}
	return out
}

// The DLQ shapes AWS documents, sent into a real queue as each service
// would dead-letter them: peek names each message's origin, reads its IDs
// and error from where that service put them, and its filters look into
// an EventBridge event's detail and an invocation record's requestPayload.
func TestPeekDocumentedShapes(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "shapes-dlq"), nil)
	shapeOf := map[string]string{} // message ID → shape
	for _, name := range shapetest.Names {
		shapeOf[shapetest.Load(t, name).Send(t, c, q.URL)] = name
	}

	type want struct{ origin, trace, order, err string }
	wants := map[string]want{
		"eventbridge-dlq": {"eventbridge", "4bf92f3577b34da6", "order-1042",
			"SDK_CLIENT_ERROR: Unable to invoke Lambda function orders-shipping: rate exceeded (request 7c1f0b2a) (MaximumRetryAttempts)"},
		"sns-envelope":          {"sns", "9c1e0d2a41f7b388", "order-2001", ""},
		"sns-raw":               {"", "1f0e2d3c4b5a6978", "order-2002", ""},
		"lambda-async-dlq":      {"lambda", "2a2b2c2d2e2f3031", "order-3001", "200: 2026-11-26T18:34:01.000Z e4b4a6d3-9f2c-4a51-8b36-0c7a2c1d9f10 Task timed out after 3.00 seconds"},
		"lambda-on-failure":     {"lambda-on-failure", "3c4d5e6f70819293", "order-4001", "ProviderError: payment provider unavailable: HTTP 503 (RetriesExhausted)"},
		"lambda-on-failure-age": {"lambda-on-failure", "4d5e6f708192a3b4", "order-4002", "EventAgeExceeded"},
	}
	all := peekMoto(t, q.Name)
	if len(all) != len(shapetest.Names) {
		t.Fatalf("peek found %d messages, want %d", len(all), len(shapetest.Names))
	}
	for _, v := range all {
		name := shapeOf[v.MessageID]
		w := wants[name]
		if v.Origin == nil {
			t.Fatalf("%s: no origin field in peek's JSON", name)
		}
		if got := (want{*v.Origin, v.TraceID, v.OrderID, errText(v.Error)}); got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}

	for _, tc := range []struct {
		args string
		want []string
	}{
		{"--where customer.tier=gold", []string{"eventbridge-dlq", "lambda-on-failure", "sns-envelope"}},
		{"--order-id order-4002", []string{"lambda-on-failure-age"}},
		{"--trace-id 3c4d5e6f70819293", []string{"lambda-on-failure"}},
		{"--error-code SDK_CLIENT_ERROR", []string{"eventbridge-dlq"}},
		{`--jq '.origin == "lambda-on-failure"'`, []string{"lambda-on-failure", "lambda-on-failure-age"}},
	} {
		var got []string
		for _, v := range peekMoto(t, q.Name+" "+tc.args) {
			got = append(got, shapeOf[v.MessageID])
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("peek %s: %v, want %v", tc.args, got, tc.want)
		}
	}
}
