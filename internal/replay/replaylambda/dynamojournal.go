// Package replaylambda runs the replay engine as a Lambda: its event, its
// handler (which calls replay.Run like the CLI), and a journal kept in
// DynamoDB. It lives apart from package replay so that the CLI binary does
// not link the DynamoDB client.
package replaylambda

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/replay"
)

// DynamoAPI is what the journal calls.
type DynamoAPI interface {
	idempotency.DynamoAPI
	idempotency.BatchGetAPI
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// DynamoJournal keeps the journal in DynamoDB through the idempotency
// store, for the replay Lambda: "sending" acquires the message's key
// (PROCESSING), "sent" completes it (COMPLETE). A completed key is a
// message the destination has; a resumed replay deletes it without
// sending it again.
//
// Holds of runs live in one item per DLQ, one attribute per run, so a
// resumed invocation knows how long an interrupted one keeps messages
// hidden.
type DynamoJournal struct {
	Store *idempotency.DynamoStore
	API   DynamoAPI
	// Run names the replay (the DLQ), so keys of different DLQs never
	// meet.
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
			out[byKey[k]] = replay.StateSent
		} else {
			out[byKey[k]] = replay.StateSending
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
		case replay.StateSending:
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
		case replay.StateSent:
			j.mu.Lock()
			l, ok := j.leases[id]
			delete(j.leases, id)
			j.mu.Unlock()
			// Without a lease of ours (a crashed run left the key PROCESSING,
			// or an acquire's answer was lost), or with one that a takeover
			// fenced off, the send still happened and must be recorded.
			err := idempotency.ErrLeaseLost
			if ok {
				err = j.Store.Complete(ctx, l, []byte(`"sent"`), ttl, now)
			}
			if errors.Is(err, idempotency.ErrLeaseLost) {
				err = j.Store.MarkComplete(ctx, j.key(id), []byte(`"sent"`), ttl, now)
			}
			if err != nil {
				return fmt.Errorf("journal %s: %w", id, err)
			}
		}
	}
	return nil
}

func (j *DynamoJournal) holdsKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "replay#" + j.Run + "#holds"}}
}

const holdPrefix = "hold_"

// Hold stores the run's hold as "until|n" in the holds item.
func (j *DynamoJournal) Hold(ctx context.Context, run string, n int, until time.Time) error {
	_, err := j.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.Store.Table), Key: j.holdsKey(),
		UpdateExpression:         aws.String("SET #h = :h, #exp = :exp"),
		ExpressionAttributeNames: map[string]string{"#h": holdPrefix + run, "#exp": idempotency.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":h":   &types.AttributeValueMemberS{Value: until.UTC().Format(time.RFC3339Nano) + "|" + strconv.Itoa(n)},
			":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Add(14*24*time.Hour).Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("journal hold: %w", err)
	}
	return nil
}

// Released removes the run's hold.
func (j *DynamoJournal) Released(ctx context.Context, run string) error {
	_, err := j.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.Store.Table), Key: j.holdsKey(),
		UpdateExpression:         aws.String("REMOVE #h"),
		ExpressionAttributeNames: map[string]string{"#h": holdPrefix + run},
	})
	if err != nil {
		return fmt.Errorf("journal release: %w", err)
	}
	return nil
}

// Holds reads the holds item.
func (j *DynamoJournal) Holds(ctx context.Context) ([]replay.Hold, error) {
	out, err := j.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(j.Store.Table), Key: j.holdsKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("journal holds: %w", err)
	}
	var holds []replay.Hold
	for name, v := range out.Item {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok || !strings.HasPrefix(name, holdPrefix) {
			continue
		}
		until, n, ok := strings.Cut(s.Value, "|")
		t, err := time.Parse(time.RFC3339Nano, until)
		if !ok || err != nil {
			continue
		}
		count, _ := strconv.Atoi(n)
		holds = append(holds, replay.Hold{Run: strings.TrimPrefix(name, holdPrefix), Messages: count, Until: t})
	}
	return holds, nil
}

// Location names the journal in reports.
func (j *DynamoJournal) Location() string { return "dynamodb:" + j.Store.Table + "/replay#" + j.Run }

// Close is a no-op.
func (j *DynamoJournal) Close() error { return nil }
