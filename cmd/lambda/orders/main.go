// Command orders is the order pipeline's Lambda: an SQS event source with
// ReportBatchItemFailures runs each OrderPlaced record through the order
// saga. Build it with -tags lambda.norpc as `bootstrap` for provided.al2023.
//
// Environment: INVENTORY_TABLE, PAYMENTS_TABLE, SHIPMENTS_TABLE, SAGA_TABLE,
// IDEMPOTENCY_TABLE, SAGA_DLQ_URL (sagas whose compensation failed), and
// optionally IDEMPOTENCY_TTL (a Go duration such as 360h; default 15 days,
// longer than a DLQ keeps a message) and FAIL_STEPS (comma-separated steps
// that fail, for drills).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
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
	publisher := &trace.Publisher{API: sqs.NewFromConfig(cfg)}
	dlqURL := os.Getenv("SAGA_DLQ_URL")
	p := &orders.Pipeline{
		DB:     dynamodb.NewFromConfig(cfg),
		Tables: orders.TablesFromEnv(os.Getenv),
		Logger: logger,
		DeadLetter: func(ctx context.Context, s saga.State) error {
			if dlqURL == "" {
				return fmt.Errorf("SAGA_DLQ_URL is not set")
			}
			_, err := publisher.Publish(ctx, dlqURL, "SagaCompensationFailed", s)
			return err
		},
	}
	if v := os.Getenv("IDEMPOTENCY_TTL"); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl <= 0 {
			logger.Error("parse IDEMPOTENCY_TTL: want a positive Go duration such as 360h", "status", "error", "value", v)
			os.Exit(1)
		}
		p.IdempotencyTTL = ttl
	}
	if steps := os.Getenv("FAIL_STEPS"); steps != "" {
		failing := strings.Split(steps, ",")
		p.Faults = func(_ context.Context, step string, _ orders.Order) error {
			if slices.Contains(failing, step) {
				return fmt.Errorf("%s: injected failure (FAIL_STEPS)", step)
			}
			return nil
		}
	}
	lambda.Start(p.Handler(sqsbatch.Options{Logger: logger}))
}
