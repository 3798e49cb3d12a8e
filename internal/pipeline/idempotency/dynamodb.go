package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/dlqops/dlq/internal/backoff"
)

// DynamoAPI is the part of the DynamoDB client the store calls.
type DynamoAPI interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// MaxItemBytes is DynamoDB's item size limit.
const MaxItemBytes = 400 * 1024

// itemOverhead bounds the size of everything in a record but the result:
// attribute names, key, status, token, hash and numbers.
const itemOverhead = 1024

// Attribute names of a record. The table's partition key is "id" (S);
// "expiresAt" is its TTL attribute.
const (
	attrID      = "id"
	attrStatus  = "status"
	attrToken   = "token"
	attrHash    = "payloadHash"
	attrLease   = "leaseExpiresAt"
	attrExpires = "expiresAt"
	attrResult  = "result"
	attrDropped = "resultDropped"
)

// DynamoStore keeps records in a DynamoDB table.
type DynamoStore struct {
	API   DynamoAPI
	Table string
	// NewToken makes lease tokens; uuid.NewString by default.
	NewToken func() string
	// Sleep waits between resends of a write whose answer was lost;
	// backoff.Sleep by default.
	Sleep func(context.Context, time.Duration) error
}

func (s *DynamoStore) sleep(ctx context.Context, attempt int) {
	if s.Sleep != nil {
		_ = s.Sleep(ctx, backoff.Delay(attempt))
		return
	}
	_ = backoff.Sleep(ctx, backoff.Delay(attempt))
}

// Acquire takes the key with one conditional PutItem: the key is free, or
// its record expired (TTL deletes lazily), or it is PROCESSING for the same
// payload with a lease that ran out (the worker died). When the condition
// fails, ALL_OLD returns the existing record in the same call, so a
// duplicate costs one request.
func (s *DynamoStore) Acquire(ctx context.Context, key, payloadHash string, lease, ttl time.Duration, now time.Time) (Lease, *Record, error) {
	token := uuid.NewString()
	if s.NewToken != nil {
		token = s.NewToken()
	}
	// A write whose answer was lost may have taken the key: it is sent
	// again with the same token, and finding that token is finding the
	// key ours. Given up, the key would stay held by nobody until the
	// lease ran out, and every delivery meanwhile would be "in progress".
	var err error
	for attempt := 1; ; attempt++ {
		var l Lease
		var rec *Record
		l, rec, err = s.acquire(ctx, key, payloadHash, token, lease, ttl, now)
		if err == nil || rec != nil || attempt >= acquireAttempts || ctx.Err() != nil {
			return l, rec, err
		}
		s.sleep(ctx, attempt)
	}
}

// acquireAttempts is how often Acquire sends its write when the answer
// does not come back.
const acquireAttempts = 3

func (s *DynamoStore) acquire(ctx context.Context, key, payloadHash, token string, lease, ttl time.Duration, now time.Time) (Lease, *Record, error) {
	_, err := s.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			attrID:      &types.AttributeValueMemberS{Value: key},
			attrStatus:  &types.AttributeValueMemberS{Value: string(StatusProcessing)},
			attrToken:   &types.AttributeValueMemberS{Value: token},
			attrHash:    &types.AttributeValueMemberS{Value: payloadHash},
			attrLease:   num(now.Add(lease).UnixMilli()),
			attrExpires: num(now.Add(ttl).Unix()),
		},
		ConditionExpression: aws.String("attribute_not_exists(#id) OR #exp < :nowSec OR " +
			"(#status = :processing AND #lease < :nowMs AND #hash = :hash)"),
		ExpressionAttributeNames: map[string]string{
			"#id": attrID, "#exp": attrExpires, "#status": attrStatus, "#lease": attrLease, "#hash": attrHash,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":nowSec":     num(now.Unix()),
			":nowMs":      num(now.UnixMilli()),
			":processing": &types.AttributeValueMemberS{Value: string(StatusProcessing)},
			":hash":       &types.AttributeValueMemberS{Value: payloadHash},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return Lease{Key: key, Token: token}, nil, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return Lease{}, nil, fmt.Errorf("idempotency: acquire %s: %w", key, err)
	}
	rec := decode(ccf.Item)
	rec.Key = key
	switch {
	case rec.Token == token && rec.Status == StatusProcessing:
		// Our own write: the SDK resent a PutItem whose answer was lost,
		// and the resend found what the first one wrote. The key is ours.
		return Lease{Key: key, Token: token}, nil, nil
	case rec.PayloadHash != payloadHash:
		return Lease{}, &rec, fmt.Errorf("%w: %s", ErrPayloadMismatch, key)
	case rec.Status == StatusComplete:
		return Lease{}, &rec, nil
	}
	return Lease{}, &rec, fmt.Errorf("%w: %s (lease until %s)", ErrInProgress, key, rec.LeaseExpiresAt.UTC().Format(time.RFC3339))
}

// Complete records the result, fenced by the lease token: a worker whose
// lease was taken over gets ErrLeaseLost and cannot overwrite the newer
// worker's record. A result that cannot fit the item is not kept: the key
// is recorded COMPLETE with "resultDropped", so the operation is never run
// again. A write whose answer was lost and that the SDK resent finds its
// own COMPLETE record (ALL_OLD, same token): that is success, not a lost
// lease.
func (s *DynamoStore) Complete(ctx context.Context, l Lease, result []byte, ttl time.Duration, now time.Time) error {
	update := "SET #status = :complete, #result = :result, #exp = :exp REMOVE #lease"
	values := map[string]types.AttributeValue{
		":complete":   &types.AttributeValueMemberS{Value: string(StatusComplete)},
		":processing": &types.AttributeValueMemberS{Value: string(StatusProcessing)},
		":result":     &types.AttributeValueMemberB{Value: result},
		":exp":        num(now.Add(ttl).Unix()),
		":token":      &types.AttributeValueMemberS{Value: l.Token},
	}
	if len(result)+len(l.Key)+itemOverhead > MaxItemBytes {
		update = "SET #status = :complete, #dropped = :true, #exp = :exp REMOVE #lease, #result"
		delete(values, ":result")
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	names := map[string]string{"#status": attrStatus, "#result": attrResult, "#exp": attrExpires, "#lease": attrLease, "#token": attrToken}
	if _, ok := values[":true"]; ok {
		names["#dropped"] = attrDropped
	}
	_, err := s.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.Table),
		Key:                                 map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: l.Key}},
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("#token = :token AND #status = :processing"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if rec := decode(ccf.Item); rec.Token == l.Token && rec.Status == StatusComplete {
			return nil // our own write, answered late
		}
	}
	return fenced(err, "complete", l.Key)
}

// MarkComplete records key COMPLETE without a lease, for a caller that
// owns the key by other means and found it PROCESSING from a worker that
// crashed (the replay journal: its runs of one DLQ do not overlap, and a
// resend after a crash must still be recorded as sent).
func (s *DynamoStore) MarkComplete(ctx context.Context, key string, result []byte, ttl time.Duration, now time.Time) error {
	_, err := s.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression: aws.String("SET #status = :complete, #result = :result, #exp = :exp REMOVE #lease"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#result": attrResult, "#exp": attrExpires, "#lease": attrLease,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":complete": &types.AttributeValueMemberS{Value: string(StatusComplete)},
			":result":   &types.AttributeValueMemberB{Value: result},
			":exp":      num(now.Add(ttl).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("idempotency: mark complete %s: %w", key, err)
	}
	return nil
}

// Release deletes the record after a failed run so a retry can acquire it,
// fenced by the token: a stale worker cannot delete a newer one's record.
// A delete that fails without a refusal is sent again: given up, the key
// would stay held by nobody until the lease ran out, and every delivery
// meanwhile would be "in progress". A resend that finds the record gone
// (its first attempt deleted it) is done.
func (s *DynamoStore) Release(ctx context.Context, l Lease) error {
	var err error
	for attempt := 1; ; attempt++ {
		_, err = s.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                           aws.String(s.Table),
			Key:                                 map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: l.Key}},
			ConditionExpression:                 aws.String("#token = :token"),
			ExpressionAttributeNames:            map[string]string{"#token": attrToken},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":token": &types.AttributeValueMemberS{Value: l.Token}},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if attempt > 1 && len(ccf.Item) == 0 {
				return nil // our earlier attempt deleted it
			}
			return fenced(err, "release", l.Key)
		}
		if err == nil || attempt >= acquireAttempts || ctx.Err() != nil {
			return fenced(err, "release", l.Key)
		}
		s.sleep(ctx, attempt)
	}
}

func fenced(err error, verb, key string) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%w: %s %s", ErrLeaseLost, verb, key)
	}
	return fmt.Errorf("idempotency: %s %s: %w", verb, key, err)
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func decode(item map[string]types.AttributeValue) Record {
	var r Record
	str := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	n := func(k string) int64 {
		if v, ok := item[k].(*types.AttributeValueMemberN); ok {
			i, _ := strconv.ParseInt(v.Value, 10, 64)
			return i
		}
		return 0
	}
	r.Status, r.Token, r.PayloadHash = Status(str(attrStatus)), str(attrToken), str(attrHash)
	if ms := n(attrLease); ms > 0 {
		r.LeaseExpiresAt = time.UnixMilli(ms)
	}
	if sec := n(attrExpires); sec > 0 {
		r.ExpiresAt = time.Unix(sec, 0)
	}
	if v, ok := item[attrResult].(*types.AttributeValueMemberB); ok {
		r.Result = v.Value
	}
	if v, ok := item[attrDropped].(*types.AttributeValueMemberBOOL); ok {
		r.ResultDropped = v.Value
	}
	return r
}

// CreateTableInput is the table the store expects: partition key "id",
// on-demand billing. Turn on TTL on "expiresAt" after creating it.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrID), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrID), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}
}

// TTLAttribute is the attribute DynamoDB TTL should watch.
const TTLAttribute = attrExpires

// BatchGetAPI is what Lookup needs beyond DynamoAPI.
type BatchGetAPI interface {
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Lookup reads the records of keys (100 per call, consistent reads);
// absent keys are left out.
func (s *DynamoStore) Lookup(ctx context.Context, api BatchGetAPI, keys []string) (map[string]Record, error) {
	out := make(map[string]Record, len(keys))
	for start := 0; start < len(keys); start += 100 {
		var req []map[string]types.AttributeValue
		for _, k := range keys[start:min(start+100, len(keys))] {
			req = append(req, map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: k}})
		}
		pending := map[string]types.KeysAndAttributes{s.Table: {Keys: req, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(pending) > 0; attempt++ {
			res, err := api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("idempotency: lookup: %w", err)
			}
			for _, item := range res.Responses[s.Table] {
				r := decode(item)
				if v, ok := item[attrID].(*types.AttributeValueMemberS); ok {
					r.Key = v.Value
					out[r.Key] = r
				}
			}
			pending = res.UnprocessedKeys
			if attempt > 8 {
				return nil, fmt.Errorf("idempotency: lookup: unprocessed keys after retries")
			}
			if len(pending) > 0 {
				if err := backoff.Sleep(ctx, backoff.Delay(attempt)); err != nil {
					return nil, fmt.Errorf("idempotency: lookup: %w", err)
				}
			}
		}
	}
	return out, nil
}
