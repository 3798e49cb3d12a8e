package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestLambdaStopsBeforeDeadlineAndResumes(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	db := dynamodb.NewFromConfig(testenv.Config(t, ""))
	table := testenv.Name(t, "journal")
	if _, err := db.CreateTable(context.Background(), idempotency.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	const total = 80
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	sendN(t, p.c, p.dlq.URL, 5, func(i int) string { return fmt.Sprintf(`{"orderId":"skip-%d"}`, i) })

	handler := replay.LambdaHandler(replay.LambdaDeps{SQS: p.c, DynamoDB: db, JournalTable: table, Margin: time.Second, Visibility: 30 * time.Second})
	ev := replay.Event{DLQ: p.dlq.Name, Rate: 20, Filters: filter.Options{JQ: `.body | fromjson | .orderId | startswith("o-")`}}

	// Dry run first: nothing moves.
	dry := ev
	dry.DryRun = true
	if r, err := handler(context.Background(), dry); err != nil || r.Matched != total || r.Sent != 0 {
		t.Fatalf("dry run: %+v %v", r, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	first, err := handler(ctx, ev)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if first.Stopped != "deadline" || first.Remaining == 0 || first.Deleted == 0 || first.Deleted >= total {
		t.Fatalf("first invocation: %+v, want a partial replay stopped by the deadline", first)
	}
	second, err := handler(context.Background(), ev)
	if err != nil || second.LeftBehind() || first.Deleted+second.Deleted != total {
		t.Fatalf("second invocation: %+v %v (first deleted %d)", second, err, first.Deleted)
	}
	counts := map[string]int{}
	for _, m := range drain(t, p.c, p.src.URL) {
		var mk replay.Marker
		_ = json.Unmarshal([]byte(aws.ToString(m.MessageAttributes[replay.MarkerAttribute].StringValue)), &mk)
		counts[mk.OriginalMessageID]++
	}
	if len(counts) != total {
		t.Errorf("%d distinct messages replayed, want %d", len(counts), total)
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("%s replayed %d times", id, n)
		}
	}
	if left := drain(t, p.c, p.dlq.URL); len(left) != 5 {
		t.Errorf("%d left in the DLQ, want the 5 filtered out", len(left))
	}
}
