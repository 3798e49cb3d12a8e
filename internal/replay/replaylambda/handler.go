package replaylambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay"
)

// Event is what the replay Lambda is invoked with: camelCase, times in
// RFC 3339, like every other JSON contract of dlq.
type Event struct {
	DLQ     string `json:"dlq"`
	To      string `json:"to,omitempty"`
	Force   bool   `json:"force,omitempty"`
	ViaBus  bool   `json:"viaBus,omitempty"`
	ToTopic bool   `json:"toTopic,omitempty"`
	// Canary, CanaryWait (a Go duration: "5m") and CanaryOnly are
	// --canary, --canary-wait and --canary-only.
	Canary      int     `json:"canary,omitempty"`
	CanaryWait  string  `json:"canaryWait,omitempty"`
	CanaryOnly  bool    `json:"canaryOnly,omitempty"`
	Filters     Filters `json:"filters"`
	Order       string  `json:"order,omitempty"` // key (default), sent or none
	OrderKey    string  `json:"orderKey,omitempty"`
	Dedup       string  `json:"dedup,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Limit       int     `json:"limit,omitempty"`
	DryRun      bool    `json:"dryRun,omitempty"`
	// StopOnReturn stops when this many replayed messages come back.
	StopOnReturn int `json:"stopOnReturn,omitempty"`
}

// Filters are the conditions of `dlq peek` and `dlq replay`.
type Filters struct {
	TraceID     string   `json:"traceId,omitempty"`
	OrderID     string   `json:"orderId,omitempty"`
	Where       []string `json:"where,omitempty"`
	JQ          string   `json:"jq,omitempty"`
	Since       string   `json:"since,omitempty"` // sent at or after (RFC 3339)
	Until       string   `json:"until,omitempty"` // sent at or before (RFC 3339)
	MinReceives int      `json:"minReceives,omitempty"`
	ErrorCode   string   `json:"errorCode,omitempty"`
}

// options converts the event's filters to the filter package's options.
func (f Filters) options(now time.Time) (filter.Options, error) {
	o := filter.Options{TraceID: f.TraceID, OrderID: f.OrderID, Where: f.Where, JQ: f.JQ, MinReceives: f.MinReceives, ErrorCode: f.ErrorCode}
	if f.Since != "" {
		t, err := time.Parse(time.RFC3339, f.Since)
		if err != nil {
			return o, fmt.Errorf("filters.since: want an RFC 3339 time: %w", err)
		}
		o.Since = max(now.Sub(t), time.Nanosecond)
	}
	if f.Until != "" {
		if _, err := time.Parse(time.RFC3339, f.Until); err != nil {
			return o, fmt.Errorf("filters.until: want an RFC 3339 time: %w", err)
		}
		o.Until = f.Until
	}
	return o, nil
}

// Deps are the clients the replay Lambda uses.
type Deps struct {
	SQS replay.SQSAPI
	// Services send where EventBridge, SNS and Lambda failed to deliver.
	Services replay.Services
	DynamoDB DynamoAPI
	// JournalTable is the idempotency table that holds the journal.
	JournalTable string
	// Region is the function's: a queue named by an ARN or AWS URL of
	// another region is refused, not looked up here by its name.
	Region string
	// Margin: no batch starts when less than this remains before the
	// invocation's deadline. Default 10s.
	Margin     time.Duration
	Visibility time.Duration
	Now        func() time.Time
	Sleep      func(context.Context, time.Duration) error
}

// Handler runs one replay per invocation through replay.Run, journaled in
// DynamoDB, and stops before the deadline: the report's verified and
// leftInDlq say whether to invoke it again with the same event.
func Handler(d Deps) func(context.Context, Event) (replay.Report, error) {
	return func(ctx context.Context, ev Event) (replay.Report, error) {
		if d.JournalTable == "" {
			return replay.Report{}, errors.New("replay: no journal table configured (JOURNAL_TABLE)")
		}
		ref, err := queue.ParseRef(ev.DLQ)
		if err != nil {
			return replay.Report{}, err
		}
		if err := d.sameRegion(ev.DLQ, ev.To); err != nil {
			return replay.Report{}, err
		}
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		opts, err := ev.Filters.options(now())
		if err != nil {
			return replay.Report{}, err
		}
		flt, err := filter.New(opts, now())
		if err != nil {
			return replay.Report{}, err
		}
		switch replay.Order(ev.Order) {
		case "", replay.OrderKey, replay.OrderSent, replay.OrderNone:
		default:
			return replay.Report{}, fmt.Errorf("replay: order must be key, sent or none, got %q", ev.Order)
		}
		var orderKey *filter.Path
		if ev.OrderKey != "" {
			p, err := filter.ParsePath(ev.OrderKey)
			if err != nil {
				return replay.Report{}, err
			}
			orderKey = &p
		}
		j, err := d.journal(ctx, ref)
		if err != nil {
			return replay.Report{}, err
		}
		cfg := replay.Config{API: d.SQS, DLQ: ev.DLQ, OrderKey: orderKey, To: ev.To, Force: ev.Force, Services: d.Services, ViaBus: ev.ViaBus, ToTopic: ev.ToTopic, Filter: flt, Order: replay.Order(ev.Order), Dedup: replay.Dedup(ev.Dedup),
			Rate: ev.Rate, Concurrency: ev.Concurrency, Limit: ev.Limit, DryRun: ev.DryRun, StopOnReturn: ev.StopOnReturn, Stream: true,
			Margin: d.Margin, Visibility: d.Visibility, Now: d.Now, Sleep: d.Sleep, Journal: j, LimitMemory: true}
		if dl, ok := ctx.Deadline(); ok {
			cfg.Deadline = dl
		}
		if err := ev.canary(&cfg); err != nil {
			return replay.Report{}, err
		}
		r, err := replay.Run(ctx, cfg)
		if err != nil {
			return r, fmt.Errorf("replay %s: %w", ref.Name, err)
		}
		return r, nil
	}
}

// journal is the DLQ's journal, keyed by its ARN, reading what it had
// under its name before.
func (d Deps) journal(ctx context.Context, ref queue.Ref) (*DynamoJournal, error) {
	url, err := queue.ResolveURL(ctx, d.SQS, ref)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", ref.Name, err)
	}
	q, err := queue.Attributes(ctx, d.SQS, url)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", ref.Name, err)
	}
	return &DynamoJournal{Store: &idempotency.DynamoStore{API: d.DynamoDB, Table: d.JournalTable}, API: d.DynamoDB,
		Run: q.ARN, Legacy: q.Name, Lease: d.Visibility}, nil
}

// canary sets the event's canary on cfg.
func (ev Event) canary(cfg *replay.Config) error {
	cfg.Canary, cfg.CanaryOnly = ev.Canary, ev.CanaryOnly
	// A stopped canary is resumed by an event of the same selection.
	sel := ev
	sel.Canary, sel.CanaryWait, sel.CanaryOnly, sel.DryRun = 0, "", false, false
	b, _ := json.Marshal(sel)
	cfg.CanarySelection = string(b)
	if ev.CanaryWait == "" {
		return nil
	}
	d, err := time.ParseDuration(ev.CanaryWait)
	if err != nil || d < 0 {
		return fmt.Errorf("replay: canaryWait must be a duration such as 5m, got %q", ev.CanaryWait)
	}
	cfg.CanaryWait = d
	return nil
}

// sameRegion refuses a queue named by an ARN or AWS URL of another region
// than the function's.
func (d Deps) sameRegion(queues ...string) error {
	for _, q := range queues {
		if r, err := queue.ParseRef(q); err == nil && r.Region != "" && d.Region != "" && r.Region != d.Region {
			return fmt.Errorf("replay: %s is in %s, this function in %s: invoke the replay function of that region", q, r.Region, d.Region)
		}
	}
	return nil
}
