package devstack

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// RunnerAPI is what the local event-source runner calls.
type RunnerAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Handler is a Lambda SQS handler with partial batch failures.
type Handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Runner does locally what Lambda's SQS event source mapping does: it
// long-polls a queue, invokes the handler with batches, deletes the
// records the handler did not report failed, and leaves the failed ones
// to reappear after their visibility timeout (and, past maxReceiveCount,
// to be moved to the DLQ by SQS).
type Runner struct {
	API      RunnerAPI
	QueueURL string
	QueueARN string
	Handler  Handler
	Pollers  int           // concurrent pollers, default 2
	Timeout  time.Duration // the function timeout per invocation, default 30s

	Invocations atomic.Int64
	Processed   atomic.Int64
	Failed      atomic.Int64
}

// Run polls until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	n := r.Pollers
	if n <= 0 {
		n = 2
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r.poll(ctx)
			}
		}()
	}
	wg.Wait()
}

func (r *Runner) poll(ctx context.Context) {
	out, err := r.API.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(r.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil || len(out.Messages) == 0 {
		if err != nil && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
		}
		return
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(out.Messages))}
	for i, m := range out.Messages {
		ev.Records[i] = toLambdaRecord(m, r.QueueARN)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	resp, err := r.Handler(ictx, ev)
	cancel()
	r.Invocations.Add(1)
	if err != nil {
		// The whole batch failed: Lambda leaves every record for retry.
		r.Failed.Add(int64(len(out.Messages)))
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var del []types.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		if !failed[aws.ToString(m.MessageId)] {
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	r.Failed.Add(int64(len(failed)))
	r.Processed.Add(int64(len(del)))
	if len(del) > 0 {
		_, _ = r.API.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.QueueURL), Entries: del})
	}
}

func toLambdaRecord(m types.Message, arn string) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1",
	}
	for k, v := range m.MessageAttributes {
		a := events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		rec.MessageAttributes[k] = a
	}
	return rec
}

// String summarises the runner's counters.
func (r *Runner) String() string {
	return fmt.Sprintf("%d invocations, %d records processed, %d reported failed", r.Invocations.Load(), r.Processed.Load(), r.Failed.Load())
}
