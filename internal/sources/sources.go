// Package sources finds who writes into each dead-letter queue: SQS redrive
// policies (through internal/queue), EventBridge rule targets and event
// buses, SNS subscriptions, and Lambda functions' DLQs and on-failure
// destinations; and it says where failed events are dropped silently: a
// target or subscription without a DLQ, a DLQ its writer may not send to.
package sources

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is the kind of resource that dead-letters into a queue.
type Kind string

// The kinds of sources.
const (
	KindSQS         Kind = "sqs"
	KindEventBridge Kind = "eventbridge"
	KindSNS         Kind = "sns"
	KindLambda      Kind = "lambda"
)

// AllKinds are every kind, in the order they are shown.
func AllKinds() []Kind { return []Kind{KindSQS, KindEventBridge, KindSNS, KindLambda} }

// KindSet is the kinds a discovery reads.
type KindSet map[Kind]bool

// ParseKinds parses kind names (as --sources gives them); none means all.
func ParseKinds(names []string) (KindSet, error) {
	set := KindSet{}
	if len(names) == 0 {
		for _, k := range AllKinds() {
			set[k] = true
		}
		return set, nil
	}
	for _, n := range names {
		k := Kind(strings.ToLower(strings.TrimSpace(n)))
		if !k.valid() {
			return nil, fmt.Errorf("unknown source kind %q: want one of %s", n, kindList())
		}
		set[k] = true
	}
	return set, nil
}

func (k Kind) valid() bool {
	for _, v := range AllKinds() {
		if k == v {
			return true
		}
	}
	return false
}

func kindList() string {
	names := make([]string, 0, 4)
	for _, k := range AllKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// Via is how a Lambda function dead-letters a failed asynchronous
// invocation.
type Via string

// The two ways a Lambda function keeps failed asynchronous events.
const (
	// ViaDLQ is the function version's DeadLetterConfig: the event alone.
	ViaDLQ Via = "dlq"
	// ViaOnFailure is an event-invoke config's OnFailure destination: an
	// invocation record with the request and the response.
	ViaOnFailure Via = "on-failure"
)

// Source is one EventBridge target or bus, SNS subscription or Lambda
// asynchronous configuration, and the DLQ it names. (Queues that redrive
// into a DLQ are queue.Source.)
type Source struct {
	Kind Kind
	// ARN is the writer: the rule (the bus, for a bus's own DLQ), the
	// subscription, or the function with its qualifier.
	ARN string
	// Name is short and human: "bus/rule", the topic, "function:qualifier".
	Name string
	// DLQ is the ARN of the dead-letter queue; "" when none is set.
	DLQ string

	EventBridge *EventBridgeTarget
	SNS         *Subscription
	Lambda      *AsyncConfig
}

// Retry is how long a service keeps trying before it dead-letters (or drops)
// an event; nil fields are the service's defaults.
type Retry struct {
	MaximumRetryAttempts     *int32
	MaximumEventAgeInSeconds *int32
}

// EventBridgeTarget is a rule's target, or (RuleARN "") an event bus's own
// dead-letter configuration.
type EventBridgeTarget struct {
	Bus       string
	RuleARN   string
	Rule      string
	TargetID  string
	TargetARN string
	Retry     *Retry
	// Input, InputPath and InputTransformer shape what the target gets;
	// replay applies them when it sends an event back.
	Input            string
	InputPath        string
	InputTransformer *InputTransformer
	// Managed is the service that manages the rule ("" for the account's
	// own); Disabled a rule that matches nothing.
	Managed  string
	Disabled bool
}

// InputTransformer is a target's input transformer.
type InputTransformer struct {
	PathsMap map[string]string
	Template string
}

// Subscription is an SNS subscription.
type Subscription struct {
	TopicARN           string
	Protocol           string
	Endpoint           string
	RawMessageDelivery bool
}

// AsyncConfig is a Lambda function version's (or alias's) place for
// asynchronous invocations that failed every retry.
type AsyncConfig struct {
	Function  string // the function's name
	Qualifier string // "$LATEST", a version or an alias
	Via       Via
	Retry     *Retry
}

// Result is what Find found.
type Result struct {
	// DLQs are every dead-letter queue found, deepest first.
	DLQs []DeadLetterQueue
	// Warnings are not about one DLQ: a target or subscription without a
	// DLQ, a Lambda function that drops failed events, a DLQ that is not a
	// queue or is in another region.
	Warnings []string
	// Denied are the permissions refused, each with what was not read:
	// DLQs may be missing.
	Denied []string
}

// sortWarnings keeps the account's warnings in a stable order.
func sortWarnings(w []string) { sort.Strings(w) }
