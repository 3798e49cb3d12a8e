package replaylambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/replay/replaylambda"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func journalTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	db := dynamodb.NewFromConfig(testenv.Config(t, ""))
	table := testenv.Name(t, "journal")
	if _, err := db.CreateTable(context.Background(), idempotency.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return db, table
}

// deadlineClock reads the wall clock until trip() returns true, then
// stands at the invocation's deadline: the handler stops as if its time
// ran out at exactly that point, however slow the machine.
func deadlineClock(deadline time.Time, trip func() bool) func() time.Time {
	var tripped atomic.Bool
	return func() time.Time {
		if tripped.Load() || trip() {
			tripped.Store(true)
			return deadline
		}
		return time.Now()
	}
}

func TestHandlerStopsAtItsDeadlineAndTheNextInvocationFinishes(t *testing.T) {
	t.Parallel()
	counter := testenv.NewCallCounter()
	c := sqs.NewFromConfig(testenv.Config(t, "", counter.Middleware))
	p := testenv.Name(t, "lam")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 3))
	db, table := journalTable(t)
	const total = 80
	testenv.SendBatch(t, c, dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) }, nil)
	testenv.SendBatch(t, c, dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"skip-%d"}`, i) }, nil)

	// Strict order: one batch at a time, so the clock trips between batches.
	ev := replaylambda.Event{DLQ: dlq.Name, Order: "sent", Filters: replaylambda.Filters{JQ: `.body | fromjson | .orderId | startswith("o-")`}}
	deps := replaylambda.Deps{SQS: c, DynamoDB: db, JournalTable: table, Margin: time.Second, Visibility: 30 * time.Second}

	dry := ev
	dry.DryRun = true
	if r, err := replaylambda.Handler(deps)(context.Background(), dry); err != nil || r.Matched != total || r.Sent != 0 {
		t.Fatalf("dry run: %+v %v", r, err)
	}

	// The first invocation runs out of time after its third batch.
	deadline := time.Now().Add(time.Hour)
	first := deps
	base := counter.Count("SendMessageBatch")
	first.Now = deadlineClock(deadline, func() bool { return counter.Count("SendMessageBatch") >= base+3 })
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	r1, err := replaylambda.Handler(first)(ctx, ev)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if r1.Stopped != "deadline" || r1.Deleted == 0 || r1.Deleted >= total || r1.Verified || r1.Left.NotReached != total-r1.Deleted {
		t.Fatalf("first invocation: %+v, want a partial replay stopped by its deadline, not verified", r1)
	}
	r2, err := replaylambda.Handler(deps)(context.Background(), ev)
	if err != nil || !r2.Verified || r2.LeftInDLQ != 0 || r1.Deleted+r2.Deleted != total {
		t.Fatalf("second invocation: %+v %v (first deleted %d)", r2, err, r1.Deleted)
	}
	counts := testenv.DrainCounts(t, c, src.URL)
	if len(counts) != total {
		t.Errorf("%d distinct messages replayed, want %d", len(counts), total)
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("%s replayed %d times", id, n)
		}
	}
	if left := testenv.Drain(t, c, dlq.URL); len(left) != 5 {
		t.Errorf("%d left in the DLQ, want the 5 filtered out", len(left))
	}
}

// A FIFO DLQ shows a few messages of each group at a time: the handler
// goes round by round, and across invocations, until the DLQ is verified
// empty, each group in order.
func TestHandlerReplaysAFIFODLQAcrossInvocations(t *testing.T) {
	t.Parallel()
	counter := testenv.NewCallCounter()
	c := sqs.NewFromConfig(testenv.Config(t, "", counter.Middleware))
	p := testenv.Name(t, "lamf")
	fifo := map[string]string{"FifoQueue": "true"}
	dlq := testenv.CreateQueue(t, c, p+"-dlq.fifo", fifo)
	src := testenv.CreateQueue(t, c, p+"-src.fifo", testenv.With(fifo, testenv.Redrive(dlq.ARN, 3)))
	db, table := journalTable(t)
	const total = 60 // 3 groups of 20: more than one receive shows of a group
	testenv.SendBatch(t, c, dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"g":"g%d","seq":%d}`, i%3, i/3) }, func(i int) string { return fmt.Sprintf("g%d", i%3) })

	ev := replaylambda.Event{DLQ: dlq.Name}
	deps := replaylambda.Deps{SQS: c, DynamoDB: db, JournalTable: table, Margin: time.Second, Visibility: 30 * time.Second}
	deadline := time.Now().Add(time.Hour)
	first := deps
	base := counter.Count("SendMessageBatch")
	first.Now = deadlineClock(deadline, func() bool { return counter.Count("SendMessageBatch") >= base+4 })
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	r1, err := replaylambda.Handler(first)(ctx, ev)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if r1.Verified || r1.LeftInDLQ == 0 || r1.Deleted == 0 || r1.Deleted >= total {
		t.Fatalf("first invocation: %+v, want part of the groups moved and the rest reported left", r1)
	}
	r2, err := replaylambda.Handler(deps)(context.Background(), ev)
	if err != nil || !r2.Verified || r1.Deleted+r2.Deleted != total {
		t.Fatalf("second invocation: %+v %v (first deleted %d)", r2, err, r1.Deleted)
	}
	last := map[string]int{"g0": -1, "g1": -1, "g2": -1}
	got := testenv.Drain(t, c, src.URL)
	for _, m := range got {
		var b struct {
			G   string
			Seq int
		}
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &b)
		if b.Seq != last[b.G]+1 {
			t.Errorf("group %s: %d after %d", b.G, b.Seq, last[b.G])
		}
		last[b.G] = b.Seq
	}
	if len(got) != total {
		t.Errorf("%d in the source, want %d", len(got), total)
	}
}

func TestEventIsCamelCaseWithRFC3339Times(t *testing.T) {
	t.Parallel()
	var ev replaylambda.Event
	raw := `{"dlq":"orders-dlq","filters":{"orderId":"o-1","since":"2026-11-28T10:00:00Z","until":"2026-11-28T11:00:00Z","where":["tier=gold"]},"order":"none","dryRun":true}`
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Filters.OrderID != "o-1" || ev.Filters.Since == "" || !ev.DryRun || ev.Order != "none" || len(ev.Filters.Where) != 1 {
		t.Fatalf("event = %+v", ev)
	}
	deps := replaylambda.Deps{JournalTable: "t"}
	bad := ev
	bad.Filters.Since = "1700000000000000000"
	if _, err := replaylambda.Handler(deps)(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("nanoseconds accepted: %v", err)
	}
}

// A queue named by an ARN or AWS URL of another region is refused before
// any call: looking it up by name here would replay another queue.
func TestHandlerRefusesAQueueOfAnotherRegion(t *testing.T) {
	t.Parallel()
	deps := replaylambda.Deps{JournalTable: "t", Region: "us-east-1"} // no SQS client: a call would panic
	for _, ev := range []replaylambda.Event{
		{DLQ: "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"},
		{DLQ: "orders-dlq", To: "https://sqs.ap-south-1.amazonaws.com/123456789012/orders"},
	} {
		_, err := replaylambda.Handler(deps)(context.Background(), ev)
		if err == nil || !strings.Contains(err.Error(), "function in us-east-1") {
			t.Errorf("%+v: err = %v, want a refusal naming the regions", ev, err)
		}
	}
}

// An invocation that crashed inside a send left the message's key
// PROCESSING. The next one resends it and must still record it sent, so a
// third does not send it again.
func TestDynamoJournalRecordsASendAfterACrashedInvocation(t *testing.T) {
	t.Parallel()
	db, table := journalTable(t)
	ctx := context.Background()
	store := &idempotency.DynamoStore{API: db, Table: table}
	crashed := &replaylambda.DynamoJournal{Store: store, API: db, Run: "dlq", Lease: time.Hour}
	if err := crashed.Record(ctx, []string{"m1"}, journal.Sending); err != nil {
		t.Fatal(err)
	}
	next := &replaylambda.DynamoJournal{Store: store, API: db, Run: "dlq", Lease: time.Hour}
	if st, err := next.Lookup(ctx, []string{"m1"}); err != nil || st["m1"] != journal.Sending {
		t.Fatalf("lookup after the crash: %v %v", st, err)
	}
	if err := next.Record(ctx, []string{"m1"}, journal.Sending); err != nil {
		t.Fatal(err)
	}
	if err := next.Record(ctx, []string{"m1"}, journal.Sent); err != nil {
		t.Fatal(err)
	}
	third := &replaylambda.DynamoJournal{Store: store, API: db, Run: "dlq"}
	if st, err := third.Lookup(ctx, []string{"m1"}); err != nil || st["m1"] != journal.Sent {
		t.Fatalf("lookup by the third invocation: %v %v, want sent", st, err)
	}
	// Holds: recorded, listed, released.
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	if err := next.Hold(ctx, "run-1", 7, until); err != nil {
		t.Fatal(err)
	}
	holds, err := third.Holds(ctx)
	if err != nil || len(holds) != 1 || holds[0].Messages != 7 || !holds[0].Until.Equal(until) || holds[0].Run != "run-1" {
		t.Fatalf("holds = %+v %v", holds, err)
	}
	if err := next.Released(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	if holds, err := third.Holds(ctx); err != nil || len(holds) != 0 {
		t.Fatalf("after release: %+v %v", holds, err)
	}
}

// The journal is keyed by the DLQ's ARN; records written under its name
// (before that) are read as its own and never written: an older
// invocation's send is not repeated, and its hold is waited for. Another
// DLQ of the same name (another account) shares nothing with it.
func TestDynamoJournalReadsItsLegacyRecords(t *testing.T) {
	t.Parallel()
	db, table := journalTable(t)
	ctx := context.Background()
	store := &idempotency.DynamoStore{API: db, Table: table}
	const arn, other = "arn:aws:sqs:us-east-1:123456789012:dlq", "arn:aws:sqs:us-east-1:210987654321:dlq"
	old := &replaylambda.DynamoJournal{Store: store, API: db, Run: "dlq", Lease: time.Hour}
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	if err := errors.Join(old.Record(ctx, []string{"m1", "m2"}, journal.Sending), old.Record(ctx, []string{"m1"}, journal.Sent), old.Hold(ctx, "old-run", 3, until)); err != nil {
		t.Fatal(err)
	}
	j := &replaylambda.DynamoJournal{Store: store, API: db, Run: arn, Legacy: "dlq", Lease: time.Hour}
	if err := j.Record(ctx, []string{"m3"}, journal.Sending); err != nil {
		t.Fatal(err)
	}
	st, err := j.Lookup(ctx, []string{"m1", "m2", "m3", "m4"})
	if want := map[string]journal.State{"m1": journal.Sent, "m2": journal.Sending, "m3": journal.Sending}; err != nil || !maps.Equal(st, want) {
		t.Errorf("lookup = %v %v, want %v", st, err, want)
	}
	if holds, err := j.Holds(ctx); err != nil || len(holds) != 1 || holds[0].Run != "old-run" {
		t.Errorf("holds = %+v %v, want the older invocation's", holds, err)
	}
	if st, err := old.Lookup(ctx, []string{"m3"}); err != nil || len(st) != 0 {
		t.Errorf("the name's records were written to: %v %v", st, err)
	}
	o := &replaylambda.DynamoJournal{Store: store, API: db, Run: other}
	if st, err := o.Lookup(ctx, []string{"m3"}); err != nil || len(st) != 0 {
		t.Errorf("another account's DLQ of the same name sees %v %v", st, err)
	}
}

// The replay Lambda keeps its canary in DynamoDB: an invocation that
// timed out while it watched leaves it open, and the next one reads it
// back, with what each batch sent, until a verdict closes it.
func TestDynamoJournalKeepsTheCanary(t *testing.T) {
	t.Parallel()
	db, table := journalTable(t)
	ctx := context.Background()
	j := &replaylambda.DynamoJournal{Store: &idempotency.DynamoStore{API: db, Table: table}, API: db, Run: "arn:aws:sqs:us-east-1:123456789012:dlq"}
	if c, err := j.OpenCanary(ctx); c != nil || err != nil {
		t.Fatalf("no canary yet: %+v %v", c, err)
	}
	c := journal.Canary{Run: "c2", Start: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), WaitSeconds: 30, Why: "given", Picked: []string{"m2", "m3"},
		Sources: []string{"arn:src"}, Before: map[string]int64{"url": 4}, DLQFrom: 9}
	at := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	if err := errors.Join(j.StartCanary(ctx, c),
		j.CanarySent(ctx, "c2", journal.CanaryBatch{Sent: []string{"m2"}, Known: []string{"o2"}, Traces: map[string]string{"m2": "t2"}, At: at.Add(-time.Second)}),
		j.CanarySent(ctx, "c2", journal.CanaryBatch{Sent: []string{"m3"}, Traces: map[string]string{"m3": "t3"}, At: at}),
		j.CanarySent(ctx, "c2", journal.CanaryBatch{Known: []string{"o3"}, At: at})); err != nil {
		t.Fatal(err)
	}
	got, err := j.OpenCanary(ctx)
	want := c
	want.CanaryBatch = journal.CanaryBatch{Sent: []string{"m2", "m3"}, Known: []string{"o2", "o3"}, Traces: map[string]string{"m2": "t2", "m3": "t3"}, At: at}
	if err == nil && got != nil {
		slices.Sort(got.Sent)
		slices.Sort(got.Known)
	}
	if err != nil || got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("open canary = %+v %v, want %+v", got, err, want)
	}
	if err := j.EndCanary(ctx, "c2", "consumed"); err != nil {
		t.Fatal(err)
	}
	if got, err := j.OpenCanary(ctx); got != nil || err != nil {
		t.Errorf("a judged canary is still open: %+v %v", got, err)
	}
}
