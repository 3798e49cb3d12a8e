package devstack_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/devstack"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestProvisionAndFailMovesMessagesToDLQ(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	prefix := testenv.Name(t, "dev") + "-"
	queues, err := devstack.Provision(ctx, c, prefix, devstack.OrderPipeline)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != len(devstack.OrderPipeline) {
		t.Fatalf("provisioned %d", len(queues))
	}
	// Idempotent: a second run on the same emulator succeeds.
	if _, err := devstack.Provision(ctx, c, prefix, devstack.OrderPipeline); err != nil {
		t.Fatalf("second provision: %v", err)
	}
	for _, q := range []devstack.Queue{queues[1], queues[2]} { // payments, shipping.fifo
		orders := make([]devstack.Order, 3)
		for i := range orders {
			orders[i] = devstack.Order{TraceID: fmt.Sprintf("trace-%s-%d", q.Spec.Name, i), OrderID: fmt.Sprintf("order-%d", i)}
		}
		if err := devstack.Publish(ctx, c, q, "PaymentRequested", orders); err != nil {
			t.Fatal(err)
		}
		if err := devstack.FailAll(ctx, c, q, 200); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.DLQURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Attributes["ApproximateNumberOfMessages"]; got != "3" {
			t.Errorf("%s DLQ holds %s messages, want 3", q.Name, got)
		}
	}
}
