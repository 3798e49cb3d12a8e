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
// correlation IDs (the X-Ray trace among them), the error a Lambda
// async-invocation DLQ records, and the body parsed and unwrapped from SNS
// and EventBridge envelopes.
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
	// XRayTraceID is the AWS X-Ray trace the message carries: the Root of
	// its AWSTraceHeader, else the trace-id of a traceparent (xray.Resolve).
	XRayTraceID string
	Error       *MessageError
	// Origin is what wrote the message into the DLQ, as its shape tells:
	// one of the Origin constants, "" when unknown.
	Origin string

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

// MessageError is the failure recorded on a message: by Lambda in the DLQ
// of an asynchronous invocation or an on-failure record, by EventBridge in
// a target's DLQ.
type MessageError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	// Condition is why the retries ended: EventBridge's
	// EXHAUSTED_RETRY_CONDITION, an invocation record's condition
	// (RetriesExhausted, EventAgeExceeded).
	Condition string `json:"condition,omitempty"`
}

// FromSQS builds a Message from a received SQS message and extracts its
// correlation IDs and error.
func FromSQS(m types.Message) Message {
	msg := fromSQS(m)
	Correlate(&msg)
	return msg
}

// fromSQS is FromSQS without Correlate.
func fromSQS(m types.Message) Message {
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
	XRayTraceID      string               `json:"xrayTraceId"`
	OrderID          string               `json:"orderId"`
	GroupID          string               `json:"groupId"`
	Body             string               `json:"body"`
	Attributes       map[string]ViewValue `json:"attributes"`
	SystemAttributes map[string]string    `json:"systemAttributes"`
	Error            *MessageError        `json:"error"`
	Origin           string               `json:"origin"`
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
		TraceID: m.TraceID, XRayTraceID: m.XRayTraceID, OrderID: m.OrderID, GroupID: m.GroupID, Body: m.Body,
		Attributes: make(map[string]ViewValue, len(m.Attributes)), SystemAttributes: m.System, Error: m.Error, Origin: m.Origin,
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

// EntryIndex is the position a batch entry's Id names, for batches whose
// entries are numbered by position ("0", "1", …), or -1 when id is not
// one of 0..n-1.
func EntryIndex(id *string, n int) int {
	i, err := strconv.Atoi(aws.ToString(id))
	if err != nil || i < 0 || i >= n {
		return -1
	}
	return i
}

// UUIDBytes returns the 16 bytes of id when id is a UUID in the form SQS
// gives message IDs (lowercase hex, 8-4-4-4-12), so that UUIDString gives
// id back exactly; ok is false for any other ID, which must then be kept
// as text.
func UUIDBytes(id string) (b [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return b, false
	}
	for j := range b {
		i := uuidOffset(j)
		hi, ok1 := hexDigit(id[i])
		lo, ok2 := hexDigit(id[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		b[j] = hi<<4 | lo
	}
	return b, true
}

// uuidOffset is where the j-th byte of a UUID is in its text: two hex
// digits, after the hyphens before it.
func uuidOffset(j int) int {
	i := 2 * j
	for _, h := range [...]int{4, 6, 8, 10} {
		if j >= h {
			i++
		}
	}
	return i
}

// hexDigit decodes a lowercase hex digit: an uppercase one would not come
// back as it was.
func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// UUIDString is the message ID whose bytes UUIDBytes returned.
func UUIDString(b [16]byte) string {
	const digits = "0123456789abcdef"
	var s [36]byte
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	for j, v := range b {
		i := uuidOffset(j)
		s[i], s[i+1] = digits[v>>4], digits[v&0xf]
	}
	return string(s[:])
}

// IDIndex numbers distinct message IDs 0, 1, 2, ... in the order they are
// added: a UUID (what SQS gives) is kept as its 16 bytes, any other ID as
// a copy of its text. Its keys are whole IDs, never a digest of them: two
// messages never share a number, so bookkeeping by number cannot delete a
// message that was never sent. The zero value is ready; it is not safe for
// concurrent use.
type IDIndex struct {
	uuids map[[16]byte]int32
	text  map[string]int32
	n     int32
}

// Add numbers id, and reports whether it was new.
func (x *IDIndex) Add(id string) (n int32, added bool) {
	if b, ok := UUIDBytes(id); ok {
		if n, ok := x.uuids[b]; ok {
			return n, false
		}
		if x.uuids == nil {
			x.uuids = map[[16]byte]int32{}
		}
		x.uuids[b] = x.n
	} else {
		if n, ok := x.text[id]; ok {
			return n, false
		}
		if x.text == nil {
			x.text = map[string]int32{}
		}
		// A copy: id may point into a response buffer holding every body
		// of the response.
		x.text[strings.Clone(id)] = x.n
	}
	x.n++
	return x.n - 1, true
}

// Find returns id's number.
func (x *IDIndex) Find(id string) (int32, bool) {
	if b, ok := UUIDBytes(id); ok {
		n, ok := x.uuids[b]
		return n, ok
	}
	n, ok := x.text[id]
	return n, ok
}

// Len is how many IDs were added.
func (x *IDIndex) Len() int { return int(x.n) }
