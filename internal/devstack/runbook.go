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
	in := &incident{c: c, prefix: prefix, sc: sc, run: run, note: note}
	stack, err := ProvisionOrders(ctx, c, prefix)
	if err != nil {
		return in.out, err
	}
	in.stack, in.out.Stack = stack, stack
	note(fmt.Sprintf("provisioned %sorders → %s (maxReceiveCount %d), %s, 5 tables, log group %s, 2 DLQ alarms", prefix, stack.OrdersDLQ, MaxReceiveCount, stack.SagaDLQ, stack.LogGroup))
	if in.p, err = StartPipeline(ctx, c, stack, sc); err != nil {
		return in.out, err
	}
	defer func() { _ = in.p.Stop() }()
	note("the pipeline runs on " + in.p.String())
	for _, phase := range []func(context.Context) error{in.burst, in.replayTheOutage, in.replayTheRest, in.investigate, in.stop} {
		if err := phase(ctx); err != nil {
			return in.out, err
		}
	}
	inv, err := Check(ctx, c, stack, sc)
	in.out.Invariants, in.out.Duration = inv, time.Since(start)
	return in.out, err
}

// incident is one Black Friday run: what every phase shares.
type incident struct {
	c      Clients
	prefix string
	sc     Scenario
	run    RunStep
	note   func(string)
	stack  Stack
	p      *Pipeline
	out    Outcome
	// order is an order the payment outage put in the DLQ: the runbook
	// shows its timeline once it was replayed.
	order string
}

// steps runs runbook steps; one that ends with another exit code than it
// should is a failure of the outcome, not an error.
func (in *incident) steps(ctx context.Context, list ...Step) error {
	for _, s := range list {
		code, err := in.run(ctx, s)
		if err != nil {
			return err
		}
		if code != s.WantExit {
			in.out.Failures = append(in.out.Failures, fmt.Sprintf("dlq %v: exit %d, want %d", s.Args, code, s.WantExit))
		}
	}
	return nil
}

// burst places the orders, waits for the pipeline, and picks an order the
// payment outage dead-lettered.
func (in *incident) burst(ctx context.Context) error {
	sc, stack := in.sc, in.stack
	in.note(fmt.Sprintf("Black Friday: %d orders (every %dth delivered twice); payment provider down for orders %d%%–%d%%, shipping rejects %d%%–%d%%",
		sc.Orders, sc.DuplicateEvery, int(sc.PaymentFrom*100), int(sc.PaymentTo*100), int(sc.ShipFrom*100), int(sc.ShipTo*100)))
	if err := PlaceOrders(ctx, in.c.SQS, stack, sc); err != nil {
		return err
	}
	if err := in.p.WaitIdle(ctx); err != nil {
		return err
	}
	_ = in.p.Logs.Flush(ctx)
	in.note("the burst is through: " + in.p.String())
	ids, err := DLQOrderIDs(ctx, in.c.SQS, stack.OrdersDLQURL)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("no order reached %s: the payment outage did not bite", stack.OrdersDLQ)
	}
	// The runbook looks at an order the payment outage put there: on a
	// busy machine a duplicate delivery can also run out of receives while
	// its twin holds the saga, and its timeline would tell another story.
	in.order = ids[0]
	for _, id := range ids {
		if sc.InPaymentOutage(id) {
			in.order = id
			break
		}
	}
	return nil
}

// replayTheOutage is three commands from the alarm to the targeted
// replay: which DLQ, why (two causes), replay the one that was fixed.
func (in *incident) replayTheOutage(ctx context.Context) error {
	stack := in.stack
	if err := in.steps(ctx,
		Step{"Which DLQs hold messages? (exit 3: the CI smoke check fails)", []string{"inspect", "--prefix", in.prefix, "--max-depth", "0"}, 3},
		Step{"Why are they failing? One cause or many", []string{"triage", stack.OrdersDLQ, "--log-group", stack.LogGroup}, 0},
	); err != nil {
		return err
	}
	// The operator reads the outage's cause ID off the triage table; the
	// runbook finds it the same way the command does.
	outage, err := OutageCause(ctx, in.c, stack)
	if err != nil {
		return err
	}
	in.note(fmt.Sprintf("the payment outage is cause %s (%d orders), and the payment provider is back; the poison orders are another cause", outage.ID, outage.Count))
	if err := in.p.FixPaymentOutage(ctx); err != nil {
		return err
	}
	if in.sc.WorkerBinary != "" {
		in.note("the fix is deployed: the worker exited 0 on SIGTERM and a new one runs without the outage: " + in.p.String())
	}
	if err := in.steps(ctx, Step{"Replay the outage's orders, only those, 10 orders first: the rest moves only once the canary's traces log a success (the plan shows first)",
		[]string{"replay", stack.OrdersDLQ, "--cause", outage.ID, "--canary", "10", "--log-group", stack.LogGroup, "--yes"}, 0}); err != nil {
		return err
	}
	if err := in.p.WaitIdle(ctx); err != nil {
		return err
	}
	_ = in.p.Logs.Flush(ctx)
	in.note("the pipeline drained the replayed orders: " + in.p.String())
	return nil
}

// replayTheRest replays what a replay can fix besides the outage (not the
// poison orders), as a runbook says to: under chaos, a replayed order can
// meet enough faults to exhaust its receives again, and on a busy machine
// a duplicate delivery can run out of receives while its twin holds the
// saga.
func (in *incident) replayTheRest(ctx context.Context) error {
	for round := 0; round < 3; round++ {
		left, err := DLQOrderIDs(ctx, in.c.SQS, in.stack.OrdersDLQURL)
		if err != nil {
			return err
		}
		back := 0
		for _, id := range left {
			if !in.sc.IsPoison(id) {
				back++
			}
		}
		if back == 0 {
			break
		}
		in.note(fmt.Sprintf("%d order(s) besides the poison ones are in the DLQ (faults, or a duplicate that ran out of receives): replay those", back))
		if err := in.steps(ctx, Step{"Replay what else is there, not the poison orders", []string{"replay", in.stack.OrdersDLQ, "--where", "payload.currency=EUR", "--yes"}, 0}); err != nil {
			return err
		}
		if err := in.p.WaitIdle(ctx); err != nil {
			return err
		}
	}
	if in.sc.Chaos != nil {
		in.note(in.sc.Chaos.String())
	}
	return nil
}

// investigate looks at what is left: a poison order's message and story,
// a replayed order's story, the causes, and the check that rightly fails
// while poison orders wait for a person.
func (in *incident) investigate(ctx context.Context) error {
	sc, stack := in.sc, in.stack
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
	var steps []Step
	if poison != "" {
		steps = []Step{
			{"What is left? " + poison + ", without consuming anything", []string{"peek", stack.OrdersDLQ, "--order-id", poison, "--body"}, 0},
			{"What happened to " + poison + "?", []string{"timeline", "--order-id", poison, "--log-group", stack.LogGroup, "--since", "1h"}, 0},
			{"What happened to " + in.order + ", one of the replayed orders?", []string{"timeline", "--order-id", in.order, "--log-group", stack.LogGroup, "--since", "1h"}, 0},
		}
	}
	steps = append(steps, Step{"What is left: only the poison orders", []string{"triage", stack.OrdersDLQ, "--log-group", stack.LogGroup}, 0})
	if poison != "" {
		wrong, err := in.wrongFix(ctx)
		if err != nil {
			return err
		}
		steps = append(steps, wrong)
	}
	steps = append(steps,
		Step{"The DLQ holds the poison orders, so the check rightly fails (exit 3)", []string{"inspect", "--prefix", in.prefix, "--max-depth", "0"}, want})
	if err := in.steps(ctx, steps...); err != nil {
		return err
	}
	left, err := DLQOrderIDs(ctx, in.c.SQS, stack.OrdersDLQURL)
	if err != nil {
		return err
	}
	for _, id := range left {
		if !sc.IsPoison(id) {
			in.out.Failures = append(in.out.Failures, fmt.Sprintf("order %s is still in the DLQ and is not a poison order", id))
		}
	}
	return nil
}

// wrongFix is the replay of a fix that did not hold, the poison orders':
// their canary of 5 comes back, and the rest stays in the DLQ untouched.
func (in *incident) wrongFix(ctx context.Context) (Step, error) {
	bad, err := CauseMatching(ctx, in.c, in.stack, "invalid currency")
	if err != nil {
		return Step{}, err
	}
	return Step{"Had someone believed the poison orders fixed: their canary of 5 comes back, and nothing else moves (exit 3)",
		[]string{"replay", in.stack.OrdersDLQ, "--cause", bad.ID, "--canary", "5", "--log-group", in.stack.LogGroup, "--yes"}, 3}, nil
}

// stop stops the pipeline: the worker must exit 0 on SIGTERM.
func (in *incident) stop(context.Context) error {
	if err := in.p.Stop(); err != nil {
		in.out.Failures = append(in.out.Failures, err.Error())
	} else if in.sc.WorkerBinary != "" {
		in.note("the worker exited 0 on SIGTERM: " + in.p.String())
	}
	return nil
}

// OutageCause is the triage group of the payment outage in the orders
// DLQ: its first failure is the payment provider's error.
func OutageCause(ctx context.Context, c Clients, stack Stack) (triage.Group, error) {
	return CauseMatching(ctx, c, stack, "payment provider unavailable")
}

// CauseMatching is the triage group of the orders DLQ whose error
// contains text.
func CauseMatching(ctx context.Context, c Clients, stack Stack, text string) (triage.Group, error) {
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
		if strings.Contains(g.Error, text) {
			return g, nil
		}
	}
	return triage.Group{}, fmt.Errorf("triage found no cause with %q in %s: %d group(s)", text, stack.OrdersDLQ, len(rep.Groups))
}
