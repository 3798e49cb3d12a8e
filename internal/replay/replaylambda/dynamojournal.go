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
	"github.com/dlqops/dlq/internal/replay/journal"
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
	// Run names the replay: the DLQ's ARN, so keys of different DLQs,
	// same-named ones of two accounts or regions too, never meet.
	Run string
	// Legacy is what Run was before journals were keyed by ARN (the DLQ's
	// name): its records are read as if they were Run's, never written,
	// so a run upgraded mid-incident still waits for an older run's holds
	// and does not resend what it sent.
	Legacy string
	// Lease is how long a "sending" record blocks another replay of the
	// same message; TTL how long records are kept.
	Lease, TTL time.Duration

	mu     sync.Mutex
	leases map[string]idempotency.Lease
}

func (j *DynamoJournal) key(id string) string { return "replay#" + j.Run + "#" + id }

// runs are the names whose records are read: Run, and Legacy if any.
func (j *DynamoJournal) runs() []string {
	if j.Legacy == "" || j.Legacy == j.Run {
		return []string{j.Run}
	}
	return []string{j.Legacy, j.Run}
}

// Lookup maps records to journal states, the furthest of Run's and
// Legacy's.
func (j *DynamoJournal) Lookup(ctx context.Context, ids []string) (map[string]journal.State, error) {
	var keys []string
	byKey := make(map[string]string, len(ids))
	for _, run := range j.runs() {
		for _, id := range ids {
			k := "replay#" + run + "#" + id
			keys = append(keys, k)
			byKey[k] = id
		}
	}
	recs, err := j.Store.Lookup(ctx, j.API, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]journal.State, len(recs))
	for k, r := range recs {
		st := journal.Sending
		if r.Status == idempotency.StatusComplete {
			st = journal.Sent
		}
		out[byKey[k]] = max(out[byKey[k]], st)
	}
	return out, nil
}

// Record writes states: sending acquires, sent completes; deleted needs
// no write (a completed key already means "never send again").
func (j *DynamoJournal) Record(ctx context.Context, ids []string, state journal.State) error {
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
		case journal.Sending:
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
		case journal.Sent:
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

func (j *DynamoJournal) holdsKey() map[string]types.AttributeValue { return holdsKey(j.Run) }

func holdsKey(run string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "replay#" + run + "#holds"}}
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

// Holds reads the holds items of Run and Legacy.
func (j *DynamoJournal) Holds(ctx context.Context) ([]journal.Hold, error) {
	var holds []journal.Hold
	for _, run := range j.runs() {
		out, err := j.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(j.Store.Table), Key: holdsKey(run), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("journal holds: %w", err)
		}
		holds = append(holds, parseHolds(out.Item)...)
	}
	return holds, nil
}

// parseHolds reads the holds in a holds item.
func parseHolds(item map[string]types.AttributeValue) []journal.Hold {
	var holds []journal.Hold
	for name, v := range item {
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
		holds = append(holds, journal.Hold{Run: strings.TrimPrefix(name, holdPrefix), Messages: count, Until: t})
	}
	return holds
}

// Location names the journal in reports.
func (j *DynamoJournal) Location() string { return "dynamodb:" + j.Store.Table + "/replay#" + j.Run }

// Close is a no-op.
func (j *DynamoJournal) Close() error { return nil }
