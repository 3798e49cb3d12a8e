package replay

import (
	"context"
	"encoding/json"
	"fmt"
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
}

func newCounters() *counters { return &counters{} }

// round is one round of a run: the messages its scan took, hidden in the
// DLQ (renewals keep them hidden) until they are sent and deleted or
// given back.
type round struct {
	r *runner
	t *table
	// order is the rows to move, by sent time (and messages held back
	// whose give-back failed: given back with the rest).
	order   []int32
	routes  []route
	scanned int
	// cut: the round's scan stopped at the window or at SQS's in-flight
	// limit, so the DLQ may hold more: another round follows.
	cut      bool
	cutWhy   string
	stopBeat func()
	// streamed: the round sent while it scanned; what is left to do is
	// give back what was not moved.
	streamed bool
}

// fail reports row i's message as failed (once).
func (h *round) fail(i int32, why string) {
	if !h.t.setOnce(i, stFailed) {
		return
	}
	c := h.r.c
	c.failed.Add(1)
	c.mu.Lock()
	c.failures = append(c.failures, Failure{MessageID: h.t.id(i), Error: why})
	c.mu.Unlock()
}

// prepare scans the DLQ, holds the messages of the run's selection (up to
// what is left of Limit and one window), routes them and keeps their hold
// renewed. Messages that are not selected are given back by the scan.
func (r *runner) prepare(ctx context.Context) (*round, error) {
	cfg := r.cfg
	dlq, err := queue.Attributes(ctx, cfg.API, r.dlq.URL)
	if err != nil {
		return nil, err
	}
	// The plan's counts are from now, after any wait for earlier holds.
	r.dlq.Visible, r.dlq.InFlight, r.dlq.Delayed = dlq.Visible, dlq.InFlight, dlq.Delayed
	limit, window, done := r.roundSize()
	if done {
		return &round{r: r, t: r.newTable(0)}, nil
	}
	if r.started.IsZero() {
		r.started = cfg.Now()
	}
	// The hold is journaled before the first receive, so a run killed
	// mid-scan still tells the next one how long to wait.
	if err := r.journalHold(ctx, -1); err != nil {
		return nil, err
	}
	h, res, err := r.scanRound(ctx, dlq.Visible, limit)
	if err != nil {
		return nil, err
	}
	h.cut = res.OverLimit || window > 0 && res.Held >= window
	if h.cut {
		r.noteCut(h, res, max(window, limit), dlq.Visible)
	}
	h.order = h.t.sorted()
	r.mem.adjust()
	if err := h.route(ctx); err != nil {
		return nil, err
	}
	if !h.streamed { // a streaming round counted them as they came
		r.mu.Lock()
		r.matched += len(h.order)
		r.mu.Unlock()
	}
	return h, nil
}

// roundSize is how many messages the next round may take: what is left of
// Limit, at most a window. window is set when the window is what bounds
// it (the DLQ may hold more: rounds follow); done when Limit is reached.
func (r *runner) roundSize() (limit, window int, done bool) {
	if r.cfg.Limit > 0 {
		limit = r.cfg.Limit - r.taken()
		if limit <= 0 {
			return 0, 0, true
		}
	}
	w := r.cfg.Window
	if w <= 0 {
		w = DefaultWindow
	}
	if limit <= 0 || w < limit {
		return w, w, false
	}
	return limit, 0, false
}

// scanRound scans for the round: a table holds what the scan takes (a
// streaming round sends it as it comes), and renewals take the holds over
// from the scan. On an error nothing is held any more.
func (r *runner) scanRound(ctx context.Context, visible int64, limit int) (*round, queue.ScanResult, error) {
	cfg := r.cfg
	t := r.newTable(int(min(int64(limit), visible+visible/8+16)))
	h := &round{r: r, t: t}
	opts := queue.ScanOptions{
		Depth: visible, MaxScan: cfg.MaxScan, Limit: limit, KeepMatched: true, Visibility: cfg.Visibility, Raw: !r.parse(),
		Receivers: r.scanReceivers(), KeepAlive: func(n int) error { return r.journalHold(ctx, n) }, Holder: t,
		// The round renews its holds from the end of the scan's renewals:
		// through the give-back of what it did not take, the plan, the
		// prompt and the sends.
		Handover: func(renewed time.Time) { h.stopBeat = t.keepHidden(ctx, renewed.Add(cfg.Visibility/3)) },
	}
	var st *streamer
	if r.streaming() {
		st = h.stream(ctx)
		opts.Drain = st.finish
		h.streamed = true
	}
	res, err := queue.Scan(ctx, cfg.API, r.dlq.URL, opts, r.takes)
	r.hiddenByLostReceive(ctx, res.HiddenUntil)
	h.scanned = res.Scanned
	r.mu.Lock()
	r.scanned += res.Scanned
	r.mu.Unlock()
	if st != nil {
		err = h.endStream(ctx, st, res, err)
		if err != nil {
			h.stopHeartbeat()
			return nil, res, err
		}
	}
	if err != nil {
		// The scan gives everything back on failure, except when only its
		// give-back failed: then the matched messages are still held.
		h.stopHeartbeat()
		if res.Held > 0 {
			_ = h.giveBack(ctx, t.sorted())
		}
		return nil, res, err
	}
	return h, res, nil
}

// noteCut says why the round was cut (the window, or SQS's in-flight
// limit): in the plan of the first round, as a warning of a later one.
func (r *runner) noteCut(h *round, res queue.ScanResult, window int, visible int64) {
	why := fmt.Sprintf("more matching messages than one round holds (%d)", window)
	if res.OverLimit {
		why = fmt.Sprintf("SQS's in-flight limit for %s was reached at %d held message(s)", r.dlq.Name, res.Held)
	}
	h.cutWhy = fmt.Sprintf("%s: the DLQ (~%d visible) is replayed in rounds, this plan shows the first", why, visible)
	if r.cfg.Order != OrderNone || r.dlq.FIFO {
		h.cutWhy += ", and order applies within each round"
	}
	r.mu.Lock()
	first := r.scanned == res.Scanned // the plan says a round was cut; later rounds warn
	r.mu.Unlock()
	if !first && !r.cutSeen {
		r.warn("%s", h.cutWhy)
	}
	r.cutSeen = true
}

// route holds back what --dedup original must not send yet (given back),
// and routes the rest; a message that cannot be routed gives the whole
// round back and ends the run.
func (h *round) route(ctx context.Context) error {
	r := h.r
	var back []int32
	h.order, back = h.holdBack(h.order)
	routes, unroutable, err := r.router.split(ctx, h)
	if err == nil && unroutable > 0 {
		err = r.router.unroutableError(unroutable)
	}
	if err != nil {
		h.stopHeartbeat()
		if relErr := h.giveBack(ctx, h.t.sorted()); relErr != nil {
			return fmt.Errorf("%w (and giving messages back: %w)", err, relErr)
		}
		return err
	}
	if err := h.giveBack(ctx, back); err != nil {
		h.order = append(h.order, back...) // still held: given back with the rest
	}
	h.routes = routes
	return nil
}

// takes is the run's selection: the filter, the route (--to without
// --force takes only messages from that source), and nothing this run
// already failed or whose FIFO group stopped.
func (r *runner) takes(m *queue.Message) bool {
	if st, ok := r.ledger.state(m.MessageID); ok && st&stFailed != 0 {
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
	// A message this run replayed that failed again and came back (a
	// later round, or a round that sends while it scans, can see it) is
	// not taken again: a replay storm is reported, never fed.
	if r.returned(m) {
		return false
	}
	// A round the final check added moves what was there before the run,
	// not what arrived during it (a message that failed again, a late
	// arrival): those are reported, for the user to decide.
	if r.sweeping && !m.SentAt.Before(r.started) {
		return false
	}
	// A key stopped at a failed message in an earlier round: nothing of
	// that key overtakes it. In a round the final check added, a key this
	// run already sent a message of is left alone: the message found late
	// is older than that one.
	if r.cfg.Order == OrderKey {
		if k := r.keyFor(m); k != "" {
			marks := keyStopped
			if r.sweeping {
				marks |= keySent
			}
			if r.keys.marked(k, marks) {
				return false
			}
		}
	}
	return true
}

// returned reports whether m was replayed by this run: its marker was
// written after the run's first receive (both times are the run's clock).
func (r *runner) returned(m *queue.Message) bool {
	a, ok := m.Attributes[MarkerAttribute]
	if !ok || r.started.IsZero() {
		return false
	}
	var mk Marker
	if json.Unmarshal([]byte(a.String), &mk) != nil {
		return false
	}
	at, err := time.Parse(timeFormat, mk.ReplayedAt)
	return err == nil && !at.Before(r.started.Truncate(time.Millisecond))
}

// parse reports whether the run's selection or order key reads what
// queue.Correlate fills: else its scans leave bodies unparsed.
func (r *runner) parse() bool {
	return r.cfg.Order == OrderKey || r.cfg.Filter != nil && r.cfg.Filter.NeedsBody()
}

// keyFor is a message's entity key for OrderKey ("" : independent),
// while its body is parsed (the scan drops it after the Holder took it).
func (r *runner) keyFor(m *queue.Message) string {
	if r.cfg.OrderKey != nil {
		k, _ := r.cfg.OrderKey.Value(m)
		return k
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
func (h *round) holdBack(rows []int32) (keep, back []int32) {
	r := h.r
	if r.cfg.Dedup != DedupOriginal || !r.dlq.FIFO {
		return rows, nil
	}
	now := r.cfg.Now()
	for _, i := range rows {
		// A minute beyond the window: SentTimestamp is SQS's clock, now ours.
		if rw := h.t.row(i); rw.kind&kDedup != 0 && now.Sub(time.UnixMilli(rw.sent)) < DedupWindow+time.Minute {
			back = append(back, i)
			r.mu.Lock()
			r.heldBack[h.t.id(i)] = true // still the run's: the final check looks for it
			r.mu.Unlock()
			continue
		}
		keep = append(keep, i)
	}
	return keep, back
}

// plan describes the round's messages: counts, keys, times, routes,
// samples and the warnings a user should read before saying yes.
func (h *round) plan() Plan {
	p := Plan{Messages: len(h.order), Samples: []string{}, Warnings: []string{}, Routes: []RoutePlan{}}
	groups := map[int32]bool{}
	for k, i := range h.order {
		rw := h.t.row(i)
		p.Bytes += int64(rw.body)
		if rw.group >= 0 {
			groups[rw.group] = true
		}
		if k < 3 {
			p.Samples = append(p.Samples, h.sample(i))
		}
	}
	p.Groups = len(groups)
	if h.r.cfg.Order == OrderKey && !h.r.dlq.FIFO {
		h.planKeys(&p)
	}
	if n := len(h.order); n > 0 {
		p.Oldest = time.UnixMilli(h.t.row(h.order[0]).sent).UTC().Format(time.RFC3339)
		p.Newest = time.UnixMilli(h.t.row(h.order[n-1]).sent).UTC().Format(time.RFC3339)
	}
	for _, rt := range h.routes {
		p.Routes = append(p.Routes, RoutePlan{Destination: rt.dest.Name, Messages: len(rt.rows), Via: rt.via})
		for _, i := range rt.rows {
			if int64(h.t.row(i).size)+markerSize > rt.dest.MaxMessageSize {
				p.Warnings = append(p.Warnings, fmt.Sprintf("message %s is larger than %s's maximum message size: it will stay in the DLQ", h.t.id(i), rt.dest.Name))
			}
		}
	}
	p.Warnings = append(p.Warnings, h.planWarnings()...)
	return p
}

// planKeys counts the order keys of --order key, and warns about keys
// that make it slow, messages without one, and a limit.
func (h *round) planKeys(p *Plan) {
	keys := map[int32]bool{}
	for _, i := range h.order {
		if k := h.t.row(i).key; k >= 0 {
			keys[k] = true
		} else {
			p.Unkeyed++
		}
	}
	p.Keys = len(keys)
	if h.r.cfg.Limit > 0 || h.r.cfg.MaxScan > 0 {
		p.Warnings = append(p.Warnings, "with a limit, the messages taken are the first received, not always the oldest of each key: a later run may send an older message of a key after a newer one")
	}
	if p.Keys > 0 && len(h.order)-p.Unkeyed > 20*p.Keys {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d messages share %d key(s): each key sends one message at a time, so this is slow; --order none if order does not matter", len(h.order)-p.Unkeyed, p.Keys))
	}
	if p.Unkeyed > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d message(s) have no order key: they are sent as independent messages", p.Unkeyed))
	}
}

// planWarnings are the run's warnings for the plan: what the router
// noted, messages in flight or held by an interrupted run, messages held
// back, a round cut short, FIFO rounds, and a rate that would pass SQS's
// 12-hour hold.
func (h *round) planWarnings() []string {
	r, cfg := h.r, h.r.cfg
	w := append([]string(nil), r.router.notes...)
	if r.earlier.Messages != 0 {
		w = append(w, fmt.Sprintf("%s held by an interrupted run until %s are not part of this run (not waited for)",
			countOrSome(r.earlier.Messages), r.earlier.Until.UTC().Format(time.RFC3339)))
	} else if r.dlq.InFlight > 0 {
		w = append(w, fmt.Sprintf("%d message(s) in %s are in flight (another consumer, or a replay still running): they are not part of this replay", r.dlq.InFlight, r.dlq.Name))
	}
	if n := len(r.heldBack); n > 0 {
		w = append(w, fmt.Sprintf("dedup original: %d message(s) first sent less than %s ago are held back (SQS would drop them as duplicates); run again later", n, DedupWindow))
	}
	if h.cut {
		w = append(w, h.cutWhy)
	}
	if r.dlq.FIFO {
		w = append(w, "FIFO: SQS shows the first messages of each group at a time; later messages are replayed in further rounds")
	}
	if cfg.Rate > 0 {
		if need := time.Duration(float64(len(h.order)) / cfg.Rate * float64(time.Second)); need > MaxHold-cfg.Visibility {
			w = append(w, fmt.Sprintf("at %g messages a second, %d messages take %s: SQS holds a received message at most %s, so the run stops before then; run it again to go on",
				cfg.Rate, len(h.order), need.Round(time.Minute), MaxHold))
		}
	}
	return w
}

func countOrSome(n int) string {
	if n < 0 {
		return "messages"
	}
	return fmt.Sprintf("%d message(s)", n)
}

// sample names row i's message in the plan: its ID, order and trace.
func (h *round) sample(i int32) string {
	s := h.t.id(i)
	m, err := h.t.load(i)
	if err != nil {
		return s
	}
	queue.Correlate(&m) // the spool keeps no parsed fields
	if m.OrderID != "" {
		s += " order " + m.OrderID
	}
	if m.TraceID != "" {
		s += " trace " + m.TraceID
	}
	return s
}

// giveBackAll gives every held message back to the DLQ (visibility 0): a dry
// run, or a replay the user declined.
func (h *round) giveBackAll(ctx context.Context) error {
	h.stopHeartbeat()
	return h.giveBack(ctx, h.order)
}

// messageSize is what SQS counts against the maximum: body plus each
// attribute's name, type and value.
func messageSize(m *queue.Message) int {
	n := len(m.Body)
	for k, a := range m.Attributes {
		n += len(k) + len(a.Type) + len(a.String) + len(a.Binary)
	}
	return n
}

// markerSize bounds the marker attribute's share of a message's size.
const markerSize = 512

// entry is one message ready to send: row i of the round's table, with
// its receipt handle (deleted with it once sent).
type entry struct {
	row    int32
	handle string
	in     types.SendMessageBatchRequestEntry
	size   int
}

// entry builds the send of row i from m, its message read back whole.
func (h *round) entry(i int32, m *queue.Message, dest queue.Queue, now time.Time) (entry, bool) {
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
	return entry{row: i, handle: m.ReceiptHandle, in: in, size: size}, marked
}
