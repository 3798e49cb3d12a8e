package devstack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
)

// Chaos injects faults into the order pipeline at a rate: into its
// DynamoDB calls (the services' tables, the saga log, the idempotency
// store), half before the call (it fails, nothing happened) and half after
// it (it happened, its answer is lost), and into its provider calls (a
// timeout before the call). The invariants must hold whatever it does.
type Chaos struct {
	Rate float64

	mu  sync.Mutex
	rng *rand.Rand

	before, lost, provider atomic.Int64
}

// NewChaos injects faults at rate (0 to 1) with a fixed seed, so a run
// can be repeated.
func NewChaos(rate float64, seed uint64) *Chaos {
	return &Chaos{Rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (c *Chaos) roll() bool {
	if c == nil || c.Rate <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < c.Rate
}

func (c *Chaos) coin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(2) == 0
}

// Injected is how many faults it injected, and of which kind.
func (c *Chaos) Injected() (total, before, lost, provider int64) {
	b, l, p := c.before.Load(), c.lost.Load(), c.provider.Load()
	return b + l + p, b, l, p
}

// String says what it injected.
func (c *Chaos) String() string {
	total, b, l, p := c.Injected()
	return fmt.Sprintf("%d faults injected at rate %g: %d DynamoDB calls failed before they ran, %d ran and lost their answer, %d provider timeouts",
		total, c.Rate, b, l, p)
}

var errChaos = errors.New("chaos: connection reset by peer")

// Provider is a fault before a provider call: a timeout the saga retries.
func (c *Chaos) Provider() error {
	if !c.roll() {
		return nil
	}
	c.provider.Add(1)
	return saga.Retryable(errors.New("chaos: provider timed out"))
}

// DB wraps the pipeline's DynamoDB client: each call fails at the rate,
// half before it runs and half after (its answer lost).
func (c *Chaos) DB(db orders.DynamoAPI) orders.DynamoAPI {
	if c == nil || c.Rate <= 0 {
		return db
	}
	return orders.Intercept(db, func(_ string, _ any, do func() error) error {
		if !c.roll() {
			return do()
		}
		if c.coin() {
			c.before.Add(1)
			return errChaos
		}
		c.lost.Add(1)
		_ = do()
		return errChaos
	})
}
