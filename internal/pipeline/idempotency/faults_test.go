package idempotency_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/testenv"
)

// faultyDB wraps a real (emulated) DynamoDB: PutItem fails before it
// reaches the table while failPut is set; UpdateItem (Complete) fails
// before the call for the first failBefore calls, and reaches the table
// but loses its answer for the next loseAfter calls.
type faultyDB struct {
	idempotency.DynamoAPI
	failPut               atomic.Bool
	losePut               atomic.Int32
	failBefore, loseAfter atomic.Int32
}

var errReset = errors.New("read tcp: connection reset by peer")

func (f *faultyDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.failPut.Load() {
		return nil, errReset
	}
	out, err := f.DynamoAPI.PutItem(ctx, in, o...)
	if err == nil && f.losePut.Add(-1) >= 0 {
		return nil, errReset
	}
	return out, err
}

func (f *faultyDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if f.failBefore.Add(-1) >= 0 {
		return nil, errReset
	}
	out, err := f.DynamoAPI.UpdateItem(ctx, in, o...)
	if err == nil && f.loseAfter.Add(-1) >= 0 {
		return nil, errReset
	}
	return out, err
}

func noSleep(context.Context, time.Duration) error { return nil }

// Every store call around the operation, faulted before it and after it
// (a lost answer): the operation runs once, a known outcome is reached,
// and no error is a business failure.
func TestStoreFaultsAroundTheOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	db := &faultyDB{DynamoAPI: c}
	store := newStore(t, c)
	store.API = db
	cfg := idempotency.Config{Store: store, Sleep: noSleep}
	var runs atomic.Int32
	op := func(context.Context) (int, error) { runs.Add(1); return 42, nil }

	// Acquire cannot reach the table: nothing ran, retry the delivery.
	db.failPut.Store(true)
	if _, _, err := idempotency.Do(ctx, cfg, "a", "p", op); !errors.Is(err, idempotency.ErrUnavailable) || runs.Load() != 0 {
		t.Fatalf("acquire fault: %v after %d runs, want ErrUnavailable and no run", err, runs.Load())
	} else if idempotency.ForBatch(err) != idempotency.BatchRetryLater {
		t.Errorf("ForBatch(%v) is not retry-later", err)
	}
	db.failPut.Store(false)

	// Acquire's write lands and its answer is lost: it sends the write
	// again with the same token, finds it, and the key is ours; the
	// operation runs in this delivery (given up, the key would be held by
	// nobody until the lease ran out).
	db.losePut.Store(1)
	if res, outcome, err := idempotency.Do(ctx, cfg, "a2", "p", op); err != nil || res != 42 || outcome != idempotency.Executed || runs.Load() != 1 {
		t.Fatalf("acquire lost answer: %v %v %v after %d runs", res, outcome, err, runs.Load())
	}

	// Complete fails before the call, then its answer is lost once: Do
	// retries, finds its own COMPLETE record, and succeeds.
	db.failBefore.Store(2)
	db.loseAfter.Store(1)
	if res, outcome, err := idempotency.Do(ctx, cfg, "b", "p", op); err != nil || res != 42 || outcome != idempotency.Executed {
		t.Fatalf("complete faults: %v %v %v", res, outcome, err)
	}
	if res, outcome, err := idempotency.Do(ctx, cfg, "b", "p", op); err != nil || res != 42 || outcome != idempotency.Duplicate || runs.Load() != 2 {
		t.Fatalf("redelivery: %v %v %v after %d runs", res, outcome, err, runs.Load())
	}

	// Complete never gets through: the operation ran, Do says so, and the
	// batch handler acknowledges the message instead of running it again.
	db.failBefore.Store(1000)
	res, _, err := idempotency.Do(ctx, cfg, "c", "p", op)
	if !errors.Is(err, idempotency.ErrNotRecorded) || res != 42 || runs.Load() != 3 {
		t.Fatalf("complete down: %v %v after %d runs", res, err, runs.Load())
	}
	if idempotency.ForBatch(err) != idempotency.BatchSuccess {
		t.Errorf("ForBatch(%v) would redeliver an operation that ran", err)
	}
}
