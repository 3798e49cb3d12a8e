// Command replay is the replay Lambda: the engine of `dlq replay`, invoked
// with {dlq, to, filters, order, rate, limit, dryRun} (docs/replay.md),
// journaled in DynamoDB (JOURNAL_TABLE, an idempotency table), stopping
// before its deadline and returning its report: until it says verified,
// invoke it again with the same event to go on. Build with -tags lambda.norpc as bootstrap.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/replay/replaylambda"
)

func main() {
	logger := trace.NewLogger(os.Stdout, slog.LevelInfo)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS config", "status", "error", "error", err.Error())
		os.Exit(1)
	}
	handler := replaylambda.Handler(replaylambda.Deps{
		SQS:          sqs.NewFromConfig(cfg),
		Services:     services(cfg),
		DynamoDB:     dynamodb.NewFromConfig(cfg),
		JournalTable: os.Getenv("JOURNAL_TABLE"),
		Region:       cfg.Region,
	})
	lambda.Start(func(ctx context.Context, ev replaylambda.Event) (replay.Report, error) {
		r, err := handler(ctx, ev)
		level, status := slog.LevelInfo, "success"
		if r.LeftBehind() {
			status = "retry"
		}
		if err != nil || r.LeftBehind() {
			level = slog.LevelWarn
		}
		logger.Log(ctx, level, "replay finished", "status", status,
			"dlq", r.DLQ, "destination", r.Destination, "sent", r.Sent, "deleted", r.Deleted, "failed", r.Failed, "uncertain", r.Uncertain,
			"verified", r.Verified, "leftInDlq", r.LeftInDLQ)
		return r, err
	})
}

// services are the replay's clients for destinations other than SQS.
func services(cfg aws.Config) replay.Services {
	lc, sc, ec, fc := awslambda.NewFromConfig(cfg), sns.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), sfn.NewFromConfig(cfg)
	return replay.Services{
		Lambda:        func(context.Context) (replay.LambdaAPI, error) { return lc, nil },
		SNS:           func(context.Context) (replay.SNSAPI, error) { return sc, nil },
		EventBridge:   func(context.Context) (replay.EventBridgeAPI, error) { return ec, nil },
		StepFunctions: func(context.Context) (replay.StepFunctionsAPI, error) { return fc, nil },
	}
}
