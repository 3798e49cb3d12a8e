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
	// expiry first); an error from it ends the scan.
	KeepAlive func(held int) error
	// Keep, when set, is called with each matched message before the scan
	// keeps it: replay moves its body and attributes to disk. An error
	// from it ends the scan.
	Keep func(*Message) error
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

// ScanResult is what a scan saw.
type ScanResult struct {
	Scanned int
	Matched []Message
	// Released counts the messages made visible again at the end.
	Released int
	// HiddenUntil is set when a receive's answer was lost: messages it may
	// have hidden stay hidden until then, and nothing can release them.
	HiddenUntil time.Time
	// OverLimit: SQS refused a receive because the queue has as many
	// messages in flight as it allows; the scan ended there.
	OverLimit bool
}

// Scan receives messages from the queue without consuming them, offers each
// distinct message once to match, and keeps those it accepts, sorted by
// sent time. Every message it received is released (visibility 0) before
// Scan returns, whether the scan finished, failed or ctx was cancelled;
// only the receipt handles of non-matching messages are kept until then.
func Scan(ctx context.Context, api ReceiveAPI, url string, opts ScanOptions, match func(*Message) bool) (ScanResult, error) {
	opts.defaults()
	s := &scan{api: api, url: url, opts: opts, match: match, held: map[string]heldHandle{}}
	target := opts.MaxScan
	if target <= 0 {
		target = int(opts.Depth)
	}
	s.target = target

	// Receives are never cancelled mid-flight: SQS may already have hidden
	// the messages of a call whose answer we drop, and without their
	// receipt handles they could not be released. Receivers stop between
	// calls instead, when the scan is done, failed, or ctx was cancelled.
	var g errgroup.Group
	for range opts.Receivers {
		g.Go(func() error { return s.receive(ctx) })
	}
	stopKeepAlive := s.keepAlive(ctx)
	scanErr := g.Wait()
	s.mu.Lock()
	if scanErr == nil {
		scanErr = s.keepErr
	}
	s.mu.Unlock()
	// The extender stops before anything is released: an extension landing
	// after a release would hide a message nobody holds any more.
	if err := stopKeepAlive(); err != nil && scanErr == nil {
		scanErr = err
	}
	if scanErr == nil && ctx.Err() != nil {
		scanErr = ctx.Err()
	}

	// Release even when ctx is cancelled: leaving messages hidden for the
	// whole visibility timeout is exactly what peek promises not to do.
	relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	released, relErr := Release(relCtx, api, url, s.handles(scanErr != nil))

	res := ScanResult{Scanned: s.scanned, Matched: s.matched, Released: released, HiddenUntil: s.hiddenUntil, OverLimit: s.overLimit.Load()}
	if scanErr != nil && s.opts.KeepMatched {
		res.Matched = nil // everything was released: nothing is held
	}
	sort.SliceStable(res.Matched, func(i, j int) bool { return res.Matched[i].SentAt.Before(res.Matched[j].SentAt) })
	if scanErr != nil && relErr != nil {
		return res, errors.Join(fmt.Errorf("scan %s: %w", nameFromURL(url), scanErr), relErr)
	}
	if scanErr != nil {
		return res, fmt.Errorf("scan %s: %w", nameFromURL(url), scanErr)
	}
	return res, relErr
}

type scan struct {
	api    ReceiveAPI
	url    string
	opts   ScanOptions
	match  func(*Message) bool
	target int

	mu      sync.Mutex
	held    map[string]heldHandle // message ID → latest receipt handle
	scanned int
	// hiddenUntil: a receive's answer was lost, so messages may be hidden
	// without a handle until then.
	hiddenUntil time.Time
	matched     []Message
	taken       int // places in matched given out (Keep may still be running)
	empties     atomic.Int32
	stopped     atomic.Bool
	overLimit   atomic.Bool
	keepErr     error // the first error of opts.Keep
}

// fail ends the scan with err.
func (s *scan) fail(err error) {
	s.mu.Lock()
	if s.keepErr == nil {
		s.keepErr = err
	}
	s.mu.Unlock()
	s.stopped.Store(true)
}

func (s *scan) receive(ctx context.Context) error {
	// Short polls while messages keep coming, long polls once a receive
	// came back empty: a scan that reached its target is not left waiting
	// for long polls in flight.
	wait := time.Duration(0)
	failures, shortEmpties := 0, 0
	for !s.stopped.Load() && ctx.Err() == nil {
		// Detached from ctx (see Scan), bounded by the long poll plus slack.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.WaitTime+30*time.Second)
		out, err := s.api.ReceiveMessage(callCtx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.url),
			MaxNumberOfMessages:         10,
			VisibilityTimeout:           int32(s.opts.Visibility / time.Second),
			WaitTimeSeconds:             int32(wait / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		}, noRetry)
		cancel()
		if err != nil {
			// SQS's in-flight limit (120,000 per standard queue, counting
			// every reader's holds): the scan ends with what it has, and
			// says so; a replay moves that window, then scans again.
			if OverLimit(err) {
				s.overLimit.Store(true)
				s.stopped.Store(true)
				return nil
			}
			// A receive whose answer was lost may have hidden messages we
			// hold no handle for: they stay hidden for the visibility
			// timeout, and the result says until when.
			if !Rejected(err) {
				s.lostReceive()
			}
			if failures++; failures < receiveAttempts && retryable(err) {
				time.Sleep(time.Duration(100<<failures) * time.Millisecond)
				continue
			}
			s.stopped.Store(true)
			return fmt.Errorf("receive: %w", err)
		}
		failures = 0
		if len(out.Messages) == 0 {
			if wait == 0 {
				// An empty short poll proves nothing: SQS samples some of
				// its servers, and near the end of a scan the other
				// receivers took what was visible. Poll short again a few
				// times, then long; a long poll in flight when the scan
				// reaches its target would hold the scan up for its whole
				// wait.
				if shortEmpties++; shortEmpties < shortPolls {
					time.Sleep(time.Duration(20<<shortEmpties) * time.Millisecond)
					continue
				}
				wait = s.opts.WaitTime
				continue
			}
			if int(s.empties.Add(1)) >= s.opts.MaxEmpty {
				s.stopped.Store(true)
			}
			continue
		}
		s.empties.Store(0)
		shortEmpties = 0
		for _, raw := range out.Messages {
			if s.offer(raw) {
				s.stopped.Store(true)
			}
		}
		if s.opts.Progress != nil {
			s.mu.Lock()
			scanned, matched := s.scanned, len(s.matched)
			s.mu.Unlock()
			s.opts.Progress(scanned, matched)
		}
	}
	return nil
}

// heldHandle is a message's newest receipt handle and the receive count
// it came with.
type heldHandle struct {
	handle string
	count  int
}

// keepAlive extends every hold every Visibility/3 until the returned
// function is called; that function returns the first error of KeepAlive.
func (s *scan) keepAlive(ctx context.Context) func() error {
	if s.opts.KeepAlive == nil {
		return func() error { return nil }
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
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
			s.mu.Lock()
			handles := make([]string, 0, len(s.held))
			for _, h := range s.held {
				handles = append(handles, h.handle)
			}
			s.mu.Unlock()
			if err := s.opts.KeepAlive(len(handles)); err != nil {
				s.stopped.Store(true)
				<-stop
				done <- err
				return
			}
			_, _ = ChangeVisibility(context.WithoutCancel(ctx), s.api, s.url, handles, s.opts.Visibility)
		}
	}()
	return func() error { close(stop); return <-done }
}

// shortPolls is how many empty short polls a receiver makes in a row
// before it polls long.
const shortPolls = 3

// receiveAttempts is how many receives in a row may fail before the scan
// gives up. The SDK does not retry a receive itself (noRetry): each retry
// here knows the lost answer may have hidden messages.
const receiveAttempts = 4

func noRetry(o *sqs.Options) { o.RetryMaxAttempts = 1 }

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
	// Copies: the SDK decodes every string of a response into one buffer,
	// and a string kept from it keeps the whole buffer (every body of the
	// response) alive.
	id, handle := strings.Clone(aws.ToString(raw.MessageId)), strings.Clone(aws.ToString(raw.ReceiptHandle))
	count, _ := strconv.Atoi(raw.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	s.mu.Lock()
	prev, seen := s.held[id]
	// A message received twice (its hold lapsed) has a new receipt handle,
	// and only the newest one deletes it: two receivers may offer the two
	// handles in either order, the receive count says which is newer.
	if !seen || count >= prev.count {
		s.held[id] = heldHandle{handle: handle, count: count}
	}
	if !seen {
		s.scanned++
	}
	full := s.opts.Limit > 0 && s.taken >= s.opts.Limit
	s.mu.Unlock()
	if seen || full {
		return s.done()
	}
	m := FromSQS(raw)
	matched := s.match == nil || s.match(&m)
	// The parsed body served the filter; keeping it for every held message
	// would multiply memory several times over the bodies themselves.
	m.Parsed, m.Unwrapped = nil, nil
	if matched {
		// The place is taken under the lock, before Keep runs: receivers
		// offering at the same time cannot pass the limit between them.
		s.mu.Lock()
		keep := s.opts.Limit <= 0 || s.taken < s.opts.Limit
		if keep {
			s.taken++
		}
		s.mu.Unlock()
		if keep && s.opts.Keep != nil {
			if err := s.opts.Keep(&m); err != nil {
				s.fail(err)
				return true
			}
		}
		if keep {
			s.mu.Lock()
			s.matched = append(s.matched, m)
			s.mu.Unlock()
		}
	}
	return s.done()
}

func (s *scan) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.target > 0 && s.scanned >= s.target) || (s.opts.Limit > 0 && s.taken >= s.opts.Limit)
}

// handles lists the receipt handles to release: all of them, or with
// KeepMatched (and no failure) those of the messages not kept.
func (s *scan) handles(failed bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := map[string]bool{}
	if s.opts.KeepMatched && !failed {
		for i := range s.matched {
			kept[s.matched[i].MessageID] = true
			s.matched[i].ReceiptHandle = s.held[s.matched[i].MessageID].handle
		}
	}
	out := make([]string, 0, len(s.held))
	for id, h := range s.held {
		if !kept[id] {
			out = append(out, h.handle)
		}
	}
	return out
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
			var i int
			if _, err := fmt.Sscan(aws.ToString(f.Id), &i); err == nil && i < len(pending) {
				retry = append(retry, pending[i])
				lastErr = code + ": " + aws.ToString(f.Message)
			}
		}
		if len(retry) > 0 && attempt >= 3 {
			return released, fmt.Errorf("release: %d messages still hidden after retries (%s); they reappear when their visibility timeout ends", len(retry), lastErr)
		}
		if len(retry) > 0 {
			select {
			case <-ctx.Done():
				return released, ctx.Err()
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		pending = retry
	}
	return released, nil
}
