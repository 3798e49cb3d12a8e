package saga

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoAPI is the part of the DynamoDB client the saga log calls.
type DynamoAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DynamoLog keeps saga state in a table with partition key "sagaId" (S),
// written with optimistic locking on "version".
type DynamoLog struct {
	API   DynamoAPI
	Table string
}

// Load reads a saga's state; nil when the saga is new.
func (l *DynamoLog) Load(ctx context.Context, sagaID string) (*State, error) {
	out, err := l.API.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.Table),
		Key:            map[string]types.AttributeValue{"sagaId": &types.AttributeValueMemberS{Value: sagaID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, nil
	}
	s := &State{SagaID: sagaID}
	str := func(k string) string {
		if v, ok := out.Item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	list := func(k string) []string {
		if v, ok := out.Item[k].(*types.AttributeValueMemberL); ok {
			var l []string
			for _, e := range v.Value {
				if s, ok := e.(*types.AttributeValueMemberS); ok {
					l = append(l, s.Value)
				}
			}
			return l
		}
		return nil
	}
	s.TraceID, s.OrderID, s.Status, s.FailedStep, s.Error = str("traceId"), str("orderId"), Status(str("status")), str("failedStep"), str("error")
	s.Completed, s.Compensated = list("completed"), list("compensated")
	if v, ok := out.Item["version"].(*types.AttributeValueMemberN); ok {
		s.Version, _ = strconv.Atoi(v.Value)
	}
	return s, nil
}

// Save writes the state if nobody else wrote since it was loaded, and
// bumps its version.
func (l *DynamoLog) Save(ctx context.Context, s *State) error {
	strList := func(v []string) types.AttributeValue {
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			l[i] = &types.AttributeValueMemberS{Value: e}
		}
		return &types.AttributeValueMemberL{Value: l}
	}
	item := map[string]types.AttributeValue{
		"sagaId":      &types.AttributeValueMemberS{Value: s.SagaID},
		"status":      &types.AttributeValueMemberS{Value: string(s.Status)},
		"completed":   strList(s.Completed),
		"compensated": strList(s.Compensated),
		"version":     &types.AttributeValueMemberN{Value: strconv.Itoa(s.Version + 1)},
	}
	for k, v := range map[string]string{"traceId": s.TraceID, "orderId": s.OrderID, "failedStep": s.FailedStep, "error": s.Error} {
		if v != "" {
			item[k] = &types.AttributeValueMemberS{Value: v}
		}
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: item}
	if s.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(sagaId)")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(s.Version)}}
	}
	if _, err := l.API.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("%w: %s", ErrConflict, s.SagaID)
		}
		return err
	}
	s.Version++
	return nil
}

// CreateTableInput is the saga log table: partition key "sagaId".
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("sagaId"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("sagaId"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}
}
