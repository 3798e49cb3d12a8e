// Package insights reconstructs a trace's story from CloudWatch Logs: it
// builds Logs Insights queries with every ID escaped, runs them over log
// groups in batches of 50 (or by prefix where the endpoint supports
// SOURCE), polls with backoff, splits windows that hit the 10,000-row cap,
// parses rows as dlq's log schema or Lambda platform lines, and keeps only
// the events that provably belong to the requested trace, X-Ray trace or
// order.
package insights

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Event is one log line of a timeline.
type Event struct {
	Timestamp  time.Time
	LogGroup   string
	LogStream  string
	TraceID    string
	OrderID    string
	RequestID  string
	Step       string
	Status     string
	Level      string
	Message    string
	Error      string
	DurationMs *float64
	// Platform is true for Lambda's own START/END/REPORT/timeout lines.
	Platform bool
	// Raw is @message as stored.
	Raw string
	// XRayTraceID is the line's xrayTraceId: the AWS X-Ray trace of the
	// record it was written for.
	XRayTraceID string
}

// Record is one line of dlq's log schema (docs/log-schema.md).
type Record struct {
	Time       string   `json:"time"`
	Level      string   `json:"level"`
	Msg        string   `json:"msg"`
	TraceID    string   `json:"traceId"`
	OrderID    string   `json:"orderId"`
	Step       string   `json:"step"`
	Status     string   `json:"status"`
	DurationMs *float64 `json:"durationMs"`
	Error      string   `json:"error"`
	SagaID     string   `json:"sagaId"`
	Attempt    int      `json:"attempt"`
	MessageID  string   `json:"messageId"`
	RequestID  string   `json:"requestId"`
	// XRayTraceID is there when the record came with an X-Ray trace.
	XRayTraceID string `json:"xrayTraceId"`
}

var (
	startRE   = regexp.MustCompile(`^START RequestId: (\S+)`)
	endRE     = regexp.MustCompile(`^END RequestId: (\S+)`)
	reportRE  = regexp.MustCompile(`^REPORT RequestId: (\S+)\s+Duration: ([0-9.]+) ms`)
	timeoutRE = regexp.MustCompile(`^(?:\d{4}-\d\d-\d\dT\S+\s+)?(\S+)\s+Task timed out after ([0-9.]+) seconds`)
	statusRE  = regexp.MustCompile(`Status: (\w+)`)
)

// ParseRow turns the fields of one Insights result row into an Event.
// @timestamp may be "2026-11-26 18:33:58.123" (AWS) or epoch milliseconds
// (an emulator); @log may be "ACCOUNT:GROUP", "GROUP", or missing.
func ParseRow(fields map[string]string) Event {
	e := Event{Raw: fields["@message"], LogStream: fields["@logStream"], RequestID: fields["@requestId"]}
	e.Timestamp = parseTimestamp(fields["@timestamp"])
	e.LogGroup = groupName(fields["@log"])
	parseMessage(&e)
	return e
}

func parseTimestamp(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	for _, layout := range []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func groupName(log string) string {
	// AWS writes "123456789012:/aws/lambda/fn"; group names never hold ':'
	// before their first '/', so a leading account ID is easy to drop.
	if i := strings.Index(log, ":"); i > 0 && isDigits(log[:i]) {
		return log[i+1:]
	}
	return log
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func parseMessage(e *Event) {
	msg := strings.TrimRight(e.Raw, "\r\n")
	if m := reportRE.FindStringSubmatch(msg); m != nil {
		e.Platform, e.RequestID, e.Step, e.Message = true, m[1], "report", "REPORT"
		if d, err := strconv.ParseFloat(m[2], 64); err == nil {
			e.DurationMs = &d
		}
		if s := statusRE.FindStringSubmatch(msg); s != nil && s[1] != "success" {
			e.Status, e.Message = "error", "REPORT status "+s[1]
		}
		return
	}
	if m := startRE.FindStringSubmatch(msg); m != nil {
		e.Platform, e.RequestID, e.Step, e.Status, e.Message = true, m[1], "invoke", "started", "START"
		return
	}
	if m := endRE.FindStringSubmatch(msg); m != nil {
		e.Platform, e.RequestID, e.Step, e.Message = true, m[1], "invoke", "END"
		return
	}
	if m := timeoutRE.FindStringSubmatch(msg); m != nil {
		e.Platform, e.RequestID, e.Step, e.Status, e.Level = true, m[1], "invoke", "error", "ERROR"
		e.Message = "Task timed out after " + m[2] + " seconds"
		if s, err := strconv.ParseFloat(m[2], 64); err == nil {
			d := s * 1000
			e.DurationMs = &d
		}
		return
	}
	// dlq's schema: a JSON object, possibly after Lambda's text prefix
	// ("2026-11-26T18:33:58.123Z\tREQUEST-ID\tINFO\t{...}").
	jsonPart := msg
	if i := strings.Index(msg, "{"); i > 0 && strings.HasSuffix(msg, "}") {
		prefix := strings.Split(msg[:i], "\t")
		if len(prefix) >= 3 && e.RequestID == "" {
			e.RequestID = strings.TrimSpace(prefix[1])
		}
		jsonPart = msg[i:]
	}
	var r Record
	if !strings.HasPrefix(jsonPart, "{") || json.Unmarshal([]byte(jsonPart), &r) != nil {
		e.Message = msg
		return
	}
	e.TraceID, e.XRayTraceID, e.OrderID, e.Step, e.Status = r.TraceID, r.XRayTraceID, r.OrderID, r.Step, r.Status
	e.Level, e.Message, e.Error, e.DurationMs = r.Level, r.Msg, r.Error, r.DurationMs
	if r.RequestID != "" {
		e.RequestID = r.RequestID
	}
}
