package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

// MarkerAttribute is the one attribute replay adds.
const MarkerAttribute = "dlq-replay"

// Marker is the JSON in MarkerAttribute.
type Marker struct {
	OriginalMessageID string `json:"originalMessageId"`
	OriginalSentAt    string `json:"originalSentAt"`
	DLQ               string `json:"dlq"`
	Count             int    `json:"count"`
	ReplayedAt        string `json:"replayedAt"`
}

// counters are shared by the workers of every round.
type counters struct {
	sent, deleted, failed, uncertain atomic.Int64
	mu                               sync.Mutex
	failures                         []Failure
	unmarked                         []string
	done                             map[string]bool // deleted from the DLQ
	failedIDs                        map[string]bool
	sentIDs                          map[string]bool // the destination has them (journaled sent)
}

func newCounters() *counters {
	return &counters{done: map[string]bool{}, failedIDs: map[string]bool{}, sentIDs: map[string]bool{}}
}

func (c *counters) markSent(ids ...string) {
	c.mu.Lock()
	for _, id := range ids {
		c.sentIDs[id] = true
	}
	c.mu.Unlock()
}

func (c *counters) wasSent(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentIDs[id]
}

func (c *counters) fail(id, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failedIDs[id] {
		return
	}
	c.failedIDs[id] = true
	c.failed.Add(1)
	c.failures = append(c.failures, Failure{MessageID: id, Error: why})
}

func (c *counters) isFailed(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failedIDs[id]
}

func (c *counters) isDone(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done[id]
}

// held is one round's scanned messages, hidden in the DLQ (a heartbeat
// renews the hold) until execute or release decides their fate.
type held struct {
	r        *runner
	messages []queue.Message
	routes   []route
	scanned  int
	// cut: the round's scan stopped at the window or at SQS's in-flight
	// limit, so the DLQ may hold more: another round follows.
	cut      bool
	cutWhy   string
	stopBeat func()
	// unknown: messages an earlier run journaled "sending" and never
	// "sent" (set by execute before any send; read-only after).
	unknown map[string]bool
}

// prepare scans the DLQ, holds the messages of the run's selection (up to
// what is left of Limit), routes them and starts the heartbeat. Messages
// that are not selected are released by the scan at once.
func (r *runner) prepare(ctx context.Context) (*held, error) {
	cfg := r.cfg
	dlq, err := queue.Attributes(ctx, cfg.API, r.dlq.URL)
	if err != nil {
		return nil, err
	}
	// The plan's counts are from now, after any wait for earlier holds.
	r.dlq.Visible, r.dlq.InFlight, r.dlq.Delayed = dlq.Visible, dlq.InFlight, dlq.Delayed
	limit := 0
	if cfg.Limit > 0 {
		r.mu.Lock()
		limit = cfg.Limit - len(r.selected)
		r.mu.Unlock()
		if limit <= 0 {
			return &held{r: r}, nil
		}
	}
	window := cfg.Window
	if window <= 0 {
		window = DefaultWindow
	}
	windowed := limit <= 0 || window < limit
	if windowed {
		limit = window
	}
	if r.started.IsZero() {
		r.started = cfg.Now()
	}
	// The hold is journaled before the first receive, so a run killed
	// mid-scan still tells the next one how long to wait.
	if err := r.journalHold(ctx, -1); err != nil {
		return nil, err
	}
	res, err := queue.Scan(ctx, cfg.API, r.dlq.URL, queue.ScanOptions{
		Depth: dlq.Visible, MaxScan: cfg.MaxScan, Limit: limit, KeepMatched: true, Visibility: cfg.Visibility,
		Receivers: r.scanReceivers(), KeepAlive: func(n int) error { return r.journalHold(ctx, n) }, Keep: r.spool.keep,
	}, r.takes)
	r.hiddenByLostReceive(ctx, res.HiddenUntil)
	if err != nil {
		// The scan gives everything back on failure, except when only its
		// release failed: then the matched messages are still held.
		if len(res.Matched) > 0 {
			_, _ = queue.Release(context.WithoutCancel(ctx), cfg.API, r.dlq.URL, handles(res.Matched))
		}
		return nil, err
	}
	h := &held{r: r, messages: res.Matched, scanned: res.Scanned, cut: res.OverLimit || windowed && len(res.Matched) >= window}
	if h.cut {
		why := fmt.Sprintf("more matching messages than one round holds (%d)", window)
		if res.OverLimit {
			why = fmt.Sprintf("SQS's in-flight limit for %s was reached at %d held message(s)", r.dlq.Name, len(res.Matched))
		}
		h.cutWhy = fmt.Sprintf("%s: the DLQ (~%d visible) is replayed in rounds, this plan shows the first", why, dlq.Visible)
		if cfg.Order != OrderNone || r.dlq.FIFO {
			h.cutWhy += ", and order applies within each round"
		}
		r.mu.Lock()
		first := r.scanned == 0 // the plan says it; later rounds warn
		r.mu.Unlock()
		if !first && !r.cutSeen {
			r.warn("%s", h.cutWhy)
		}
		r.cutSeen = true
	}
	h.sort()
	r.mu.Lock()
	r.scanned += res.Scanned
	r.mu.Unlock()

	var back []queue.Message
	h.messages, back = r.holdBack(h.messages)
	routes, unroutable, err := r.router.split(ctx, h.messages)
	if err == nil && len(unroutable) > 0 {
		err = r.router.unroutableError(len(unroutable))
	}
	if err != nil {
		_, relErr := queue.Release(context.WithoutCancel(ctx), cfg.API, r.dlq.URL, handles(res.Matched))
		if relErr != nil {
			return nil, fmt.Errorf("%w (and giving messages back: %v)", err, relErr)
		}
		return nil, err
	}
	if _, err := queue.Release(context.WithoutCancel(ctx), cfg.API, r.dlq.URL, handles(back)); err != nil {
		h.messages = append(h.messages, back...) // still held: released with the rest
	}
	h.routes = routes
	r.mu.Lock()
	r.matched += len(h.messages)
	for _, m := range h.messages {
		r.selected[m.MessageID] = true
	}
	r.mu.Unlock()
	h.stopBeat = h.heartbeat(ctx)
	return h, nil
}

// takes is the run's selection: the filter, the route (--to without
// --force takes only messages from that source), and nothing this run
// already failed or whose FIFO group stopped.
func (r *runner) takes(m *queue.Message) bool {
	if r.c.isFailed(m.MessageID) {
		return false
	}
	if m.GroupID != "" {
		r.mu.Lock()
		_, stopped := r.stopped[m.GroupID]
		r.mu.Unlock()
		if stopped {
			return false
		}
	}
	if !r.matches(m) {
		return false
	}
	// A round the final check added moves what was there before the run,
	// not what arrived during it (a message that failed again, a late
	// arrival): those are reported, for the user to decide.
	if r.sweeping && !m.SentAt.Before(r.started) {
		return false
	}
	if r.cfg.OrderKey != nil {
		// Now, while the body is parsed: the scan drops it after this.
		k, _ := r.cfg.OrderKey.Value(m)
		r.mu.Lock()
		r.keys[m.MessageID] = k
		r.mu.Unlock()
	}
	// A key stopped at a failed message in an earlier round: nothing of
	// that key overtakes it. In a round the final check added, a key this
	// run already sent a message of is left alone: the message found late
	// is older than that one.
	if r.cfg.Order == OrderKey {
		if k := r.keyOf(m); k != "" {
			r.mu.Lock()
			skip := r.stoppedKeys[k] || r.sweeping && r.sentKeys[k]
			r.mu.Unlock()
			if skip {
				return false
			}
		}
	}
	return true
}

// keyOf is a message's entity key for OrderKey ("" : independent).
func (r *runner) keyOf(m *queue.Message) string {
	if r.cfg.OrderKey != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.keys[m.MessageID]
	}
	return fieldKey(m)
}

// fieldKey is the default entity key: the envelope's orderId, else its
// traceId, else the message group.
func fieldKey(m *queue.Message) string {
	switch {
	case m.OrderID != "":
		return "orderId=" + m.OrderID
	case m.TraceID != "":
		return "traceId=" + m.TraceID
	case m.GroupID != "":
		return "group=" + m.GroupID
	}
	return ""
}

// parallel is the fixed parallelism of deletes and FIFO groups.
func (r *runner) parallel() int {
	if r.cfg.Concurrency > 0 {
		return r.cfg.Concurrency
	}
	return fixedParallel
}

// scanReceivers is how many receives a scan keeps in flight: at AWS's
// latency a receive of ten takes a round trip, and the scan is the first
// half of a replay.
func (r *runner) scanReceivers() int {
	if r.cfg.Concurrency > 0 {
		return r.cfg.Concurrency
	}
	return 2 * startInFlight
}

// matches is the selection without this run's own history: what the
// final check looks for.
func (r *runner) matches(m *queue.Message) bool {
	if r.cfg.Filter != nil && !r.cfg.Filter.Match(m) {
		return false
	}
	return r.router.selects(m)
}

// holdBack takes out, with --dedup original on a FIFO destination,
// messages first sent less than DedupWindow ago: SQS would accept them and
// silently drop them as duplicates of their first send.
func (r *runner) holdBack(msgs []queue.Message) (keep, back []queue.Message) {
	if r.cfg.Dedup != DedupOriginal || !r.dlq.FIFO {
		return msgs, nil
	}
	now := r.cfg.Now()
	for _, m := range msgs {
		// A minute beyond the window: SentTimestamp is SQS's clock, now ours.
		if m.System["MessageDeduplicationId"] != "" && now.Sub(m.SentAt) < DedupWindow+time.Minute {
			back = append(back, m)
			r.mu.Lock()
			r.heldBack[m.MessageID] = true
			r.selected[m.MessageID] = true // still the run's: the final check looks for it
			r.mu.Unlock()
			continue
		}
		keep = append(keep, m)
	}
	return keep, back
}

func handles(msgs []queue.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ReceiptHandle
	}
	return out
}

// sort orders messages by sent time, stably: messages sent in the same
// millisecond keep the order they were received in, which within a FIFO
// group is the group's order (SQS hands out a group's messages in order,
// and no more of the group until those are gone). Sequence numbers are not
// compared: moto makes them up at random.
func (h *held) sort() {
	m := h.messages
	sort.SliceStable(m, func(i, j int) bool { return m[i].SentAt.Before(m[j].SentAt) })
}

func (h *held) plan() Plan {
	r := h.r
	p := Plan{Messages: len(h.messages), Samples: []string{}, Warnings: []string{}, Routes: []RoutePlan{}}
	groups := map[string]bool{}
	for i, m := range h.messages {
		_, body := r.spool.sizes(&h.messages[i])
		p.Bytes += int64(body)
		if m.GroupID != "" {
			groups[m.GroupID] = true
		}
		if i < 3 {
			p.Samples = append(p.Samples, sample(m))
		}
	}
	p.Groups = len(groups)
	if r.cfg.Order == OrderKey && !r.dlq.FIFO {
		keys := map[string]bool{}
		for i := range h.messages {
			if k := r.keyOf(&h.messages[i]); k != "" {
				keys[k] = true
			} else {
				p.Unkeyed++
			}
		}
		p.Keys = len(keys)
		if r.cfg.Limit > 0 || r.cfg.MaxScan > 0 {
			p.Warnings = append(p.Warnings, "with a limit, the messages taken are the first received, not always the oldest of each key: a later run may send an older message of a key after a newer one")
		}
		if p.Keys > 0 && len(h.messages)-p.Unkeyed > 20*p.Keys {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%d messages share %d key(s): each key sends one message at a time, so this is slow; --order none if order does not matter", len(h.messages)-p.Unkeyed, p.Keys))
		}
		if p.Unkeyed > 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%d message(s) have no order key: they are sent as independent messages", p.Unkeyed))
		}
	}
	if n := len(h.messages); n > 0 {
		p.Oldest = h.messages[0].SentAt.UTC().Format(time.RFC3339)
		p.Newest = h.messages[n-1].SentAt.UTC().Format(time.RFC3339)
	}
	for _, rt := range h.routes {
		p.Routes = append(p.Routes, RoutePlan{Destination: rt.dest.Name, Messages: len(rt.msgs), Via: rt.via})
		for _, m := range rt.msgs {
			if size, _ := r.spool.sizes(m); int64(size)+markerSize > rt.dest.MaxMessageSize {
				p.Warnings = append(p.Warnings, fmt.Sprintf("message %s is larger than %s's maximum message size: it will stay in the DLQ", m.MessageID, rt.dest.Name))
			}
		}
	}
	p.Warnings = append(p.Warnings, r.router.notes...)
	if r.earlier.Messages != 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s held by an interrupted run until %s are not part of this run (not waited for)",
			countOrSome(r.earlier.Messages), r.earlier.Until.UTC().Format(time.RFC3339)))
	} else if r.dlq.InFlight > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d message(s) in %s are in flight (another consumer, or a replay still running): they are not part of this replay", r.dlq.InFlight, r.dlq.Name))
	}
	if n := len(r.heldBack); n > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("dedup original: %d message(s) first sent less than %s ago are held back (SQS would drop them as duplicates); run again later", n, DedupWindow))
	}
	if h.cut {
		p.Warnings = append(p.Warnings, h.cutWhy)
	}
	if r.dlq.FIFO {
		p.Warnings = append(p.Warnings, "FIFO: SQS shows the first messages of each group at a time; later messages are replayed in further rounds")
	}
	if cfg := r.cfg; cfg.Rate > 0 {
		if need := time.Duration(float64(len(h.messages)) / cfg.Rate * float64(time.Second)); need > MaxHold-cfg.Visibility {
			p.Warnings = append(p.Warnings, fmt.Sprintf("at %g messages a second, %d messages take %s: SQS holds a received message at most %s, so the run stops before then; run it again to go on",
				cfg.Rate, len(h.messages), need.Round(time.Minute), MaxHold))
		}
	}
	return p
}

func countOrSome(n int) string {
	if n < 0 {
		return "messages"
	}
	return fmt.Sprintf("%d message(s)", n)
}

func sample(m queue.Message) string {
	s := m.MessageID
	if m.OrderID != "" {
		s += " order " + m.OrderID
	}
	if m.TraceID != "" {
		s += " trace " + m.TraceID
	}
	return s
}

// release gives every held message back to the DLQ (visibility 0): a dry
// run, or a replay the user declined.
func (h *held) release(ctx context.Context) error {
	if h.stopBeat != nil {
		h.stopBeat()
	}
	_, err := queue.Release(context.WithoutCancel(ctx), h.r.cfg.API, h.r.dlq.URL, handles(h.messages))
	return err
}

// messageSize is what SQS counts against the maximum: body plus each
// attribute's name, type and value.
func messageSize(m queue.Message) int {
	n := len(m.Body)
	for k, a := range m.Attributes {
		n += len(k) + len(a.Type) + len(a.String) + len(a.Binary)
	}
	return n
}

// markerSize bounds the marker attribute's share of a message's size.
const markerSize = 512

// entry is one message ready to send.
type entry struct {
	msg  *queue.Message
	in   types.SendMessageBatchRequestEntry
	size int
}

// entry builds the send of m (as held: msg) from full, m with its body and
// attributes.
func (h *held) entry(msg, m *queue.Message, dest queue.Queue, now time.Time) (entry, bool) {
	attrs := make(map[string]types.MessageAttributeValue, len(m.Attributes)+1)
	for k, a := range m.Attributes {
		v := types.MessageAttributeValue{DataType: aws.String(a.Type)}
		if strings.HasPrefix(a.Type, "Binary") {
			v.BinaryValue = a.Binary
		} else {
			v.StringValue = aws.String(a.String)
		}
		attrs[k] = v
	}
	marked := true
	mk := Marker{OriginalMessageID: m.MessageID, OriginalSentAt: m.SentAt.UTC().Format(timeFormat), DLQ: h.r.dlq.Name, Count: 1, ReplayedAt: now.UTC().Format(timeFormat)}
	if prev, ok := m.Attributes[MarkerAttribute]; ok {
		var old Marker
		if json.Unmarshal([]byte(prev.String), &old) == nil {
			mk.Count = old.Count + 1
			if old.OriginalMessageID != "" {
				mk.OriginalMessageID, mk.OriginalSentAt = old.OriginalMessageID, old.OriginalSentAt
			}
		}
	}
	if _, had := m.Attributes[MarkerAttribute]; !had && len(m.Attributes) >= 10 {
		marked = false // SQS allows ten attributes: replay it unmarked
	} else {
		b, _ := json.Marshal(mk)
		attrs[MarkerAttribute] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(b))}
	}
	in := types.SendMessageBatchRequestEntry{MessageBody: aws.String(m.Body), MessageAttributes: attrs}
	if th := m.System["AWSTraceHeader"]; th != "" {
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(th)},
		}
	}
	if dest.FIFO {
		in.MessageGroupId = aws.String(m.GroupID)
		switch {
		case h.r.cfg.Dedup == DedupOriginal && m.System["MessageDeduplicationId"] != "":
			in.MessageDeduplicationId = aws.String(m.System["MessageDeduplicationId"])
		default:
			// Stable for this message and replay count: a resumed replay
			// that resends within 5 minutes is deduplicated by SQS.
			in.MessageDeduplicationId = aws.String(fmt.Sprintf("%s-r%d", m.MessageID, mk.Count))
		}
	}
	size := len(m.Body)
	for k, v := range attrs {
		size += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return entry{msg: msg, in: in, size: size}, marked
}
