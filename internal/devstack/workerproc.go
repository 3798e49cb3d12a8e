package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dlqops/dlq/internal/orders"
)

// workerGrace is the worker binary's WORKER_GRACE in the demo; a stop
// that takes longer than this plus stopMargin is killed, as ECS kills a
// task past its stopTimeout.
const (
	workerGrace = 10 * time.Second
	stopMargin  = 5 * time.Second
)

// workerProcess is cmd/worker/orders running against the emulator, its
// stdout (the pipeline's log lines) going to the log shipper.
type workerProcess struct {
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{}
	err    error // Wait's, once exited is closed

	mu       sync.Mutex
	stopping bool
}

// startWorkerProcess starts the binary with the Lambda's environment for
// the stack, the outages as FAIL_STEPS, and the emulator's endpoint and
// credentials (those of c's clients).
func startWorkerProcess(ctx context.Context, bin string, c Clients, s Stack, rules []orders.FailRule, logs io.Writer) (*workerProcess, error) {
	o := c.SQS.Options()
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("start worker: read the emulator's credentials: %w", err)
	}
	env := []string{
		"AWS_ENDPOINT_URL=" + aws.ToString(o.BaseEndpoint), "AWS_REGION=" + o.Region,
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"QUEUE_URL=" + s.OrdersURL,
		"INVENTORY_TABLE=" + s.Tables.Inventory, "PAYMENTS_TABLE=" + s.Tables.Payments, "SHIPMENTS_TABLE=" + s.Tables.Shipments,
		"SAGA_TABLE=" + s.Tables.Sagas, "IDEMPOTENCY_TABLE=" + s.Tables.Idempotency, "SAGA_DLQ_URL=" + s.SagaDLQURL,
		"FAIL_STEPS=" + orders.FailSteps(rules),
		// A short long poll, so that a stop of an idle worker is quick.
		"WORKER_CONCURRENCY=4", "WORKER_WAIT=1s", fmt.Sprintf("WORKER_GRACE=%ds", int(workerGrace.Seconds())),
	}
	if creds.SessionToken != "" {
		env = append(env, "AWS_SESSION_TOKEN="+creds.SessionToken)
	}
	w := &workerProcess{cmd: exec.Command(bin), stderr: &tail{max: 64 << 10}, exited: make(chan struct{})}
	w.cmd.Env, w.cmd.Stdout, w.cmd.Stderr = env, logs, w.stderr
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %s: %w", bin, err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.exited) }()
	return w, nil
}

func (w *workerProcess) pid() int { return w.cmd.Process.Pid }

// stop sends SIGTERM and waits: the worker must exit 0 within its grace
// period. Past it (and a margin) it is killed, and that is an error too.
func (w *workerProcess) stop() error {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	select {
	case <-w.exited:
		return w.exitErr("exited before it was stopped")
	default:
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop worker: %w", err)
	}
	select {
	case <-w.exited:
		return w.exitErr("on SIGTERM")
	case <-time.After(workerGrace + stopMargin):
		_ = w.cmd.Process.Kill()
		<-w.exited
		return fmt.Errorf("stop worker: no exit %s after SIGTERM: killed\n%s", workerGrace+stopMargin, w.stderr.String())
	}
}

func (w *workerProcess) exitErr(when string) error {
	var exit *exec.ExitError
	switch {
	case errors.As(w.err, &exit):
		return fmt.Errorf("stop worker: exit status %d %s\n%s", exit.ExitCode(), when, w.stderr.String())
	case w.err != nil:
		return fmt.Errorf("stop worker: %w", w.err)
	}
	return nil
}

// summary is the counts the worker's stopped line reported.
func (w *workerProcess) summary() string {
	for line := range strings.SplitSeq(w.stderr.String(), "\n") {
		var rec struct{ Msg, Stats string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "stopped" {
			return rec.Stats
		}
	}
	return "no counts reported"
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
