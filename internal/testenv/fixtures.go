package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is a queue a test created.
type Queue struct {
	Name string
	URL  string
	ARN  string
}

// CreateQueue creates a queue with attributes and deletes it when the test
// ends.
func CreateQueue(t testing.TB, c *sqs.Client, name string, attrs map[string]string) Queue {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("get queue arn %s: %v", name, err)
	}
	q := Queue{Name: name, URL: aws.ToString(out.QueueUrl), ARN: a.Attributes["QueueArn"]}
	t.Cleanup(func() {
		_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
	})
	return q
}

// Redrive returns the RedrivePolicy attribute pointing at a DLQ.
func Redrive(dlqARN string, maxReceiveCount int) map[string]string {
	return map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, maxReceiveCount)}
}

// With merges attribute maps.
func With(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Send puts n messages with the given body on a queue.
func Send(t testing.TB, c *sqs.Client, url string, n int, body string) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("send message: %v", err)
		}
	}
}

// SendBatch puts n messages on a queue, ten to a call; body(i) is the
// i-th body and group(i), when not nil, its FIFO message group (the
// deduplication ID is derived from i).
func SendBatch(t testing.TB, c *sqs.Client, url string, n int, body func(int) string, group func(int) string) {
	t.Helper()
	for i := 0; i < n; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, n); j++ {
			e := types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(body(j))}
			if group != nil {
				e.MessageGroupId, e.MessageDeduplicationId = aws.String(group(j)), aws.String(fmt.Sprintf("d-%d", j))
			}
			entries = append(entries, e)
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			t.Fatalf("send messages: %v", err)
		}
		if len(out.Failed) > 0 {
			t.Fatalf("send messages: %d failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
}

// Drain receives every message of a queue, deleting each, and returns
// them in receive order.
func Drain(t testing.TB, c *sqs.Client, url string) []types.Message {
	t.Helper()
	var out []types.Message
	for empty := 0; empty < 2; {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		if len(r.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range r.Messages {
			out = append(out, m)
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("drain: %v", err)
			}
		}
	}
	return out
}

// OriginalID is the ID a message had in the DLQ: from the dlq-replay
// marker when it was replayed, else its own.
func OriginalID(m types.Message) string {
	if a, ok := m.MessageAttributes["dlq-replay"]; ok {
		var mk struct {
			OriginalMessageID string `json:"originalMessageId"`
		}
		if json.Unmarshal([]byte(aws.ToString(a.StringValue)), &mk) == nil && mk.OriginalMessageID != "" {
			return mk.OriginalMessageID
		}
	}
	return aws.ToString(m.MessageId)
}

// DrainCounts drains a queue and counts its messages by original ID.
func DrainCounts(t testing.TB, c *sqs.Client, url string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range Drain(t, c, url) {
		out[OriginalID(m)]++
	}
	return out
}
