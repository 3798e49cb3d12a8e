package trace

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/xray"
)

// SendAPI is the part of the SQS client publishing calls.
type SendAPI interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Publisher sends events that carry the context's IDs in the envelope and
// in message attributes, on every path: the next step, a compensation, or
// a DLQ. The X-Ray trace ID, when the context has one, goes in the
// message's AWSTraceHeader as its Root.
type Publisher struct {
	API SendAPI
}

// Publish sends payload as eventType to the queue and returns the message
// ID. FIFO queues get the order (or trace) as message group.
func (p *Publisher) Publish(ctx context.Context, queueURL, eventType string, payload any) (string, error) {
	env, err := NewEnvelope(ctx, eventType, payload)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", eventType, err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", eventType, err)
	}
	ids := From(ctx)
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body)), MessageAttributes: Attributes(ids)}
	if ids.XRayTraceID != "" {
		// A system attribute, not one of the ten message attributes, and
		// the one X-Ray follows from SQS into the consumer's Lambda.
		in.MessageSystemAttributes = map[string]sqstypes.MessageSystemAttributeValue{
			xray.HeaderAttribute: {DataType: aws.String("String"), StringValue: aws.String(xray.Header(ids.XRayTraceID))},
		}
	}
	if len(queueURL) > 5 && queueURL[len(queueURL)-5:] == ".fifo" {
		group := ids.OrderID
		if group == "" {
			group = ids.TraceID
		}
		in.MessageGroupId = aws.String(group)
		in.MessageDeduplicationId = aws.String(fmt.Sprintf("%s-%s-%d", ids.TraceID, eventType, env.Attempt))
	}
	out, err := p.API.SendMessage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publish %s: %w", eventType, err)
	}
	return aws.ToString(out.MessageId), nil
}
