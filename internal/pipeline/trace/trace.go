// Package trace carries correlation IDs through the pipeline: a traceId
// generated at the entry point, the orderId, and the saga, step and attempt
// being worked on. They travel in the event envelope and in SQS message
// attributes, and a slog handler stamps them on every log line, so that
// one Logs Insights query (`dlq timeline`) finds a trace's whole story.
package trace

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
)

// IDs are the correlation fields of one unit of work.
type IDs struct {
	TraceID   string
	OrderID   string
	SagaID    string
	Step      string
	Attempt   int
	MessageID string
}

type ctxKey struct{}

// With returns ctx carrying ids. Contexts are per invocation and per
// record, so nothing leaks from one invocation to the next.
func With(ctx context.Context, ids IDs) context.Context {
	return context.WithValue(ctx, ctxKey{}, ids)
}

// From returns the IDs ctx carries (zero when none).
func From(ctx context.Context) IDs {
	ids, _ := ctx.Value(ctxKey{}).(IDs)
	return ids
}

// Update returns ctx with the IDs changed by fn.
func Update(ctx context.Context, fn func(*IDs)) context.Context {
	ids := From(ctx)
	fn(&ids)
	return With(ctx, ids)
}

// NewTraceID generates a trace ID at the pipeline's entry point.
func NewTraceID() string { return uuid.NewString() }

// Envelope is the body of every event the pipeline publishes.
type Envelope struct {
	TraceID string          `json:"traceId"`
	OrderID string          `json:"orderId"`
	Type    string          `json:"type"`
	Attempt int             `json:"attempt"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// NewEnvelope wraps payload with the IDs in ctx.
func NewEnvelope(ctx context.Context, eventType string, payload any) (Envelope, error) {
	ids := From(ctx)
	b, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, err
	}
	attempt := ids.Attempt
	if attempt == 0 {
		attempt = 1
	}
	return Envelope{TraceID: ids.TraceID, OrderID: ids.OrderID, Type: eventType, Attempt: attempt, Payload: b}, nil
}

// Attribute names on SQS messages.
const (
	AttrTraceID = "traceId"
	AttrOrderID = "orderId"
	AttrSagaID  = "sagaId"
)

// Attributes encodes the IDs as SQS message attributes.
func Attributes(ids IDs) map[string]sqstypes.MessageAttributeValue {
	out := map[string]sqstypes.MessageAttributeValue{}
	for name, v := range map[string]string{AttrTraceID: ids.TraceID, AttrOrderID: ids.OrderID, AttrSagaID: ids.SagaID} {
		if v != "" {
			out[name] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	return out
}

// FromRecord reads the IDs of an SQS record delivered to Lambda: message
// attributes first, then the body's envelope. A record without a traceId
// gets a new one, so that its log lines still join up; fresh reports it.
func FromRecord(rec events.SQSMessage) (ids IDs, env Envelope, fresh bool) {
	_ = json.Unmarshal([]byte(rec.Body), &env)
	ids = IDs{TraceID: env.TraceID, OrderID: env.OrderID, Attempt: env.Attempt, MessageID: rec.MessageId}
	if a, ok := rec.MessageAttributes[AttrTraceID]; ok && a.StringValue != nil && *a.StringValue != "" {
		ids.TraceID = *a.StringValue
	}
	if a, ok := rec.MessageAttributes[AttrOrderID]; ok && a.StringValue != nil && *a.StringValue != "" {
		ids.OrderID = *a.StringValue
	}
	if a, ok := rec.MessageAttributes[AttrSagaID]; ok && a.StringValue != nil {
		ids.SagaID = *a.StringValue
	}
	if ids.Attempt == 0 {
		if n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"]); err == nil {
			ids.Attempt = n
		}
	}
	if ids.TraceID == "" {
		ids.TraceID, fresh = NewTraceID(), true
	}
	return ids, env, fresh
}
