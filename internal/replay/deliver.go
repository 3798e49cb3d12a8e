package replay

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/queue"
)

// deliverer sends one batch of entries (each with its index as its ID) to
// a destination and answers as SendMessageBatch does: each entry
// Successful, or Failed (SenderFault: sending it again will not help), or
// missing from both (its answer was lost: the destination may have it).
// An error is the whole call's: no entry's outcome is known unless
// queue.Rejected says the service refused it, but for those the answer,
// which may come with it, fails as refused before the call. ids are the DLQ messages'
// IDs, entry by entry.
type deliverer interface {
	deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, ids []string) (*sqs.SendMessageBatchOutput, error)
}

// sqsDelivery sends to an SQS queue with SendMessageBatch; rewrite, when
// set, reshapes each entry first (an EventBridge target's input, an SNS
// envelope's raw message).
type sqsDelivery struct {
	api     SQSAPI
	url     string
	rewrite func(*types.SendMessageBatchRequestEntry) error
	// fifo: nothing after an entry the rewrite refused is sent, to keep
	// its group in order.
	fifo bool
}

func (d *sqsDelivery) deliver(ctx context.Context, entries []types.SendMessageBatchRequestEntry, _ []string) (*sqs.SendMessageBatchOutput, error) {
	var refused []types.BatchResultErrorEntry
	if d.rewrite != nil {
		kept := entries[:0:0]
		for _, e := range entries {
			if err := d.rewrite(&e); err != nil {
				refused = append(refused, senderFault(e.Id, err))
				if d.fifo {
					break // the rest: no answer, left behind the stop
				}
				continue
			}
			kept = append(kept, e)
		}
		entries = kept
	}
	if len(entries) == 0 {
		return &sqs.SendMessageBatchOutput{Failed: refused}, nil
	}
	out, err := d.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.url), Entries: entries},
		queue.NoRetry) // every resend goes through the sender, journaled and counted
	if err != nil {
		return &sqs.SendMessageBatchOutput{Failed: refused}, err
	}
	out.Failed = append(out.Failed, refused...)
	return out, nil
}

// senderFault is an entry that will not go, whatever is tried again.
func senderFault(id *string, err error) types.BatchResultErrorEntry {
	code := "Refused"
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	return types.BatchResultErrorEntry{Id: id, Code: aws.String(code), Message: aws.String(err.Error()), SenderFault: true}
}

// outcome sorts one call's error for an entry sent alone (an Invoke, a
// StartExecution): answered is false when the destination may have it (a
// lost answer, or a 5xx: the service may have taken the request before it
// failed), and final when trying again cannot help. A refusal (nothing was
// sent) is answered and final.
func outcome(err error) (answered, final bool) {
	var ref *refusal
	switch {
	case err == nil, errors.As(err, &ref):
		return true, true
	case !queue.Rejected(err):
		return false, false
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return true, false
	}
	switch code := apiErr.ErrorCode(); {
	case throttlingCode(code), strings.Contains(code, "Conflict"), strings.Contains(code, "NotReady"), code == "ExecutionLimitExceeded":
		return true, false
	}
	return true, true
}

func throttlingCode(code string) bool {
	switch code {
	case "TooManyRequestsException", "ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded", "RequestThrottled":
		return true
	}
	return strings.Contains(code, "Throttl")
}

// answerEach builds a SendMessageBatch-shaped answer from one call per
// entry: errs[i] is entry i's call's error.
func answerEach(entries []types.SendMessageBatchRequestEntry, errs []error) *sqs.SendMessageBatchOutput {
	out := &sqs.SendMessageBatchOutput{}
	for i, e := range entries {
		answered, final := outcome(errs[i])
		switch {
		case errs[i] == nil:
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
		case !answered:
			// Lost: missing from the answer, sent again and counted uncertain.
		default:
			f := senderFault(e.Id, errs[i])
			f.SenderFault = final
			out.Failed = append(out.Failed, f)
		}
	}
	return out
}

// rowsOf are the entries' rows.
func rowsOf(entries []entry) []int32 {
	rows := make([]int32, len(entries))
	for i, e := range entries {
		rows[i] = e.row
	}
	return rows
}

// refuseAll fails every entry with err: nothing was sent (the client for
// the destination could not be made).
func refuseAll(entries []types.SendMessageBatchRequestEntry, err error) *sqs.SendMessageBatchOutput {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range entries {
		out.Failed = append(out.Failed, senderFault(e.Id, err))
	}
	return out
}
