package worker

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/queue"
)

// handle runs one received batch through the handler and deletes what it
// did not fail, renewing the visibility of what it holds meanwhile.
func (w *Worker) handle(ctx context.Context, msgs []types.Message) {
	n := int64(len(msgs))
	w.received.Add(n)
	w.inFlight.Add(n)
	defer w.inFlight.Add(-n)

	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = w.record(m)
	}
	h := &hold{records: ev.Records}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { w.heartbeat(hbCtx, h) })
	defer func() { stopHeartbeat(); hb.Wait() }()

	resp, err := w.invoke(ctx, ev)
	w.invocations.Add(1)
	failed, err := failures(ev, resp, err)
	if err != nil {
		// As Lambda: the whole batch is retried, every record left to
		// reappear when its visibility timeout ends.
		w.failed.Add(n)
		w.log.ErrorContext(ctx, "batch failed: every record is left for redelivery", "status", "error", "error", err.Error(), "records", n)
		return
	}
	w.failed.Add(int64(len(failed)))
	var done []events.SQSMessage
	for _, r := range ev.Records {
		if !failed[r.MessageId] {
			done = append(done, r)
		}
	}
	// Failed records are no longer renewed: they reappear when the hold
	// they have ends, as under Lambda.
	h.keep(done)
	deleted, left := w.delete(ctx, done)
	w.deleted.Add(int64(deleted))
	w.undeleted.Add(int64(len(left)))
	for _, u := range left {
		ids, _, _ := trace.FromRecord(u.rec)
		w.log.WarnContext(trace.With(ctx, ids), "handled but not deleted: it will be delivered again (idempotency absorbs the rerun)", "status", "retry", "error", u.why)
	}
}

// invoke calls the handler as Lambda would: with the function timeout as
// deadline when there is one (a batch that outlived it failed, whatever
// it answered), and a panic failing the whole batch.
func (w *Worker) invoke(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	if w.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.o.Timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	resp, err = w.o.Handler(ctx, ev)
	if err == nil && ctx.Err() != nil {
		// Timed out (or the grace period ran out) before it answered.
		err = fmt.Errorf("invoke handler: %w", ctx.Err())
	}
	return resp, err
}

// failures reads the handler's answer with Lambda's rules: an error, or an
// item identifier that is empty or not in the batch, fails the whole
// batch; else the items name the records to leave.
func failures(ev events.SQSEvent, resp events.SQSEventResponse, err error) (map[string]bool, error) {
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(ev.Records))
	for _, r := range ev.Records {
		in[r.MessageId] = true
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !in[f.ItemIdentifier] {
			return nil, fmt.Errorf("invalid batchItemFailures: item identifier %q is not in the batch", f.ItemIdentifier)
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// delete deletes records, resending a call whose answer was lost (a
// delete of a message already deleted succeeds, so the resend learns the
// outcome) and entries that failed for a transient reason. It returns how
// many were deleted and the records that were not, or whose delete is not
// known to have succeeded.
func (w *Worker) delete(ctx context.Context, recs []events.SQSMessage) (deleted int, left []undeleted) {
	for start := 0; start < len(recs); start += queue.MaxBatch {
		n, l := w.deleteBatch(ctx, recs[start:min(start+queue.MaxBatch, len(recs))])
		deleted += n
		left = append(left, l...)
	}
	return deleted, left
}

// undeleted is a record whose delete did not succeed, and why.
type undeleted struct {
	rec events.SQSMessage
	why string
}

func (w *Worker) deleteBatch(ctx context.Context, pending []events.SQSMessage) (deleted int, left []undeleted) {
	why := ""
	for attempt := 1; len(pending) > 0; attempt++ {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(pending))
		for i, r := range pending {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)}
		}
		out, err := w.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(w.o.QueueURL), Entries: entries})
		var retry []events.SQSMessage
		switch {
		case err != nil:
			// The call failed before SQS saw it, or its answer was lost:
			// the same handles again find out which.
			retry, why = pending, err.Error()
		default:
			ok := make(map[string]bool, len(out.Successful))
			for _, e := range out.Successful {
				ok[aws.ToString(e.Id)] = true
			}
			failed := map[string]types.BatchResultErrorEntry{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = f
			}
			for i, r := range pending {
				id := strconv.Itoa(i)
				f, isFailed := failed[id]
				switch {
				case ok[id]:
					deleted++
				case isFailed && f.SenderFault:
					// Refused for good (a handle no longer valid): this
					// call did not delete the message.
					left = append(left, undeleted{r, "delete refused: " + aws.ToString(f.Code) + ": " + aws.ToString(f.Message)})
				case isFailed:
					// A server-side fault: ask again.
					retry, why = append(retry, r), aws.ToString(f.Code)+": "+aws.ToString(f.Message)
				default:
					// Not answered for: ask again.
					retry, why = append(retry, r), "no answer for the entry"
				}
			}
		}
		if len(retry) == 0 {
			return deleted, left
		}
		if attempt == deleteAttempts || w.o.Sleep(ctx, backoff.Delay(attempt)) != nil {
			for _, r := range retry {
				left = append(left, undeleted{r, fmt.Sprintf("delete failed after %d attempts: %s", attempt, why)})
			}
			return deleted, left
		}
		pending = retry
	}
	return deleted, left
}

// hold is the set of records a batch still holds, which the heartbeat
// renews.
type hold struct {
	mu      sync.Mutex
	records []events.SQSMessage
}

func (h *hold) keep(recs []events.SQSMessage) {
	h.mu.Lock()
	h.records = recs
	h.mu.Unlock()
}

func (h *hold) handles() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, len(h.records))
	for i, r := range h.records {
		out[i] = r.ReceiptHandle
	}
	return out
}

// heartbeat renews the visibility of what the batch holds every
// Heartbeat, until ctx ends.
func (w *Worker) heartbeat(ctx context.Context, h *hold) {
	if w.o.Heartbeat < 0 {
		return
	}
	for w.o.Sleep(ctx, w.o.Heartbeat) == nil {
		handles := h.handles()
		if len(handles) == 0 {
			return
		}
		n, err := queue.ChangeVisibility(ctx, w.api, w.o.QueueURL, handles, w.o.Visibility)
		w.extended.Add(int64(n))
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "extend visibility failed: a record may be delivered again while it runs", "status", "retry", "error", err.Error())
		}
	}
}

// record is a received message as Lambda's event source mapping hands it
// to the function.
func (w *Worker) record(m types.Message) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Md5OfBody: aws.ToString(m.MD5OfBody), Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes: m.Attributes, MessageAttributes: make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes)),
		EventSource: "aws:sqs", EventSourceARN: w.o.QueueARN, AWSRegion: w.region,
	}
	if rec.Attributes == nil {
		rec.Attributes = map[string]string{}
	}
	for k, v := range m.MessageAttributes {
		rec.MessageAttributes[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue,
			StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues}
	}
	return rec
}
