package devstack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/triage"
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

	p, err := StartPipeline(ctx, c, stack, sc)
	if err != nil {
		return out, err
	}
	defer func() { _ = p.Stop() }()
	note("the pipeline runs on " + p.String())
	note(fmt.Sprintf("Black Friday: %d orders (every %dth delivered twice); payment provider down for orders %d%%–%d%%, shipping rejects %d%%–%d%%",
		sc.Orders, sc.DuplicateEvery, int(sc.PaymentFrom*100), int(sc.PaymentTo*100), int(sc.ShipFrom*100), int(sc.ShipTo*100)))
	if err := PlaceOrders(ctx, c.SQS, stack, sc); err != nil {
		return out, err
	}
	if err := p.WaitIdle(ctx); err != nil {
		return out, err
	}
	_ = p.Logs.Flush(ctx)
	note("the burst is through: " + p.String())

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
	// Three commands from the alarm to the targeted replay: which DLQ,
	// why (two causes), replay the one that was fixed.
	if err := steps([]Step{
		{"Which DLQs hold messages? (exit 3: the CI smoke check fails)", []string{"inspect", "--prefix", prefix, "--max-depth", "0"}, 3},
		{"Why are they failing? One cause or many", []string{"triage", stack.OrdersDLQ, "--log-group", stack.LogGroup}, 0},
	}); err != nil {
		return out, err
	}
	// The operator reads the outage's cause ID off the triage table; the
	// runbook finds it the same way the command does.
	outage, err := OutageCause(ctx, c, stack)
	if err != nil {
		return out, err
	}
	note(fmt.Sprintf("the payment outage is cause %s (%d orders), and the payment provider is back; the poison orders are another cause", outage.ID, outage.Count))
	if err := p.FixPaymentOutage(ctx); err != nil {
		return out, err
	}
	if sc.WorkerBinary != "" {
		note("the fix is deployed: the worker exited 0 on SIGTERM and a new one runs without the outage: " + p.String())
	}
	if err := steps([]Step{{"Replay the outage's orders, only those (the plan shows first)", []string{"replay", stack.OrdersDLQ, "--cause", outage.ID, "--log-group", stack.LogGroup, "--yes"}, 0}}); err != nil {
		return out, err
	}
	if err := p.WaitIdle(ctx); err != nil {
		return out, err
	}
	_ = p.Logs.Flush(ctx)
	note("the pipeline drained the replayed orders: " + p.String())
	// Under chaos, a replayed order can meet enough faults to exhaust its
	// receives again, and on a busy machine a duplicate delivery can run
	// out of receives while its twin holds the saga: the operator replays
	// what a replay can fix (not the poison orders), as a runbook says to.
	for round := 0; round < 3; round++ {
		left, err := DLQOrderIDs(ctx, c.SQS, stack.OrdersDLQURL)
		if err != nil {
			return out, err
		}
		var back []string
		for _, id := range left {
			if !sc.IsPoison(id) {
				back = append(back, id)
			}
		}
		if len(back) == 0 {
			break
		}
		note(fmt.Sprintf("%d order(s) besides the poison ones are in the DLQ (faults, or a duplicate that ran out of receives): replay those", len(back)))
		if err := steps([]Step{{"Replay what else is there, not the poison orders", []string{"replay", stack.OrdersDLQ, "--where", "payload.currency=EUR", "--yes"}, 0}}); err != nil {
			return out, err
		}
		if err := p.WaitIdle(ctx); err != nil {
			return out, err
		}
	}
	if sc.Chaos != nil {
		note(sc.Chaos.String())
	}
	want := 0
	if sc.Poisoned() > 0 {
		want = 3 // the poison orders wait for a person: the alarm rightly stays
	}
	poison := ""
	for i := 0; i < sc.Orders && poison == ""; i++ {
		if sc.IsPoison(OrderID(i)) {
			poison = OrderID(i)
		}
	}
	var investigate []Step
	if poison != "" {
		investigate = []Step{
			{"What is left? " + poison + ", without consuming anything", []string{"peek", stack.OrdersDLQ, "--order-id", poison, "--body"}, 0},
			{"What happened to " + poison + "?", []string{"timeline", "--order-id", poison, "--log-group", stack.LogGroup, "--since", "1h"}, 0},
			{"What happened to " + order + ", one of the replayed orders?", []string{"timeline", "--order-id", order, "--log-group", stack.LogGroup, "--since", "1h"}, 0},
		}
	}
	if err := steps(append(investigate, []Step{
		{"What is left: only the poison orders", []string{"triage", stack.OrdersDLQ, "--log-group", stack.LogGroup}, 0},
		{"The DLQ holds the poison orders, so the check rightly fails (exit 3)", []string{"inspect", "--prefix", prefix, "--max-depth", "0"}, want},
	}...)); err != nil {
		return out, err
	}
	left, err := DLQOrderIDs(ctx, c.SQS, stack.OrdersDLQURL)
	if err != nil {
		return out, err
	}
	for _, id := range left {
		if !sc.IsPoison(id) {
			out.Failures = append(out.Failures, fmt.Sprintf("order %s is still in the DLQ and is not a poison order", id))
		}
	}
	if err := p.Stop(); err != nil {
		out.Failures = append(out.Failures, err.Error())
	} else if sc.WorkerBinary != "" {
		note("the worker exited 0 on SIGTERM: " + p.String())
	}
	inv, err := Check(ctx, c, stack, sc)
	out.Invariants, out.Duration = inv, time.Since(start)
	return out, err
}

// OutageCause is the triage group of the payment outage in the orders
// DLQ: its first failure is the payment provider's error.
func OutageCause(ctx context.Context, c Clients, stack Stack) (triage.Group, error) {
	q, err := queue.Attributes(ctx, c.SQS, stack.OrdersDLQURL)
	if err != nil {
		return triage.Group{}, err
	}
	res, err := queue.Scan(ctx, c.SQS, stack.OrdersDLQURL, queue.ScanOptions{Depth: q.Visible}, nil)
	if err != nil {
		return triage.Group{}, err
	}
	rep, err := triage.Classify(ctx, triage.Options{Logs: &triage.LogSource{API: c.Logs, Groups: []string{stack.LogGroup}}}, res.Matched)
	if err != nil {
		return triage.Group{}, err
	}
	for _, g := range rep.Groups {
		if strings.Contains(g.Error, "payment provider unavailable") {
			return g, nil
		}
	}
	return triage.Group{}, fmt.Errorf("triage found no payment-outage cause in %s: %d group(s)", stack.OrdersDLQ, len(rep.Groups))
}
