// Package replay moves messages from a dead-letter queue back to where they
// came from without ever losing one: it holds the messages it will move,
// sends them in order (or concurrently), in batches that respect the
// destination's size limit, at a set rate, and deletes a message from the
// DLQ only after its send succeeded and was journaled. A crashed or
// interrupted replay resumes from the journal without resending what the
// destination already has. The CLI (`dlq replay`) and the replay Lambda
// share this engine.
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/time/rate"

	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
)

// SQSAPI is what the engine calls.
type SQSAPI interface {
	queue.ReceiveAPI
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Order is how messages are sent.
type Order string

// Orders.
const (
	OrderSent Order = "sent" // by SentTimestamp; FIFO: per group by sequence, groups in parallel
	OrderNone Order = "none" // concurrently, for speed
)

// Dedup chooses FIFO deduplication IDs.
type Dedup string

// Dedup modes.
const (
	DedupNew      Dedup = "new"      // a new ID per replay (stable across a resume)
	DedupOriginal Dedup = "original" // the message's original ID: SQS drops it within 5 minutes of the original
)

// timeFormat is RFC3339 with fixed milliseconds, so marker times sort as
// strings.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

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

// Config is one replay.
type Config struct {
	API         SQSAPI
	DLQ         queue.Queue
	Destination queue.Queue
	Filter      *filter.Filter
	Order       Order
	Dedup       Dedup
	Rate        float64 // messages per second; 0: unlimited
	Concurrency int     // batches in flight (unordered) or groups (FIFO); default 8
	Limit       int     // at most this many messages; 0: all
	MaxScan     int
	DryRun      bool
	Journal     Journal
	// StopOnReturn stops the replay when this many replayed messages
	// (marker present, replayed by this run) are back in the DLQ.
	StopOnReturn int
	// Deadline stops starting batches this long before it (the Lambda).
	Deadline time.Time
	Margin   time.Duration
	// Visibility holds messages while the replay runs; it is extended by
	// a heartbeat. Default 5 minutes.
	Visibility time.Duration
	Progress   func(Progress)
	Now        func() time.Time
}

// Progress is a snapshot for a progress bar.
type Progress struct {
	Total, Sent, Deleted, Failed int
	Elapsed                      time.Duration
}

// Failure is a message left in the DLQ, and why.
type Failure struct {
	MessageID string `json:"messageId"`
	Error     string `json:"error"`
}

// Report is the outcome; its JSON is the documented contract.
type Report struct {
	DLQ             string    `json:"dlq"`
	Destination     string    `json:"destination"`
	DryRun          bool      `json:"dryRun"`
	Order           Order     `json:"order"`
	Scanned         int       `json:"scanned"`
	Matched         int       `json:"matched"`
	Sent            int       `json:"sent"`
	Deleted         int       `json:"deleted"`
	Failed          int       `json:"failed"`
	Skipped         int       `json:"skipped"`
	Remaining       int       `json:"remaining"`
	DurationSeconds float64   `json:"durationSeconds"`
	Journal         string    `json:"journal"`
	Failures        []Failure `json:"failures"`
	Unmarked        []string  `json:"unmarked,omitempty"`
	Stopped         string    `json:"stopped,omitempty"`
	Plan            *Plan     `json:"plan,omitempty"`
}

// LeftBehind reports whether any matched message is still in the DLQ.
func (r Report) LeftBehind() bool { return r.Failed > 0 || r.Remaining > 0 }

// Plan describes what a replay will do (and what a dry run would).
type Plan struct {
	Messages int      `json:"messages"`
	Bytes    int64    `json:"bytes"`
	Groups   int      `json:"groups"`
	Oldest   string   `json:"oldest,omitempty"`
	Newest   string   `json:"newest,omitempty"`
	Samples  []string `json:"samples"`
	Warnings []string `json:"warnings"`
}

// Held is a scanned set of messages, hidden in the DLQ until Execute (or
// Release) decides their fate.
type Held struct {
	cfg      Config
	messages []queue.Message
	scanned  int
	Plan     Plan
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Minute
	}
	if c.Order == "" {
		c.Order = OrderSent
	}
	if c.Dedup == "" {
		c.Dedup = DedupNew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Margin <= 0 {
		c.Margin = 10 * time.Second
	}
	if c.Destination.MaxMessageSize <= 0 {
		c.Destination.MaxMessageSize = 1 << 20
	}
}

// Prepare scans the DLQ, holds the matching messages (up to Limit) and
// plans the replay. Non-matching messages are released at once.
func Prepare(ctx context.Context, cfg Config) (*Held, error) {
	cfg.defaults()
	var match func(*queue.Message) bool
	if cfg.Filter != nil {
		match = cfg.Filter.ForQueue(cfg.DLQ.Name).Match
	}
	res, err := queue.Scan(ctx, cfg.API, cfg.DLQ.URL, queue.ScanOptions{
		Depth: cfg.DLQ.Visible, MaxScan: cfg.MaxScan, Limit: cfg.Limit, KeepMatched: true, Visibility: cfg.Visibility,
		Receivers: cfg.Concurrency,
	}, match)
	if err != nil {
		return nil, err
	}
	h := &Held{cfg: cfg, messages: res.Matched, scanned: res.Scanned}
	h.sort()
	h.Plan = h.plan()
	return h, nil
}

// sort orders messages by sent time; FIFO messages by group, then by
// sequence number.
func (h *Held) sort() {
	m := h.messages
	sort.SliceStable(m, func(i, j int) bool {
		if !m[i].SentAt.Equal(m[j].SentAt) {
			return m[i].SentAt.Before(m[j].SentAt)
		}
		return m[i].System["SequenceNumber"] < m[j].System["SequenceNumber"]
	})
}

func (h *Held) plan() Plan {
	p := Plan{Messages: len(h.messages), Samples: []string{}, Warnings: []string{}}
	groups := map[string]bool{}
	for i, m := range h.messages {
		p.Bytes += int64(len(m.Body))
		if m.GroupID != "" {
			groups[m.GroupID] = true
		}
		if i < 3 {
			p.Samples = append(p.Samples, sample(m))
		}
	}
	p.Groups = len(groups)
	if n := len(h.messages); n > 0 {
		p.Oldest = h.messages[0].SentAt.UTC().Format(time.RFC3339)
		p.Newest = h.messages[n-1].SentAt.UTC().Format(time.RFC3339)
	}
	if h.cfg.DLQ.InFlight > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d message(s) in %s are in flight (another consumer, or an interrupted replay whose hold has not expired yet): they are not part of this replay", h.cfg.DLQ.InFlight, h.cfg.DLQ.Name))
	}
	if h.cfg.Destination.FIFO && h.cfg.Dedup == DedupOriginal {
		p.Warnings = append(p.Warnings, "--dedup original: SQS drops a message whose deduplication ID it saw in the last 5 minutes")
	}
	for _, m := range h.messages {
		if int64(messageSize(m, 1))+markerSize > h.cfg.Destination.MaxMessageSize {
			p.Warnings = append(p.Warnings, fmt.Sprintf("message %s is larger than %s's maximum message size: it will stay in the DLQ", m.MessageID, h.cfg.Destination.Name))
		}
	}
	return p
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

// Release gives every held message back to the DLQ (visibility 0): a dry
// run, or a replay the user declined.
func (h *Held) Release(ctx context.Context) error {
	handles := make([]string, len(h.messages))
	for i, m := range h.messages {
		handles[i] = m.ReceiptHandle
	}
	_, err := queue.Release(context.WithoutCancel(ctx), h.cfg.API, h.cfg.DLQ.URL, handles)
	return err
}

// DryRunReport releases everything and reports the plan.
func (h *Held) DryRunReport(ctx context.Context) (Report, error) {
	err := h.Release(ctx)
	r := h.report()
	r.DryRun, r.Remaining = true, 0
	return r, err
}

func (h *Held) report() Report {
	plan := h.Plan
	r := Report{DLQ: h.cfg.DLQ.Name, Destination: h.cfg.Destination.Name, Order: h.cfg.Order, Scanned: h.scanned, Matched: len(h.messages),
		Failures: []Failure{}, Plan: &plan}
	if h.cfg.Journal != nil {
		r.Journal = h.cfg.Journal.Location()
	}
	return r
}

// messageSize is what SQS counts against the maximum: body plus each
// attribute's name, type and value.
func messageSize(m queue.Message, _ int) int {
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

func (h *Held) entry(i int, m *queue.Message, now time.Time) (entry, bool) {
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
	mk := Marker{OriginalMessageID: m.MessageID, OriginalSentAt: m.SentAt.UTC().Format(timeFormat), DLQ: h.cfg.DLQ.Name, Count: 1, ReplayedAt: now.UTC().Format(timeFormat)}
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
	in := types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(m.Body), MessageAttributes: attrs}
	if th := m.System["AWSTraceHeader"]; th != "" {
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(th)},
		}
	}
	if h.cfg.Destination.FIFO {
		in.MessageGroupId = aws.String(m.GroupID)
		switch {
		case h.cfg.Dedup == DedupOriginal && m.System["MessageDeduplicationId"] != "":
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
	return entry{msg: m, in: in, size: size}, marked
}

// counters are shared by the workers.
type counters struct {
	sent, deleted, failed atomic.Int64
	mu                    sync.Mutex
	failures              []Failure
	unmarked              []string
	done                  map[string]bool // deleted from the DLQ (or sent and deletion pending)
}

func (c *counters) fail(id, why string) {
	c.failed.Add(1)
	c.mu.Lock()
	c.failures = append(c.failures, Failure{MessageID: id, Error: why})
	c.mu.Unlock()
}

// limiterFor returns nil for unlimited.
func limiterFor(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	// A burst of one batch: the rate holds from the first second.
	return rate.NewLimiter(rate.Limit(perSecond), 10)
}

// Report is the plan as a report, before anything was sent.
func (h *Held) Report() Report { return h.report() }

// Merge adds a later round's report (FIFO replays run in rounds).
func Merge(a, b Report) Report {
	a.Scanned += b.Scanned
	a.Matched += b.Matched
	a.Sent += b.Sent
	a.Deleted += b.Deleted
	a.Failed += b.Failed
	a.Skipped += b.Skipped
	a.Remaining = b.Remaining
	a.DurationSeconds += b.DurationSeconds
	a.Failures = append(a.Failures, b.Failures...)
	a.Unmarked = append(a.Unmarked, b.Unmarked...)
	if b.Stopped != "" {
		a.Stopped = b.Stopped
	}
	if a.Plan != nil && b.Plan != nil {
		a.Plan.Messages += b.Plan.Messages
		a.Plan.Bytes += b.Plan.Bytes
	}
	return a
}
