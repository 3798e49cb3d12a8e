package queue

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Message is one SQS message as received, with what dlq derives from it:
// correlation IDs, the error a Lambda async-invocation DLQ records, and
// the body parsed and unwrapped from SNS and EventBridge envelopes.
type Message struct {
	MessageID     string
	ReceiptHandle string
	Body          string
	Attributes    map[string]Attribute
	System        map[string]string
	SentAt        time.Time
	ReceiveCount  int
	GroupID       string

	TraceID string
	OrderID string
	Error   *MessageError

	// Parsed is the body as JSON (nil when it is not JSON); Unwrapped is
	// the innermost payload after SNS and EventBridge envelopes.
	Parsed    any
	Unwrapped any
}

// Attribute is a message attribute. Binary values keep their bytes.
type Attribute struct {
	Type   string // String, Number, Binary, or a custom type such as String.uuid
	String string
	Binary []byte
}

// Value is the attribute as text: Binary values base64-encoded.
func (a Attribute) Value() string {
	if strings.HasPrefix(a.Type, "Binary") {
		return base64.StdEncoding.EncodeToString(a.Binary)
	}
	return a.String
}

// MessageError is the failure recorded on a message, as Lambda writes it
// into the DLQ of an asynchronous invocation.
type MessageError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// FromSQS builds a Message from a received SQS message and extracts its
// correlation IDs and error.
func FromSQS(m types.Message) Message {
	msg := Message{
		MessageID:     aws.ToString(m.MessageId),
		ReceiptHandle: aws.ToString(m.ReceiptHandle),
		Body:          aws.ToString(m.Body),
		Attributes:    make(map[string]Attribute, len(m.MessageAttributes)),
		System:        make(map[string]string, len(m.Attributes)),
	}
	for k, v := range m.Attributes {
		msg.System[k] = v
	}
	for k, v := range m.MessageAttributes {
		msg.Attributes[k] = Attribute{Type: aws.ToString(v.DataType), String: aws.ToString(v.StringValue), Binary: v.BinaryValue}
	}
	if ms, err := strconv.ParseInt(msg.System[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(ms).UTC()
	}
	msg.ReceiveCount, _ = strconv.Atoi(msg.System[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	msg.GroupID = msg.System[string(types.MessageSystemAttributeNameMessageGroupId)]
	correlate(&msg)
	return msg
}

// View is a message's documented JSON form (docs/json-output.md), and the
// input of --jq filters.
type View struct {
	MessageID        string               `json:"messageId"`
	Queue            string               `json:"queue"`
	SentAt           string               `json:"sentAt"`
	ReceiveCount     int                  `json:"receiveCount"`
	TraceID          string               `json:"traceId"`
	OrderID          string               `json:"orderId"`
	GroupID          string               `json:"groupId"`
	Body             string               `json:"body"`
	Attributes       map[string]ViewValue `json:"attributes"`
	SystemAttributes map[string]string    `json:"systemAttributes"`
	Error            *MessageError        `json:"error"`
}

// ViewValue is one attribute in a View.
type ViewValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// View returns the message's JSON form for the named queue.
func (m *Message) View(queueName string) View {
	v := View{
		MessageID: m.MessageID, Queue: queueName, ReceiveCount: m.ReceiveCount,
		TraceID: m.TraceID, OrderID: m.OrderID, GroupID: m.GroupID, Body: m.Body,
		Attributes: make(map[string]ViewValue, len(m.Attributes)), SystemAttributes: m.System, Error: m.Error,
	}
	if !m.SentAt.IsZero() {
		v.SentAt = m.SentAt.Format(time.RFC3339Nano)
	}
	for k, a := range m.Attributes {
		v.Attributes[k] = ViewValue{Type: a.Type, Value: a.Value()}
	}
	return v
}

// MaxBatch is the most entries SQS takes in one batch call (send, delete,
// change visibility) and the most messages one receive returns.
const MaxBatch = 10
