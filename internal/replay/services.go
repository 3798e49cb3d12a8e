package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/sources"
)

// LambdaAPI is the part of the Lambda client replay calls: Invoke, and
// what finds the functions that name a DLQ.
type LambdaAPI interface {
	sources.LambdaAPI
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// SNSAPI is the part of the SNS client replay calls.
type SNSAPI interface {
	sources.SNSAPI
	PublishBatch(context.Context, *sns.PublishBatchInput, ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// EventBridgeAPI is the part of the EventBridge client replay calls.
type EventBridgeAPI interface {
	sources.EventBridgeAPI
	DescribeRule(context.Context, *eventbridge.DescribeRuleInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// StepFunctionsAPI is the part of the Step Functions client replay calls.
type StepFunctionsAPI interface {
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Services build the clients of the destinations other than SQS, each
// only when a message goes there. A nil one: messages that need it stay
// in the DLQ, and the report says why.
type Services struct {
	Lambda        func(context.Context) (LambdaAPI, error)
	SNS           func(context.Context) (SNSAPI, error)
	EventBridge   func(context.Context) (EventBridgeAPI, error)
	StepFunctions func(context.Context) (StepFunctionsAPI, error)
}

// Destination kinds, as plans and reports name them.
const (
	DestSQS           = "sqs"
	DestLambda        = "lambda"
	DestSNS           = "sns"
	DestEventBus      = "eventbridge"
	DestStepFunctions = "stepfunctions"
	DestNone          = "none"
)

// services resolves the destinations of messages that EventBridge, SNS
// and Lambda dead-lettered.
type services struct {
	svc             Services
	api             SQSAPI
	dlqARN          string
	viaBus, toTopic bool

	once    sync.Once
	feeding []sources.Source // what names the DLQ; read once, when needed
	feedErr error
}

// feeders are the EventBridge targets, SNS subscriptions and Lambda
// functions that name the DLQ.
func (s *services) feeders(ctx context.Context) ([]sources.Source, error) {
	s.once.Do(func() {
		c := sources.Clients{}
		if s.svc.EventBridge != nil {
			c.EventBridge = func(ctx context.Context) (sources.EventBridgeAPI, error) { return s.svc.EventBridge(ctx) }
		}
		if s.svc.SNS != nil {
			c.SNS = func(ctx context.Context) (sources.SNSAPI, error) { return s.svc.SNS(ctx) }
		}
		if s.svc.Lambda != nil {
			c.Lambda = func(ctx context.Context) (sources.LambdaAPI, error) { return s.svc.Lambda(ctx) }
		}
		s.feeding, s.feedErr = sources.Feeding(ctx, c, s.dlqARN)
	})
	return s.feeding, s.feedErr
}

// target is a resolved destination: how the sender sees it (a queue's
// name, size limit and FIFO-ness; URL is a key) and how it is sent to.
type target struct {
	q    queue.Queue
	kind string
	d    deliverer
}

// resolve is the destination of messages of origin o.
func (s *services) resolve(ctx context.Context, o origin) (target, error) {
	switch o.kind {
	case originEventBridge:
		return s.eventBridge(ctx, o.rule, o.target)
	case originOnFailure:
		return s.function("on-failure", o.arn, onFailurePayload), nil
	case originSNS:
		return s.subscriptionOf(ctx, o.arn)
	case originLambdaDLQ:
		return s.functionOfDLQ(ctx)
	}
	return s.only(ctx)
}

// function invokes fn (its ARN or name) with the payload; shape names
// the payload's making, so that each way to one function is a route of
// its own (an on-failure record's request, an SNS event rebuilt).
func (s *services) function(shape, fn string, payload payloadFunc) target {
	if s.svc.Lambda == nil {
		return s.missing(DestLambda, fn)
	}
	q := serviceQueue(DestLambda, fn)
	q.URL = DestLambda + ":" + shape + ":" + fn
	return target{q: q, kind: DestLambda, d: &lambdaDelivery{api: s.svc.Lambda, fn: fn, payload: payload}}
}

func (s *services) missing(kind, arn string) target {
	return target{q: serviceQueue(kind, arn), kind: kind, d: &refusing{why: "no " + kind + " client to send with"}}
}

// serviceQueue describes a destination other than a queue to the sender.
func serviceQueue(kind, arn string) queue.Queue {
	return queue.Queue{URL: kind + ":" + arn, ARN: arn, Name: shortName(arn), MaxMessageSize: serviceMaxSize}
}

// shortName is the resource's name in an ARN: after "function:",
// "stateMachine:", "event-bus/", a topic's last field.
func shortName(arn string) string {
	for _, sep := range []string{":function:", ":stateMachine:", ":event-bus/", ":rule/"} {
		if i := strings.Index(arn, sep); i >= 0 {
			return arn[i+len(sep):]
		}
	}
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// functionOfDLQ is the function whose asynchronous invocations dead-letter
// into the DLQ: the message does not say which, so it must be one.
func (s *services) functionOfDLQ(ctx context.Context) (target, error) {
	feeders, err := s.feeders(ctx)
	if err != nil {
		return target{}, err
	}
	names := map[string]bool{}
	for _, f := range feeders {
		if f.Kind == sources.KindLambda && f.Lambda.Via == sources.ViaDLQ {
			names[f.Lambda.Function] = true
		}
	}
	switch len(names) {
	case 0:
		return target{}, &DestinationError{Msg: "no Lambda function names this DLQ for its failed asynchronous invocations", Fix: FixTo}
	case 1:
		for n := range names {
			return s.function("payload", n, bodyPayload), nil
		}
	}
	return target{}, &DestinationError{Msg: fmt.Sprintf("%d Lambda functions (%s) dead-letter into this DLQ and a message does not say which it came from",
		len(names), strings.Join(sortedKeys(names), ", ")), Fix: FixTo}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// only is the destination of a message that does not say where it came
// from, when one EventBridge target, SNS subscription or Lambda function
// alone names the DLQ.
func (s *services) only(ctx context.Context) (target, error) {
	feeders, err := s.feeders(ctx)
	if err != nil {
		return target{}, &DestinationError{Msg: fmt.Sprintf("messages do not say where they failed, and what writes to this DLQ could not be read (%v)", err), Fix: FixTo}
	}
	if len(feeders) != 1 {
		return target{}, nil
	}
	f := feeders[0]
	switch f.Kind {
	case sources.KindSNS:
		return s.endpoint(ctx, f, false)
	case sources.KindLambda:
		if f.Lambda.Via == sources.ViaDLQ {
			return s.function("payload", f.Lambda.Function, bodyPayload), nil
		}
	}
	return target{}, nil
}

// subscriptionOf is the subscription of topic that names the DLQ: a
// notification goes back to its endpoint, never to the topic (every other
// subscriber would get it twice), unless --to-topic.
func (s *services) subscriptionOf(ctx context.Context, topic string) (target, error) {
	if s.toTopic {
		if s.svc.SNS == nil {
			return s.missing(DestSNS, topic), nil
		}
		return target{q: serviceQueue(DestSNS, topic), kind: DestSNS, d: &snsDelivery{api: s.svc.SNS, arn: topic, envelope: true}}, nil
	}
	feeders, err := s.feeders(ctx)
	if err != nil {
		return target{}, err
	}
	var subs []sources.Source
	for _, f := range feeders {
		if f.Kind == sources.KindSNS && f.SNS.TopicARN == topic {
			subs = append(subs, f)
		}
	}
	switch len(subs) {
	case 0:
		return refused(DestSNS, topic, fmt.Sprintf("no subscription of %s names this DLQ now", shortName(topic))), nil
	case 1:
		return s.endpoint(ctx, subs[0], true)
	}
	return refused(DestSNS, topic, fmt.Sprintf("%d subscriptions of %s name this DLQ and a message does not say which it came from", len(subs), shortName(topic))), nil
}

func refused(kind, arn, why string) target {
	q := serviceQueue(kind, arn)
	q.URL = DestNone + ":" + arn + "#" + why // a route per reason
	return target{q: q, kind: DestNone, d: &refusing{why: why}}
}

// endpoint is a subscription's endpoint: an SQS queue gets the
// notification as SNS delivered it; a Lambda function gets the SNS event
// rebuilt. envelope says the DLQ messages are notifications (raw
// delivery off).
func (s *services) endpoint(ctx context.Context, f sources.Source, envelope bool) (target, error) {
	sub := f.SNS
	switch sub.Protocol {
	case "sqs":
		t, err := s.queue(ctx, sub.Endpoint, f.ARN)
		if err != nil || t.d != nil {
			return t, err
		}
		t.d = &sqsDelivery{api: s.api, url: t.q.URL, rewrite: stripFailure}
		t.q.URL = "sns:" + f.ARN // its own route: the rewrite is the subscription's
		return t, nil
	case "lambda":
		payload := func(e *types.SendMessageBatchRequestEntry) (string, error) {
			env, err := notification(e, envelope)
			if err != nil {
				return "", err
			}
			return snsRecords(env, f.ARN)
		}
		return s.function("sns:"+f.ARN, sub.Endpoint, payload), nil
	}
	return refused(DestNone, f.ARN, fmt.Sprintf("subscription %s delivers over %s: replay sends only to sqs and lambda endpoints (or to the topic)", f.ARN, sub.Protocol)), nil
}

// notification is the SNS notification of an entry: the body itself, or
// (raw delivery) one built around the raw message.
func notification(e *types.SendMessageBatchRequestEntry, isEnvelope bool) (envelope, error) {
	if isEnvelope {
		return parseEnvelope(aws.ToString(e.MessageBody))
	}
	env := envelope{Type: "Notification", Message: aws.ToString(e.MessageBody), MessageAttributes: map[string]envelopeValue{}}
	for k, a := range e.MessageAttributes {
		if !failureAttributes[k] && k != MarkerAttribute && a.StringValue != nil {
			env.MessageAttributes[k] = envelopeValue{Type: aws.ToString(a.DataType), Value: aws.ToString(a.StringValue)}
		}
	}
	return env, nil
}

// stripFailure drops the attributes a service added about the failure.
func stripFailure(e *types.SendMessageBatchRequestEntry) error {
	for k := range e.MessageAttributes {
		if failureAttributes[k] {
			delete(e.MessageAttributes, k)
		}
	}
	return nil
}

// queue reads a destination queue by ARN; one that no longer exists
// refuses its messages (t.d set).
func (s *services) queue(ctx context.Context, arn, writer string) (target, error) {
	ref, err := queue.ParseRef(arn)
	if err != nil {
		return refused(DestSQS, arn, err.Error()), nil
	}
	url, err := queue.ResolveURL(ctx, s.api, ref)
	var nf *queue.NotFoundError
	if errors.As(err, &nf) {
		return refused(DestSQS, arn, fmt.Sprintf("%s, the destination of %s, no longer exists", arn, writer)), nil
	}
	if err != nil {
		return target{}, err
	}
	q, err := queue.Attributes(ctx, s.api, url)
	if err != nil {
		return target{}, err
	}
	return target{q: q, kind: DestSQS}, nil
}
