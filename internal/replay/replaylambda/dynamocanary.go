package replaylambda

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// The canary of a DLQ lives in one item: the canary as JSON, the
// originals its batches sent as a string set, and its verdict once given.
// An invocation that timed out while it watched leaves the item without a
// verdict, and the next one resumes that watch.
func (j *DynamoJournal) canaryKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "replay#" + j.Run + "#canary"}}
}

// StartCanary replaces the DLQ's canary item with c.
func (j *DynamoJournal) StartCanary(ctx context.Context, c journal.Canary) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("journal canary: %w", err)
	}
	item := j.canaryKey()
	item["canary"] = &types.AttributeValueMemberS{Value: string(b)}
	item[idempotency.TTLAttribute] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Start.Add(c.Wait()+14*24*time.Hour).Unix(), 10)}
	if _, err := j.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(j.Store.Table), Item: item}); err != nil {
		return fmt.Errorf("journal canary: %w", err)
	}
	return nil
}

// CanarySent adds a batch to the canary item: its sent and known IDs to
// string sets, each trace as an attribute, its time.
func (j *DynamoJournal) CanarySent(ctx context.Context, _ string, b journal.CanaryBatch) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: b.At.UTC().Format(time.RFC3339Nano)}}
	set := []string{"lastSent = :at"}
	i := 0
	for id, tr := range b.Traces {
		k := strconv.Itoa(i)
		names["#t"+k], values[":t"+k] = "trace_"+id, &types.AttributeValueMemberS{Value: tr}
		set = append(set, "#t"+k+" = :t"+k)
		i++
	}
	expr := "SET " + strings.Join(set, ", ")
	var add []string
	if len(b.Sent) > 0 {
		values[":s"] = &types.AttributeValueMemberSS{Value: b.Sent}
		add = append(add, "sent :s")
	}
	if len(b.Known) > 0 {
		values[":k"] = &types.AttributeValueMemberSS{Value: b.Known}
		add = append(add, "known :k")
	}
	if len(add) > 0 {
		expr += " ADD " + strings.Join(add, ", ")
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(j.Store.Table), Key: j.canaryKey(),
		UpdateExpression: aws.String(expr), ExpressionAttributeValues: values}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	if _, err := j.API.UpdateItem(ctx, in); err != nil {
		return fmt.Errorf("journal canary: %w", err)
	}
	return nil
}

// EndCanary sets the canary's verdict.
func (j *DynamoJournal) EndCanary(ctx context.Context, _ string, verdict string) error {
	_, err := j.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.Store.Table), Key: j.canaryKey(),
		UpdateExpression:          aws.String("SET verdict = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: verdict}},
	})
	if err != nil {
		return fmt.Errorf("journal canary: %w", err)
	}
	return nil
}

// OpenCanary reads the canary item: nil when there is none or it has a
// verdict.
func (j *DynamoJournal) OpenCanary(ctx context.Context) (*journal.Canary, error) {
	out, err := j.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(j.Store.Table), Key: j.canaryKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("journal canary: %w", err)
	}
	if _, done := out.Item["verdict"]; done {
		return nil, nil
	}
	s, ok := out.Item["canary"].(*types.AttributeValueMemberS)
	if !ok {
		return nil, nil
	}
	var c journal.Canary
	if err := json.Unmarshal([]byte(s.Value), &c); err != nil {
		return nil, fmt.Errorf("journal canary: %w", err)
	}
	c.CanaryBatch = canaryBatch(out.Item)
	return &c, nil
}

// canaryBatch reads what the canary item's batches sent.
func canaryBatch(item map[string]types.AttributeValue) journal.CanaryBatch {
	var b journal.CanaryBatch
	if v, ok := item["sent"].(*types.AttributeValueMemberSS); ok {
		b.Sent = v.Value
	}
	if v, ok := item["known"].(*types.AttributeValueMemberSS); ok {
		b.Known = v.Value
	}
	if v, ok := item["lastSent"].(*types.AttributeValueMemberS); ok {
		b.At, _ = time.Parse(time.RFC3339Nano, v.Value)
	}
	for name, v := range item {
		if s, ok := v.(*types.AttributeValueMemberS); ok && strings.HasPrefix(name, "trace_") {
			if b.Traces == nil {
				b.Traces = map[string]string{}
			}
			b.Traces[strings.TrimPrefix(name, "trace_")] = s.Value
		}
	}
	return b
}
