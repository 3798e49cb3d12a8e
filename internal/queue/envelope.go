package queue

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dlqops/dlq/internal/xray"
)

// Correlate fills TraceID, OrderID, XRayTraceID, Error, Origin, Parsed and
// Unwrapped (FromSQS does; a scan with Raw leaves it to its match). IDs
// come from the first place that has them: message attributes, then the
// body's top level, then the layers inside it (an EventBridge event's
// detail, an SNS envelope's Message (a JSON string) and its message
// attributes, a Lambda invocation record's requestPayload). The error is
// the one the attributes record (Lambda's, EventBridge's), else an
// invocation record's. The X-Ray trace is read as the pipeline reads it
// (trace.FromRecord), so that peek shows the ID its log lines carry: the
// AWSTraceHeader, else a traceparent attribute, else the body's top-level
// traceparent.
func Correlate(m *Message) {
	correlateBody(m)
	m.XRayTraceID = xray.Resolve(m.System[xray.HeaderAttribute], attrString(m.Attributes, xray.TraceparentName), bodyTraceparent(m.Parsed))
}

// correlateBody fills all but XRayTraceID.
func correlateBody(m *Message) {
	m.TraceID = attrString(m.Attributes, "traceId")
	m.OrderID = attrString(m.Attributes, "orderId")
	m.Error = attributeError(m.Attributes)
	m.Origin = attributeOrigin(m)
	m.Parsed, m.Unwrapped = nil, nil
	if !looksLikeJSON(m.Body) {
		return
	}
	var parsed any
	if err := json.Unmarshal([]byte(m.Body), &parsed); err != nil {
		return
	}
	m.Parsed = parsed
	m.Unwrapped = parsed
	if m.Origin == "" {
		m.Origin = bodyOrigin(parsed)
	}
	if m.Error == nil {
		m.Error = recordError(parsed)
	}
	for _, layer := range layers(parsed) {
		obj, ok := layer.value.(map[string]any)
		if ok {
			fill(&m.TraceID, obj, "traceId")
			fill(&m.OrderID, obj, "orderId")
		}
		if layer.attrs != nil {
			fill(&m.TraceID, snsAttrs(layer.attrs), "traceId")
			fill(&m.OrderID, snsAttrs(layer.attrs), "orderId")
		}
		m.Unwrapped = layer.value
	}
}

// bodyTraceparent is the traceparent at the body's top level, where the
// pipeline's envelope would hold it.
func bodyTraceparent(parsed any) string {
	obj, ok := parsed.(map[string]any)
	if !ok {
		return ""
	}
	var tp string
	fill(&tp, obj, xray.TraceparentName)
	return tp
}

type layer struct {
	value any
	attrs map[string]any // an SNS envelope's MessageAttributes
}

// layers peels envelopes: the body, then each EventBridge detail, SNS
// Message, Lambda invocation record's requestPayload or Lambda SNS event's
// notification inside it, outermost first. At most four deep.
func layers(v any) []layer {
	out := []layer{{value: v}}
	for range 4 {
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		next, ok := peel(obj)
		if !ok {
			break
		}
		out = append(out, next)
		v = next.value
	}
	return out
}

// peel is the layer inside one envelope, and false when obj is none.
func peel(obj map[string]any) (layer, bool) {
	if detail, ok := obj["detail"]; ok && obj["detail-type"] != nil {
		return layer{value: detail}, true
	}
	if snsNotification(obj) {
		msg := obj["Message"].(string)
		var inner any = msg
		if looksLikeJSON(msg) {
			var parsed any
			if json.Unmarshal([]byte(msg), &parsed) == nil {
				inner = parsed
			}
		}
		attrs, _ := obj["MessageAttributes"].(map[string]any)
		return layer{value: inner, attrs: attrs}, true
	}
	if invocationRecord(obj) {
		return layer{value: obj["requestPayload"]}, true
	}
	if sns, ok := snsRecord(obj); ok {
		return layer{value: sns}, true
	}
	return layer{}, false
}

// snsAttrs flattens SNS message attributes ({"traceId":{"Type":"String",
// "Value":"t-1"}}) into name → value.
func snsAttrs(attrs map[string]any) map[string]any {
	flat := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if a, ok := v.(map[string]any); ok {
			flat[k] = a["Value"]
		}
	}
	return flat
}

// fill sets *dst from obj[key] (matched case-insensitively) unless *dst is
// already set. Numbers count: an orderId of 123 is "123".
func fill(dst *string, obj map[string]any, key string) {
	if *dst != "" {
		return
	}
	v, ok := obj[key]
	if !ok {
		for k, val := range obj {
			if strings.EqualFold(k, key) {
				v, ok = val, true
				break
			}
		}
	}
	if !ok {
		return
	}
	switch t := v.(type) {
	case string:
		*dst = t
	case float64:
		*dst = fmt.Sprint(t)
	}
}

func attrString(attrs map[string]Attribute, name string) string {
	if a, ok := attrs[name]; ok && !strings.HasPrefix(a.Type, "Binary") {
		return a.String
	}
	for k, a := range attrs {
		if strings.EqualFold(k, name) && !strings.HasPrefix(a.Type, "Binary") {
			return a.String
		}
	}
	return ""
}

func looksLikeJSON(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}
