package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dlqops/dlq/internal/testenv"
)

// The emulator makes a conditional write on one item atomic, as DynamoDB
// does: of 32 concurrent "create if absent" writes on a key, exactly one
// wins, for each of 20 keys. moto_server alone lets two win now and then
// when the machine is busy; the idempotency tests rely on this.
func TestEmulatorConditionalWritesAreAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	table := testenv.Name(t, "atomic")
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	const keys, writers = 60, 32
	for k := range keys {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName:           aws.String(table),
					Item:                map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint("k-", k)}, "writer": &types.AttributeValueMemberN{Value: fmt.Sprint(w)}},
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				})
				var ccf *types.ConditionalCheckFailedException
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.As(err, &ccf):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("key %d: %d conditional writes won, want exactly 1", k, n)
		}
	}
}
