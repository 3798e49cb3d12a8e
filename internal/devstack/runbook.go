package devstack

import (
	"context"
	"fmt"
	"time"
)

// Step is one command of the incident runbook: why, the dlq arguments,
// and the exit code it should end with.
type Step struct {
	Why      string
	Args     []string
	WantExit int
}

// RunStep runs a dlq command (the demo: the built binary; the test: the
// CLI in-process) and returns its exit code.
type RunStep func(ctx context.Context, s Step) (int, error)

// Outcome is what a Black Friday run produced.
type Outcome struct {
	Stack      Stack
	Invariants Invariants
	Failures   []string // runbook steps that did not end as expected
	Duration   time.Duration
}

// BlackFriday runs the whole incident: provision, a burst of orders through
// the local pipeline with a payment outage and a shipping outage, the
// runbook with the real CLI (inspect, peek, timeline, replay dry run, fix,
// replay, final inspect), and the invariant report.
func BlackFriday(ctx context.Context, c Clients, prefix string, sc Scenario, run RunStep, note func(string)) (Outcome, error) {
	start := time.Now()
	out := Outcome{}
	stack, err := ProvisionOrders(ctx, c, prefix)
	if err != nil {
		return out, err
	}
	out.Stack = stack
	note(fmt.Sprintf("provisioned %sorders → %s (maxReceiveCount %d), %s, 5 tables, log group %s, 2 DLQ alarms", prefix, stack.OrdersDLQ, MaxReceiveCount, stack.SagaDLQ, stack.LogGroup))

	p := StartPipeline(ctx, c, stack, sc)
	defer p.Stop()
	note(fmt.Sprintf("Black Friday: %d orders (every %dth delivered twice); payment provider down for orders %d%%–%d%%, shipping rejects %d%%–%d%%",
		sc.Orders, sc.DuplicateEvery, int(sc.PaymentFrom*100), int(sc.PaymentTo*100), int(sc.ShipFrom*100), int(sc.ShipTo*100)))
	if err := PlaceOrders(ctx, c.SQS, stack, sc); err != nil {
		return out, err
	}
	if err := WaitIdle(ctx, c.SQS, stack.OrdersURL); err != nil {
		return out, err
	}
	_ = p.Logs.Flush(ctx)
	note("the burst is through: " + p.Runner.String())

	ids, err := DLQOrderIDs(ctx, c.SQS, stack.OrdersDLQURL)
	if err != nil {
		return out, err
	}
	if len(ids) == 0 {
		return out, fmt.Errorf("no order reached %s: the payment outage did not bite", stack.OrdersDLQ)
	}
	// The runbook looks at an order the payment outage put there: on a
	// busy machine a duplicate delivery can also run out of receives while
	// its twin holds the saga, and its timeline would tell another story.
	order := ids[0]
	for _, id := range ids {
		if sc.InPaymentOutage(id) {
			order = id
			break
		}
	}
	steps := func(list []Step) error {
		for _, s := range list {
			code, err := run(ctx, s)
			if err != nil {
				return err
			}
			if code != s.WantExit {
				out.Failures = append(out.Failures, fmt.Sprintf("dlq %v: exit %d, want %d", s.Args, code, s.WantExit))
			}
		}
		return nil
	}
	if err := steps([]Step{
		{"Which DLQs hold messages? (exit 3: the CI smoke check fails)", []string{"inspect", "--prefix", prefix, "--max-depth", "0"}, 3},
		{"Which orders, and why? " + order + ", without consuming anything", []string{"peek", stack.OrdersDLQ, "--order-id", order, "--body"}, 0},
		{"What happened to " + order + "?", []string{"timeline", "--order-id", order, "--log-group", stack.LogGroup, "--since", "1h"}, 0},
		{"What would a replay do?", []string{"replay", stack.OrdersDLQ, "--dry-run"}, 0},
	}); err != nil {
		return out, err
	}
	note("fixing the outage: the payment provider is back")
	p.FixPaymentOutage()
	if err := steps([]Step{{"Replay the DLQ to the orders queue", []string{"replay", stack.OrdersDLQ, "--yes"}, 0}}); err != nil {
		return out, err
	}
	if err := WaitIdle(ctx, c.SQS, stack.OrdersURL); err != nil {
		return out, err
	}
	_ = p.Logs.Flush(ctx)
	note("the pipeline drained the replayed orders: " + p.Runner.String())
	// Under chaos, a replayed order can meet enough faults to exhaust its
	// receives again: the operator replays again, as a runbook says to.
	for round := 0; sc.Chaos != nil && round < 3; round++ {
		left, err := DLQOrderIDs(ctx, c.SQS, stack.OrdersDLQURL)
		if err != nil {
			return out, err
		}
		if len(left) == 0 {
			break
		}
		note(fmt.Sprintf("chaos sent %d order(s) back to the DLQ: replay again", len(left)))
		if err := steps([]Step{{"Replay what chaos sent back", []string{"replay", stack.OrdersDLQ, "--yes"}, 0}}); err != nil {
			return out, err
		}
		if err := WaitIdle(ctx, c.SQS, stack.OrdersURL); err != nil {
			return out, err
		}
	}
	if sc.Chaos != nil {
		note(sc.Chaos.String())
	}
	if err := steps([]Step{{"Every DLQ at zero", []string{"inspect", "--prefix", prefix, "--max-depth", "0"}, 0}}); err != nil {
		return out, err
	}
	p.Stop()
	inv, err := Check(ctx, c, stack, sc.Orders)
	out.Invariants, out.Duration = inv, time.Since(start)
	return out, err
}
