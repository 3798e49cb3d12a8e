package triage

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue/shapetest"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
	"github.com/dlqops/dlq/internal/triage"
)

// The DLQ shapes AWS documents, sent into a real queue as each service
// would dead-letter them, triaged with no logs to read: each cause comes
// from what its writer recorded, at the step that names where it failed.
// Two EventBridge messages whose errors differ only in a request ID are
// one cause.
func TestTriageDocumentedShapes(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "shapes-dlq"), nil)
	for _, name := range shapetest.Names {
		shapetest.Load(t, name).Send(t, c, q.URL)
	}
	again := shapetest.Load(t, "eventbridge-dlq")
	again.Attributes["ERROR_MESSAGE"] = shapetest.Attribute{Type: "String", Value: "Unable to invoke Lambda function orders-shipping: rate exceeded (request 0d0e0f10)"}
	again.Send(t, c, q.URL)

	ios, _, stdout, stderr := render.Test()
	f := cli.NewFactory(ios, func() (cli.Settings, error) {
		return cli.Settings{EndpointURL: testenv.Endpoint(t), Region: testenv.Region, Output: render.FormatJSON}, nil
	})
	if err := testenv.ExecuteCommand(NewCmdTriage(f, nil), ios, q.Name); err != nil {
		t.Fatalf("dlq triage: %v\n%s", err, stderr)
	}
	var groups struct {
		Groups []struct {
			ID, Step, Error, Source string
			Count                   int
		} `json:"groups"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &groups); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var got []string
	for _, g := range groups.Groups {
		if g.ID != triage.CauseID(g.Step, g.Error) {
			t.Errorf("group %q: ID %s is not CauseID(step, error)", g.Error, g.ID)
		}
		got = append(got, fmt.Sprintf("%s | %s | %s | %d", g.Source, g.Step, g.Error, g.Count))
	}
	sort.Strings(got)
	want := []string{
		"body | orders-notify | EventAgeExceeded | 1",
		"body | orders-payments | ProviderError: payment provider unavailable: HTTP 503 | 1",
		"eventbridge | orders-shipping | SDK_CLIENT_ERROR: Unable to invoke Lambda function orders-shipping: rate exceeded (request <id>) | 2",
		"lambda | lambda | 200: <time> <uuid> Task timed out after <n> seconds | 1",
		"unknown |  | unknown | 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stderr.String(), "2 from EventBridge's error attributes") {
		t.Errorf("stderr = %q, want the EventBridge causes counted", stderr)
	}
}
