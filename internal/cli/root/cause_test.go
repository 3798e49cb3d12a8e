package root

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"

	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/testenv"
)

// --cause on peek, timeline --from-dlq and replay selects exactly one
// cause's messages, classified as dlq triage does: the outage is replayed,
// the poison orders stay.
func TestCauseSelectsOneTriageGroup(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := "/aws/lambda/" + testenv.Name(t, "cause")
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
	line := func(trace, order, step, errText string) string {
		b, _ := json.Marshal(map[string]string{"level": "ERROR", "msg": step + " failed", "traceId": trace, "orderId": order, "step": step, "status": "error", "error": errText})
		return string(b)
	}
	var lines []logLine
	for i, o := range []string{"o-1", "o-2", "o-3"} {
		lines = append(lines, logLine{p + "-orders", base.Add(time.Duration(i) * time.Second), line("t-"+o, o, "charge", fmt.Sprintf("payment provider unavailable: HTTP 503 (request %d%d%d%d5a1f)", i, i, i, i))})
	}
	for i, o := range []string{"o-7", "o-8"} {
		lines = append(lines, logLine{p + "-orders", base.Add(time.Duration(10+i) * time.Second), line("t-"+o, o, "validate", "invalid currency 'XYZ' in order "+o)})
	}
	putLogs(t, logs, lines)
	dlqQ := testenv.CreateQueue(t, c, testenv.Name(t, "cause-dlq"), nil)
	dst := testenv.CreateQueue(t, c, testenv.Name(t, "cause-dst"), nil)
	for _, o := range []string{"o-1", "o-2", "o-3", "o-7", "o-8"} {
		send(t, c, dlqQ.URL, fmt.Sprintf(`{"traceId":"t-%s","orderId":%q,"type":"OrderPlaced","attempt":1}`, o, o), map[string]sqstypes.MessageAttributeValue{})
	}
	logFlag := " --log-group-prefix " + p + "-"

	tri, _ := triageRun(t, "triage "+dlqQ.Name+logFlag)
	if len(tri.Groups) != 2 {
		t.Fatalf("triage: %+v", tri)
	}
	outage, poison := tri.Groups[0].ID, tri.Groups[1].ID
	if tri.Groups[0].Step != "charge" || tri.Groups[1].Step != "validate" {
		t.Fatalf("groups %+v", tri.Groups)
	}
	orders := func(msgs []peekedMessage) string {
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.OrderID)
		}
		sort.Strings(ids)
		return strings.Join(ids, ",")
	}

	if got := orders(peekJSON(t, "peek "+dlqQ.Name+" --cause "+poison+logFlag)); got != "o-7,o-8" {
		t.Errorf("peek --cause poison: %s", got)
	}
	if got := orders(peekJSON(t, "peek "+dlqQ.Name+" --cause "+outage[:4]+logFlag)); got != "o-1,o-2,o-3" {
		t.Errorf("peek --cause with a 4-digit prefix: %s", got)
	}
	r := dlq(t, "", "timeline --from-dlq "+dlqQ.Name+" --cause "+poison+logFlag+" -o json")
	if r.code != 0 || !strings.Contains(r.stdout, "t-o-7") || !strings.Contains(r.stdout, "t-o-8") || strings.Contains(r.stdout, "t-o-1") {
		t.Errorf("timeline --from-dlq --cause: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", "replay "+dlqQ.Name+" --to "+dst.Name+" --force --cause "+outage+logFlag+" --dry-run -o json")
	var plan struct{ Plan struct{ Messages int } }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &plan) != nil || plan.Plan.Messages != 3 || !strings.Contains(r.stderr, "cause "+outage) {
		t.Fatalf("replay --cause --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", "replay "+dlqQ.Name+" --to "+dst.Name+" --force --cause "+outage+logFlag+" --yes -o json")
	var rep struct {
		Deleted  int
		Verified bool
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Deleted != 3 || !rep.Verified {
		t.Fatalf("replay --cause: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := orders(peekJSON(t, "peek "+dlqQ.Name)); got != "o-7,o-8" {
		t.Errorf("left in the DLQ: %s, want the poison orders", got)
	}
	if got := orders(peekJSON(t, "peek "+dst.Name)); got != "o-1,o-2,o-3" {
		t.Errorf("in the destination: %s, want the outage's orders", got)
	}
	for _, bad := range []string{"ffffff", "ab"} {
		r = dlq(t, "", "replay "+dlqQ.Name+" --cause "+bad+logFlag+" --dry-run")
		if r.code != 2 || !strings.Contains(r.stderr, "cause") {
			t.Errorf("--cause %s: exit %d, %s", bad, r.code, r.stderr)
		}
	}
}

// A message of the DLQ hidden while --cause classified it (a killed run's
// hold, a colleague's peek) and visible again when the replay scans is of
// no known cause: the replay must not say it moved every message of the
// cause (exit 3), and the same command run again moves it.
func TestCauseReplayDoesNotVerifyPastWhatItCouldNotClassify(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := "/aws/lambda/" + testenv.Name(t, "hidden")
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
	var lines []logLine
	for i, o := range []string{"o-1", "o-2", "o-3"} {
		b, _ := json.Marshal(map[string]string{"level": "ERROR", "traceId": "t-" + o, "orderId": o, "step": "charge", "status": "error", "error": "payment provider unavailable: HTTP 503"})
		lines = append(lines, logLine{p + "-orders", base.Add(time.Duration(i) * time.Second), string(b)})
	}
	putLogs(t, logs, lines)
	dlqQ := testenv.CreateQueue(t, c, testenv.Name(t, "hidden-dlq"), nil)
	dst := testenv.CreateQueue(t, c, testenv.Name(t, "hidden-dst"), nil)
	for _, o := range []string{"o-1", "o-2", "o-3"} {
		send(t, c, dlqQ.URL, fmt.Sprintf(`{"traceId":"t-%s","orderId":%q}`, o, o), nil)
	}
	logFlag := " --log-group-prefix " + p + "-"
	tri, _ := triageRun(t, "triage "+dlqQ.Name+logFlag)
	if len(tri.Groups) != 1 || tri.Groups[0].Count != 3 {
		t.Fatalf("triage: %+v", tri)
	}
	cause := tri.Groups[0].ID

	// Hold one message, as a killed run would, and give it back once the
	// classification is done (when the engine reads the DLQ's attributes).
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqQ.URL), MaxNumberOfMessages: 1, VisibilityTimeout: 600})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("hold one: %v %+v", err, out)
	}
	held := out.Messages[0]
	var attrs atomic.Int32
	giveBack := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("giveBack",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == "GetQueueAttributes" && attrs.Add(1) == 2 {
					if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(dlqQ.URL), ReceiptHandle: held.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	args := "replay " + dlqQ.Name + " --to " + dst.Name + " --force --cause " + cause + logFlag + " --yes -o json"
	r := dlq(t, "", args, giveBack)
	var rep struct {
		Deleted  int
		Verified bool
		Left     struct{ Unchecked int }
	}
	if r.code != 3 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Verified || rep.Left.Unchecked != 1 || rep.Deleted != 2 || !strings.Contains(r.stderr, "hidden when --cause classified it") {
		t.Fatalf("replay with a message hidden at classification: exit %d (want 3)\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", args)
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || !rep.Verified || rep.Deleted != 1 {
		t.Fatalf("the same command again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
