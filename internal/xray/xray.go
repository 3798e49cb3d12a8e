// Package xray reads AWS X-Ray trace IDs where they travel with a message:
// the Root of an X-Ray trace header (SQS's AWSTraceHeader system
// attribute, HTTP's X-Amzn-Trace-Id) and the trace-id of a W3C
// traceparent, which X-Ray writes in its own form. The pipeline stamps the
// ID on its log lines, peek shows it and timeline looks traces up by it;
// all three read it here, so that they agree on what the ID of a message
// is.
package xray

import "strings"

// HeaderAttribute is the SQS system attribute that carries a message's
// X-Ray trace header.
const HeaderAttribute = "AWSTraceHeader"

// TraceparentName is the W3C trace context header, and the name of the
// message attribute or envelope field that carries it.
const TraceparentName = "traceparent"

// idLen is the length of an X-Ray trace ID: "1-", 8 hex digits of epoch
// seconds, "-", 24 hex digits of randomness.
const idLen = 35

// ParseTraceID returns s as an X-Ray trace ID in its canonical form
// (lowercase), when s has the shape of one: 1-5759e988-bd862e3fe1be46a994272793.
// An ID of all zeros is no trace.
func ParseTraceID(s string) (string, bool) {
	if len(s) != idLen || s[0] != '1' || s[1] != '-' || s[10] != '-' {
		return "", false
	}
	digits := s[2:10] + s[11:]
	if !isHex(digits, true) || strings.Trim(digits, "0") == "" {
		return "", false
	}
	return strings.ToLower(s), true
}

// FromHeader returns the trace ID in the Root field of an X-Ray trace
// header ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
// whatever the order of its fields. A header without a Root, or whose
// first Root is not a trace ID, has none. Field names are case-sensitive,
// as the X-Ray SDKs read them.
func FromHeader(h string) (string, bool) {
	for _, field := range strings.Split(h, ";") {
		key, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if ok && key == "Root" {
			return ParseTraceID(strings.TrimSpace(value))
		}
	}
	return "", false
}

// FromTraceparent returns the trace-id of a W3C traceparent
// ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") in X-Ray
// form, 1-4bf92f35-77b34da6a3ce929d0e0e4736: its first 8 hex digits, then
// the other 24, the mapping AWS documents for OpenTelemetry. What the W3C
// specification says to ignore has none: version ff or not two lowercase
// hex digits, a version-00 header with more after its flags, an all-zero
// trace-id or parent-id, anything not lowercase hex. A later version is
// read by the fields version 00 defines, as the specification asks.
func FromTraceparent(tp string) (string, bool) {
	tp = strings.TrimSpace(tp)
	const n = 55 // "00-" + 32 + "-" + 16 + "-" + 2
	if len(tp) < n || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return "", false
	}
	version, traceID, parentID, flags := tp[:2], tp[3:35], tp[36:52], tp[53:55]
	switch {
	case !isHex(version, false) || version == "ff":
		return "", false
	case version == "00" && len(tp) != n:
		return "", false
	case len(tp) > n && tp[n] != '-':
		return "", false
	case !isHex(traceID, false) || strings.Trim(traceID, "0") == "":
		return "", false
	case !isHex(parentID, false) || strings.Trim(parentID, "0") == "":
		return "", false
	case !isHex(flags, false):
		return "", false
	}
	return "1-" + traceID[:8] + "-" + traceID[8:], true
}

// Resolve returns a message's X-Ray trace ID: the Root of its
// AWSTraceHeader, else that of the first of its traceparents that is
// valid; "" when none is. The trace header wins because it is what X-Ray
// itself follows from SQS into Lambda: the ID it holds is the trace the
// X-Ray console shows for the message.
func Resolve(awsTraceHeader string, traceparents ...string) string {
	if id, ok := FromHeader(awsTraceHeader); ok {
		return id
	}
	for _, tp := range traceparents {
		if id, ok := FromTraceparent(tp); ok {
			return id
		}
	}
	return ""
}

// Parse reads an X-Ray trace ID as a person pastes it: the ID alone, or a
// whole trace header, with or without its "X-Amzn-Trace-Id:" name.
func Parse(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if id, ok := ParseTraceID(s); ok {
		return id, true
	}
	if name, rest, ok := strings.Cut(s, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "X-Amzn-Trace-Id") {
		s = rest
	}
	return FromHeader(s)
}

// Header is the trace header that carries id as its Root. It names no
// Parent: the segment that sends the message is not known here.
func Header(id string) string { return "Root=" + id }

// isHex reports whether s is all hex digits; upper allows A-F.
func isHex(s string, upper bool) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case upper && 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return s != ""
}
