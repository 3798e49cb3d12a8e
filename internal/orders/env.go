package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/trace"
)

// FromEnv builds the pipeline from its environment, the same for the
// Lambda (cmd/lambda/orders) and the container worker (cmd/worker/orders):
// INVENTORY_TABLE, PAYMENTS_TABLE, SHIPMENTS_TABLE, SAGA_TABLE and
// IDEMPOTENCY_TABLE (required); SAGA_DLQ_URL, where sagas whose
// compensation failed go; IDEMPOTENCY_TTL, a Go duration (default
// idempotency.DefaultTTL, 15 days); FAIL_STEPS, rules that make steps
// fail, for drills (ParseFailSteps). db and send are the DynamoDB and SQS
// clients; logger writes the log schema (trace.NewLogger).
func FromEnv(getenv func(string) string, db DynamoAPI, send trace.SendAPI, logger *slog.Logger) (*Pipeline, error) {
	tables := TablesFromEnv(getenv)
	var missing []string
	for name, v := range map[string]string{"INVENTORY_TABLE": tables.Inventory, "PAYMENTS_TABLE": tables.Payments, "SHIPMENTS_TABLE": tables.Shipments,
		"SAGA_TABLE": tables.Sagas, "IDEMPOTENCY_TABLE": tables.Idempotency} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("read pipeline environment: %s not set", strings.Join(missing, ", "))
	}
	publisher := &trace.Publisher{API: send}
	dlqURL := getenv("SAGA_DLQ_URL")
	p := &Pipeline{
		DB:     db,
		Tables: tables,
		Logger: logger,
		DeadLetter: func(ctx context.Context, s saga.State) error {
			if dlqURL == "" {
				return errors.New("dead-letter saga: SAGA_DLQ_URL is not set")
			}
			_, err := publisher.Publish(ctx, dlqURL, "SagaCompensationFailed", s)
			return err
		},
	}
	if v := getenv("IDEMPOTENCY_TTL"); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl <= 0 {
			return nil, fmt.Errorf("parse IDEMPOTENCY_TTL %q: want a positive Go duration such as 360h", v)
		}
		p.IdempotencyTTL = ttl
	}
	rules, err := ParseFailSteps(getenv("FAIL_STEPS"))
	if err != nil {
		return nil, err
	}
	if len(rules) > 0 {
		p.Faults = RuleFaults(rules)
	}
	return p, nil
}
