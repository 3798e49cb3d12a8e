package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/sqsbatch"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/pipeline/worker"
)

// LambdaTimeout is the function timeout of the template's order Lambda,
// which the in-process runtime gives each invocation.
const LambdaTimeout = 30 * time.Second

// Pipeline runs the order pipeline against the stack during a scenario,
// on internal/pipeline/worker: in process, configured as Lambda's event
// source mapping runs the function (batches of 10, the function timeout,
// no visibility renewal), or in the cmd/worker/orders binary
// (Scenario.WorkerBinary), as a container would. Either way its log lines
// go to the stack's log group.
type Pipeline struct {
	Stack    Stack
	Clients  Clients
	Scenario Scenario
	Logs     *LogShipper
	// Worker is the in-process runtime's worker; nil when the binary runs
	// the pipeline.
	Worker *worker.Worker

	proc        *workerProcess // the binary's runtime
	stops       []string       // the counts each stopped worker reported
	paymentDown atomic.Bool
	cancel      context.CancelFunc
	done        chan struct{}
	stopOnce    sync.Once
	stopErr     error
	failed      chan error // the in-process worker's Run failed on its own
}

// StartPipeline starts the pipeline and the log shipper with the payment
// outage on.
func StartPipeline(ctx context.Context, c Clients, s Stack, sc Scenario) (*Pipeline, error) {
	if sc.WorkerBinary != "" && sc.Chaos != nil {
		return nil, errors.New("start pipeline: chaos injects faults in process; the worker binary has no hook for it")
	}
	p := &Pipeline{Stack: s, Clients: c, Scenario: sc, done: make(chan struct{}), failed: make(chan error, 1)}
	p.paymentDown.Store(true)
	p.Logs = &LogShipper{API: c.Logs, Group: s.LogGroup, Stream: "runner"}
	rctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	logsDone := make(chan struct{})
	go func() { p.Logs.Run(rctx, 500*time.Millisecond); close(logsDone) }()

	if sc.WorkerBinary != "" {
		proc, err := startWorkerProcess(ctx, sc.WorkerBinary, c, s, sc.FailRules(true), p.Logs)
		if err != nil {
			cancel()
			<-logsDone
			return nil, err
		}
		p.proc = proc
		go func() { <-rctx.Done(); <-logsDone; close(p.done) }()
		return p, nil
	}

	logger := trace.NewLogger(p.Logs, slog.LevelInfo)
	publisher := &trace.Publisher{API: c.SQS}
	pipe := &orders.Pipeline{DB: sc.Chaos.DB(c.DB), Tables: s.Tables, Logger: logger,
		Compensation: saga.RetryPolicy{MaxAttempts: 3, Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond},
		DeadLetter: func(ctx context.Context, st saga.State) error {
			_, err := publisher.Publish(ctx, s.SagaDLQURL, "SagaCompensationFailed", st)
			return err
		},
		Faults: p.faults}
	// What Lambda's event source mapping does: batches of up to 10, the
	// function timeout as each invocation's deadline, the queue's
	// visibility timeout never extended (short here, so retries come in
	// seconds).
	p.Worker = worker.New(c.SQS, worker.Options{QueueURL: s.OrdersURL, QueueARN: s.OrdersARN, Handler: pipe.Handler(sqsbatch.Options{Logger: logger}),
		Concurrency: 4, WaitTime: time.Second, Heartbeat: -1, Timeout: LambdaTimeout})
	go func() {
		defer close(p.done)
		if err := p.Worker.Run(rctx); err != nil && rctx.Err() == nil {
			// The worker gave up on its own (the queue cannot be read):
			// WaitIdle must not wait for a queue nobody consumes.
			p.failed <- err
		}
		<-logsDone
	}()
	return p, nil
}

func (p *Pipeline) faults(ctx context.Context, step string, o orders.Order) error {
	if err := p.Scenario.Chaos.Provider(); err != nil {
		return err
	}
	return orders.RuleFaults(p.Scenario.FailRules(p.paymentDown.Load()))(ctx, step, o)
}

// WaitIdle waits until the orders queue holds nothing, visible or in
// flight (WaitIdle); on the worker binary it fails as soon as the worker
// exits on its own.
func (p *Pipeline) WaitIdle(ctx context.Context) error {
	if p.proc == nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var failed error
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			select {
			case failed = <-p.failed:
				cancel()
			case <-wctx.Done():
			}
		}()
		err := WaitIdle(wctx, p.Clients.SQS, p.Stack.OrdersURL)
		cancel()
		<-stopped
		if failed != nil {
			return fmt.Errorf("run pipeline: the worker stopped while the queue was still busy: %w", failed)
		}
		return err
	}
	proc := p.proc
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-proc.exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := WaitIdle(wctx, p.Clients.SQS, p.Stack.OrdersURL)
	select {
	case <-proc.exited:
		return fmt.Errorf("run pipeline: the worker exited while the queue was still busy: %w", proc.exitErr("on its own"))
	default:
		return err
	}
}

// FixPaymentOutage ends the payment outage. On the worker binary it is a
// deployment of the fix: the running worker gets SIGTERM and must exit 0,
// and a new one starts without the outage.
func (p *Pipeline) FixPaymentOutage(ctx context.Context) error {
	p.paymentDown.Store(false)
	if p.proc == nil {
		return nil
	}
	if err := p.proc.stop(); err != nil {
		return fmt.Errorf("redeploy the worker: %w", err)
	}
	p.stops = append(p.stops, p.proc.summary())
	proc, err := startWorkerProcess(ctx, p.Scenario.WorkerBinary, p.Clients, p.Stack, p.Scenario.FailRules(false), p.Logs)
	if err != nil {
		return fmt.Errorf("redeploy the worker: %w", err)
	}
	p.proc = proc
	return nil
}

// Stop ends the pipeline (the worker binary by SIGTERM, which it must
// answer by exiting 0) and ships the remaining logs. It is safe to call
// again; every call returns the first's error.
func (p *Pipeline) Stop() error {
	p.stopOnce.Do(func() {
		if p.proc != nil {
			p.stopErr = p.proc.stop()
			p.stops = append(p.stops, p.proc.summary())
		}
		p.cancel()
		<-p.done
	})
	return p.stopErr
}

// String says where the pipeline runs and what it did.
func (p *Pipeline) String() string {
	if p.proc != nil {
		s := fmt.Sprintf("cmd/worker/orders (pid %d)", p.proc.pid())
		for i, stop := range p.stops {
			s += fmt.Sprintf("; worker %d at its stop: %s", i+1, stop)
		}
		return s
	}
	return "the Lambda event-source runner: " + p.Worker.Stats().String()
}
