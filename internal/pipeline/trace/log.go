package trace

import (
	"context"
	"io"
	"log/slog"
)

// Handler stamps the IDs of the record's context on every log line, in
// the schema of docs/log-schema.md: traceId always, the others (the X-Ray
// trace ID next to it) when set.
type Handler struct {
	inner slog.Handler
}

// NewHandler wraps inner.
func NewHandler(inner slog.Handler) *Handler { return &Handler{inner: inner} }

// NewLogger is the pipeline's logger: JSON lines with time, level and msg,
// stamped with the IDs of each call's context.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// Enabled reports whether the inner handler logs at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the context's IDs and passes the record on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	ids := From(ctx)
	r = r.Clone()
	// traceId is on every line, even when empty, so a line that lost its
	// trace is findable as such.
	r.AddAttrs(slog.String("traceId", ids.TraceID))
	for _, a := range []struct{ k, v string }{{"xrayTraceId", ids.XRayTraceID}, {"orderId", ids.OrderID}, {"sagaId", ids.SagaID}, {"step", ids.Step}, {"messageId", ids.MessageID}} {
		if a.v != "" && !has(r, a.k) {
			r.AddAttrs(slog.String(a.k, a.v))
		}
	}
	if ids.Attempt > 0 && !has(r, "attempt") {
		r.AddAttrs(slog.Int("attempt", ids.Attempt))
	}
	return h.inner.Handle(ctx, r)
}

func has(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			return false
		}
		return true
	})
	return found
}

// WithAttrs returns a handler with extra attributes.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup returns a handler that nests later attributes in a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}
