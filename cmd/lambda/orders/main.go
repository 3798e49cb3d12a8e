// Command orders is the order pipeline's Lambda: an SQS event source with
// ReportBatchItemFailures runs each OrderPlaced record through the order
// saga. Build it with -tags lambda.norpc as `bootstrap` for provided.al2023.
//
// Environment (orders.FromEnv, shared with the container worker in
// cmd/worker/orders): INVENTORY_TABLE, PAYMENTS_TABLE, SHIPMENTS_TABLE,
// SAGA_TABLE, IDEMPOTENCY_TABLE, SAGA_DLQ_URL (sagas whose compensation
// failed), and optionally IDEMPOTENCY_TTL (a Go duration such as 360h;
// default 15 days, longer than a DLQ keeps a message) and FAIL_STEPS
// (steps that fail, for drills: "charge", or
// "charge:outage@order-00060..order-00089").
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

func main() {
	logger := trace.NewLogger(os.Stdout, slog.LevelInfo)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS config", "status", "error", "error", err.Error())
		os.Exit(1)
	}
	p, err := orders.FromEnv(os.Getenv, dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg), logger)
	if err != nil {
		logger.Error("configure the order pipeline", "status", "error", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(p.Handler(sqsbatch.Options{Logger: logger}))
}
