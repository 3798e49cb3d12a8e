package replay_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// overLimitAt refuses receives from a queue, as SQS does at its in-flight
// limit (120,000), once limit of its messages are in flight (moto counts
// them exactly).
func overLimitAt(t *testing.T, c *sqs.Client, url string, limit int, refused *atomic.Int32) fault {
	return fault{op: "ReceiveMessage", before: func(in any) error {
		if aws.ToString(in.(*sqs.ReceiveMessageInput).QueueUrl) != url {
			return nil
		}
		out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Error(err)
			return nil
		}
		var n int
		_, _ = fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &n)
		if n < limit {
			return nil
		}
		refused.Add(1)
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
			Err:      &smithy.GenericAPIError{Code: "OverLimit", Message: "too many messages in flight"}}}
	}}
}

// A DLQ with more messages than SQS lets one reader hold is replayed in
// rounds: a receive refused with OverLimit ends the round's scan, the
// round moves what it holds, and the next round goes on. The plan says
// that order applies within each round. Every message arrives once.
func TestReplayPastTheInFlightLimitGoesInRounds(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total = 25
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	var refused atomic.Int32
	api := client(t, overLimitAt(t, p.c, p.dlq.URL, 5, &refused))
	r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Concurrency: 1, Sleep: noSleep})
	if !r.Verified || r.Deleted != total || r.Plan.Messages >= total || refused.Load() < 2 {
		t.Fatalf("report = %+v after %d refused receives: want every message moved in rounds", r, refused.Load())
	}
	if !strings.Contains(strings.Join(r.Plan.Warnings, "\n"), "in-flight limit") {
		t.Errorf("plan warnings %q do not say the replay goes in rounds", r.Plan.Warnings)
	}
	got := testenv.DrainCounts(t, p.c, p.src.URL)
	if len(got) != total {
		t.Fatalf("%d distinct messages in the destination, want %d", len(got), total)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
}

// Rounds of a small window: a key stopped at a failed message in one
// round stays stopped in the next, so no later message of that key
// overtakes it; the other keys move.
func TestReplayWindowKeepsAFailedKeyStoppedAcrossRounds(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, map[string]string{"MaximumMessageSize": "1024"})
	// The oldest message of key "big" cannot go (too large), then the rest.
	sendN(t, p.c, p.dlq.URL, 1, func(int) string { return `{"orderId":"big","pad":"` + strings.Repeat("x", 1500) + `"}` })
	sendN(t, p.c, p.dlq.URL, 8, func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf(`{"orderId":"big","n":%d}`, i)
		}
		return fmt.Sprintf(`{"orderId":"o-%d"}`, i)
	})
	r := run(t, replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, Window: 3, Concurrency: 1, Sleep: noSleep})
	if r.Verified || r.Failed != 1 || r.Deleted != 4 || r.Left.Failed != 1 || r.Left.NotReached != 4 {
		t.Fatalf("report = %+v: want the 4 other keys moved, big stopped at its first message", r)
	}
	if !strings.Contains(strings.Join(r.Plan.Warnings, "\n"), "replayed in rounds") {
		t.Errorf("plan warnings %q do not say the replay goes in rounds", r.Plan.Warnings)
	}
	for _, m := range testenv.Drain(t, p.c, p.src.URL) {
		if strings.Contains(aws.ToString(m.Body), `"big"`) {
			t.Errorf("a message of the stopped key arrived: %s", aws.ToString(m.Body))
		}
	}
}
