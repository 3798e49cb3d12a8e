// Package idempotency runs a business operation at most once per key, with
// effect, however often at-least-once delivery hands it over. A record in
// DynamoDB moves from PROCESSING to COMPLETE; it is acquired with one
// conditional write, held under a lease whose token fences every later
// write, taken over when a worker died mid-way, and compared by payload
// hash so that one key with two different payloads is an error rather
// than a silent duplicate.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlqops/dlq/internal/backoff"
)

// Status is the state of a record.
type Status string

// The states of a record.
const (
	StatusProcessing Status = "PROCESSING"
	StatusComplete   Status = "COMPLETE"
)

// Errors Do returns. Each maps to an SQS batch outcome (BatchOutcome).
var (
	// ErrInProgress: another worker holds a live lease; retry later.
	ErrInProgress = errors.New("idempotency: operation in progress")
	// ErrPayloadMismatch: the key was used with a different payload.
	ErrPayloadMismatch = errors.New("idempotency: key reused with a different payload")
	// ErrLeaseLost: the lease expired and another worker took over; this
	// worker's result was not recorded.
	ErrLeaseLost = errors.New("idempotency: lease lost to another worker")
	// ErrUnavailable: the store could not be reached to take the key; the
	// operation did not run. Retry the delivery; never treat it as the
	// operation failing.
	ErrUnavailable = errors.New("idempotency: store unavailable")
	// ErrNotRecorded: the operation ran and succeeded (Do returns its
	// result), but recording it failed after retries. Treat the operation
	// as done: running it again would repeat its effect.
	ErrNotRecorded = errors.New("idempotency: operation ran but its result was not recorded")
)

// Record is what the store keeps for a key.
type Record struct {
	Key            string
	Status         Status
	PayloadHash    string
	Token          string
	LeaseExpiresAt time.Time
	ExpiresAt      time.Time
	Result         []byte
	// ResultDropped: the operation completed with a result too large to
	// keep; duplicates get the zero value.
	ResultDropped bool
}

// Lease is the right to run the operation and record its result, proven by
// its token.
type Lease struct {
	Key   string
	Token string
}

// Store persists records. Acquire returns the existing record with
// ErrInProgress or a complete record (and no lease) when the key is taken.
type Store interface {
	Acquire(ctx context.Context, key, payloadHash string, lease, ttl time.Duration, now time.Time) (Lease, *Record, error)
	Complete(ctx context.Context, l Lease, result []byte, ttl time.Duration, now time.Time) error
	Release(ctx context.Context, l Lease) error
}

// Config sets how Do behaves.
type Config struct {
	Store Store
	// Namespace prefixes every key ("orders"), so keys of different
	// services never collide.
	Namespace string
	// MaxProcessing is how long a worker may hold a key before another may
	// take over; keep it above the operation's real duration and separate
	// from the Lambda timeout. Default 5 minutes.
	MaxProcessing time.Duration
	// TTL is how long a completed record suppresses duplicates. Default
	// DefaultTTL: longer than a DLQ can keep a message (14 days), so a
	// message replayed from a DLQ on its last day still finds its record.
	TTL time.Duration
	Now func() time.Time
	// Sleep waits between retries of recording a result; backoff.Sleep
	// by default.
	Sleep func(context.Context, time.Duration) error
}

// DefaultMaxProcessing is the lease of a key when Config sets none.
const DefaultMaxProcessing = 5 * time.Minute

// DefaultTTL is SQS's longest retention (14 days) plus a day to replay in.
const DefaultTTL = 15 * 24 * time.Hour

// completeAttempts is how often Do tries to record a result before it
// reports ErrNotRecorded.
const completeAttempts = 5

// Outcome says whether Do ran the operation.
type Outcome int

// The outcomes of Do.
const (
	Executed  Outcome = iota // fn ran and its result was recorded
	Duplicate                // fn had already run: the stored result came back
)

// Key builds a readable key from business identifiers:
// Key("order", "123", "payment", "attempt", "1") = "order-123-payment-attempt-1".
// Identifiers survive redelivery and refactors; infrastructure IDs such as
// the SQS message ID do not.
func Key(parts ...string) string { return strings.Join(parts, "-") }

// Do runs fn at most once with effect for key. A duplicate gets the stored
// result of the first run. fn's result must marshal to JSON.
func Do[T any](ctx context.Context, c Config, key string, payload any, fn func(context.Context) (T, error)) (T, Outcome, error) {
	var zero T
	c.defaults()
	full := key
	if c.Namespace != "" {
		full = c.Namespace + "#" + key
	}
	hash, err := Hash(payload)
	if err != nil {
		return zero, Executed, err
	}
	lease, existing, err := c.Store.Acquire(ctx, full, hash, c.MaxProcessing, c.TTL, c.Now())
	if err != nil {
		if errors.Is(err, ErrInProgress) || errors.Is(err, ErrPayloadMismatch) {
			return zero, Executed, err
		}
		return zero, Executed, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if existing != nil {
		// Complete: hand back the first run's result.
		var out T
		if len(existing.Result) > 0 {
			if err := json.Unmarshal(existing.Result, &out); err != nil {
				return zero, Duplicate, fmt.Errorf("idempotency: decode stored result of %s: %w", key, err)
			}
		}
		return out, Duplicate, nil
	}
	res, runErr := fn(ctx)
	if runErr != nil {
		// Free the key so a retry can run; the fence keeps a stale worker
		// from deleting a newer one's record. Detached: the caller's
		// context may be the reason fn failed.
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if relErr := c.Store.Release(relCtx, lease); relErr != nil && !errors.Is(relErr, ErrLeaseLost) {
			return zero, Executed, errors.Join(runErr, relErr)
		}
		return zero, Executed, runErr
	}
	b, err := json.Marshal(res)
	if err != nil {
		return zero, Executed, fmt.Errorf("idempotency: encode result of %s: %w", key, err)
	}
	// The operation ran: from here on its effect exists, whatever happens
	// to this call. Recording it is retried, detached from ctx (the
	// caller's deadline must not turn a done operation into a redo).
	rctx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err = c.Store.Complete(rctx, lease, b, c.TTL, c.Now())
		if err == nil || errors.Is(err, ErrLeaseLost) || attempt >= completeAttempts {
			break
		}
		_ = c.Sleep(rctx, backoff.Delay(attempt))
	}
	if err != nil {
		return res, Executed, fmt.Errorf("%w: %s: %w", ErrNotRecorded, key, err)
	}
	return res, Executed, nil
}

func (c *Config) defaults() {
	if c.MaxProcessing <= 0 {
		c.MaxProcessing = DefaultMaxProcessing
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
}

// Hash is the SHA-256 of the payload's JSON encoding.
func Hash(payload any) (string, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("idempotency: encode payload: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// BatchOutcome is what an SQS batch handler should do with a record whose
// operation returned err: nil → success (also for duplicates);
// ErrNotRecorded → success (the operation ran: a redelivery could only
// repeat it); ErrInProgress or ErrUnavailable → report the record failed
// so SQS redelivers it later; anything else → report it failed (after
// maxReceiveCount it reaches the DLQ).
type BatchOutcome int

// Batch outcomes.
const (
	BatchSuccess BatchOutcome = iota
	BatchRetryLater
	BatchFailure
)

// ForBatch maps Do's error to a batch outcome.
func ForBatch(err error) BatchOutcome {
	switch {
	case err == nil, errors.Is(err, ErrNotRecorded):
		return BatchSuccess
	case errors.Is(err, ErrInProgress), errors.Is(err, ErrUnavailable):
		return BatchRetryLater
	}
	return BatchFailure
}
