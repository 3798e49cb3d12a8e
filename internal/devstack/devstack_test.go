package devstack_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/devstack"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Provisioning is idempotent: a second run on the same emulator finds the
// tables, log group and stream there (the service's "already exists"
// answers) and the same queues.
func TestProvisionOrdersTwice(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, "sa-east-1")
	c := devstack.Clients{SQS: sqs.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg), Logs: cwl.NewFromConfig(cfg), CW: cloudwatch.NewFromConfig(cfg)}
	prefix := testenv.Name(t, "twice") + "-"
	first, err := devstack.ProvisionOrders(context.Background(), c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	second, err := devstack.ProvisionOrders(context.Background(), c, prefix)
	if err != nil {
		t.Fatalf("second provision: %v", err)
	}
	if first.OrdersURL == "" || first.OrdersURL != second.OrdersURL || first.OrdersDLQURL != second.OrdersDLQURL {
		t.Errorf("queues differ: %+v then %+v", first, second)
	}
}
