// Package trace carries correlation IDs through the pipeline: a traceId
// generated at the entry point, the orderId, and the saga, step and attempt
// being worked on. They travel in the event envelope and in SQS message
// attributes, and a slog handler stamps them on every log line, so that
// one Logs Insights query (`dlq timeline`) finds a trace's whole story.
// A record that arrives with an AWS X-Ray trace (SQS's AWSTraceHeader, or a
// W3C traceparent) keeps its X-Ray trace ID beside the traceId, on its log
// lines and on the events it publishes, so that the two tracings join.
package trace

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/dlqops/dlq/internal/xray"
)

// IDs are the correlation fields of one unit of work.
type IDs struct {
	TraceID   string
	OrderID   string
	SagaID    string
	Step      string
	Attempt   int
	MessageID string
	// XRayTraceID is the AWS X-Ray trace the record came with
	// (1-5759e988-bd862e3fe1be46a994272793); empty when it came with none.
	XRayTraceID string
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
	// Traceparent is a W3C trace context a producer outside the pipeline
	// may put in the body; read, never written (Publisher carries the
	// X-Ray trace in the message's AWSTraceHeader instead).
	Traceparent string `json:"traceparent,omitempty"`
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
// The X-Ray trace ID is the Root of the record's AWSTraceHeader, else the
// trace-id of a traceparent message attribute, else of the envelope's
// traceparent (xray.Resolve).
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
	ids.XRayTraceID = xray.Resolve(rec.Attributes[xray.HeaderAttribute], traceparentAttribute(rec.MessageAttributes), env.Traceparent)
	if ids.TraceID == "" {
		ids.TraceID, fresh = NewTraceID(), true
	}
	return ids, env, fresh
}

// traceparentAttribute is the String message attribute traceparent: by
// its exact name, else in any case, as HTTP matches header names.
func traceparentAttribute(attrs map[string]events.SQSMessageAttribute) string {
	text := func(a events.SQSMessageAttribute) string {
		if a.StringValue == nil || strings.HasPrefix(a.DataType, "Binary") {
			return ""
		}
		return *a.StringValue
	}
	if a, ok := attrs[xray.TraceparentName]; ok {
		return text(a)
	}
	for name, a := range attrs {
		if strings.EqualFold(name, xray.TraceparentName) {
			return text(a)
		}
	}
	return ""
}
