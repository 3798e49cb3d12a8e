package idempotency_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/testenv"
)

// BenchmarkRecordDynamo runs records through the SQS batch handler with
// idempotency on moto's DynamoDB: calls per record on first delivery and on
// a duplicate, and wall time per record (moto's latency included).
func BenchmarkRecordDynamo(b *testing.B) {
	counter := testenv.NewCallCounter()
	c := dynamodb.NewFromConfig(testenv.Config(b, "", counter.Middleware))
	cfg := idempotency.Config{Store: newStore(b, c), Namespace: "bench"}
	for _, dup := range []bool{false, true} {
		name := "first"
		if dup {
			name = "duplicate"
		}
		b.Run(name, func(b *testing.B) {
			handler := sqsbatch.New(func(ctx context.Context, r events.SQSMessage, env trace.Envelope) error {
				_, _, err := idempotency.Do(ctx, cfg, idempotency.Key("order", env.OrderID, "payment", "attempt", "1"), env.OrderID,
					func(context.Context) (int, error) { return 1, nil })
				return err
			}, sqsbatch.Options{Concurrency: 1})
			records := 0
			counter.Reset()
			for i := 0; b.Loop(); i++ {
				order := fmt.Sprintf("o-%d", i)
				if dup {
					order = "o-dup"
				}
				ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprint(i), Body: `{"traceId":"t","orderId":"` + order + `"}`}}}
				if dup && i == 0 {
					_, _ = handler(context.Background(), ev) // the first delivery, not measured below
					counter.Reset()
				}
				resp, err := handler(context.Background(), ev)
				if err != nil || len(resp.BatchItemFailures) > 0 {
					b.Fatalf("%v %v", resp, err)
				}
				records++
			}
			calls := 0
			for _, n := range counter.Counts() {
				calls += n
			}
			b.ReportMetric(float64(calls)/float64(records), "dynamo-calls/record")
		})
	}
}

// memStore is an in-memory Store, only to measure the handler's own
// overhead per record without a network in the way.
type memStore struct {
	mu sync.Mutex
	m  map[string]*idempotency.Record
}

func (s *memStore) Acquire(_ context.Context, key, hash string, lease, ttl time.Duration, now time.Time) (idempotency.Lease, *idempotency.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok && r.Status == idempotency.StatusComplete {
		return idempotency.Lease{}, r, nil
	}
	s.m[key] = &idempotency.Record{Key: key, Status: idempotency.StatusProcessing, PayloadHash: hash, Token: "t"}
	return idempotency.Lease{Key: key, Token: "t"}, nil, nil
}

func (s *memStore) Complete(_ context.Context, l idempotency.Lease, result []byte, ttl time.Duration, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[l.Key].Status, s.m[l.Key].Result = idempotency.StatusComplete, result
	return nil
}

func (s *memStore) Release(_ context.Context, l idempotency.Lease) error { return nil }

// BenchmarkRecordOverhead is the per-record cost of dlq's own code: batch
// handling, trace extraction and logging context, hashing, encoding.
func BenchmarkRecordOverhead(b *testing.B) {
	cfg := idempotency.Config{Store: &memStore{m: map[string]*idempotency.Record{}}, Namespace: "bench"}
	handler := sqsbatch.New(func(ctx context.Context, r events.SQSMessage, env trace.Envelope) error {
		_, _, err := idempotency.Do(ctx, cfg, idempotency.Key("order", env.OrderID, "payment", "attempt", "1"), env,
			func(context.Context) (int, error) { return 1, nil })
		return err
	}, sqsbatch.Options{})
	recs := make([]events.SQSMessage, 10)
	i := 0
	for b.Loop() {
		for j := range recs {
			i++
			recs[j] = events.SQSMessage{MessageId: fmt.Sprint(i), Body: fmt.Sprintf(`{"traceId":"t-%d","orderId":"o-%d","type":"OrderPlaced","attempt":1,"payload":{"amount":4999}}`, i, i)}
		}
		if _, err := handler(context.Background(), events.SQSEvent{Records: recs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(recs)), "µs/record")
}
