package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/queue"
)

// Event is what the replay Lambda is invoked with.
type Event struct {
	DLQ     string         `json:"dlq"`
	To      string         `json:"to,omitempty"`
	Filters filter.Options `json:"filters"`
	Order   Order          `json:"order,omitempty"`
	Rate    float64        `json:"rate,omitempty"`
	Limit   int            `json:"limit,omitempty"`
	DryRun  bool           `json:"dryRun,omitempty"`
	Force   bool           `json:"force,omitempty"`
}

// LambdaDeps are the clients the replay Lambda uses.
type LambdaDeps struct {
	SQS interface {
		queue.SQSAPI
		SQSAPI
	}
	DynamoDB interface {
		idempotency.DynamoAPI
		idempotency.BatchGetAPI
	}
	// JournalTable is the idempotency table that holds the journal.
	JournalTable string
	// Margin: no batch starts when less than this remains before the
	// invocation's deadline. Default 10s.
	Margin     time.Duration
	Visibility time.Duration
	Now        func() time.Time
}

// LambdaHandler runs one replay per invocation with the same engine as the
// CLI, journaled in DynamoDB, and stops before the deadline: the report's
// remaining says what a next invocation with the same event will move.
func LambdaHandler(d LambdaDeps) func(context.Context, Event) (Report, error) {
	return func(ctx context.Context, ev Event) (Report, error) {
		if d.JournalTable == "" {
			return Report{}, errors.New("replay: no journal table configured (JOURNAL_TABLE)")
		}
		ref, err := queue.ParseRef(ev.DLQ)
		if err != nil {
			return Report{}, err
		}
		url, err := queue.ResolveURL(ctx, d.SQS, ref)
		if err != nil {
			return Report{}, err
		}
		dlq, err := queue.Attributes(ctx, d.SQS, url)
		if err != nil {
			return Report{}, err
		}
		dest, err := ResolveDestination(ctx, d.SQS, dlq, ev.To, ev.Force)
		if err != nil {
			return Report{}, err
		}
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		flt, err := filter.New(ev.Filters, now())
		if err != nil {
			return Report{}, err
		}
		visibility := d.Visibility
		if visibility <= 0 {
			visibility = 5 * time.Minute
		}
		cfg := Config{API: d.SQS, DLQ: dlq, Destination: dest, Filter: flt, Order: ev.Order, Rate: ev.Rate, Limit: ev.Limit,
			DryRun: ev.DryRun, Margin: d.Margin, Visibility: visibility, Now: d.Now,
			Journal: &DynamoJournal{Store: &idempotency.DynamoStore{API: d.DynamoDB, Table: d.JournalTable}, API: d.DynamoDB,
				Run: dlq.Name + "->" + dest.Name, Lease: visibility}}
		if dl, ok := ctx.Deadline(); ok {
			cfg.Deadline = dl
		}
		held, err := Prepare(ctx, cfg)
		if err != nil {
			return Report{}, err
		}
		if ev.DryRun {
			return held.DryRunReport(ctx)
		}
		r, err := held.Execute(ctx)
		if err != nil {
			return r, fmt.Errorf("replay %s: %w", dlq.Name, err)
		}
		return r, nil
	}
}
