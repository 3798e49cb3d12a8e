package replay

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/replay/journal"
)

// delete removes sent messages (rows) from the DLQ, ten at a time, and
// journals them. handles are their receipt handles, nil: read from the
// spool. A delete that fails leaves a message the destination already
// has: it is reported, and the journal makes the next run delete it
// without sending it again.
func (h *round) delete(ctx context.Context, rows []int32, handles []string) error {
	for start := 0; start < len(rows); start += queue.MaxBatch {
		batch := rows[start:min(start+queue.MaxBatch, len(rows))]
		var hs []string
		if handles != nil {
			hs = handles[start : start+len(batch)]
		} else {
			hs = make([]string, len(batch))
			for k, i := range batch {
				var err error
				if hs[k], err = h.t.handle(i); err != nil {
					return fmt.Errorf("delete from %s: %w (the journal records these as sent: the next run deletes them without sending them again)", h.r.dlq.Name, err)
				}
			}
		}
		if err := h.r.deleteFromDLQ(ctx, h.t.ids(batch), hs, func(k int) { h.t.set(stDone, batch[k]) }, true); err != nil {
			return err
		}
	}
	return nil
}

// deleteFromDLQ deletes messages (ids, with their receipt handles) and
// journals them; done is told each one deleted, by index. count adds the
// deletes to the report (not when the final check deletes again what it
// already counted).
func (r *runner) deleteFromDLQ(ctx context.Context, ids, handles []string, done func(int), count bool) error {
	c := r.c
	for start := 0; start < len(ids); start += queue.MaxBatch {
		end := min(start+queue.MaxBatch, len(ids))
		entries := make([]types.DeleteMessageBatchRequestEntry, end-start)
		for i := range entries {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(handles[start+i])}
		}
		out, err := r.cfg.API.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.dlq.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete from %s: %w (the journal records these as sent: the next run deletes them without sending them again)", r.dlq.Name, err)
		}
		var deleted []string
		for _, ok := range out.Successful {
			if i := queue.EntryIndex(ok.Id, len(entries)); i >= 0 {
				done(start + i)
				deleted = append(deleted, ids[start+i])
			}
		}
		c.mu.Lock()
		for _, f := range out.Failed {
			if i := queue.EntryIndex(f.Id, len(entries)); i >= 0 {
				c.failures = append(c.failures, Failure{MessageID: ids[start+i],
					Error: "sent, but not deleted from the DLQ: " + aws.ToString(f.Code) + " (the journal makes the next run delete it without sending it again)"})
			}
		}
		c.mu.Unlock()
		if count {
			c.deleted.Add(int64(len(deleted)))
		}
		if r.cfg.Journal != nil && len(deleted) > 0 {
			if err := r.cfg.Journal.Record(context.WithoutCancel(ctx), deleted, journal.Deleted); err != nil {
				return err
			}
		}
	}
	return nil
}
