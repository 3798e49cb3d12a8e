package sources

import (
	"encoding/json"
	"regexp"
	"strings"
)

// allowsSend reports whether a queue policy lets the service principal
// call sqs:SendMessage on queueARN for requests from sourceARN. What dlq
// cannot evaluate (NotPrincipal, condition keys other than aws:SourceArn
// and aws:SourceAccount, a policy that does not parse) counts as allowed:
// a warning must be a fact, not a guess.
func allowsSend(policy, principal, sourceARN, queueARN string) bool {
	if strings.TrimSpace(policy) == "" {
		return false
	}
	var doc struct {
		Statement statements `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return true
	}
	allowed := false
	for _, st := range doc.Statement {
		if len(st.NotPrincipal) > 0 || len(st.NotAction) > 0 || len(st.NotResource) > 0 {
			allowed = allowed || strings.EqualFold(st.Effect, "Allow")
			continue
		}
		if !principalMatches(st.Principal, principal) || !anyMatch(st.Action, "sqs:SendMessage", true) ||
			(len(st.Resource) > 0 && !anyMatch(st.Resource, queueARN, false)) {
			continue
		}
		holds, certain := conditionsHold(st.Condition, sourceARN)
		switch {
		case strings.EqualFold(st.Effect, "Deny") && holds && certain:
			return false
		case strings.EqualFold(st.Effect, "Allow") && holds:
			allowed = true
		}
	}
	return allowed
}

// statement is one statement of a resource policy.
type statement struct {
	Effect       string
	Principal    json.RawMessage
	NotPrincipal json.RawMessage
	Action       stringList
	NotAction    stringList
	Resource     stringList
	NotResource  stringList
	Condition    map[string]map[string]stringList
}

// statements accepts one statement or a list of them, as IAM does.
type statements []statement

// UnmarshalJSON reads an object or an array.
func (s *statements) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	var many []statement
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

// stringList accepts a string or a list of strings, as IAM does.
type stringList []string

// UnmarshalJSON reads a string or an array of strings.
func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = stringList{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

// principalMatches: "*", {"AWS": "*"} (equivalent to "*"), or the service
// named in {"Service": ...}.
func principalMatches(raw json.RawMessage, service string) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var p map[string]stringList
	if json.Unmarshal(raw, &p) != nil {
		return false
	}
	for k, vs := range p {
		for _, v := range vs {
			if (strings.EqualFold(k, "AWS") && v == "*") || (strings.EqualFold(k, "Service") && strings.EqualFold(v, service)) {
				return true
			}
		}
	}
	return false
}

// conditionsHold evaluates a statement's conditions for a request from
// sourceARN: whether they hold, and whether dlq could tell (it knows
// aws:SourceArn and aws:SourceAccount; any other key is taken to hold).
func conditionsHold(cond map[string]map[string]stringList, sourceARN string) (holds, certain bool) {
	holds, certain = true, true
	for op, keys := range cond {
		base := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(op, "ForAnyValue:"), "ForAllValues:"), "IfExists")
		for key, values := range keys {
			var actual string
			switch strings.ToLower(key) {
			case "aws:sourcearn":
				actual = sourceARN
			case "aws:sourceaccount":
				actual = account(sourceARN)
			default:
				certain = false
				continue
			}
			ok, known := compare(base, actual, values)
			if !known {
				certain = false
				continue
			}
			holds = holds && ok
		}
	}
	return holds, certain
}

// compare applies an IAM string or ARN condition operator.
func compare(op, actual string, values []string) (ok, known bool) {
	switch op {
	case "ArnEquals", "StringEquals", "ArnLike", "StringLike":
		return anyMatch(values, actual, false), true
	case "StringEqualsIgnoreCase":
		return anyMatch(values, actual, true), true
	case "ArnNotEquals", "StringNotEquals", "ArnNotLike", "StringNotLike":
		return !anyMatch(values, actual, false), true
	}
	return false, false
}

// anyMatch reports whether s matches one of the patterns, with IAM's
// wildcards * and ?.
func anyMatch(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		expr := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(p)) + "$"
		if foldCase {
			expr = "(?i)" + expr
		}
		if ok, _ := regexp.MatchString(expr, s); ok {
			return true
		}
	}
	return false
}
