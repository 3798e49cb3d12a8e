package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/dlqops/dlq/internal/backoff"
)

// ReceiveAPI is the part of the SQS client that scanning calls.
type ReceiveAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// ScanOptions tune a non-destructive scan.
type ScanOptions struct {
	// Depth is the queue's approximate visible count when the scan starts;
	// the scan ends once it has seen that many distinct messages.
	Depth int64
	// MaxScan caps the distinct messages scanned; 0 means Depth.
	MaxScan int
	// Limit stops the scan after that many matches; 0 means no limit.
	Limit int
	// Receivers receive in parallel; 0 means 4.
	Receivers int
	// Visibility is how long received messages stay hidden while the scan
	// runs; 0 derives it from Depth (30 s plus 20 ms a message, at least a
	// minute).
	Visibility time.Duration
	// WaitTime is the long poll of receives after the first empty one
	// (before that, receives are short polls); 0 means one second.
	WaitTime time.Duration
	// MaxEmpty ends the scan after that many consecutive empty receives:
	// an empty receive does not mean an empty queue, since SQS samples a
	// subset of its servers. 0 means 3.
	MaxEmpty int
	// KeepMatched leaves matched messages hidden (their latest receipt
	// handle in the result) and releases only the others: replay holds
	// what it will move.
	KeepMatched bool
	// KeepAlive, when set, makes the scan extend the hold on every message
	// it has received by Visibility every Visibility/3, so a scan longer
	// than the visibility timeout loses no hold. It is called before each
	// extension with the number of messages held (replay journals the new
	// expiry first), and again after one that took more than a few
	// seconds (its last messages were extended that much later); an error
	// from it ends the scan.
	KeepAlive func(held int) error
	// Keep, when set, is called with each matched message before the scan
	// keeps it: peek streams it. An error from it ends the scan.
	Keep func(*Message) error
	// Forget, with Keep, leaves Matched empty: Keep had each message, and
	// a scan that streams them does not grow with the queue (Found counts
	// them).
	Forget bool
	// Holder, when set with KeepMatched, takes each matched message in
	// place of Matched, which stays empty, and keeps its receipt handle:
	// replay keeps both on disk, so that its memory does not grow with
	// the messages it holds. Keep is not called.
	Holder Holder
	// Drain, when set, is called once the receivers stopped and before
	// anything is released, with whether the scan failed: a Holder that
	// passes messages on as it takes them (replay sending while it scans)
	// finishes what it started there. Holds are still renewed meanwhile.
	Drain func(failed bool)
	// Handover, when set with KeepMatched, is called once the scan has
	// stopped renewing (KeepAlive) and before it releases anything, if it
	// did not fail: from then on the messages it keeps are the
	// caller's to renew. renewed is when the scan last renewed them (or
	// started, if it never did): each stays hidden at least Visibility
	// from then, so the caller's first renewal is due a third of it
	// later. Releasing the others can take a minute on a large queue;
	// without a handover, the kept holds would run down meanwhile.
	Handover func(renewed time.Time)
	// Raw offers messages without their body parsed (Correlate not
	// called): match calls Correlate when it needs the IDs, the error or
	// the body. Replay without an order key or a filter needs none.
	Raw bool
	// Progress, when set, is called after each batch a receiver offered,
	// with the distinct messages scanned and the matches kept so far: peek
	// draws its progress line from it. Receivers call it concurrently, so
	// the counts may arrive out of order.
	Progress func(scanned, matched int)
}

func (o *ScanOptions) defaults() {
	if o.Receivers <= 0 {
		o.Receivers = 4
	}
	if o.Visibility <= 0 {
		o.Visibility = 30*time.Second + time.Duration(o.Depth)*20*time.Millisecond
		o.Visibility = min(max(o.Visibility, time.Minute), 12*time.Hour)
	}
	if o.WaitTime <= 0 {
		o.WaitTime = time.Second
	}
	if o.MaxEmpty <= 0 {
		o.MaxEmpty = 3
	}
}

// Holder keeps the messages a KeepMatched scan holds (ScanOptions.Holder).
type Holder interface {
	// Hold keeps matched message m as held message i: 0, 1, 2, ... in the
	// order the scan took them, though calls come concurrently and out of
	// order. handle is its newest receipt handle. m is the scan's (still
	// parsed): Hold copies what it keeps. An error ends the scan.
	Hold(i int, m *Message, handle string) error
	// Rehandle replaces the receipt handle of held message i: it was
	// received again, and only the newest handle deletes it. Calls for one
	// message come one at a time, after its Hold, newest last.
	Rehandle(i int, handle string) error
	// Handles calls each with the receipt handles of every message held so
	// far, a chunk at a time: the scan renews their hold, and gives them
	// back when it fails.
	Handles(each func([]string)) error
}

// ScanResult is what a scan saw.
type ScanResult struct {
	Scanned int
	Matched []Message
	// Held is how many matched messages the scan leaves hidden for the
	// caller (KeepMatched): those in Matched, or given to the Holder. 0
	// when the scan failed: it gave everything back.
	Held int
	// Released counts the messages made visible again at the end.
	Released int
	// HiddenUntil is set when a receive's answer was lost: messages it may
	// have hidden stay hidden until then, and nothing can release them.
	HiddenUntil time.Time
	// Failed: the scan itself failed (not only its release), and gave
	// back everything it held, a Holder's messages included.
	Failed bool
	// ReleaseErr is the error of giving messages back at the end (also
	// joined into Scan's error): a caller that stops the scan on purpose
	// still learns that messages may stay hidden.
	ReleaseErr error
	// OverLimit: SQS refused a receive because the queue has as many
	// messages in flight as it allows; the scan ended there.
	OverLimit bool
	// Found is how many messages matched (and were kept, within Limit):
	// len(Matched), unless Forget or a Holder took them.
	Found int
}

// Scan receives messages from the queue without consuming them, offers each
// distinct message once to match, and keeps those it accepts, sorted by
// sent time (with a Holder, the Holder keeps them). Every message it
// received is released (visibility 0) before Scan returns, whether the
// scan finished, failed or ctx was cancelled, except with KeepMatched the
// messages it kept when it did not fail; only the receipt handles of
// non-matching messages are kept until then.
func Scan(ctx context.Context, api ReceiveAPI, url string, opts ScanOptions, match func(*Message) bool) (ScanResult, error) {
	opts.defaults()
	s := &scan{api: api, url: url, opts: opts, match: match}
	s.pause, s.halt = context.WithCancel(ctx)
	defer s.halt()
	target := opts.MaxScan
	if target <= 0 {
		target = int(opts.Depth)
	}
	s.target = target

	// Receives are never cancelled mid-flight: SQS may already have hidden
	// the messages of a call whose answer we drop, and without their
	// receipt handles they could not be released. Receivers stop between
	// calls instead, when the scan is done, failed, or ctx was cancelled.
	// Every hold is taken after this moment, so it lasts at least a
	// visibility timeout from it.
	started := time.Now()
	var g errgroup.Group
	for range opts.Receivers {
		g.Go(func() error { return s.receive(ctx) })
	}
	stopKeepAlive := s.keepAlive(ctx, started)
	scanErr := g.Wait()
	s.mu.Lock()
	if scanErr == nil {
		scanErr = s.keepErr
	}
	s.mu.Unlock()
	if opts.Drain != nil {
		opts.Drain(scanErr != nil || ctx.Err() != nil)
	}
	// The extender stops before anything is released: an extension landing
	// after a release would hide a message nobody holds any more.
	renewed, err := stopKeepAlive()
	if err != nil && scanErr == nil {
		scanErr = err
	}
	if scanErr == nil && ctx.Err() != nil {
		scanErr = ctx.Err()
	}
	if scanErr == nil && opts.KeepMatched && opts.Handover != nil {
		opts.Handover(renewed)
	}

	// Release even when ctx is cancelled: leaving messages hidden for the
	// whole visibility timeout is exactly what peek promises not to do.
	relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	released, relErr := s.release(relCtx, scanErr != nil)
	return s.result(released, scanErr, relErr)
}

// result is what the scan saw and kept, and its error: the scan's own,
// its release's, or both.
func (s *scan) result(released int, scanErr, relErr error) (ScanResult, error) {
	res := ScanResult{Scanned: s.scanned, Matched: s.matched, Released: released, ReleaseErr: relErr, Failed: scanErr != nil, HiddenUntil: s.hiddenUntil, OverLimit: s.overLimit.Load(), Found: s.taken}
	if s.opts.KeepMatched {
		res.Held = len(s.matched)
		if s.opts.Holder != nil {
			res.Held = s.taken
		}
	}
	if scanErr != nil && s.opts.KeepMatched {
		res.Matched, res.Held = nil, 0 // everything was released: nothing is held
	}
	sort.SliceStable(res.Matched, func(i, j int) bool { return res.Matched[i].SentAt.Before(res.Matched[j].SentAt) })
	if scanErr == nil {
		return res, relErr
	}
	return res, errors.Join(fmt.Errorf("scan %s: %w", nameFromURL(s.url), scanErr), relErr)
}

type scan struct {
	api    ReceiveAPI
	url    string
	opts   ScanOptions
	match  func(*Message) bool
	target int

	mu sync.Mutex
	// ids numbers every message received; slots (by that number) keep
	// its newest receipt handle, unless the Holder has it.
	ids     IDIndex
	slots   []slot
	scanned int
	// hiddenUntil: a receive's answer was lost, so messages may be hidden
	// without a handle until then.
	hiddenUntil time.Time
	matched     []Message
	taken       int // places in matched given out (Keep may still be running)
	empties     int // long polls in a row that came back empty (under mu)
	longPolls   int // long polls out now (under mu)
	stopped     atomic.Bool
	// pause is what receivers sleep on between calls; halt (stop) ends
	// it, so that a receiver waiting after an empty poll does not hold
	// up a scan that is over.
	pause     context.Context
	halt      context.CancelFunc
	overLimit atomic.Bool
	keepErr   error // the first error of opts.Keep
}

// fail ends the scan with err.
func (s *scan) fail(err error) {
	s.mu.Lock()
	if s.keepErr == nil {
		s.keepErr = err
	}
	s.mu.Unlock()
	s.stop()
}

// stop ends the scan: receivers make no further call, and wake from a
// pause between calls.
func (s *scan) stop() {
	s.stopped.Store(true)
	s.halt()
}

func (s *scan) receive(ctx context.Context) error {
	// Short polls while messages keep coming, long polls once a receive
	// came back empty: a scan that reached its target is not left waiting
	// for long polls in flight.
	p := poller{s: s}
	for !s.stopped.Load() && ctx.Err() == nil {
		if p.wait > 0 && !s.startLongPoll() {
			_ = backoff.Sleep(s.pause, shortPause<<shortPolls)
			continue
		}
		out, err := s.receiveOnce(ctx, p.wait)
		if err != nil {
			if again, err := p.failed(err); !again {
				return err
			}
			continue
		}
		p.failures = 0
		if len(out.Messages) == 0 {
			p.empty()
			continue
		}
		s.took(out.Messages)
		// Messages again: short polls, which every receiver may make (at
		// most MaxEmpty long polls are out at once).
		p.shortEmpties, p.wait = 0, 0
	}
	return nil
}

// poller is one receiver's state: how long it polls, and the failures
// and empty short polls in a row.
type poller struct {
	s                      *scan
	wait                   time.Duration
	failures, shortEmpties int
}

// failed decides what a failed receive does: again, or end the receiver
// (err its error; nil when SQS's in-flight limit ended the scan).
func (p *poller) failed(err error) (again bool, _ error) {
	s := p.s
	if OverLimit(err) {
		return false, nil
	}
	// A receive whose answer was lost may have hidden messages we hold no
	// handle for: they stay hidden for the visibility timeout, and the
	// result says until when.
	if !Rejected(err) {
		s.lostReceive()
	}
	if p.failures++; p.failures < receiveAttempts && retryable(err) {
		_ = backoff.Sleep(s.pause, backoff.Delay(p.failures))
		return true, nil
	}
	s.stop()
	return false, fmt.Errorf("receive: %w", err)
}

// empty follows an empty receive. An empty short poll proves nothing:
// SQS samples some of its servers, and near the end of a scan the other
// receivers took what was visible. It polls short again a few times,
// then long; a long poll in flight when the scan reaches its target
// would hold the scan up for its whole wait. (An empty long poll was
// counted as it ended.)
func (p *poller) empty() {
	if p.wait > 0 {
		return
	}
	if p.shortEmpties++; p.shortEmpties < shortPolls {
		_ = backoff.Sleep(p.s.pause, shortPause<<p.shortEmpties)
		return
	}
	p.wait = p.s.opts.WaitTime
}

// receiveOnce makes one receive, detached from ctx (see Scan), bounded by
// the long poll plus slack. SQS's in-flight limit (120,000 per standard
// queue, counting every reader's holds) ends the scan with what it has,
// and says so; a replay moves that window, then scans again. (Stopped
// before this poll's place is free: no receiver waiting for it starts one
// more.)
func (s *scan) receiveOnce(ctx context.Context, wait time.Duration) (*sqs.ReceiveMessageOutput, error) {
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.WaitTime+30*time.Second)
	out, err := s.api.ReceiveMessage(callCtx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(s.url),
		MaxNumberOfMessages:         MaxBatch,
		VisibilityTimeout:           int32(s.opts.Visibility / time.Second),
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	}, NoRetry)
	cancel()
	if err != nil && OverLimit(err) {
		s.overLimit.Store(true)
		s.stop()
	}
	if wait > 0 {
		s.endLongPoll(err == nil, err == nil && len(out.Messages) > 0)
	}
	return out, err
}

// took offers a receive's messages and reports progress.
func (s *scan) took(msgs []types.Message) {
	s.mu.Lock()
	s.empties = 0
	s.mu.Unlock()
	for _, raw := range msgs {
		if s.offer(raw) {
			s.stop()
		}
	}
	if s.opts.Progress != nil {
		s.mu.Lock()
		scanned, matched := s.scanned, s.taken
		s.mu.Unlock()
		s.opts.Progress(scanned, matched)
	}
}

// startLongPoll reports whether a receiver may start a long poll: not
// while enough are out to end the scan if they come back empty. The scan
// could not cut one more, and would wait it out whole.
func (s *scan) startLongPoll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.empties+s.longPolls >= s.opts.MaxEmpty || s.stopped.Load() {
		return false
	}
	s.longPolls++
	return true
}

// endLongPoll counts a long poll back, and ends the scan after MaxEmpty
// empty ones in a row. The count changes with the place it frees, under
// one lock: a receiver taking that place never sees empties from before
// messages came.
func (s *scan) endLongPoll(answered, got bool) {
	s.mu.Lock()
	s.longPolls--
	switch {
	case got:
		s.empties = 0
	case answered:
		s.empties++
	}
	over := s.empties >= s.opts.MaxEmpty
	s.mu.Unlock()
	if over {
		s.stop()
	}
}

// slot is what the scan keeps of a message it received: 32 bytes, and
// the receipt handle while the scan holds it itself.
type slot struct {
	// handle is the newest receipt handle, while the scan has it: for a
	// message given to the Holder, one the Holder does not have yet.
	handle string
	count  int32 // the receive count handle came with
	place  int32 // index in matched, or the Holder's; -1: not kept
	// busy: a receiver is giving this message's handle to the Holder;
	// fresh: handle is newer than the one the Holder has.
	busy, fresh bool
}

// keepAlive extends every hold every Visibility/3 until the returned
// function is called; that function returns when the holds were last
// extended (started, if never) and the first error of KeepAlive.
func (s *scan) keepAlive(ctx context.Context, started time.Time) func() (time.Time, error) {
	if s.opts.KeepAlive == nil {
		return func() (time.Time, error) { return started, nil }
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	var renewed atomic.Pointer[time.Time]
	renewed.Store(&started)
	go func() {
		t := time.NewTicker(s.opts.Visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-t.C:
			}
			// Before the calls: SQS extends each hold from when it gets one.
			now := time.Now()
			ok, err := s.renewAll(ctx)
			if err != nil {
				s.stop()
				<-stop
				done <- err
				return
			}
			// A renewal that failed for some holds leaves them running down
			// from the one before: a handover then renews at once.
			if ok {
				renewed.Store(&now)
			}
		}
	}()
	return func() (time.Time, error) {
		close(stop)
		err := <-done
		return *renewed.Load(), err
	}
}

// renewAll extends the hold on every message received, the scan's own
// and the Holder's, KeepAlive told first (and again after a slow
// renewal). ok: every hold was extended; err: KeepAlive's, which ends the
// scan.
func (s *scan) renewAll(ctx context.Context) (ok bool, err error) {
	start := time.Now()
	s.mu.Lock()
	handles := make([]string, 0, len(s.slots))
	for _, sl := range s.slots {
		if sl.handle != "" {
			handles = append(handles, sl.handle)
		}
	}
	held := len(s.slots)
	s.mu.Unlock()
	if err := s.opts.KeepAlive(held); err != nil {
		return false, err
	}
	dctx := context.WithoutCancel(ctx)
	_, cerr := ChangeVisibility(dctx, s.api, s.url, handles, s.opts.Visibility)
	ok = cerr == nil
	if h := s.holder(); h != nil {
		herr := h.Handles(func(hs []string) {
			if _, err := ChangeVisibility(dctx, s.api, s.url, hs, s.opts.Visibility); err != nil {
				ok = false
			}
		})
		ok = ok && herr == nil
	}
	if time.Since(start) > slowRenewal {
		if err := s.opts.KeepAlive(held); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// slowRenewal is how long a renewal of every hold may take before the
// scan tells KeepAlive again.
const slowRenewal = 2 * time.Second

// shortPolls is how many empty short polls a receiver makes in a row
// before it polls long; after the first it pauses shortPause, then twice
// that.
const shortPolls = 3

var shortPause = 20 * time.Millisecond

// receiveAttempts is how many receives in a row may fail before the scan
// gives up. The SDK does not retry a receive itself (NoRetry): each retry
// here knows the lost answer may have hidden messages.
const receiveAttempts = 4

// NoRetry makes the SDK send a call once: the caller retries it, knowing
// that a lost answer may have done what the call asked.
func NoRetry(o *sqs.Options) { o.RetryMaxAttempts = 1 }

// lostReceive records that messages may be hidden, unknown to the scan,
// until a visibility timeout from now.
func (s *scan) lostReceive() {
	until := time.Now().Add(s.opts.Visibility)
	s.mu.Lock()
	if until.After(s.hiddenUntil) {
		s.hiddenUntil = until
	}
	s.mu.Unlock()
}

// Rejected reports whether SQS answered a call with an error (an HTTP
// 4xx): then the call did nothing. Anything else (a reset, a timeout, a
// 5xx) leaves its outcome unknown.
func Rejected(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// OverLimit reports whether SQS refused a call because a limit was
// reached: for a receive, the queue's in-flight limit.
func OverLimit(err error) bool {
	var api smithy.APIError
	return Rejected(err) && errors.As(err, &api) && strings.Contains(api.ErrorCode(), "OverLimit")
}

// retryable: the outcome is unknown, or SQS asked us to slow down.
func retryable(err error) bool {
	if !Rejected(err) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		return strings.Contains(code, "Throttl") || code == "OverLimit"
	}
	return false
}

// offer records a received message and reports whether the scan is done.
func (s *scan) offer(raw types.Message) bool {
	n, added, full, err := s.note(raw)
	if err != nil {
		s.fail(err)
		return true
	}
	if !added || full {
		return s.done()
	}
	m := fromSQS(raw)
	if !s.opts.Raw {
		Correlate(&m)
	}
	if s.match != nil && !s.match(&m) {
		return s.done()
	}
	if err := s.keep(n, &m); err != nil {
		s.fail(err)
		return true
	}
	return s.done()
}

// note records a received message: a new one gets a slot (added); one
// received again keeps its newest receipt handle, which goes to the
// Holder if it has the message. full: the scan kept Limit messages.
func (s *scan) note(raw types.Message) (n int32, added, full bool, err error) {
	// Copies: the SDK decodes every string of a response into one buffer,
	// and a string kept from it keeps the whole buffer (every body of the
	// response) alive. (The index copies the IDs it keeps as text.)
	id, handle := aws.ToString(raw.MessageId), strings.Clone(aws.ToString(raw.ReceiptHandle))
	count, _ := strconv.Atoi(raw.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	holder := s.holder()
	s.mu.Lock()
	n, added = s.ids.Add(id)
	give := false
	if added {
		s.slots = append(s.slots, slot{handle: handle, count: int32(count), place: -1})
		s.scanned++
	} else if sl := &s.slots[n]; int32(count) >= sl.count {
		// A message received twice (its hold lapsed) has a new receipt
		// handle, and only the newest one deletes it: two receivers may
		// offer the two handles in either order, the receive count says
		// which is newer. A message the Holder has gets it from the
		// receiver that finds the slot idle.
		sl.handle, sl.count, sl.fresh = handle, int32(count), true
		if holder != nil && sl.place >= 0 && !sl.busy {
			sl.busy, give = true, true
		}
	}
	full = s.opts.Limit > 0 && s.taken >= s.opts.Limit
	s.mu.Unlock()
	if give {
		err = s.give(n, nil)
	}
	return n, added, full, err
}

// keep keeps matched message n, within Limit: the Holder takes it, or
// Keep streams it, or Matched keeps it (its parsed body dropped).
func (s *scan) keep(n int32, m *Message) error {
	holder := s.holder()
	// The place is taken under the lock, before Keep runs: receivers
	// offering at the same time cannot pass the limit between them.
	s.mu.Lock()
	keep := s.opts.Limit <= 0 || s.taken < s.opts.Limit
	if keep {
		if holder != nil {
			s.slots[n].place, s.slots[n].busy = int32(s.taken), true
		}
		s.taken++
	}
	s.mu.Unlock()
	switch {
	case !keep:
		return nil
	case holder != nil:
		return s.give(n, m)
	}
	// The parsed body served the filter; keeping it for every held message
	// would multiply memory several times over the bodies themselves.
	m.Parsed, m.Unwrapped = nil, nil
	if s.opts.Keep != nil {
		if err := s.opts.Keep(m); err != nil || s.opts.Forget {
			return err
		}
	}
	s.mu.Lock()
	s.slots[n].place = int32(len(s.matched))
	s.matched = append(s.matched, *m)
	s.mu.Unlock()
	return nil
}

// holder is the Holder that takes the matched messages, if any.
func (s *scan) holder() Holder {
	if s.opts.KeepMatched {
		return s.opts.Holder
	}
	return nil
}

// give hands message n's newest receipt handle to the Holder (with m, the
// first time), then any newer one that receivers left in its slot
// meanwhile, until the Holder has the newest: the slot then keeps no
// handle. After an error the slot keeps the handle the Holder may lack,
// and the scan (which fails) releases it with the rest.
func (s *scan) give(n int32, m *Message) error {
	for first := m != nil; ; first = false {
		s.mu.Lock()
		sl := &s.slots[n]
		if !first && !sl.fresh {
			sl.handle, sl.busy = "", false
			s.mu.Unlock()
			return nil
		}
		handle, place := sl.handle, int(sl.place)
		sl.fresh = false
		s.mu.Unlock()
		var err error
		if first {
			err = s.opts.Holder.Hold(place, m, handle)
		} else {
			err = s.opts.Holder.Rehandle(place, handle)
		}
		if err != nil {
			s.mu.Lock()
			s.slots[n].busy = false
			s.mu.Unlock()
			return err
		}
	}
}

func (s *scan) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.target > 0 && s.scanned >= s.target) || (s.opts.Limit > 0 && s.taken >= s.opts.Limit)
}

// release gives back every message received, or with KeepMatched (and no
// failure) those not kept, whose newest receipt handles it sets on the
// kept messages in matched. When a scan with a Holder fails, the
// Holder's messages go back too.
func (s *scan) release(ctx context.Context, failed bool) (int, error) {
	keep := s.opts.KeepMatched && !failed
	s.mu.Lock()
	out := make([]string, 0, len(s.slots)-s.taken)
	for _, sl := range s.slots {
		switch {
		case sl.handle == "":
			// The Holder has it (and the newest handle).
		case keep && sl.place >= 0 && s.holder() == nil:
			s.matched[sl.place].ReceiptHandle = sl.handle
		default:
			out = append(out, sl.handle)
		}
	}
	s.mu.Unlock()
	released, err := Release(ctx, s.api, s.url, out)
	if h := s.holder(); h != nil && failed {
		var mu sync.Mutex
		errs := []error{err}
		herr := h.Handles(func(hs []string) {
			n, err := Release(ctx, s.api, s.url, hs)
			mu.Lock()
			released += n
			errs = append(errs, err)
			mu.Unlock()
		})
		err = errors.Join(append(errs, herr)...)
	}
	return released, err
}

// Release makes messages visible again at once (visibility 0).
func Release(ctx context.Context, api ReceiveAPI, url string, handles []string) (int, error) {
	return ChangeVisibility(ctx, api, url, handles, 0)
}

// ChangeVisibility sets the visibility timeout of held messages — 0 gives
// them back, more keeps them hidden — ten to a call, a few calls in
// parallel, retrying entries that failed for a transient reason. It
// returns how many were changed. A batch that fails does not stop the
// others: every other hold is still released or extended, and the errors
// are joined.
func ChangeVisibility(ctx context.Context, api ReceiveAPI, url string, handles []string, d time.Duration) (int, error) {
	var changed atomic.Int64
	var mu sync.Mutex
	var errs []error
	var g errgroup.Group
	g.SetLimit(8)
	for start := 0; start < len(handles); start += MaxBatch {
		batch := handles[start:min(start+MaxBatch, len(handles))]
		g.Go(func() error {
			n, err := changeBatch(ctx, api, url, batch, int32(d/time.Second))
			changed.Add(int64(n))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return int(changed.Load()), errors.Join(errs...)
}

func changeBatch(ctx context.Context, api ReceiveAPI, url string, handles []string, seconds int32) (int, error) {
	pending := handles
	released := 0
	for attempt := 0; len(pending) > 0; attempt++ {
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(pending))
		for i, h := range pending {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: seconds}
		}
		out, err := api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			return released, fmt.Errorf("release %d messages: %w", len(pending), err)
		}
		released += len(out.Successful)
		var retry []string
		var lastErr string
		for _, f := range out.Failed {
			code := aws.ToString(f.Code)
			// A handle that is no longer valid belongs to a message that is
			// visible again or gone: nothing left to release.
			if code == "ReceiptHandleIsInvalid" || code == "AWS.SimpleQueueService.ReceiptHandleIsInvalid" || code == "MessageNotInflight" || code == "AWS.SimpleQueueService.MessageNotInflight" {
				continue
			}
			if i := EntryIndex(f.Id, len(pending)); i >= 0 {
				retry = append(retry, pending[i])
				lastErr = code + ": " + aws.ToString(f.Message)
			}
		}
		if len(retry) > 0 && attempt >= 3 {
			return released, fmt.Errorf("release: %d messages still hidden after retries (%s); they reappear when their visibility timeout ends", len(retry), lastErr)
		}
		if len(retry) > 0 {
			if err := backoff.Sleep(ctx, backoff.Delay(attempt)); err != nil {
				return released, err
			}
		}
		pending = retry
	}
	return released, nil
}
