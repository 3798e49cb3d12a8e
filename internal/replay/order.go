package replay

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/queue"
)

// sequential sends one batch at a time in SentTimestamp order (--order
// sent); deletes run beside it.
func (s *sender) sequential(ctx context.Context, msgs []*queue.Message) error {
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(s.h.r.parallel())
	var err error
	s.eachBatch(msgs, func(b []entry) bool {
		if s.h.r.halted(ctx) {
			return false
		}
		_, err = s.send(ctx, b)
		return err == nil
	})
	return errors.Join(err, s.deletes.Wait())
}

// eachBatch cuts msgs into batches as it goes, ten messages at a time, so
// that a round's send entries (attributes, marker) never all exist at once;
// it stops when do returns false.
func (s *sender) eachBatch(msgs []*queue.Message, do func([]entry) bool) {
	for start := 0; start < len(msgs); start += queue.MaxBatch {
		bs, _ := s.batches(msgs[start:min(start+queue.MaxBatch, len(msgs))], false)
		for _, b := range bs {
			if !do(b) {
				return
			}
		}
	}
}

// concurrent sends batches in no order, as many at once as inFlight
// allows (--order none); deletes run beside the sends, so a batch's room
// in flight is free once the destination has it.
func (s *sender) concurrent(ctx context.Context, msgs []*queue.Message) error {
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(maxInFlight)
	var g errgroup.Group
	s.eachBatch(msgs, func(b []entry) bool {
		if s.h.r.halted(ctx) {
			return false
		}
		tok := s.h.r.inFlight.acquire()
		g.Go(func() error {
			moved := 0
			defer func() { s.h.r.inFlight.release(tok, moved, s.congested.Swap(false)) }()
			if s.h.r.halted(ctx) {
				return nil
			}
			_, err := s.send(ctx, b)
			moved = s.sentOf(b)
			return err
		})
		return true
	})
	return errors.Join(g.Wait(), s.deletes.Wait())
}

// keyed sends messages that share an entity key in SentTimestamp order,
// one at a time per key: a key's next message goes only once the batch
// holding the previous one was answered. Batches fill with the heads of
// many keys, so with many keys it runs as fast as unordered. A message
// that fails stops its key (nothing of that key overtakes it); messages
// without a key are independent.
func (s *sender) keyed(ctx context.Context, msgs []*queue.Message) error {
	r := s.h.r
	type keyQueue struct {
		msgs []*queue.Message
	}
	keys := map[string]*keyQueue{}
	var ready []string // keys whose head may go, oldest first
	for _, m := range msgs {
		k := r.keyOf(m)
		if k == "" {
			k = "\x00" + m.MessageID // independent
		}
		q, ok := keys[k]
		if !ok {
			q = &keyQueue{}
			keys[k] = q
			ready = append(ready, k)
		}
		q.msgs = append(q.msgs, m)
	}
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(maxInFlight)
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		busy     int // batches in flight
		firstErr error
	)
	limit := int(s.dest.MaxMessageSize)
	if limit <= 0 {
		limit = 1 << 20
	}
	for {
		mu.Lock()
		for len(ready) == 0 && busy > 0 && firstErr == nil {
			cond.Wait()
		}
		if len(ready) == 0 || firstErr != nil || r.halted(ctx) {
			for busy > 0 {
				cond.Wait()
			}
			err := firstErr
			mu.Unlock()
			return errors.Join(err, s.deletes.Wait())
		}
		// One batch of heads of distinct keys, within the size limit.
		var heads []*queue.Message
		var batchKeys []string
		size := 0
		for len(ready) > 0 && len(heads) < queue.MaxBatch {
			k := ready[0]
			m := keys[k].msgs[0]
			sz, _ := r.spool.sizes(m)
			sz += markerSize
			if len(heads) > 0 && size+sz > limit {
				break
			}
			ready = ready[1:]
			heads, batchKeys, size = append(heads, m), append(batchKeys, k), size+sz
		}
		busy++
		mu.Unlock()

		tok := r.inFlight.acquire()
		go func() {
			bs, _ := s.batches(heads, false)
			moved := 0
			var err error
			for _, b := range bs {
				_, err = s.send(ctx, b)
				moved += s.sentOf(b)
				if err != nil {
					break
				}
			}
			r.inFlight.release(tok, moved, s.congested.Swap(false))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			for i, k := range batchKeys {
				q := keys[k]
				switch m := heads[i]; {
				case r.c.wasSent(m.MessageID):
					if !strings.HasPrefix(k, "\x00") {
						r.mu.Lock()
						r.sentKeys[k] = true
						r.mu.Unlock()
					}
					q.msgs = q.msgs[1:]
					if len(q.msgs) > 0 {
						ready = append(ready, k)
					}
				case r.c.isFailed(m.MessageID):
					if !strings.HasPrefix(k, "\x00") {
						r.mu.Lock()
						r.stoppedKeys[k] = true
						r.mu.Unlock()
					}
					if len(q.msgs) > 1 {
						r.blockedBehind(len(q.msgs) - 1)
						r.warn("order key %s stopped at message %s: %d later message(s) with that key stay in the DLQ so that none overtakes it", k, m.MessageID, len(q.msgs)-1)
					}
				}
				// Neither: not attempted (the run is stopping); it stays.
			}
			busy--
			cond.Broadcast()
		}()
	}
}

// sentOf counts the entries of a batch the destination has.
func (s *sender) sentOf(b []entry) int {
	n := 0
	for _, e := range b {
		if s.h.r.c.wasSent(e.msg.MessageID) {
			n++
		}
	}
	return n
}

// throttled reports whether SQS refused entries because of the rate.
func throttled(out *sqs.SendMessageBatchOutput) bool {
	if out == nil {
		return false
	}
	for _, f := range out.Failed {
		if c := aws.ToString(f.Code); strings.Contains(c, "Throttl") || c == "OverLimit" || c == "RequestThrottled" {
			return true
		}
	}
	return false
}

// fifo sends each message group in order, groups in parallel. A group
// stops at its first message that fails, is too large, or is skipped:
// nothing of that group is sent after it, in this round or a later one.
func (s *sender) fifo(ctx context.Context, msgs []*queue.Message) error {
	var order []string
	groups := map[string][]*queue.Message{}
	for _, m := range msgs {
		if _, ok := groups[m.GroupID]; !ok {
			order = append(order, m.GroupID)
		}
		groups[m.GroupID] = append(groups[m.GroupID], m)
	}
	r := s.h.r
	var g errgroup.Group
	g.SetLimit(r.parallel())
	for _, id := range order {
		g.Go(func() error {
			msgs := groups[id]
			bs, stoppedAt := s.batches(msgs, true)
			for _, b := range bs {
				if r.halted(ctx) {
					return nil
				}
				blocked, err := s.send(ctx, b)
				if err != nil {
					return err
				}
				if blocked != nil {
					s.stopGroup(id, blocked, msgs)
					return nil
				}
			}
			if stoppedAt >= 0 {
				s.stopGroup(id, msgs[stoppedAt], msgs)
			}
			return nil
		})
	}
	return g.Wait()
}

// stopGroup records that a FIFO group must not go on past at.
func (s *sender) stopGroup(id string, at *queue.Message, msgs []*queue.Message) {
	r := s.h.r
	behind := 0
	for _, m := range msgs {
		if !r.c.isDone(m.MessageID) && !r.c.isFailed(m.MessageID) {
			behind++
		}
	}
	r.mu.Lock()
	r.stopped[id] = at.MessageID
	r.mu.Unlock()
	r.blockedBehind(behind)
	r.warn("FIFO group %s stopped at message %s: %d later message(s) of the group stay in the DLQ so that none overtakes it", id, at.MessageID, behind)
}
