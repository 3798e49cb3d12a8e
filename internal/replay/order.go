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
func (s *sender) sequential(ctx context.Context, rows []int32) error {
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(s.h.r.parallel())
	var err error
	s.eachBatch(rows, func(b []entry) bool {
		if s.h.r.halted(ctx) {
			return false
		}
		_, err = s.send(ctx, b)
		return err == nil
	})
	return errors.Join(err, s.deletes.Wait())
}

// eachBatch cuts rows into batches as it goes, ten messages at a time, so
// that a round's send entries (bodies, attributes, marker) never all exist
// at once; it stops when do returns false.
func (s *sender) eachBatch(rows []int32, do func([]entry) bool) {
	for start := 0; start < len(rows); start += queue.MaxBatch {
		bs, _ := s.batches(rows[start:min(start+queue.MaxBatch, len(rows))], false)
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
func (s *sender) concurrent(ctx context.Context, rows []int32) error {
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(maxInFlight)
	var g errgroup.Group
	s.eachBatch(rows, func(b []entry) bool {
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
func (s *sender) keyed(ctx context.Context, rows []int32) error {
	kl := newKeyLists(s.h, rows)
	s.deletes = &errgroup.Group{}
	s.deletes.SetLimit(maxInFlight)
	limit := maxSize(s.dest)
	for {
		heads, done, err := kl.nextBatch(ctx, limit)
		if done {
			return errors.Join(err, s.deletes.Wait())
		}
		tok := s.h.r.inFlight.acquire()
		go s.sendHeads(ctx, kl, heads, tok)
	}
}

// sendHeads sends one batch of heads of keys, then lets kl go on from
// what happened to them.
func (s *sender) sendHeads(ctx context.Context, kl *keyLists, heads []int32, tok int) {
	batch := make([]int32, len(heads))
	for k, p := range heads {
		batch[k] = kl.rows[p]
	}
	bs, _ := s.batches(batch, false)
	moved := 0
	var err error
	for _, b := range bs {
		_, err = s.send(ctx, b)
		moved += s.sentOf(b)
		if err != nil {
			break
		}
	}
	s.h.r.inFlight.release(tok, moved, s.congested.Swap(false))
	kl.answered(heads, err)
}

// keyLists is the order of a keyed send: each key's messages a list
// through next, in send order (no allocation per key or message), and the
// positions (in rows) whose message may go now.
type keyLists struct {
	h     *round
	rows  []int32
	next  []int32 // position of the key's next message; -1: none
	ready []int32 // heads of keys and independent messages, oldest first

	mu       sync.Mutex
	cond     *sync.Cond
	busy     int // batches in flight
	firstErr error
}

func newKeyLists(h *round, rows []int32) *keyLists {
	kl := &keyLists{h: h, rows: rows, next: make([]int32, len(rows))}
	kl.cond = sync.NewCond(&kl.mu)
	last := map[int32]int32{} // key → position of its last message so far
	for p, i := range rows {
		kl.next[p] = -1
		k := h.t.row(i).key
		if k < 0 {
			kl.ready = append(kl.ready, int32(p)) // independent
			continue
		}
		if q, ok := last[k]; ok {
			kl.next[q] = int32(p)
		} else {
			kl.ready = append(kl.ready, int32(p))
		}
		last[k] = int32(p)
	}
	return kl
}

// nextBatch waits for messages that may go and takes one batch of heads
// of distinct keys within limit bytes. done: nothing more goes (all sent,
// a send failed, or the run stopped), and every batch in flight was
// answered; err is the first send's error.
func (kl *keyLists) nextBatch(ctx context.Context, limit int) (heads []int32, done bool, err error) {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	for len(kl.ready) == 0 && kl.busy > 0 && kl.firstErr == nil {
		kl.cond.Wait()
	}
	if len(kl.ready) == 0 || kl.firstErr != nil || kl.h.r.halted(ctx) {
		for kl.busy > 0 {
			kl.cond.Wait()
		}
		return nil, true, kl.firstErr
	}
	size := 0
	for len(kl.ready) > 0 && len(heads) < queue.MaxBatch {
		p := kl.ready[0]
		sz := int(kl.h.t.row(kl.rows[p]).size) + markerSize
		if len(heads) > 0 && size+sz > limit {
			break
		}
		kl.ready = kl.ready[1:]
		heads, size = append(heads, p), size+sz
	}
	kl.busy++
	return heads, false, nil
}

// answered goes on from a batch of heads: a message sent lets its key's
// next one go; one that failed stops its key; one neither sent nor
// failed was not attempted (the run is stopping), and stays.
func (kl *keyLists) answered(heads []int32, err error) {
	h, r := kl.h, kl.h.r
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if err != nil && kl.firstErr == nil {
		kl.firstErr = err
	}
	for _, p := range heads {
		i := kl.rows[p]
		k := h.t.row(i).key
		switch {
		case h.t.has(i, stSent):
			r.keys.mark(k, keySent)
			if kl.next[p] >= 0 {
				kl.ready = append(kl.ready, kl.next[p])
			}
		case h.t.has(i, stFailed):
			r.keys.mark(k, keyStopped)
			if n := kl.behind(p); n > 0 {
				r.blockedBehind(n)
				r.warn("order key %s stopped at message %s: %d later message(s) with that key stay in the DLQ so that none overtakes it", r.keys.str(k), h.t.id(i), n)
			}
		}
	}
	kl.busy--
	kl.cond.Broadcast()
}

// behind counts the messages after position p in its key's list.
func (kl *keyLists) behind(p int32) int {
	n := 0
	for q := kl.next[p]; q >= 0; q = kl.next[q] {
		n++
	}
	return n
}

// sentOf counts the entries of a batch the destination has.
func (s *sender) sentOf(b []entry) int {
	n := 0
	for _, e := range b {
		if s.h.t.has(e.row, stSent) {
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
func (s *sender) fifo(ctx context.Context, rows []int32) error {
	h := s.h
	var order []int32
	groups := map[int32][]int32{}
	for _, i := range rows {
		g := h.t.row(i).group
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	r := h.r
	var eg errgroup.Group
	eg.SetLimit(r.parallel())
	for _, g := range order {
		eg.Go(func() error {
			rows := groups[g]
			bs, stoppedAt := s.batches(rows, true)
			for _, b := range bs {
				if r.halted(ctx) {
					return nil
				}
				blocked, err := s.send(ctx, b)
				if err != nil {
					return err
				}
				if blocked != noRow {
					s.stopGroup(g, blocked, rows)
					return nil
				}
			}
			if stoppedAt >= 0 {
				s.stopGroup(g, rows[stoppedAt], rows)
			}
			return nil
		})
	}
	return eg.Wait()
}

// stopGroup records that FIFO group g must not go on past row at.
func (s *sender) stopGroup(g, at int32, rows []int32) {
	h := s.h
	r := h.r
	behind := 0
	for _, i := range rows {
		if !h.t.has(i, stDone|stFailed) {
			behind++
		}
	}
	id := r.groups.str(g)
	r.mu.Lock()
	r.stopped[id] = h.t.id(at)
	r.mu.Unlock()
	r.blockedBehind(behind)
	r.warn("FIFO group %s stopped at message %s: %d later message(s) of the group stay in the DLQ so that none overtakes it", id, h.t.id(at), behind)
}
