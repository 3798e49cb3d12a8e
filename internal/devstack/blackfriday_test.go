package devstack_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli/root"
	"github.com/dlqops/dlq/internal/devstack"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// The whole Black Friday incident at 100 orders, the pipeline in process
// as Lambda's event source mapping runs it: it fails if a handler, the
// runtime or the CLI regresses.
func TestBlackFridayEndToEnd(t *testing.T) {
	t.Parallel()
	blackFriday(t, "ca-central-1", devstack.DefaultScenario(100))
}

// The same incident with the pipeline in the built cmd/worker/orders
// binary (RUNTIME=worker make demo): the container path, redeployed by
// SIGTERM when the outage is fixed and stopped by SIGTERM at the end, each
// time exiting 0, with the same invariants.
func TestBlackFridayOnTheWorkerBinary(t *testing.T) {
	t.Parallel()
	testenv.Endpoint(t)
	bin := filepath.Join(t.TempDir(), "orders-worker")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/worker/orders")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	sc := devstack.DefaultScenario(100)
	sc.WorkerBinary = bin
	out := blackFriday(t, "ap-southeast-2", sc)
	for _, want := range []string{"exited 0 on SIGTERM", "pid"} {
		if !strings.Contains(out, want) {
			t.Errorf("notes lack %q:\n%s", want, out)
		}
	}
}

// blackFriday runs the incident in a region of its own (an account to
// itself on moto) and checks the runbook and the invariants; it returns
// the notes the run made.
func blackFriday(t *testing.T, region string, sc devstack.Scenario) string {
	t.Helper()
	cfg := testenv.Config(t, region)
	c := devstack.Clients{SQS: sqs.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg), Logs: cwl.NewFromConfig(cfg), CW: cloudwatch.NewFromConfig(cfg)}
	state := t.TempDir()
	var transcript, notes strings.Builder
	run := func(ctx context.Context, s devstack.Step) (int, error) {
		ios, _, out, errOut := render.Test()
		env := func(k string) (string, bool) {
			switch k {
			case "XDG_STATE_HOME":
				return state, true
			case "XDG_CONFIG_HOME":
				return state, true
			}
			return "", false
		}
		args := append([]string{"--endpoint-url", testenv.Endpoint(t), "--region", region}, s.Args...)
		code := root.Run(ctx, ios, env, args, root.BuildInfo{})
		transcript.WriteString("$ dlq " + strings.Join(s.Args, " ") + "\n" + out.String() + errOut.String())
		return code, nil
	}
	out, err := devstack.BlackFriday(context.Background(), c, testenv.Name(t, "bf")+"-", sc, run, func(s string) { t.Log(s); notes.WriteString(s + "\n") })
	if err != nil {
		t.Fatalf("%v\n%s", err, transcript.String())
	}
	if len(out.Failures) > 0 {
		t.Errorf("runbook: %v\n%s", out.Failures, transcript.String())
	}
	inv := out.Invariants
	if v := inv.Violations(); len(v) > 0 {
		t.Errorf("invariants violated: %v\n%s", v, inv)
	}
	if inv.Completed == 0 || inv.Compensated == 0 || inv.StillQueued != 0 || inv.LogLines == 0 || inv.PoisonPlaced == 0 || inv.Poison != inv.PoisonPlaced {
		t.Errorf("the scenario did not exercise the pipeline: %s", inv)
	}
	for _, want := range []string{"Plan:", "holds", "payment provider unavailable", "invalid currency", "$ dlq triage", "--cause", "order rejected"} {
		if !strings.Contains(transcript.String(), want) {
			t.Errorf("transcript lacks %q\n%s", want, transcript.String())
		}
	}
	t.Logf("%s (in %s)", inv, out.Duration)
	return notes.String()
}
