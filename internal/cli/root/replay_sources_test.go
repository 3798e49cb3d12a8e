package root

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// dlq replay on an EventBridge target's DLQ: the plan names the target and
// the kind refused; the run moves what it can, keeps the rest, and exits
// 3 with the reason.
func TestReplayEventBridgeDLQThroughTheCLI(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "")
	c, eb := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	p := testenv.Name(t, "ebcli")
	dlqQ := testenv.CreateQueue(t, c, p+"-dlq", nil)
	target := testenv.CreateQueue(t, c, p+"-target", nil)
	dl := &ebtypes.DeadLetterConfig{Arn: aws.String(dlqQ.ARN)}
	stream := "arn:aws:kinesis:" + testenv.Region + ":123456789012:stream/" + p
	rule := testenv.Rule(t, eb, "default", p+"-rule",
		ebtypes.Target{Id: aws.String("q"), Arn: aws.String(target.ARN), DeadLetterConfig: dl},
		ebtypes.Target{Id: aws.String("k"), Arn: aws.String(stream), DeadLetterConfig: dl, RoleArn: aws.String("arn:aws:iam::123456789012:role/eb")})
	for i, tg := range []string{target.ARN, stream} {
		str := func(s string) types.MessageAttributeValue {
			return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
		}
		body, _ := json.Marshal(map[string]any{"version": "0", "id": "e-" + string(rune('1'+i)), "detail-type": "OrderPlaced", "source": "orders",
			"account": "123456789012", "time": "2026-12-07T10:00:00Z", "region": testenv.Region, "resources": []string{}, "detail": map[string]any{"orderId": "o-1"}})
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(dlqQ.URL), MessageBody: aws.String(string(body)),
			MessageAttributes: map[string]types.MessageAttributeValue{"RULE_ARN": str(rule), "TARGET_ARN": str(tg), "ERROR_CODE": str("SDK_CLIENT_ERROR")}}); err != nil {
			t.Fatal(err)
		}
	}

	dry := dlq(t, "", "replay "+dlqQ.Name+" --dry-run")
	if dry.code != cli.ExitOK || !strings.Contains(dry.stderr, "1 to queue "+p+"-target (the rule target that failed)") ||
		!strings.Contains(dry.stderr, "1 stay in the DLQ: the target "+stream+" is of a kind replay does not send to (kinesis)") {
		t.Fatalf("dry run: exit %d\n%s", dry.code, dry.stderr)
	}
	r := dlq(t, "", "replay "+dlqQ.Name+" --yes -o json")
	var rep replay.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if r.code != cli.ExitCondition || rep.Sent != 1 || rep.Failed != 1 || rep.Plan == nil || len(rep.Plan.Routes) != 2 {
		t.Fatalf("exit %d, report %+v\n%s", r.code, rep, r.stderr)
	}
	if got := testenv.DrainCounts(t, c, target.URL); len(got) != 1 {
		t.Errorf("target holds %d, want 1", len(got))
	}
}
