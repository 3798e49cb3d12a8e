package replay

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ebEvent is an EventBridge event envelope, as a target's DLQ keeps it.
type ebEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// parseEvent reads body as an EventBridge event; ok is false for any
// other body (sent as it is).
func parseEvent(body string) (ev ebEvent, raw any, ok bool) {
	if json.Unmarshal([]byte(body), &ev) != nil || ev.Version == "" || ev.ID == "" || ev.DetailType == "" || ev.Source == "" || ev.Detail == nil {
		return ebEvent{}, nil, false
	}
	if json.Unmarshal([]byte(body), &raw) != nil {
		return ebEvent{}, nil, false
	}
	return ev, raw, true
}

// targetInput is how a rule target shapes what it gets: its Input, its
// InputPath or its InputTransformer (at most one is set).
type targetInput struct {
	Input     string
	InputPath string
	PathsMap  map[string]string
	Template  string
	RuleARN   string
	RuleName  string
}

// apply shapes body as EventBridge did for the target, when body is an
// event envelope; any other body goes as it is. The reserved variable
// aws.events.event.ingestion-time cannot be known again: the event's own
// time stands in for it.
func (in targetInput) apply(body string) (string, error) {
	if in.Input == "" && in.InputPath == "" && in.Template == "" {
		return body, nil
	}
	ev, raw, ok := parseEvent(body)
	if !ok {
		return body, nil
	}
	switch {
	case in.Input != "":
		return in.Input, nil
	case in.InputPath != "":
		v, found, err := jsonPath(raw, in.InputPath)
		if err != nil {
			return "", fmt.Errorf("apply input path %s: %w", in.InputPath, err)
		}
		if !found {
			return "", fmt.Errorf("apply input path %s: nothing there in the event", in.InputPath)
		}
		b, err := json.Marshal(v)
		return string(b), err
	}
	vars := map[string]any{
		"aws.events.rule-arn": in.RuleARN, "aws.events.rule-name": in.RuleName,
		"aws.events.event.ingestion-time": ev.Time, "aws.events.event": raw, "aws.events.event.json": raw,
	}
	for name, path := range in.PathsMap {
		v, found, err := jsonPath(raw, path)
		if err != nil {
			return "", fmt.Errorf("apply input transformer path %s: %w", path, err)
		}
		if found {
			vars[name] = v
		} else {
			vars[name] = nil
		}
	}
	return fillTemplate(in.Template, vars), nil
}

// fillTemplate replaces each <name> of vars in an input template. Inside
// a JSON string a string value goes in escaped, without quotes; outside
// one every value goes in as JSON. A template that is not JSON gets
// string values as they are.
func fillTemplate(tpl string, vars map[string]any) string {
	jsonish := json.Valid([]byte(strings.TrimSpace(placeholderless(tpl, vars))))
	var out strings.Builder
	inString := false
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if c == '<' {
			if end := strings.IndexByte(tpl[i:], '>'); end > 0 {
				name := tpl[i+1 : i+end]
				if v, ok := vars[name]; ok {
					out.WriteString(placeholderValue(v, jsonish, inString))
					i += end
					continue
				}
			}
		}
		if c == '"' && jsonish && !escaped(tpl, i) {
			inString = !inString
		}
		out.WriteByte(c)
	}
	return out.String()
}

// placeholderless is the template with each known placeholder replaced by
// a JSON literal in its place, to tell whether the template is JSON.
func placeholderless(tpl string, vars map[string]any) string {
	for name := range vars {
		tpl = strings.ReplaceAll(tpl, "<"+name+">", "0")
	}
	return tpl
}

func placeholderValue(v any, jsonish, inString bool) string {
	s, isString := v.(string)
	switch {
	case isString && (inString || !jsonish):
		if !jsonish {
			return s
		}
		b, _ := json.Marshal(s)
		return string(b[1 : len(b)-1])
	case inString:
		b, _ := json.Marshal(v)
		q, _ := json.Marshal(string(b))
		return string(q[1 : len(q)-1])
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// jsonPath reads the simple JSONPath EventBridge targets use: $, $.a.b,
// $.a[0], $['a'].
func jsonPath(v any, path string) (any, bool, error) {
	p := strings.TrimSpace(path)
	if !strings.HasPrefix(p, "$") {
		return nil, false, fmt.Errorf("not a JSONPath: %q", path)
	}
	p = p[1:]
	for p != "" {
		var key string
		var idx = -1
		switch {
		case p[0] == '.':
			p = p[1:]
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			key, p = p[:end], p[end:]
		case strings.HasPrefix(p, "['"):
			end := strings.Index(p, "']")
			if end < 0 {
				return nil, false, fmt.Errorf("unclosed bracket in %q", path)
			}
			key, p = p[2:end], p[end+2:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, false, fmt.Errorf("unclosed bracket in %q", path)
			}
			n, err := strconv.Atoi(p[1:end])
			if err != nil {
				return nil, false, fmt.Errorf("index %q in %q: %w", p[1:end], path, err)
			}
			idx, p = n, p[end+1:]
		default:
			return nil, false, fmt.Errorf("unexpected %q in %q", p[:1], path)
		}
		var ok bool
		if v, ok = step(v, key, idx); !ok {
			return nil, false, nil
		}
	}
	return v, true, nil
}

func step(v any, key string, idx int) (any, bool) {
	if idx >= 0 {
		a, ok := v.([]any)
		if !ok || idx >= len(a) {
			return nil, false
		}
		return a[idx], true
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	got, ok := obj[key]
	return got, ok
}
