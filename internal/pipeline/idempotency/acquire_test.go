package idempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
)

// lostAnswerDB is DynamoDB when the answer to a PutItem is lost and the
// SDK resends it: the resend's condition fails on the item the first
// attempt wrote, and the answer carries that item.
type lostAnswerDB struct{ idempotency.DynamoAPI }

func (lostAnswerDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, &types.ConditionalCheckFailedException{Message: new(string), Item: in.Item}
}

// Acquire recognises its own write after a lost answer: the key is its,
// not "in progress" by somebody else (which would leave it held by nobody
// until the lease ran out, and the delivery retried for nothing).
func TestAcquireAfterALostAnswerIsOurs(t *testing.T) {
	t.Parallel()
	s := &idempotency.DynamoStore{API: lostAnswerDB{}, Table: "t", NewToken: func() string { return "tok-1" }}
	l, existing, err := s.Acquire(context.Background(), "order-1-payment-attempt-1", "h", time.Minute, time.Hour, time.Now())
	if err != nil || existing != nil || l.Token != "tok-1" || l.Key != "order-1-payment-attempt-1" {
		t.Fatalf("Acquire = %+v, %+v, %v; want the lease with our token", l, existing, err)
	}
}
