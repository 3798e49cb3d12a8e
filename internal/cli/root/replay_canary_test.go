package root

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// failingConsumer reads the source queue until the test ends and never
// deletes: a fix that did not hold. After two receives SQS moves each
// message back to the DLQ.
func failingConsumer(t *testing.T, c *sqs.Client, url string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		}
	}()
}

// A wrong fix costs the canary, not the DLQ: dlq replay --canary 3 sees
// the canary come back, stops with exit 3 and says so, and the other
// messages stay in the DLQ, untouched. The wait is long (the watch ends
// once all 3 are back), so a slow machine does not turn "returned" into
// "not consumed".
func TestReplayCanaryThroughTheCLI(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "cancli")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.With(map[string]string{"VisibilityTimeout": "1"}, testenv.Redrive(d.ARN, 2)))
	sendBodies(t, c, d.URL, 12)
	failingConsumer(t, c, src.URL)

	r := dlq(t, "", "replay "+d.Name+" --to "+src.Name+" --canary 3 --canary-wait 2m --yes -o json")
	var rep replay.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if r.code != cli.ExitCondition || rep.Canary == nil || rep.Canary.Verdict != replay.CanaryReturned || rep.Sent != 3 ||
		!strings.Contains(r.stderr, "canary returned: the fix did not hold") {
		t.Fatalf("exit %d, canary %+v, sent %d\n%s", r.code, rep.Canary, rep.Sent, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: canary: these 3 go first") {
		t.Errorf("the plan does not say the canary goes first:\n%s", r.stderr)
	}
	if got := testenv.DrainCounts(t, c, d.URL); len(got) < 9 {
		t.Errorf("the DLQ holds %d messages, want the 9 not sent (and the canary back)", len(got))
	}
}
