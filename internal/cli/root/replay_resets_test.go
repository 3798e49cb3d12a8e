package root

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// Connections reset at random, before requests reach SQS and after SQS
// answered (lost answers), during an unordered replay: the run never
// exits 0 while a message is left, and the same command without faults
// finishes, exits 0, and nothing is lost. Duplicates are only the sends
// the reports count as uncertain.
func TestReplayUnderConnectionResetsNeverClaimsDoneAndTheNextRunFinishes(t *testing.T) {
	t.Parallel()
	tp := testenv.StartToxiproxy(t)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "reset")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 3))
	const total = 200
	testenv.SendBatch(t, c, d.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) }, nil)
	originals := map[string]bool{}
	for id := range peekIDs(t, d.Name) {
		originals[id] = true
	}
	tp.Add(t, testenv.Toxic{Name: "before", Type: "reset_peer", Stream: "upstream", Toxicity: 0.1, Attributes: map[string]any{"timeout": 0}})
	tp.Add(t, testenv.Toxic{Name: "after", Type: "reset_peer", Stream: "downstream", Toxicity: 0.1, Attributes: map[string]any{"timeout": 0}})

	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	args := "replay " + d.Name + " --yes --order none --visibility 3s --journal " + journal + " -o json"
	first := dlq(t, "", "--endpoint-url "+tp.Endpoint()+" "+args)
	var r1 replay.Report
	_ = json.Unmarshal([]byte(first.stdout), &r1)
	q, err := queue.Attributes(t.Context(), c, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first run's stderr:\n%s", first.stderr)
	t.Logf("under resets: exit %d, sent %d deleted %d failed %d uncertain %d verified %v left %+v; DLQ now %d visible %d in flight",
		first.code, r1.Sent, r1.Deleted, r1.Failed, r1.Uncertain, r1.Verified, r1.Left, q.Visible, q.InFlight)
	if first.code == cli.ExitOK && q.Depth() != 0 {
		t.Fatalf("exit 0 while the DLQ holds %d visible and %d in flight\n%s", q.Visible, q.InFlight, first.stderr)
	}
	if first.code != cli.ExitOK && first.code != cli.ExitCondition && first.code != cli.ExitError {
		t.Fatalf("exit %d under resets\n%s", first.code, first.stderr)
	}

	tp.Remove(t, "before")
	tp.Remove(t, "after")
	second := dlq(t, "", args)
	var r2 replay.Report
	if err := json.Unmarshal([]byte(second.stdout), &r2); err != nil || second.code != cli.ExitOK || !r2.Verified {
		t.Fatalf("second run: exit %d, report %+v\n%s", second.code, r2, second.stderr)
	}
	t.Logf("second run: %+v\n%s", r2, second.stderr)
	got := testenv.DrainCounts(t, c, src.URL)
	copies := 0
	for id, n := range got {
		if !originals[id] {
			t.Errorf("unknown original %s", id)
		}
		copies += n
	}
	if len(got) != total {
		t.Errorf("%d distinct messages in the destination, want %d", len(got), total)
	}
	t.Logf("%d duplicate copies in the destination; uncertain sends counted: %d + %d", copies-len(got), r1.Uncertain, r2.Uncertain)
	if dup := copies - len(got); dup > r1.Uncertain+r2.Uncertain {
		t.Errorf("%d duplicate copies, but the reports counted only %d+%d uncertain sends", dup, r1.Uncertain, r2.Uncertain)
	}
	if left := testenv.DrainCounts(t, c, d.URL); len(left) != 0 {
		t.Errorf("%d messages still in the DLQ", len(left))
	}
}

// Every send times out (the destination never answers): the run ends
// non-zero and says why, nothing is deleted from the DLQ, and the same
// command on a healthy endpoint then finishes and verifies.
func TestReplayWhoseSendsAllTimeOutLeavesTheDLQIntact(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "stall")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 3))
	const total = 20
	sendBodies(t, c, d.URL, total)
	// SendMessageBatch never answers: each attempt ends as an attempt cut
	// by --call-timeout does, at once (a real short timeout would cut the
	// other calls too on a busy machine; their timeouts have tests of
	// their own).
	stall := func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("stallSends",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == "SendMessageBatch" {
					return middleware.DeserializeOutput{}, middleware.Metadata{}, fmt.Errorf("no answer within 1s (stalled by the test): %w", context.DeadlineExceeded)
				}
				return next.HandleDeserialize(ctx, in)
			}), middleware.After)
	}
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	args := "replay " + d.Name + " --yes --visibility 3s --journal " + journal
	first := dlq(t, "", args+" -o json", stall)
	var r1 replay.Report
	_ = json.Unmarshal([]byte(first.stdout), &r1)
	if first.code != cli.ExitCondition || r1.Verified || r1.Deleted != 0 || r1.Failed != total || len(r1.Failures) == 0 ||
		!strings.Contains(r1.Failures[0].Error, "no answer within 1s") || !strings.Contains(r1.NextStep, "failed") {
		t.Fatalf("all sends timed out: exit %d, report %+v\n%s", first.code, r1, first.stderr)
	}
	if got := testenv.DrainCounts(t, c, src.URL); len(got) != 0 {
		t.Fatalf("the destination got %d messages, though no send was answered", len(got))
	}
	second := dlq(t, "", args+" -o json")
	var r2 replay.Report
	if err := json.Unmarshal([]byte(second.stdout), &r2); err != nil || second.code != cli.ExitOK || !r2.Verified || r2.Sent != total {
		t.Fatalf("next run: exit %d, report %+v\n%s", second.code, r2, second.stderr)
	}
	if got := testenv.DrainCounts(t, c, src.URL); len(got) != total {
		t.Errorf("%d distinct messages in the destination, want %d", len(got), total)
	}
}
