package replay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// serviceMaxSize is the most an Invoke (Event), a Publish, a PutEvents
// entry or a StartExecution input carries.
const serviceMaxSize = 256 * 1024

// payloadFunc turns an entry (the DLQ message as SendMessageBatch would
// send it) into what a destination gets.
type payloadFunc func(*types.SendMessageBatchRequestEntry) (string, error)

// bodyPayload sends the body as it is.
func bodyPayload(e *types.SendMessageBatchRequestEntry) (string, error) {
	return aws.ToString(e.MessageBody), nil
}

// lambdaDelivery invokes a function asynchronously (InvocationType
// Event), one message per call, a batch's calls side by side.
type lambdaDelivery struct {
	api     func(context.Context) (LambdaAPI, error)
	fn      string // name or ARN, with its qualifier
	payload payloadFunc
}

func (d *lambdaDelivery) deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, _ []string) (*sqs.SendMessageBatchOutput, error) {
	api, err := d.api(ctx)
	if err != nil {
		return refuseAll(entries, err), nil
	}
	return each(entries, d.payload, func(_ int, p string) error {
		_, err := api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(d.fn), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(p)},
			func(o *lambda.Options) { o.Retryer = aws.NopRetryer{} })
		return err
	}), nil
}

// sfnDelivery starts one execution per message, named after the DLQ
// message: a resend after a lost answer starts no second execution of a
// standard workflow (StartExecution is idempotent for the same name and
// input while it runs, and refuses the name once it has ended: both mean
// the state machine has the event).
type sfnDelivery struct {
	api     func(context.Context) (StepFunctionsAPI, error)
	arn     string
	payload payloadFunc
}

func (d *sfnDelivery) deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, ids []string) (*sqs.SendMessageBatchOutput, error) {
	api, err := d.api(ctx)
	if err != nil {
		return refuseAll(entries, err), nil
	}
	return each(entries, d.payload, func(i int, p string) error {
		_, err := api.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(d.arn), Input: aws.String(p), Name: aws.String(executionName(ids[i]))},
			func(o *sfn.Options) { o.Retryer = aws.NopRetryer{} })
		var exists *sfntypes.ExecutionAlreadyExists
		if errors.As(err, &exists) {
			// Named after this DLQ message: an earlier send started it (the
			// execution has ended, or its input was shaped otherwise).
			return nil
		}
		return err
	}), nil
}

var notNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// executionName is a Step Functions execution name for the DLQ message
// (at most 80 characters of letters, digits, - and _).
func executionName(id string) string {
	n := "dlq-replay-" + notNameChars.ReplaceAllString(id, "-")
	if len(n) > 80 {
		n = n[:80]
	}
	return n
}

// each calls one destination call per entry, side by side, and answers
// as a batch: a payload that cannot be built fails its entry alone.
func each(entries []types.SendMessageBatchRequestEntry, payload payloadFunc, call func(int, string) error) *sqs.SendMessageBatchOutput {
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i := range entries {
		p, err := payload(&entries[i])
		if err != nil {
			errs[i] = &refusal{err}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = call(i, p)
		}()
	}
	wg.Wait()
	return answerEach(entries, errs)
}

// refusal is an entry refused before any call: final.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// snsDelivery publishes to a topic (PublishBatch).
type snsDelivery struct {
	api func(context.Context) (SNSAPI, error)
	arn string
	// envelope: the DLQ message is an SNS notification; its Message,
	// Subject and MessageAttributes are published again.
	envelope bool
	// transform, when set, makes the message (an EventBridge target's
	// input).
	transform payloadFunc
}

func (d *snsDelivery) deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, _ []string) (*sqs.SendMessageBatchOutput, error) {
	api, err := d.api(ctx)
	if err != nil {
		return refuseAll(entries, err), nil
	}
	out := &sqs.SendMessageBatchOutput{}
	var req []snstypes.PublishBatchRequestEntry
	for i := range entries {
		pe, err := d.entry(&entries[i])
		if err != nil {
			out.Failed = append(out.Failed, senderFault(entries[i].Id, err))
			continue
		}
		req = append(req, pe)
	}
	if len(req) == 0 {
		return out, nil
	}
	got, err := api.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(d.arn), PublishBatchRequestEntries: req},
		func(o *sns.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil {
		return out, err // out: the entries refused before the call
	}
	for _, s := range got.Successful {
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: s.Id})
	}
	for _, f := range got.Failed {
		out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: f.Id, Code: f.Code, Message: f.Message, SenderFault: f.SenderFault})
	}
	return out, nil
}

// entry is the publish of one DLQ message, with its replay marker.
func (d *snsDelivery) entry(e *types.SendMessageBatchRequestEntry) (snstypes.PublishBatchRequestEntry, error) {
	pe := snstypes.PublishBatchRequestEntry{Id: e.Id, Message: e.MessageBody, MessageAttributes: map[string]snstypes.MessageAttributeValue{}}
	switch {
	case d.transform != nil:
		msg, err := d.transform(e)
		if err != nil {
			return pe, err
		}
		pe.Message = aws.String(msg)
	case d.envelope:
		env, err := parseEnvelope(aws.ToString(e.MessageBody))
		if err != nil {
			return pe, err
		}
		pe.Message = aws.String(env.Message)
		if env.Subject != "" {
			pe.Subject = aws.String(env.Subject)
		}
		for k, a := range env.MessageAttributes {
			pe.MessageAttributes[k] = snsAttribute(a)
		}
	default:
		for k, a := range e.MessageAttributes {
			if failureAttributes[k] || k == MarkerAttribute {
				continue
			}
			pe.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
		}
	}
	if m, ok := e.MessageAttributes[MarkerAttribute]; ok && len(pe.MessageAttributes) < 10 {
		pe.MessageAttributes[MarkerAttribute] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: m.StringValue}
	}
	return pe, nil
}

// eventsDelivery puts events on a bus (PutEvents): an event-bus target,
// or the rule's own bus with --via-bus.
type eventsDelivery struct {
	api func(context.Context) (EventBridgeAPI, error)
	bus string // name or ARN
}

func (d *eventsDelivery) deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, _ []string) (*sqs.SendMessageBatchOutput, error) {
	api, err := d.api(ctx)
	if err != nil {
		return refuseAll(entries, err), nil
	}
	out := &sqs.SendMessageBatchOutput{}
	var req []ebtypes.PutEventsRequestEntry
	var ids []*string
	for i := range entries {
		pe, err := d.entry(&entries[i])
		if err != nil {
			out.Failed = append(out.Failed, senderFault(entries[i].Id, err))
			continue
		}
		req, ids = append(req, pe), append(ids, entries[i].Id)
	}
	if len(req) == 0 {
		return out, nil
	}
	got, err := api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: req}, func(o *eventbridge.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil {
		return out, err // out: the entries refused before the call
	}
	for i, r := range got.Entries {
		if i >= len(ids) {
			break
		}
		code := aws.ToString(r.ErrorCode)
		switch {
		case code == "" && aws.ToString(r.EventId) != "":
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: ids[i]})
		case code == "InternalFailure" || throttlingCode(code):
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: ids[i], Code: r.ErrorCode, Message: r.ErrorMessage})
		default:
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: ids[i], Code: r.ErrorCode, Message: r.ErrorMessage, SenderFault: true})
		}
	}
	return out, nil
}

// entry is the event of one DLQ message put back: same source,
// detail-type, detail and resources; EventBridge gives it a new ID and
// time.
func (d *eventsDelivery) entry(e *types.SendMessageBatchRequestEntry) (ebtypes.PutEventsRequestEntry, error) {
	ev, _, ok := parseEvent(aws.ToString(e.MessageBody))
	if !ok {
		return ebtypes.PutEventsRequestEntry{}, errors.New("not an EventBridge event: it cannot be put on a bus")
	}
	if strings.HasPrefix(ev.Source, "aws.") {
		return ebtypes.PutEventsRequestEntry{}, fmt.Errorf("source %s: events of AWS services cannot be put on a bus", ev.Source)
	}
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(d.bus), Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType),
		Detail: aws.String(string(ev.Detail)), Resources: ev.Resources,
	}, nil
}

// refusing fails every message sent to a destination that cannot take
// them (it no longer exists, or is of a kind replay does not send to):
// they stay in the DLQ, with the reason.
type refusing struct{ why string }

func (d *refusing) deliver(_ context.Context, entries []types.SendMessageBatchRequestEntry, _ []string) (*sqs.SendMessageBatchOutput, error) {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range entries {
		out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("Refused"), Message: aws.String(d.why), SenderFault: true})
	}
	return out, nil
}

// envelope is an SNS notification as an SQS or Lambda subscriber gets it.
type envelope struct {
	Type              string                   `json:"Type"`
	MessageID         string                   `json:"MessageId"`
	TopicARN          string                   `json:"TopicArn"`
	Subject           string                   `json:"Subject,omitempty"`
	Message           string                   `json:"Message"`
	Timestamp         string                   `json:"Timestamp"`
	SignatureVersion  string                   `json:"SignatureVersion"`
	Signature         string                   `json:"Signature"`
	SigningCertURL    string                   `json:"SigningCertURL"`
	UnsubscribeURL    string                   `json:"UnsubscribeURL"`
	MessageAttributes map[string]envelopeValue `json:"MessageAttributes,omitempty"`
}

type envelopeValue struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

func parseEnvelope(body string) (envelope, error) {
	var env envelope
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Type != "Notification" {
		return env, errors.New("not an SNS notification")
	}
	return env, nil
}

// snsRecords is the event Lambda gets from an SNS subscription, rebuilt
// from a notification: its Sns object names two fields apart from the
// envelope (SigningCertUrl, UnsubscribeUrl).
func snsRecords(env envelope, subscription string) (string, error) {
	rec := map[string]any{
		"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription,
		"Sns": map[string]any{
			"Type": env.Type, "MessageId": env.MessageID, "TopicArn": env.TopicARN, "Subject": nullable(env.Subject),
			"Message": env.Message, "Timestamp": env.Timestamp, "SignatureVersion": env.SignatureVersion,
			"Signature": env.Signature, "SigningCertUrl": env.SigningCertURL, "UnsubscribeUrl": env.UnsubscribeURL,
			"MessageAttributes": nonNilAttrs(env.MessageAttributes),
		},
	}
	b, err := json.Marshal(map[string]any{"Records": []any{rec}})
	return string(b), err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNilAttrs(a map[string]envelopeValue) map[string]envelopeValue {
	if a == nil {
		return map[string]envelopeValue{}
	}
	return a
}

// onFailurePayload is the request an on-failure record keeps: what the
// function was invoked with.
func onFailurePayload(e *types.SendMessageBatchRequestEntry) (string, error) {
	var rec struct {
		RequestPayload json.RawMessage `json:"requestPayload"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &rec); err != nil || rec.RequestPayload == nil {
		return bodyPayload(e) // not a record: the body is the payload
	}
	return string(rec.RequestPayload), nil
}

// snsAttribute is an envelope's attribute as Publish takes it: a Binary
// one's value is base64 in the envelope.
func snsAttribute(a envelopeValue) snstypes.MessageAttributeValue {
	v := snstypes.MessageAttributeValue{DataType: aws.String(a.Type)}
	if strings.HasPrefix(a.Type, "Binary") {
		if b, err := base64.StdEncoding.DecodeString(a.Value); err == nil {
			v.BinaryValue = b
			return v
		}
	}
	v.StringValue = aws.String(a.Value)
	return v
}
