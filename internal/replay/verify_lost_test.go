package replay_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/replay"
)

// A receive of the final check's own scan whose answer is lost hides
// messages that the attributes (read before the scan) counted as visible,
// not in flight: the check must not take their absence for a verified
// DLQ. Here one matching message arrives in the DLQ while the run moves
// the others (Left.NotReached); with or without the lost receive the run
// is not verified.
func TestReplayLostReceiveInFinalCheckIsNotVerified(t *testing.T) {
	t.Parallel()
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lose=%v", lose), func(t *testing.T) {
			t.Parallel()
			p := newPair(t, false, nil)
			sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			var arrived, lost atomic.Bool
			api := client(t,
				fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
					if arrived.CompareAndSwap(false, true) {
						// A message dead-lettered while the run moves the others.
						if _, err := p.c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(p.dlq.URL),
							MessageBody: aws.String(`{"orderId":"o-late"}`)}); err != nil {
							return err
						}
					}
					return nil
				}},
				fault{op: "ReceiveMessage", after: func(_, out any) error {
					if lose && arrived.Load() && len(out.(*sqs.ReceiveMessageOutput).Messages) > 0 && lost.CompareAndSwap(false, true) {
						return errors.New("read tcp 127.0.0.1: use of closed network connection")
					}
					return nil
				}})
			r := run(t, replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Visibility: 8 * time.Second})
			if !arrived.Load() || lose != lost.Load() {
				t.Fatalf("set-up: arrived %v, lost %v", arrived.Load(), lost.Load())
			}
			if r.Deleted != 5 {
				t.Fatalf("report = %+v, want the 5 moved", r)
			}
			if r.Verified || r.Left.Total() == 0 {
				t.Errorf("report: verified %v, left %+v, warnings %q: o-late is still in the DLQ (hidden by the final check's lost receive = %v), the run must not be verified",
					r.Verified, r.Left, r.Warnings, lose)
			}
		})
	}
}
