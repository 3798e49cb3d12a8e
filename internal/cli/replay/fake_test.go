package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// fakeEngine stands in for the replay engine as replayRun sees it: it
// keeps the Config it is given, reports what it waits for on Status, asks
// Confirm with its plan as the engine does (not in a dry run, and only
// when messages are held), draws progress, and returns its canned report
// and error.
type fakeEngine struct {
	plan     engine.Report // shown to Confirm
	report   engine.Report // returned
	err      error
	status   []string          // said on Status before the plan, then cleared
	progress []engine.Progress // drawn after the confirmation
	// beforeConfirm runs just before Confirm is asked (a Ctrl-C there).
	beforeConfirm func()

	mu    sync.Mutex
	cfg   engine.Config
	asked bool // Confirm was called
}

func (e *fakeEngine) run(_ context.Context, cfg engine.Config) (engine.Report, error) {
	e.mu.Lock()
	e.cfg = cfg
	e.mu.Unlock()
	if len(e.status) > 0 {
		for _, s := range e.status {
			cfg.Status(s)
		}
		cfg.Status("")
	}
	if cfg.Confirm != nil && e.plan.Plan != nil && e.plan.Plan.Messages > 0 {
		if e.beforeConfirm != nil {
			e.beforeConfirm()
		}
		e.mu.Lock()
		e.asked = true
		e.mu.Unlock()
		ok, err := cfg.Confirm(e.plan)
		switch {
		case err != nil:
			return e.plan, err
		case !ok:
			return e.plan, engine.ErrDeclined
		}
	}
	if cfg.Progress != nil {
		for _, p := range e.progress {
			cfg.Progress(p)
		}
	}
	return e.report, e.err
}

// config is the Config the engine was given.
func (e *fakeEngine) config() engine.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// noSQS is the client replayRun hands the engine; the fake engine makes
// no call, so every method panics on the nil interface, but for the
// DLQ's lookups replayRun makes itself to find its journal (by the
// DLQ's ARN).
type noSQS struct{ SQSAPI }

func (noSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // the SDK interface's name
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://sqs.us-east-1.amazonaws.com/123456789012/" + aws.ToString(in.QueueName))}, nil
}

func (noSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	name := aws.ToString(in.QueueUrl)[strings.LastIndex(aws.ToString(in.QueueUrl), "/")+1:]
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:" + name}}, nil
}

const journalPath = "/home/oncall/.local/state/dlq/replay-us-east-1-123456789012-orders-payments-dlq.jsonl"

// planFor is a plan of n messages to one destination, with a sample whose
// control characters must not reach a terminal.
func planFor(n int) *engine.Plan {
	if n == 0 {
		return &engine.Plan{Routes: []engine.RoutePlan{}, Samples: []string{}, Warnings: []string{}}
	}
	return &engine.Plan{Messages: n, Bytes: 2150, Keys: 3, Oldest: "2026-11-26T18:00:02Z", Newest: "2026-11-26T18:09:57Z",
		Routes:   []engine.RoutePlan{{Destination: "orders-payments", Messages: n, Via: "sourceArn"}},
		Samples:  []string{`{"orderId":"order-1042","traceId":"4bf92f3577b34da6"}`, "{\"orderId\":\"order-1043\",\"note\":\"\x1b[31mred\"}"},
		Warnings: []string{}}
}

// scenario is one replay as the engine reports it.
type scenario struct {
	name   string
	dryRun bool
	engine func() *fakeEngine
	// exit is the process's exit code; message the error's text.
	exit    int
	message string
}

// scenarios are the replays whose rendering the golden files hold.
func scenarios() []scenario {
	base := func(p *engine.Plan) engine.Report {
		return engine.Report{DLQ: "orders-payments-dlq", Destination: "orders-payments", Order: engine.OrderKey, Scanned: 7, Matched: p.Messages,
			Failures: []engine.Failure{}, Journal: journalPath, Plan: p}
	}
	return []scenario{
		{name: "moved", exit: cli.ExitOK, engine: func() *fakeEngine {
			plan := base(planFor(5))
			rep := plan
			rep.Sent, rep.Deleted, rep.Verified, rep.DurationSeconds = 5, 5, true, 3.25
			return &fakeEngine{plan: plan, report: rep,
				status:   []string{"waiting 42s for 3 message(s) an interrupted run holds"},
				progress: []engine.Progress{{Total: 5}, {Total: 5, Sent: 5, Deleted: 5, Elapsed: 2 * time.Second, InFlight: 0}}}
		}},
		{name: "left", exit: cli.ExitCondition,
			message: "not verified: 2 message(s) of this replay are still in shared-dlq (1 failed, 1 not reached); stopped: storm: " +
				"1 message(s) failed: fix what the failures say, then run again; 1 matching message(s) were not reached: run the same command again " +
				"(stopped: 20 replayed messages came back to the DLQ (stop on return: 20): fix what they fail on before replaying the rest)",
			engine: func() *fakeEngine {
				p := planFor(6)
				p.Routes = []engine.RoutePlan{{Destination: "orders-payments", Kind: engine.DestSQS, Messages: 4, Via: "sourceArn"}, {Destination: "orders-notify", Kind: engine.DestSQS, Messages: 2, Via: "to"}}
				p.Warnings = []string{"2 message(s) have no orderId: sent as independent"}
				plan := base(p)
				plan.DLQ, plan.Destination = "shared-dlq", "orders-payments, orders-notify"
				rep := plan
				rep.Sent, rep.Deleted, rep.Failed, rep.Uncertain, rep.Remaining = 4, 4, 1, 1, 1
				rep.LeftInDLQ, rep.Left = 2, engine.Left{Failed: 1, NotReached: 1}
				rep.NextStep = "1 message(s) failed: fix what the failures say, then run again; 1 matching message(s) were not reached: run the same command again (stopped: 20 replayed messages came back to the DLQ (stop on return: 20): fix what they fail on before replaying the rest)"
				rep.Failures = []engine.Failure{{MessageID: "m-3", Error: "2000 bytes with attributes: larger than orders-payments's maximum message size (1024)\x1b[2J"}}
				rep.Warnings = []string{"order o-9: a later message overtook a failed one"}
				rep.HeldBack = []string{"m-5"}
				rep.Unmarked = []string{"m-4"}
				rep.Stopped = engine.StopStorm
				rep.DurationSeconds = 12.04
				return &fakeEngine{plan: plan, report: rep}
			}},
		{name: "dry-run", dryRun: true, exit: cli.ExitOK, engine: func() *fakeEngine {
			rep := base(planFor(5))
			rep.DryRun, rep.DurationSeconds = true, 0.5
			rep.Journal = ""
			return &fakeEngine{report: rep}
		}},
		{name: "nothing-matched", exit: cli.ExitOK, engine: func() *fakeEngine {
			rep := base(planFor(0))
			rep.Verified, rep.DurationSeconds = true, 0.4
			return &fakeEngine{report: rep}
		}},
	}
}

// runOptions are the options of `dlq replay orders-payments-dlq --yes`
// on ios with engine e; the journal goes to a test directory.
func runOptions(t *testing.T, ios *render.IOStreams, e *fakeEngine, output render.Format) *ReplayOptions {
	t.Helper()
	state := t.TempDir()
	clock := testenv.NewClock(now)
	return &ReplayOptions{IO: ios, Now: clock.Now, Run: e.run,
		Env: func(k string) (string, bool) {
			return map[string]string{"XDG_STATE_HOME": state}[k], k == "XDG_STATE_HOME"
		},
		SQS: func(context.Context) (SQSAPI, error) { return noSQS{}, nil },
		DLQ: "orders-payments-dlq", Order: "key", Dedup: "new", Visibility: engine.DefaultVisibility, Yes: true, Output: output}
}

// transcript is what a run shows: its exit code and error, stdout, and
// stderr.
func transcript(code int, err error, stdout, stderr string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "exit %d\n", code)
	if err != nil {
		fmt.Fprintf(&b, "error: %s\n", err)
	}
	fmt.Fprintf(&b, "-- stdout --\n%s-- stderr --\n%s", stdout, stderr)
	return b.Bytes()
}

// stripLiveLine removes the sequences the live line redraws itself with.
func stripLiveLine(s string) string { return strings.ReplaceAll(s, "\r\x1b[K", "") }

// brokenPipe is a stdout whose reader has gone.
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("write |1: broken pipe") }
