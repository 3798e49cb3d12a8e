package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
)

// DynamoJournal keeps the journal in DynamoDB through the idempotency
// store, for the replay Lambda: "sending" acquires the message's key
// (PROCESSING), "sent" completes it (COMPLETE). A completed key is a
// message the destination has; a resumed replay deletes it without
// sending it again.
type DynamoJournal struct {
	Store *idempotency.DynamoStore
	API   idempotency.BatchGetAPI
	// Run names the replay (DLQ and destination), so keys of different
	// replays never meet.
	Run string
	// Lease is how long a "sending" record blocks another replay of the
	// same message; TTL how long records are kept.
	Lease, TTL time.Duration

	mu     sync.Mutex
	leases map[string]idempotency.Lease
}

func (j *DynamoJournal) key(id string) string { return "replay#" + j.Run + "#" + id }

// Lookup maps records to journal states.
func (j *DynamoJournal) Lookup(ctx context.Context, ids []string) (map[string]string, error) {
	keys := make([]string, len(ids))
	byKey := make(map[string]string, len(ids))
	for i, id := range ids {
		keys[i] = j.key(id)
		byKey[keys[i]] = id
	}
	recs, err := j.Store.Lookup(ctx, j.API, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(recs))
	for k, r := range recs {
		if r.Status == idempotency.StatusComplete {
			out[byKey[k]] = StateSent
		} else {
			out[byKey[k]] = StateSending
		}
	}
	return out, nil
}

// Record writes states: sending acquires, sent completes; deleted needs
// no write (a completed key already means "never send again").
func (j *DynamoJournal) Record(ctx context.Context, ids []string, state string) error {
	j.mu.Lock()
	if j.leases == nil {
		j.leases = map[string]idempotency.Lease{}
	}
	j.mu.Unlock()
	lease, ttl := j.Lease, j.TTL
	if lease <= 0 {
		lease = 15 * time.Minute
	}
	if ttl <= 0 {
		ttl = 14 * 24 * time.Hour
	}
	now := time.Now()
	for _, id := range ids {
		switch state {
		case StateSending:
			l, existing, err := j.Store.Acquire(ctx, j.key(id), "replay", lease, ttl, now)
			if errors.Is(err, idempotency.ErrInProgress) {
				// A crashed run left it PROCESSING: this run owns the resend.
				continue
			}
			if err != nil {
				return fmt.Errorf("journal %s: %w", id, err)
			}
			if existing == nil {
				j.mu.Lock()
				j.leases[id] = l
				j.mu.Unlock()
			}
		case StateSent:
			j.mu.Lock()
			l, ok := j.leases[id]
			delete(j.leases, id)
			j.mu.Unlock()
			if !ok {
				continue
			}
			if err := j.Store.Complete(ctx, l, []byte(`"sent"`), ttl, now); err != nil {
				return fmt.Errorf("journal %s: %w", id, err)
			}
		}
	}
	return nil
}

// Location names the journal in reports.
func (j *DynamoJournal) Location() string { return "dynamodb:" + j.Store.Table + "/replay#" + j.Run }

// Close is a no-op.
func (j *DynamoJournal) Close() error { return nil }
