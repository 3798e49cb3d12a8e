package insights

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// TimeFormat is how timelines write instants: RFC3339 in UTC with exactly
// three fractional digits. time.Time's own JSON drops trailing zeros
// (".12Z"), so columns of times stop lining up and stop sorting as text.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Timeline is one trace's (or order's) events in time order; its JSON form
// is the documented contract of `dlq timeline -o json`.
type Timeline struct {
	TraceID string          `json:"traceId"`
	OrderID string          `json:"orderId"`
	Start   time.Time       `json:"start"`
	End     time.Time       `json:"end"`
	Events  []TimelineEvent `json:"events"`
	// XRayTraceID is the AWS X-Ray trace asked for, or the one the
	// timeline's lines carry; empty when they carry none. JSON writes it
	// after orderId (MarshalJSON).
	XRayTraceID string `json:"xrayTraceId"`
}

// MarshalJSON writes times in TimeFormat; start and end are null when no
// log line was found (events is then empty, never null).
func (t Timeline) MarshalJSON() ([]byte, error) {
	events := t.Events
	if events == nil {
		events = []TimelineEvent{}
	}
	return json.Marshal(struct {
		TraceID     string          `json:"traceId"`
		OrderID     string          `json:"orderId"`
		XRayTraceID string          `json:"xrayTraceId"`
		Start       *string         `json:"start"`
		End         *string         `json:"end"`
		Events      []TimelineEvent `json:"events"`
	}{t.TraceID, t.OrderID, t.XRayTraceID, instant(t.Start), instant(t.End), events})
}

func instant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(TimeFormat)
	return &s
}

// TimelineEvent is one line of a timeline.
type TimelineEvent struct {
	Timestamp  time.Time `json:"timestamp"`
	OffsetMs   int64     `json:"offsetMs"`
	LogGroup   string    `json:"logGroup"`
	LogStream  string    `json:"logStream"`
	Step       string    `json:"step"`
	Status     string    `json:"status"`
	DurationMs *float64  `json:"durationMs"`
	Level      string    `json:"level"`
	Message    string    `json:"message"`
	Error      string    `json:"error,omitempty"`
	TraceID    string    `json:"traceId,omitempty"`
	Platform   bool      `json:"platform,omitempty"`
}

// MarshalJSON writes the timestamp in TimeFormat.
func (e TimelineEvent) MarshalJSON() ([]byte, error) {
	type fields TimelineEvent // without this method
	return json.Marshal(struct {
		// Shallower than the embedded Timestamp, so it wins.
		Timestamp string `json:"timestamp"`
		fields
	}{e.Timestamp.UTC().Format(TimeFormat), fields(e)})
}

// Failed reports whether the event marks a failure.
func (e TimelineEvent) Failed() bool {
	return e.Status == "error" || e.Status == "dlq" || strings.EqualFold(e.Level, "error")
}

// Function is the short name of the event's log group: the Lambda
// function for /aws/lambda/NAME.
func (e TimelineEvent) Function() string {
	if i := strings.LastIndex(e.LogGroup, "/"); i >= 0 {
		return e.LogGroup[i+1:]
	}
	return e.LogGroup
}

// Build groups events (sorted by time) into timelines: one per trace, or
// one for the order or the X-Ray trace. Platform lines join the trace of
// the invocation (request ID) they belong to.
func Build(events []Event, req Request) []Timeline {
	traceOfRequest := map[string]string{}
	for _, e := range events {
		if !e.Platform && e.RequestID != "" && e.TraceID != "" {
			traceOfRequest[e.RequestID] = e.TraceID
		}
	}
	key := func(e Event) string {
		if req.OrderID != "" {
			return req.OrderID
		}
		if req.XRayTraceID != "" {
			return req.XRayTraceID
		}
		if e.Platform {
			return traceOfRequest[e.RequestID]
		}
		return e.TraceID
	}
	byKey := map[string]*Timeline{}
	var order []string
	for _, e := range events {
		k := key(e)
		if k == "" {
			continue
		}
		t, ok := byKey[k]
		if !ok {
			t = &Timeline{Start: e.Timestamp, XRayTraceID: req.XRayTraceID}
			switch {
			case req.OrderID != "":
				t.OrderID = req.OrderID
			case req.XRayTraceID != "":
				// Its traceId is its first line's, as an order's is.
			default:
				t.TraceID = k
			}
			byKey[k] = t
			order = append(order, k)
		}
		if t.TraceID == "" && e.TraceID != "" {
			t.TraceID = e.TraceID
		}
		if t.OrderID == "" && e.OrderID != "" {
			t.OrderID = e.OrderID
		}
		if t.XRayTraceID == "" && e.XRayTraceID != "" {
			t.XRayTraceID = e.XRayTraceID
		}
		t.End = e.Timestamp
		t.Events = append(t.Events, TimelineEvent{
			Timestamp: e.Timestamp, OffsetMs: e.Timestamp.Sub(t.Start).Milliseconds(),
			LogGroup: e.LogGroup, LogStream: e.LogStream, Step: e.Step, Status: e.Status,
			DurationMs: e.DurationMs, Level: e.Level, Message: e.Message, Error: e.Error,
			TraceID: traceIfOrder(req, e), Platform: e.Platform,
		})
	}
	out := make([]Timeline, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	// Requested traces first, in the order asked.
	rank := map[string]int{}
	for i, t := range req.TraceIDs {
		rank[t] = i
	}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].TraceID] < rank[out[j].TraceID] })
	return out
}

// traceIfOrder is the event's own trace where a timeline may span several:
// an order's, or an X-Ray trace's.
func traceIfOrder(req Request, e Event) string {
	if req.OrderID != "" || req.XRayTraceID != "" {
		return e.TraceID
	}
	return ""
}

// Stats summarise a timeline for its header.
type Stats struct {
	Span   time.Duration
	Steps  int
	Errors int
	// FirstFailure is the index of the first failed event, or -1.
	FirstFailure int
}

// Stats computes the header figures.
func (t Timeline) Stats() Stats {
	s := Stats{Span: t.End.Sub(t.Start), FirstFailure: -1}
	steps := map[string]bool{}
	for i, e := range t.Events {
		if e.Step != "" && !e.Platform {
			steps[e.Step] = true
		}
		if e.Failed() {
			s.Errors++
			if s.FirstFailure < 0 {
				s.FirstFailure = i
			}
		}
	}
	s.Steps = len(steps)
	return s
}
