package replay_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// consumer reads the source queue until the test ends, as the pipeline's
// consumer would: deleting what it reads (a good fix), or reading without
// deleting (a fix that did not hold: after maxReceiveCount receives SQS
// moves the message back to the DLQ). It returns the bodies it read, in
// the order it first read them.
func consumer(t *testing.T, c *sqs.Client, url string, deletes bool) func() []string {
	return consume(t, c, url, deletes, nil)
}

// consume is consumer that also tells logged of each message it reads
// (its body, and whether it deletes it).
func consume(t *testing.T, c *sqs.Client, url string, deletes bool, logged func(body string, ok bool)) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	var mu sync.Mutex
	var bodies []string
	seen := map[string]bool{}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				continue
			}
			for _, m := range out.Messages {
				mu.Lock()
				if !seen[aws.ToString(m.MessageId)] {
					seen[aws.ToString(m.MessageId)] = true
					bodies = append(bodies, aws.ToString(m.Body))
				}
				mu.Unlock()
				if logged != nil {
					logged(aws.ToString(m.Body), deletes)
				}
				if deletes {
					_, _ = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
				}
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
}

// canaryPair is a DLQ of 10 orders, two messages each (seq 0 sent before
// seq 1), every one replayed before (it carries a marker with its first
// ID), and its source, whose failures come back to the DLQ after two
// receives a second apart.
func canaryPair(t *testing.T) (*sqs.Client, testenv.Queue, testenv.Queue) {
	t.Helper()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "can")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.With(map[string]string{"VisibilityTimeout": "1"}, testenv.Redrive(d.ARN, 2)))
	for seq := range 2 {
		var entries []types.SendMessageBatchRequestEntry
		for o := range 10 {
			mk := fmt.Sprintf(`{"originalMessageId":"first-%d-%d","originalSentAt":"2026-12-01T00:00:00.000Z","dlq":"x","count":1,"replayedAt":"2026-12-01T00:00:00.000Z"}`, o, seq)
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(o)), MessageBody: aws.String(fmt.Sprintf(`{"orderId":"o-%d","seq":%d,"traceId":"t-%d-%d"}`, o, seq, o, seq)),
				MessageAttributes: map[string]types.MessageAttributeValue{replay.MarkerAttribute: {DataType: aws.String("String"), StringValue: aws.String(mk)}}})
		}
		if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.URL), Entries: entries}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // seq 1 is sent after seq 0: SentTimestamp is in milliseconds
	}
	return c, d, src
}

// The canary proves the fix before the rest moves: a consumer that takes
// every message lets the rest go (one message of each of 5 orders first);
// one that fails them sees them return, and nothing else moves; with no
// consumer the canary is not consumed, and nothing else moves.
func TestReplayCanary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		consumer func(*testing.T, *sqs.Client, string) func() []string
		verdict  string
		sent     int
		wait     time.Duration
	}{
		{"consumed", func(t *testing.T, c *sqs.Client, u string) func() []string { return consumer(t, c, u, true) }, replay.CanaryConsumed, 20, 10 * time.Second},
		// Two minutes, which it does not wait: the watch ends once all 5
		// are back.
		{"returned", func(t *testing.T, c *sqs.Client, u string) func() []string { return consumer(t, c, u, false) }, replay.CanaryReturned, 5, 2 * time.Minute},
		{"not consumed", func(*testing.T, *sqs.Client, string) func() []string { return nil }, replay.CanaryNotConsumed, 5, 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, d, src := canaryPair(t)
			read := tc.consumer(t, c, src.URL)
			var statuses []string
			rep := run(t, replay.Config{API: c, DLQ: d.URL, To: src.URL, Canary: 5, CanaryWait: tc.wait,
				Status: func(s string) { statuses = append(statuses, s) }})
			if rep.Canary == nil || rep.Canary.Verdict != tc.verdict || rep.Canary.Sent != 5 || rep.Sent != tc.sent {
				t.Fatalf("canary %+v, sent %d: want verdict %s, 5 in the canary and %d sent", rep.Canary, rep.Sent, tc.verdict, tc.sent)
			}
			if rep.Plan == nil || !strings.Contains(strings.Join(rep.Plan.Warnings, " "), "canary: these 5 go first") {
				t.Errorf("the plan does not say the canary goes first: %+v", rep.Plan)
			}
			if !regexp.MustCompile(`canary: 5 sent, \d consumed, \d returned, waiting`).MatchString(strings.Join(statuses, "\n")) {
				t.Errorf("no canary progress line: %q", statuses)
			}
			if read != nil {
				// The canary is the oldest message of each of 5 orders: the
				// rest never sends an order's older message after it.
				for i, b := range read()[:5] {
					if !strings.Contains(b, `"seq":0`) {
						t.Errorf("canary message %d is %s: want seq 0 (the oldest of its order)", i, b)
					}
				}
			}
			if tc.verdict == replay.CanaryReturned && (rep.Canary.Returned != 5 || rep.Canary.WaitSeconds >= tc.wait.Seconds()) {
				t.Errorf("all 5 came back, yet the watch took %.0f s of its %s: %+v", rep.Canary.WaitSeconds, tc.wait, rep.Canary)
			}
			if tc.verdict == replay.CanaryConsumed {
				if !rep.Verified {
					t.Errorf("consumed canary, then the rest: want verified, got %+v", rep)
				}
				return
			}
			if rep.Verified || rep.Stopped != replay.StopCanary || !strings.Contains(rep.NextStep, "nothing else was sent") && !strings.Contains(rep.NextStep, "Nothing else was sent") {
				t.Errorf("a canary that did not prove the fix: %+v", rep)
			}
			q, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(d.URL), AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
			if err != nil || q.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
				t.Errorf("the rest is held after the canary stopped: %v %v", q, err)
			}
		})
	}
}
