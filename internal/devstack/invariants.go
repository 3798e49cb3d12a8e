package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/queue"
)

// Invariants are computed from the tables, queues and logs — never from
// counters the demo kept itself.
type Invariants struct {
	Placed      int `json:"ordersPlaced"`
	Completed   int `json:"completed"`
	Compensated int `json:"compensated"`
	// Poison: poison orders waiting in the DLQ, never started, as they
	// should be; PoisonPlaced is how many the burst had.
	Poison            int `json:"poisonInDlq"`
	PoisonPlaced      int `json:"poisonPlaced"`
	DuplicateCharges  int `json:"duplicateCharges"`
	HalfProcessed     int `json:"halfProcessed"`
	Lost              int `json:"messagesLost"`
	StillQueued       int `json:"stillQueued"`
	LogLines          int `json:"logLines"`
	LogLinesNoTraceID int `json:"logLinesWithoutTraceId"`
}

// Violations lists every invariant that does not hold.
func (v Invariants) Violations() []string {
	var out []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{v.DuplicateCharges, "duplicate charges"}, {v.HalfProcessed, "orders half-processed"},
		{v.Lost, "messages lost"}, {v.LogLinesNoTraceID, "log lines without traceId"},
	} {
		if c.n != 0 {
			out = append(out, fmt.Sprintf("%d %s (must be 0)", c.n, c.what))
		}
	}
	if v.Poison != v.PoisonPlaced {
		out = append(out, fmt.Sprintf("%d poison orders in the DLQ, %d placed (each must wait there)", v.Poison, v.PoisonPlaced))
	}
	if v.Completed+v.Compensated+v.Poison+v.HalfProcessed+v.StillQueued+v.Lost != v.Placed {
		out = append(out, fmt.Sprintf("orders do not add up: %d placed, %d completed + %d compensated + %d poison in the DLQ + %d half-processed + %d still queued + %d lost",
			v.Placed, v.Completed, v.Compensated, v.Poison, v.HalfProcessed, v.StillQueued, v.Lost))
	}
	return out
}

// String is the invariant report.
func (v Invariants) String() string {
	return fmt.Sprintf("orders placed %d, completed %d, compensated %d, poison in the DLQ %d of %d, still queued %d\n"+
		"duplicate charges %d (must be 0), orders half-processed %d (must be 0), messages lost %d (must be 0), log lines without traceId %d of %d (must be 0)",
		v.Placed, v.Completed, v.Compensated, v.Poison, v.PoisonPlaced, v.StillQueued, v.DuplicateCharges, v.HalfProcessed, v.Lost, v.LogLinesNoTraceID, v.LogLines)
}

// Check computes the invariants of the stack after a run of the
// scenario's orders.
func Check(ctx context.Context, c Clients, s Stack, sc Scenario) (Invariants, error) {
	v := Invariants{Placed: sc.Orders, PoisonPlaced: sc.Poisoned()}
	var tb tables
	for _, t := range []struct {
		to         *map[string]map[string]string
		table, key string
	}{{&tb.sagas, s.Tables.Sagas, "sagaId"}, {&tb.inventory, s.Tables.Inventory, "orderId"}, {&tb.shipments, s.Tables.Shipments, "orderId"}, {&tb.payments, s.Tables.Payments, "paymentKey"}} {
		var err error
		if *t.to, err = scan(ctx, c.DB, t.table, t.key); err != nil {
			return v, err
		}
	}
	var charged map[string]int
	charged, tb.payment = tb.charges()
	for _, n := range charged {
		if n > 1 {
			v.DuplicateCharges += n - 1
		}
	}
	queued, inDLQ := map[string]bool{}, map[string]bool{}
	for _, url := range []string{s.OrdersURL, s.OrdersDLQURL} {
		ids, err := allOrderIDs(ctx, c, url)
		if err != nil {
			return v, err
		}
		for _, id := range ids {
			queued[id] = true
			inDLQ[id] = inDLQ[id] || url == s.OrdersDLQURL
		}
	}
	for i := 0; i < sc.Orders; i++ {
		tb.classify(&v, sc, OrderID(i), queued[OrderID(i)], inDLQ[OrderID(i)])
	}
	if err := countLogs(ctx, c.Logs, s.LogGroup, &v); err != nil {
		return v, err
	}
	return v, nil
}

// tables are the services' records after a run, by key; payment is each
// order's last payment status.
type tables struct {
	sagas, inventory, shipments, payments map[string]map[string]string
	payment                               map[string]string
}

// charges counts each order's CHARGED payments, and gives its last
// payment status.
func (tb tables) charges() (charged map[string]int, last map[string]string) {
	charged, last = map[string]int{}, map[string]string{}
	for _, p := range tb.payments {
		if p["status"] == "CHARGED" {
			charged[p["orderId"]]++
		}
		last[p["orderId"]] = p["status"]
	}
	return charged, last
}

// classify counts order id where its records and queues put it.
func (tb tables) classify(v *Invariants, sc Scenario, id string, queued, inDLQ bool) {
	st, ok := tb.sagas[orders.SagaID(id, 1)] // the demo places each order once
	switch {
	case sc.IsPoison(id) && !ok && inDLQ:
		v.Poison++ // never started, waiting for a person: right
	case sc.IsPoison(id):
		v.HalfProcessed++ // a poison order started, or left the DLQ
	case !ok && queued:
		v.StillQueued++
	case !ok:
		v.Lost++
	case st["status"] == string(saga.StatusCompleted) && tb.inventory[id]["status"] == "RESERVED" && tb.payment[id] == "CHARGED" && tb.shipments[id]["status"] == "CREATED":
		v.Completed++
	case st["status"] == string(saga.StatusCompensated) && tb.inventory[id]["status"] != "RESERVED" && tb.payment[id] != "CHARGED" && tb.shipments[id]["status"] != "CREATED":
		v.Compensated++
	case queued:
		v.StillQueued++ // mid-saga, waiting in a queue: not done, not lost
	default:
		v.HalfProcessed++
	}
}

func scan(ctx context.Context, db *dynamodb.Client, table, key string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, item := range page.Items {
			m := map[string]string{}
			for k, v := range item {
				if s, ok := v.(*dbtypes.AttributeValueMemberS); ok {
					m[k] = s.Value
				}
			}
			out[m[key]] = m
		}
	}
	return out, nil
}

// allOrderIDs lists the orderIds waiting in a queue without consuming
// them (a non-destructive scan, like dlq peek).
func allOrderIDs(ctx context.Context, c Clients, url string) ([]string, error) {
	q, err := queue.Attributes(ctx, c.SQS, url)
	if err != nil {
		return nil, err
	}
	res, err := queue.Scan(ctx, c.SQS, url, queue.ScanOptions{Depth: q.Visible + q.InFlight}, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Matched))
	for _, m := range res.Matched {
		ids = append(ids, m.OrderID)
	}
	return ids, nil
}

func countLogs(ctx context.Context, logs *cwl.Client, group string, v *Invariants) error {
	p := cwl.NewFilterLogEventsPaginator(logs, &cwl.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		for _, e := range page.Events {
			v.LogLines++
			var rec struct {
				TraceID string `json:"traceId"`
			}
			msg := aws.ToString(e.Message)
			if json.Unmarshal([]byte(strings.TrimSpace(msg)), &rec) != nil || rec.TraceID == "" {
				v.LogLinesNoTraceID++
			}
		}
	}
	return nil
}
