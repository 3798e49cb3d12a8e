package devstack

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of the SQS client provisioning calls.
type SQSAPI interface {
	CreateQueue(context.Context, *sqs.CreateQueueInput, ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// QueueSpec is one source queue of the pipeline and its DLQ.
type QueueSpec struct {
	Name            string // source queue name, without the stack prefix
	FIFO            bool
	MaxReceiveCount int
	// DLQRetention is the DLQ's MessageRetentionPeriod; SQS's default (4
	// days) when zero, which equals the source's and earns a warning.
	DLQRetention time.Duration
}

// OrderPipeline is the reference order pipeline's queues: intake, payments
// and shipping (FIFO, per order) done right, and a notifications queue set
// up the way inspect should complain about.
var OrderPipeline = []QueueSpec{
	{Name: "orders", MaxReceiveCount: 3, DLQRetention: 14 * 24 * time.Hour},
	{Name: "payments", MaxReceiveCount: 3, DLQRetention: 14 * 24 * time.Hour},
	{Name: "shipping", FIFO: true, MaxReceiveCount: 3, DLQRetention: 14 * 24 * time.Hour},
	{Name: "notifications", MaxReceiveCount: 1},
}

// Queue is a provisioned source queue and its DLQ.
type Queue struct {
	Spec   QueueSpec
	Name   string
	URL    string
	DLQ    string
	DLQURL string
}

// Provision creates each spec's DLQ and source queue under prefix.
// CreateQueue is idempotent for identical attributes, so a second run on
// the same emulator is harmless.
func Provision(ctx context.Context, api SQSAPI, prefix string, specs []QueueSpec) ([]Queue, error) {
	out := make([]Queue, 0, len(specs))
	for _, s := range specs {
		suffix := ""
		attrs := map[string]string{}
		if s.FIFO {
			suffix = ".fifo"
			attrs["FifoQueue"] = "true"
		}
		dlqAttrs := map[string]string{}
		for k, v := range attrs {
			dlqAttrs[k] = v
		}
		if s.DLQRetention > 0 {
			dlqAttrs["MessageRetentionPeriod"] = fmt.Sprint(int(s.DLQRetention.Seconds()))
		}
		q := Queue{Spec: s, Name: prefix + s.Name + suffix, DLQ: prefix + s.Name + "-dlq" + suffix}
		dlqURL, err := createQueue(ctx, api, q.DLQ, dlqAttrs)
		if err != nil {
			return nil, err
		}
		arn, err := queueARN(ctx, api, dlqURL)
		if err != nil {
			return nil, err
		}
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, s.MaxReceiveCount)
		srcURL, err := createQueue(ctx, api, q.Name, attrs)
		if err != nil {
			return nil, err
		}
		q.URL, q.DLQURL = srcURL, dlqURL
		out = append(out, q)
	}
	return out, nil
}

func createQueue(ctx context.Context, api SQSAPI, name string, attrs map[string]string) (string, error) {
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func queueARN(ctx context.Context, api SQSAPI, url string) (string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get queue arn %s: %w", url, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

// Order is one order event of the demo, in the pipeline's event envelope.
type Order struct {
	TraceID string
	OrderID string
}

// Body is the event envelope of ARCHITECTURE.md for the order.
func (o Order) Body(eventType string) string {
	return fmt.Sprintf(`{"traceId":%q,"orderId":%q,"type":%q,"attempt":1,"payload":{"amount":4999,"currency":"EUR"}}`, o.TraceID, o.OrderID, eventType)
}

// Publish sends order events to a queue with traceId and orderId message
// attributes, as the pipeline does.
func Publish(ctx context.Context, api SQSAPI, q Queue, eventType string, orders []Order) error {
	for _, o := range orders {
		in := &sqs.SendMessageInput{
			QueueUrl:    aws.String(q.URL),
			MessageBody: aws.String(o.Body(eventType)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"traceId": {DataType: aws.String("String"), StringValue: aws.String(o.TraceID)},
				"orderId": {DataType: aws.String("String"), StringValue: aws.String(o.OrderID)},
			},
		}
		if q.Spec.FIFO {
			in.MessageGroupId = aws.String(o.OrderID)
			in.MessageDeduplicationId = aws.String(o.TraceID)
		}
		if _, err := api.SendMessage(ctx, in); err != nil {
			return fmt.Errorf("send order %s to %s: %w", o.OrderID, q.Name, err)
		}
	}
	return nil
}

// FailAll plays a consumer that fails every message: it receives the
// queue's messages and releases them at once (visibility 0), never deleting
// one, until SQS has
// moved them all to the DLQ after maxReceiveCount receives. It gives up
// after rounds receives.
func FailAll(ctx context.Context, api SQSAPI, q Queue, rounds int) error {
	for i := 0; i < rounds; i++ {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10,
		})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", q.Name, err)
		}
		if len(out.Messages) > 0 {
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(out.Messages))
			for j, m := range out.Messages {
				entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}
			}
			if _, err := api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.URL), Entries: entries}); err != nil {
				return fmt.Errorf("release messages in %s: %w", q.Name, err)
			}
		}
		if len(out.Messages) == 0 {
			depth, err := depth(ctx, api, q.URL)
			if err != nil {
				return err
			}
			if depth == 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("messages still in %s after %d receives", q.Name, rounds)
}

func depth(ctx context.Context, api SQSAPI, url string) (int, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, fmt.Errorf("get depth of %s: %w", url, err)
	}
	v, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	nv, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return v + nv, nil
}
