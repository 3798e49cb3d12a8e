package root

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/testenv"
)

// Issue 22, end to end on the emulator: inspect shows the DLQs that an
// EventBridge target, an SNS subscription and a Lambda function name, and
// where failed events are dropped; --sources reads less; a refused
// permission is a warning; alarm ensure --all alarms every one of them.
func TestEveryKindOfDLQ(t *testing.T) {
	t.Parallel()
	// Its own region: the account's warnings are about all its rules.
	const region = "eu-west-3"
	cfg := testenv.Config(t, region)
	q, eb, sn, la := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sns.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	p := testenv.Name(t, "kinds")
	shipDLQ := testenv.CreateQueue(t, q, p+"-ship-dlq", nil)
	notifyDLQ := testenv.CreateQueue(t, q, p+"-notify-dlq", nil)
	chargeDLQ := testenv.CreateQueue(t, q, p+"-charge-dlq", nil)
	ship := testenv.CreateQueue(t, q, p+"-ship", nil)
	testenv.Send(t, q, shipDLQ.URL, 1, `{"version":"0","id":"1","detail-type":"OrderPlaced","source":"orders","detail":{}}`)
	testenv.Rule(t, eb, "default", p+"-ship", ebtypes.Target{Id: aws.String("t1"), Arn: aws.String(ship.ARN), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(shipDLQ.ARN)}})
	topic := testenv.Topic(t, sn, p+"-events")
	testenv.Subscribe(t, sn, topic, "sqs", ship.ARN, map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q}`, notifyDLQ.ARN)})
	testenv.Subscribe(t, sn, topic, "sqs", ship.ARN+"-x", nil)
	testenv.Function(t, cfg, p+"-charge")
	testenv.OnFailure(t, la, p+"-charge", chargeDLQ.ARN, 0)
	t.Cleanup(func() {
		names := []string{"dlq-depth-" + shipDLQ.Name, "dlq-depth-" + notifyDLQ.Name, "dlq-depth-" + chargeDLQ.Name}
		_, _ = cloudwatch.NewFromConfig(cfg).DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: names})
	})

	r := dlq(t, region, "inspect --prefix "+p+" -o json --fail-on-warning")
	kinds := inspectKinds(t, r)
	want := map[string]string{shipDLQ.Name: "eventbridge", notifyDLQ.Name: "sns", chargeDLQ.Name: "lambda"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("DLQs and their sources' kinds = %v, want %v", kinds, want)
	}
	if r.code != cli.ExitCondition || !strings.Contains(r.stderr, "warning: sns "+p+"-events → sqs:"+p+"-ship-x has no DLQ: failed events are dropped after retries") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 3 and the subscription without a DLQ", r.code, r.stderr)
	}

	r = dlq(t, region, "inspect --prefix "+p+" -o json --sources sqs,eventbridge")
	if kinds := inspectKinds(t, r); len(kinds) != 1 || kinds[shipDLQ.Name] != "eventbridge" {
		t.Errorf("--sources sqs,eventbridge: DLQs %v, want %s alone", kinds, shipDLQ.Name)
	}

	r = dlq(t, region, "inspect --prefix "+p+" -o json", refuse("ListFunctions", "AccessDeniedException"))
	if kinds := inspectKinds(t, r); r.code != 0 || len(kinds) != 2 || !strings.Contains(r.stderr, "warning: lambda:ListFunctions denied (AccessDeniedException)") {
		t.Errorf("ListFunctions refused: exit %d, DLQs %v, stderr:\n%s", r.code, kinds, r.stderr)
	}

	r = dlq(t, region, "alarm ensure --all --prefix "+p+" -o json")
	created := map[string]string{}
	for _, row := range ensureRows(t, r) {
		created[row.Queue] = row.Action
	}
	want = map[string]string{shipDLQ.Name: "created", notifyDLQ.Name: "created", chargeDLQ.Name: "created"}
	if r.code != 0 || fmt.Sprint(created) != fmt.Sprint(want) {
		t.Errorf("alarm ensure --all: exit %d, %v, want %v\n%s", r.code, created, want, r.stderr)
	}
	r = dlq(t, region, "alarm list --prefix "+p)
	if r.code != 0 || strings.Count(r.stdout, "dlq-depth-"+p) != 3 {
		t.Errorf("alarm list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// inspectKinds reads inspect's JSON: each DLQ's name and the kind of its
// first source.
func inspectKinds(t *testing.T, r result) map[string]string {
	t.Helper()
	var rows []struct {
		Name    string
		Sources []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s%s", err, r.stdout, r.stderr)
	}
	out := map[string]string{}
	for _, row := range rows {
		kind := ""
		if len(row.Sources) > 0 {
			kind = row.Sources[0].Kind
		}
		out[row.Name] = kind
	}
	return out
}
