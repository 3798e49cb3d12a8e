package replay

import (
	"context"
	"time"

	"github.com/dlqops/dlq/internal/backoff"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/replay/journal"
	"github.com/dlqops/dlq/internal/triage"
)

// Order is how messages are sent.
type Order string

// Orders.
const (
	OrderKey  Order = "key"  // per entity key (orderId, traceId, group) in SentTimestamp order, keys in parallel
	OrderSent Order = "sent" // strictly by SentTimestamp, one batch at a time (slow)
	OrderNone Order = "none" // concurrently, no order
)

// Dedup chooses FIFO deduplication IDs.
type Dedup string

// Dedup modes.
const (
	DedupNew      Dedup = "new"      // a new ID per replay (stable across a resume)
	DedupOriginal Dedup = "original" // the message's original ID: held back within 5 minutes of its first send
)

// Service limits and defaults that shape a run.
const (
	// MaxHold is how long SQS lets a received message stay hidden, counted
	// from the receive, however often its visibility is extended.
	MaxHold = 12 * time.Hour
	// DedupWindow is how long a FIFO queue remembers a deduplication ID.
	DedupWindow = 5 * time.Minute
	// DefaultVisibility is the hold a heartbeat renews every third of it:
	// a killed run's messages are back in the DLQ within about 90 s.
	DefaultVisibility = 90 * time.Second
	// holdSlack covers the delay between recording a hold's expiry in the
	// journal and SQS applying it.
	holdSlack = 2 * time.Second
)

// timeFormat is RFC3339 with fixed milliseconds, so marker times sort as
// strings.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Config is one replay.
type Config struct {
	API SQSAPI
	// DLQ is the dead-letter queue by name, URL or ARN.
	DLQ string
	// To is the destination by name, URL or ARN; empty: each message's
	// own source (DeadLetterQueueSourceArn), else the DLQ's single source.
	To string
	// Force allows a To that is not a source of the DLQ, and sends every
	// selected message there, whatever its source.
	Force bool
	// Services send to where EventBridge, SNS and Lambda failed to
	// deliver: their clients, made when first needed.
	Services Services
	// ViaBus puts events an EventBridge target failed to take back on
	// the rule's bus, instead of sending them to the target.
	ViaBus bool
	// ToTopic publishes notifications an SNS subscription failed to
	// deliver to the topic again (every subscriber gets them), instead
	// of to the subscription's endpoint.
	ToTopic bool
	Filter  *filter.Filter
	Order   Order
	// OrderKey is the entity key of OrderKey; nil: the envelope's orderId,
	// else traceId, else the message group.
	OrderKey *filter.Path
	Dedup    Dedup
	Rate     float64 // messages per second; 0: unlimited
	// Concurrency is a fixed number of batches in flight (FIFO: groups in
	// parallel); 0: adaptive, from 16 up while throughput grows (FIFO: 8).
	Concurrency int
	Limit       int // at most this many messages, across FIFO rounds; 0: all
	MaxScan     int
	// Window is the most messages one round holds (0: DefaultWindow): a
	// larger DLQ is moved in rounds, and order applies within each.
	Window int
	DryRun bool
	// NoWait does not wait for messages an interrupted run still holds:
	// they are reported as held and the run is not verified.
	NoWait  bool
	Journal journal.Journal
	// SpoolDir is where held messages' bodies, attributes and receipt
	// handles are kept while the run holds them (a file unlinked at
	// once); "" : the system's temporary directory.
	SpoolDir string
	// StopOnReturn stops the replay when this many replayed messages
	// (marker present, replayed by this run) are back in the DLQ.
	StopOnReturn int
	// Deadline stops starting batches Margin before it (the Lambda).
	Deadline time.Time
	Margin   time.Duration
	// Visibility holds messages while the replay runs; a heartbeat renews
	// it every third of it. Default DefaultVisibility.
	Visibility time.Duration
	// Stream lets --order none on a standard DLQ send while it scans
	// (bounded memory, sends from the first receive): for callers that
	// confirm no plan (--yes, the Lambda). Confirm is then not asked, and
	// not with --stop-on-return or a dry run.
	Stream bool
	// Confirm is asked once the first plan is made, with the messages
	// held (a heartbeat keeps them hidden while it waits). false gives
	// every message back and Run returns ErrDeclined.
	Confirm func(Report) (bool, error)
	// Progress receives snapshots for a progress bar; Status one live
	// line of what the run waits for ("" clears it).
	Progress func(Progress)
	Status   func(string)
	Now      func() time.Time
	// Sleep waits d or until ctx ends; default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Canary sends this many messages first (the oldest message of as
	// many order keys), watches them for CanaryWait (0: derived from the
	// destination queues' redrive settings), and moves the rest only when
	// every one was consumed; CanaryOnly stops after the verdict either
	// way.
	Canary     int
	CanaryWait time.Duration
	CanaryOnly bool
	// Logs is where the pipeline logs (nil: unknown). The canary reads
	// there whether each of its messages' traces logged a success, and
	// the first failure of those that returned.
	Logs *triage.LogSource
	// CanarySelection names the selection and its destination (the CLI:
	// its flags): a canary the journal keeps unjudged is resumed only by a
	// run of the same selection.
	CanarySelection string
	// onPlan is given the first round's held messages in send order (the
	// canary picks from them); onSent the DLQ message IDs each batch sent
	// and the IDs they are known by if they come back (known).
	onPlan func([]held)
	onSent func(ctx context.Context, ids, originals []string) error
	// byID: the filter names each message it takes (the canary), so a
	// limit does not take "the first received".
	byID bool
	// returnedSince, when set, is when this replay began (a canary): a
	// message its earlier run replayed that came back is not taken again.
	returnedSince time.Time
	// LimitMemory lets the run set the process's soft memory limit
	// (runtime/debug.SetMemoryLimit) while it runs, unless GOMEMLIMIT or
	// the program set one: a limit that follows the run's live heap, so
	// the process stays near 40 MiB. It changes the whole process, so
	// only a program that is the run (the CLI, the replay Lambda) asks
	// for it.
	LimitMemory bool
}

func (c *Config) defaults() {
	if c.Visibility <= 0 {
		c.Visibility = DefaultVisibility
	}
	if c.Order == "" {
		c.Order = OrderKey
	}
	if c.Dedup == "" {
		c.Dedup = DedupNew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
	if c.Margin <= 0 {
		c.Margin = 10 * time.Second
	}
}
