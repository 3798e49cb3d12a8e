package testenv

import (
	"context"
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
