package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/testenv"
)

// The emulator makes a conditional write on one item atomic, as DynamoDB
// does: of 32 concurrent "create if absent" writes on a key, exactly one
// wins, for each of 20 keys. moto_server alone lets two win now and then
// when the machine is busy; the idempotency tests rely on this.
func TestEmulatorConditionalWritesAreAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	table := testenv.Name(t, "atomic")
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	const keys, writers = 60, 32
	for k := range keys {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName:           aws.String(table),
					Item:                map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint("k-", k)}, "writer": &types.AttributeValueMemberN{Value: fmt.Sprint(w)}},
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				})
				var ccf *types.ConditionalCheckFailedException
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.As(err, &ccf):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("key %d: %d conditional writes won, want exactly 1", k, n)
		}
	}
}

// SQS requests do not lose each other's changes: moto rebuilds a queue's
// message list on each delete without a lock, so of two DeleteMessageBatch
// calls at once the later can put back what the earlier deleted (in flight
// and never deletable again), and a send beside them can vanish. Here 16
// deleters and 4 senders work on one queue at once: every deleted message
// stays gone and every sent one is there.
func TestEmulatorSQSChangesAreNotLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "sqsrace"), nil)
	const total = 400
	testenv.SendBatch(t, c, q.URL, total, func(i int) string { return fmt.Sprint(i) }, nil)
	var handles []sqstypes.Message
	for len(handles) < total {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10, VisibilityTimeout: 600})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("received %d of %d", len(handles), total)
		}
		handles = append(handles, out.Messages...)
	}
	var wg sync.WaitGroup
	for b := 0; b < total; b += 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var entries []sqstypes.DeleteMessageBatchRequestEntry
			for i, m := range handles[b : b+10] {
				entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
			}
			if out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries}); err != nil || len(out.Failed) > 0 {
				t.Errorf("delete: %v %v", out, err)
			}
		}()
	}
	const sent = 40
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sent / 4 {
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(fmt.Sprint("new-", s, "-", i))}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, nv := a.Attributes["ApproximateNumberOfMessages"], a.Attributes["ApproximateNumberOfMessagesNotVisible"]; v != fmt.Sprint(sent) || nv != "0" {
		t.Fatalf("after deleting all %d and sending %d: %s visible, %s in flight; want %d and 0", total, sent, v, nv, sent)
	}
}
