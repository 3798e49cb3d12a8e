// Package shapetest loads the DLQ message shapes AWS documents
// (internal/queue/testdata/shapes: an EventBridge target's DLQ, an SNS
// subscription's, a Lambda function's asynchronous-invocation DLQ, a
// Lambda on-failure record) for tests: as received messages for unit
// tests, and sent into a real queue for tests against the emulator.
package shapetest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Names are the shapes in testdata/shapes, without .json.
var Names = []string{"eventbridge-dlq", "sns-envelope", "sns-raw", "lambda-async-dlq", "lambda-on-failure", "lambda-on-failure-age"}

// Shape is one documented DLQ message.
type Shape struct {
	// Doc is the AWS documentation page the shape follows.
	Doc  string `json:"doc"`
	Note string `json:"note"`
	// Body is the message body: a JSON string as it is, any other JSON
	// value compacted.
	Body       string
	Attributes map[string]Attribute `json:"attributes"`
}

// Attribute is a message attribute as peek's JSON writes it.
type Attribute struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Load reads testdata/shapes/NAME.json.
func Load(t testing.TB, name string) Shape {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "testdata", "shapes", name+".json"))
	if err != nil {
		t.Fatalf("read shape %s: %v", name, err)
	}
	var raw struct {
		Shape
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("parse shape %s: %v", name, err)
	}
	s := raw.Shape
	var str string
	if json.Unmarshal(raw.Body, &str) == nil {
		s.Body = str
	} else {
		var c bytes.Buffer
		if err := json.Compact(&c, raw.Body); err != nil {
			t.Fatalf("compact shape %s: %v", name, err)
		}
		s.Body = c.String()
	}
	if s.Doc == "" {
		t.Fatalf("shape %s names no documentation page", name)
	}
	return s
}

// MessageAttributes are the shape's attributes as SQS takes and gives them.
func (s Shape) MessageAttributes() map[string]types.MessageAttributeValue {
	out := make(map[string]types.MessageAttributeValue, len(s.Attributes))
	for k, a := range s.Attributes {
		out[k] = types.MessageAttributeValue{DataType: aws.String(a.Type), StringValue: aws.String(a.Value)}
	}
	return out
}

// Received is the shape as a receive returns it, with the given message
// ID and system attributes.
func (s Shape) Received(id string, system map[string]string) types.Message {
	return types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(s.Body),
		MessageAttributes: s.MessageAttributes(), Attributes: system}
}

// Send puts the shape into the queue at url, as the AWS service that
// dead-letters it would, and returns the message ID.
func (s Shape) Send(t testing.TB, c *sqs.Client, url string) string {
	t.Helper()
	out, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(s.Body),
		MessageAttributes: s.MessageAttributes()})
	if err != nil {
		t.Fatalf("send shape: %v", err)
	}
	return aws.ToString(out.MessageId)
}
