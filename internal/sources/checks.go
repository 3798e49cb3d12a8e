package sources

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// The service principals that write into a DLQ under its queue policy.
const (
	eventsPrincipal = "events.amazonaws.com"
	snsPrincipal    = "sns.amazonaws.com"
)

// awsManagedSQSKey is the AWS managed KMS key for SQS: its key policy
// admits only principals of the account, through SQS, and cannot be
// changed, so EventBridge and SNS cannot encrypt messages for the queue.
const awsManagedSQSKey = "alias/aws/sqs"

// String is the source in a few words: `rule default/orders → sqs:shipping`,
// `bus orders`, `sns orders-events → sqs:notify`, `lambda charge (on-failure)`.
func (s Source) String() string {
	switch {
	case s.EventBridge != nil && s.EventBridge.RuleARN == "":
		return "bus " + s.Name
	case s.EventBridge != nil:
		return fmt.Sprintf("rule %s → %s", s.Name, Label(s.EventBridge.TargetARN))
	case s.SNS != nil:
		return fmt.Sprintf("sns %s → %s", s.Name, endpointLabel(s.SNS))
	case s.Lambda != nil:
		return fmt.Sprintf("lambda %s (%s)", s.Name, s.Lambda.Via)
	}
	return string(s.Kind) + " " + s.Name
}

// Label is a resource ARN as "service:name": "sqs:shipping",
// "lambda:charge", "states:checkout". Anything else is returned as is.
func Label(resource string) string {
	a, err := arn.Parse(resource)
	if err != nil {
		return resource
	}
	name := a.Resource
	if i := strings.LastIndexAny(name, ":/"); i >= 0 && a.Service != "lambda" {
		name = name[i+1:]
	}
	name = strings.TrimPrefix(name, "function:")
	return a.Service + ":" + name
}

// endpointLabel is where a subscription delivers, without the address of
// a person (an email or SMS endpoint).
func endpointLabel(s *Subscription) string {
	switch s.Protocol {
	case "http", "https":
		if u, err := url.Parse(s.Endpoint); err == nil && u.Host != "" {
			return s.Protocol + ":" + u.Host
		}
	case "sqs", "lambda", "firehose", "application":
		return Label(s.Endpoint)
	}
	return s.Protocol
}

// dropped are the places where failed events are lost after retries: a
// rule target or a subscription without a DLQ, and a subscription whose
// DLQ SNS will not use (another account or region).
func dropped(srcs []Source) []string {
	var w []string
	for _, s := range srcs {
		switch {
		case s.EventBridge != nil && s.EventBridge.RuleARN != "" && s.DLQ == "" && s.EventBridge.Managed == "" && !s.EventBridge.Disabled:
			w = append(w, fmt.Sprintf("%s (target %s) has no DLQ: failed events are dropped after retries", s, s.EventBridge.TargetID))
		case s.SNS != nil && s.DLQ == "":
			w = append(w, fmt.Sprintf("%s has no DLQ: failed events are dropped after retries", s))
		case s.SNS != nil && (account(s.DLQ) != account(s.ARN) || region(s.DLQ) != region(s.ARN)):
			w = append(w, fmt.Sprintf("%s dead-letters into %s, in another account or region than the subscription (%s, %s): SNS requires the DLQ in the subscription's account and region, so failed events are dropped",
				s, s.DLQ, account(s.ARN), region(s.ARN)))
		}
	}
	return w
}

// unkeptFunctions are the Lambda functions that an EventBridge target or
// an SNS subscription invokes asynchronously and that keep failed events
// nowhere: neither a DLQ nor an on-failure destination on the qualifier
// invoked. A function discovery could not read is not judged.
func unkeptFunctions(srcs []Source, fns *functions) []string {
	if fns == nil || !fns.read {
		return nil
	}
	callers := map[string][]string{} // "name" or "name:qualifier" → who invokes it
	for _, s := range srcs {
		target := ""
		switch {
		case s.EventBridge != nil && s.EventBridge.RuleARN != "" && !s.EventBridge.Disabled:
			target = s.EventBridge.TargetARN
		case s.SNS != nil && s.SNS.Protocol == "lambda":
			target = s.SNS.Endpoint
		}
		name := functionName(target)
		if name == "" || fns.unknown[name] || fns.kept[name] == nil || fns.keeps(name, qualifierOfARN(target)) {
			continue
		}
		key := name
		if q := qualifierOfARN(target); q != latest {
			key += ":" + q
		}
		callers[key] = append(callers[key], s.String())
	}
	keys := make([]string, 0, len(callers))
	for k := range callers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := make([]string, 0, len(keys))
	for _, k := range keys {
		w = append(w, fmt.Sprintf("lambda %s is invoked asynchronously (%s) but has neither a DLQ nor an on-failure destination: events that fail every retry are dropped",
			k, strings.Join(callers[k], "; ")))
	}
	return w
}

// keeps reports whether invoking the function with qualifier keeps failed
// events. An alias with no event-invoke config of its own runs a version
// dlq does not resolve: any version's DLQ counts, so as not to warn
// wrongly.
func (f *functions) keeps(name, qualifier string) bool {
	byQ := f.kept[name]
	if kept, ok := byQ[qualifier]; ok && (kept || qualifier == latest || isVersion(qualifier)) {
		return kept
	}
	for _, kept := range byQ {
		if kept {
			return true
		}
	}
	return false
}

func isVersion(q string) bool {
	return q != "" && strings.Trim(q, "0123456789") == ""
}

// deliveryFindings are what stops EventBridge or SNS from writing into the
// DLQ: a queue policy that does not let the service send, and the AWS
// managed key, whose policy cannot admit it. Lambda writes with its
// execution role, which dlq does not read.
func deliveryFindings(d DeadLetterQueue) []string {
	if !d.Exists {
		return nil
	}
	refused := map[string][]string{}
	var principals []string
	for _, s := range d.Services {
		principal, from := writer(s)
		if principal == "" {
			continue
		}
		if _, seen := refused[principal]; !seen {
			principals = append(principals, principal)
			refused[principal] = nil
		}
		if !allowsSend(d.Policy, principal, from, d.ARN) {
			refused[principal] = append(refused[principal], s.String())
		}
	}
	var w []string
	for _, p := range principals {
		if len(refused[p]) > 0 {
			w = append(w, fmt.Sprintf("its queue policy does not let %s send messages for %s (sqs:SendMessage with aws:SourceArn): those failed events cannot be dead-lettered and are dropped",
				p, strings.Join(refused[p], "; ")))
		}
	}
	if len(principals) > 0 && isAWSManagedKey(d.KMSMasterKeyID) {
		w = append(w, fmt.Sprintf("it is encrypted with the AWS managed key %s, whose key policy cannot admit %s: their failed events cannot be dead-lettered; use SSE-SQS or a customer managed key",
			awsManagedSQSKey, strings.Join(principals, " or ")))
	}
	return w
}

// writer is the service principal that sends a source's failed events to
// its DLQ, and the ARN it sends them for (aws:SourceArn); "" for Lambda.
func writer(s Source) (principal, sourceARN string) {
	switch {
	case s.EventBridge != nil:
		return eventsPrincipal, s.ARN
	case s.SNS != nil:
		return snsPrincipal, s.SNS.TopicARN
	}
	return "", ""
}

func isAWSManagedKey(id string) bool {
	return id == awsManagedSQSKey || strings.HasSuffix(id, ":"+awsManagedSQSKey)
}
