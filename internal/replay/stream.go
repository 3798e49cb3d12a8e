package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/dlqops/dlq/internal/queue"
)

// A round streams when nobody confirms a plan first (Config.Stream), the
// order does not matter (--order none) and the DLQ is standard: each
// message the scan holds is routed and queued at once, batches of ten go
// as they fill, and their sends and deletes run while the scan goes on.
// What is held but not yet deleted stays bounded (the queue below, the
// batches in flight): the scan waits for room. Everything else is as in a
// round that scans first: the same journal steps for each batch, the same
// hold renewed on every message not deleted, the same give-back of what
// was not moved, and the same final check.

// streamQueue is how many routed messages wait for a batch, and
// streamBytes how many bytes of them (large messages reach it first):
// with the batches in flight (at most maxInFlight, each within the
// destination's size limit), the most a streaming round holds in memory
// and hidden beyond what the scan keeps of other messages. (Variables:
// the tests make the queue small, to reach it on an emulator.)
var (
	streamQueue       = 4 * queue.MaxBatch * startInFlight
	streamBytes int64 = 8 << 20
)

// testHookStreamFull, set by tests, is told (with the DLQ's URL) when a
// streaming scan waits for room.
var testHookStreamFull atomic.Pointer[func(dlq string)]

// errHalted ends a streaming scan when the run may start no more batches
// (interrupted, the deadline, SQS's 12-hour hold): not a failure.
var errHalted = errors.New("replay stopped")

// streaming reports whether the next round sends while it scans. Not
// with --stop-on-return (its watcher would receive what the scan must
// see), nor in a round the final check added.
func (r *runner) streaming() bool {
	c := r.cfg
	return c.Stream && c.Order == OrderNone && !r.dlq.FIFO && !c.DryRun && c.StopOnReturn <= 0 && !r.sweeping
}

// streamer is one streaming round's sending side.
type streamer struct {
	h   *round
	ctx context.Context
	in  chan streamed
	// bytes bounds the queue's bodies and attributes (streamBytes).
	bytes *semaphore.Weighted
	// quit is closed on the first error and when the scan failed: what is
	// queued is not sent (the scan gives it back). quitCtx ends with it.
	quit     chan struct{}
	quitOnce sync.Once
	quitCtx  context.Context
	cancel   context.CancelFunc
	done     chan struct{} // the collector ended
	sends    errgroup.Group
	deletes  *errgroup.Group
	limiter  *rate.Limiter
	senders  map[string]*sender // by destination URL (the collector's)

	// queued counts the messages add took (matched counted them).
	queued atomic.Int64
	// selective: the run takes some of the messages it receives, not all
	// (a filter, or --to without --force), so a queued entry must not
	// keep its whole receive answer alive.
	selective bool

	mu  sync.Mutex
	err error
}

type streamed struct {
	e    entry
	dest queue.Queue
	cost int64 // its share of streamBytes
}

// stream makes h's table queue each message it holds for sending.
func (h *round) stream(ctx context.Context) *streamer {
	r := h.r
	st := &streamer{h: h, ctx: ctx, in: make(chan streamed, streamQueue), quit: make(chan struct{}), done: make(chan struct{}),
		deletes: &errgroup.Group{}, senders: map[string]*sender{}, bytes: semaphore.NewWeighted(streamBytes)}
	st.quitCtx, st.cancel = context.WithCancel(ctx)
	st.deletes.SetLimit(maxInFlight)
	st.selective = r.cfg.Filter != nil && !r.cfg.Filter.Empty() || r.router.to != nil && !r.router.force
	if r.cfg.Rate > 0 {
		st.limiter = rate.NewLimiter(rate.Limit(r.cfg.Rate), queue.MaxBatch)
	}
	h.t.then = st.add
	r.scanning.Store(true)
	go st.collect()
	return st
}

// add routes a message the scan just held and queues it; it waits for
// room. An error ends the scan, which then gives back every message not
// deleted.
func (st *streamer) add(i int32, m *queue.Message, handle string) error {
	h := st.h
	r := h.r
	if err := st.failure(); err != nil {
		return err
	}
	if r.halted(st.ctx) {
		return errHalted
	}
	dest, err := st.route(m)
	if err != nil {
		return err
	}
	m.ReceiptHandle = handle
	e, marked := h.entry(i, m, dest, r.cfg.Now())
	if st.selective {
		e.detach() // the others of its receive are not taken
	}
	if !marked {
		r.c.unmarkedMessage(m.MessageID)
	}
	if limit := maxSize(dest); e.size > limit {
		h.fail(i, fmt.Sprintf("%d bytes with attributes: larger than %s's maximum message size (%d)", e.size, dest.Name, limit))
		return nil
	}
	return st.enqueue(streamed{e: e, dest: dest, cost: min(int64(e.size), streamBytes)})
}

// route is where m goes, and counts it matched (and queued).
func (st *streamer) route(m *queue.Message) (queue.Queue, error) {
	r := st.h.r
	dest, _, err := r.router.destination(st.ctx, originKey(m))
	if err != nil {
		return queue.Queue{}, err
	}
	if dest == nil {
		return queue.Queue{}, r.router.unroutableError(1)
	}
	r.router.use(*dest)
	r.mu.Lock()
	r.matched++
	r.mu.Unlock()
	st.queued.Add(1)
	return *dest, nil
}

// enqueue queues it for the collector, waiting for room in bytes and in
// the queue, unless the stream stops.
func (st *streamer) enqueue(it streamed) error {
	full := func() {
		if hook := testHookStreamFull.Load(); hook != nil {
			(*hook)(st.h.r.dlq.URL) // the queue is full: the scan waits for room
		}
	}
	if !st.bytes.TryAcquire(it.cost) {
		full()
		if err := st.bytes.Acquire(st.quitCtx, it.cost); err != nil {
			return st.stopErr()
		}
	}
	select {
	case st.in <- it:
		return nil
	default:
	}
	full()
	select {
	case st.in <- it:
		return nil
	case <-st.quitCtx.Done():
		st.bytes.Release(it.cost)
		return st.stopErr()
	}
}

// stopErr is why add could not queue: the first error, an interrupt, or
// a stop.
func (st *streamer) stopErr() error {
	if err := st.failure(); err != nil {
		return err
	}
	if err := st.ctx.Err(); err != nil {
		return err
	}
	return errHalted
}

// collect cuts the queue into batches of ten (within the destination's
// size limit), per destination, and sends each as it fills; a batch not
// full goes once the scan ended.
func (st *streamer) collect() {
	defer close(st.done)
	pending := map[string][]entry{}
	sizes := map[string]int{}
	dests := map[string]queue.Queue{}
	flush := func(u string) {
		if len(pending[u]) > 0 && !st.stopped() {
			st.dispatch(dests[u], pending[u])
		}
		pending[u], sizes[u] = nil, 0
	}
	for it := range st.in {
		// Out of the queue: a batch being filled is bounded by itself (ten
		// messages within the destination's size limit), and must not
		// wait for the room its own messages take.
		st.bytes.Release(it.cost)
		if st.stopped() {
			continue // given back with the rest
		}
		u := it.dest.URL
		dests[u] = it.dest
		if n := len(pending[u]); n > 0 && sizes[u]+it.e.size > maxSize(it.dest) {
			flush(u)
		}
		pending[u] = append(pending[u], it.e)
		sizes[u] += it.e.size
		if len(pending[u]) == queue.MaxBatch {
			flush(u)
		}
	}
	for u := range pending {
		flush(u)
	}
}

// dispatch sends a batch when there is room in flight.
func (st *streamer) dispatch(dest queue.Queue, b []entry) {
	r := st.h.r
	s := st.senders[dest.URL]
	if s == nil {
		s = &sender{h: st.h, dest: dest, limiter: st.limiter, start: r.cfg.Now(), deletes: st.deletes}
		st.senders[dest.URL] = s
	}
	tok := r.inFlight.acquire()
	if st.stopped() || r.halted(st.ctx) {
		r.inFlight.release(tok, 0, false)
		return
	}
	st.sends.Go(func() error {
		moved := 0
		defer func() { r.inFlight.release(tok, moved, s.congested.Swap(false)) }()
		if err := st.send(s, b); err != nil {
			st.fail(err)
		}
		moved = s.sentOf(b)
		return nil
	})
}

// send sends one batch, as execute does a round's: what the journal says
// the destination has is deleted, not sent again; a message journaled
// "sending" by an earlier run is sent and counted uncertain.
func (st *streamer) send(s *sender, b []entry) error {
	h := st.h
	rows := make([]int32, len(b))
	for k, e := range b {
		rows[k] = e.row
	}
	dctx := context.WithoutCancel(st.ctx)
	done, err := h.journaled(dctx, rows)
	if err == nil {
		err = h.skip(dctx, done, nil) // the spool has their newest handles
	}
	if err != nil {
		return err
	}
	if len(done) > 0 {
		fresh := b[:0:0]
		for _, e := range b {
			if !h.t.has(e.row, stSent) {
				fresh = append(fresh, e)
			}
		}
		b = fresh
	}
	if len(b) == 0 {
		return nil
	}
	_, err = s.send(st.ctx, b)
	return err
}

// finish is the scan's Drain: it sends what is queued (not after a
// failed scan or an error) and waits for every send and delete.
func (st *streamer) finish(failed bool) {
	st.h.r.scanning.Store(false)
	if failed {
		st.stop()
	}
	close(st.in)
	<-st.done
	_ = st.sends.Wait()
	if err := st.deletes.Wait(); err != nil {
		st.fail(err)
	}
	st.cancel()
}

func (st *streamer) fail(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.stop()
}

func (st *streamer) failure() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

func (st *streamer) stop() { st.quitOnce.Do(func() { close(st.quit); st.cancel() }) }

func (st *streamer) stopped() bool {
	select {
	case <-st.quit:
		return true
	default:
		return false
	}
}

// maxSize is the most a SendMessageBatch call to dest may carry: its
// maximum message size, else SQS's largest (1 MiB).
func maxSize(dest queue.Queue) int {
	if dest.MaxMessageSize <= 0 {
		return 1 << 20
	}
	return int(dest.MaxMessageSize)
}

// endStream settles a streaming round once its scan returned (and Drain
// waited for every send). A scan that failed or stopped gave back every
// message not deleted: they are marked so, and nothing gives them back
// twice. A scan whose only error is giving back the messages it did
// not take still holds the rest: they are given back here. It returns
// the round's error; nil also when the run stopped (the report says why).
func (h *round) endStream(ctx context.Context, st *streamer, res queue.ScanResult, scanErr error) error {
	if res.Failed {
		h.t.setUnless(stGiven, stDone)
	}
	// Rows that were taken and counted as they were queued, and the others
	// (Hold refused them: the run stopped): matched counts them all, as a
	// round that scans first does.
	h.r.mu.Lock()
	h.r.matched += len(h.t.sorted()) - int(st.queued.Load())
	h.r.mu.Unlock()
	giveBack := func() error {
		err := h.giveBack(ctx, h.t.sorted())
		h.t.setUnless(stGiven, stDone)
		return err
	}
	switch err := st.failure(); {
	case err != nil && res.Failed:
		return errors.Join(err, res.ReleaseErr)
	case err != nil:
		// A send or its journal failed after the scan ended: what it
		// still holds goes back.
		return errors.Join(err, scanErr, giveBack())
	case res.Failed && !errors.Is(scanErr, errHalted):
		return scanErr
	case res.Failed:
		// Stopped on purpose, but what it gave back may still be hidden:
		// the run must not be journaled released.
		return res.ReleaseErr
	case scanErr != nil:
		return errors.Join(scanErr, giveBack())
	}
	return nil
}

// detach copies the strings of e's send out of the receive's answer: an
// entry waiting in the queue would otherwise keep the whole answer (every
// body of it) alive.
func (e *entry) detach() {
	in := &e.in
	in.MessageBody = aws.String(strings.Clone(aws.ToString(in.MessageBody)))
	for k, v := range in.MessageAttributes {
		if v.StringValue != nil {
			v.StringValue = aws.String(strings.Clone(*v.StringValue))
		}
		v.BinaryValue = bytes.Clone(v.BinaryValue)
		in.MessageAttributes[k] = v
	}
	for k, v := range in.MessageSystemAttributes {
		v.StringValue = aws.String(strings.Clone(aws.ToString(v.StringValue)))
		in.MessageSystemAttributes[k] = v
	}
	if in.MessageGroupId != nil {
		in.MessageGroupId = aws.String(strings.Clone(*in.MessageGroupId))
	}
	if in.MessageDeduplicationId != nil {
		in.MessageDeduplicationId = aws.String(strings.Clone(*in.MessageDeduplicationId))
	}
	e.handle = strings.Clone(e.handle)
}
