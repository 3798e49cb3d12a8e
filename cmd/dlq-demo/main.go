// Command dlq-demo is `make demo`: the Black Friday incident end to end on a
// local AWS emulator. It starts moto_server on loopback, provisions what the
// SAM template deploys, runs the order pipeline's handler (logs shipped to
// CloudWatch Logs), drives a burst of orders through a payment outage and a
// shipping outage, then works the incident with the real dlq binary —
// inspect, peek, timeline, replay — and ends with invariants computed from
// the tables, queues and logs. Non-zero on any violation. It leaves nothing
// running.
//
// RUNTIME picks where the handler runs: lambda (the default) in process,
// as Lambda's SQS event source mapping runs the function; worker in the
// built cmd/worker/orders binary (-worker), a subprocess configured as a
// container would be, redeployed (SIGTERM, exit 0, start) when the payment
// outage is fixed and stopped by SIGTERM at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/devstack"
	"github.com/dlqops/dlq/internal/emulator"
)

const region = "us-east-1"

// defaultOrders keeps the whole demo under two minutes on moto here.
const defaultOrders = 300

func main() {
	dlqBin := flag.String("dlq", "bin/dlq", "path of the dlq binary to demonstrate")
	prefix := flag.String("prefix", "", "name prefix of the demo's resources (default: bf-<time>-)")
	endpoint := flag.String("endpoint", "", "use this running emulator instead of starting moto_server")
	workerBin := flag.String("worker", "bin/orders-worker", "path of the cmd/worker/orders binary that RUNTIME=worker runs the pipeline in")
	flag.Parse()
	pipelineRuntime := os.Getenv("RUNTIME")
	switch pipelineRuntime {
	case "", "lambda":
		pipelineRuntime, *workerBin = "lambda", ""
	case "worker":
	default:
		fmt.Fprintf(os.Stderr, "dlq-demo: RUNTIME must be lambda or worker, got %q\n", pipelineRuntime)
		os.Exit(2)
	}
	n := defaultOrders
	if s := os.Getenv("ORDERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 20 {
			fmt.Fprintf(os.Stderr, "dlq-demo: ORDERS must be a number of at least 20, got %q\n", s)
			os.Exit(2)
		}
		n = v
	}
	var chaos *devstack.Chaos
	if s := os.Getenv("CHAOS"); s != "" {
		rate, err := strconv.ParseFloat(s, 64)
		if err != nil || rate < 0 || rate > 0.5 {
			fmt.Fprintf(os.Stderr, "dlq-demo: CHAOS must be a fault rate from 0 to 0.5, got %q\n", s)
			os.Exit(2)
		}
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("CHAOS_SEED"); s != "" {
			if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
				fmt.Fprintf(os.Stderr, "dlq-demo: CHAOS_SEED must be a number, got %q\n", s)
				os.Exit(2)
			}
		}
		if pipelineRuntime == "worker" {
			fmt.Fprintln(os.Stderr, "dlq-demo: CHAOS injects faults in process: use it with RUNTIME=lambda")
			os.Exit(2)
		}
		fmt.Printf("chaos: faults at rate %g into the pipeline's DynamoDB and provider calls (CHAOS_SEED=%d repeats this run)\n", rate, seed)
		chaos = devstack.NewChaos(rate, seed)
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("bf%d-", time.Now().Unix()%100000)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, *dlqBin, *workerBin, *prefix, *endpoint, n, chaos)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dlq-demo: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

func run(ctx context.Context, dlqBin, workerBin, prefix, endpoint string, orders int, chaos *devstack.Chaos) (int, error) {
	start := time.Now()
	if _, err := os.Stat(dlqBin); err != nil {
		return 1, fmt.Errorf("dlq binary %s: %w (run make build)", dlqBin, err)
	}
	if workerBin != "" {
		if _, err := os.Stat(workerBin); err != nil {
			return 1, fmt.Errorf("worker binary %s: %w (run make build-worker)", workerBin, err)
		}
		fmt.Printf("runtime: the pipeline runs in %s (cmd/worker/orders), as in a container\n", workerBin)
	} else {
		fmt.Println("runtime: the pipeline runs in process, as Lambda's SQS event source mapping runs the function")
	}
	if endpoint == "" {
		step("Starting moto_server on loopback")
		emu, err := emulator.StartMoto(nil)
		if err != nil {
			return 1, err
		}
		defer emu.Stop()
		endpoint = emu.Endpoint
	}
	fmt.Printf("  emulator at %s\n", endpoint)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("demo", "demo", "")))
	if err != nil {
		return 1, fmt.Errorf("load AWS config: %w", err)
	}
	c := devstack.Clients{SQS: sqs.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg), Logs: cwl.NewFromConfig(cfg), CW: cloudwatch.NewFromConfig(cfg)}

	// A config and state directory of its own, so a user's contexts and
	// journals cannot point the demo anywhere but the emulator.
	dir, err := os.MkdirTemp("", "dlq-demo-")
	if err != nil {
		return 1, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+endpoint, "AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID=demo", "AWS_SECRET_ACCESS_KEY=demo", "AWS_EC2_METADATA_DISABLED=true",
		"XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir,
		// Render what a person at a terminal sees (tables, not the
		// tab-separated lines of a pipe), whatever the demo's output is.
		"DLQ_FORCE_TTY=1")
	sc := devstack.DefaultScenario(orders)
	sc.Chaos, sc.WorkerBinary = chaos, workerBin
	out, err := devstack.BlackFriday(ctx, c, prefix, sc, runDLQ(dlqBin, env), func(s string) { step(s) })
	if err != nil {
		return 1, err
	}
	return report(out, start), nil
}

// runDLQ runs a runbook step with the dlq binary, as a person would type
// it, and returns its exit code.
func runDLQ(dlqBin string, env []string) devstack.RunStep {
	return func(ctx context.Context, s devstack.Step) (int, error) {
		step(s.Why)
		fmt.Printf("$ dlq %s\n", strings.Join(s.Args, " "))
		cmd := exec.CommandContext(ctx, dlqBin, s.Args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stdout
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			fmt.Printf("(exit status %d)\n", exit.ExitCode())
			return exit.ExitCode(), nil
		case err != nil:
			return 0, err
		}
		return 0, nil
	}
}

// report prints the invariant report and the steps that did not end as
// expected, and returns the demo's exit code.
func report(out devstack.Outcome, start time.Time) int {
	step("Invariant report (from the tables, queues and logs)")
	fmt.Println(out.Invariants)
	code := 0
	for _, f := range out.Failures {
		fmt.Println("runbook step did not end as expected:", f)
		code = 1
	}
	for _, v := range out.Invariants.Violations() {
		fmt.Println("VIOLATION:", v)
		code = 1
	}
	step(fmt.Sprintf("Done in %s; the emulator stops now, nothing is left running", time.Since(start).Round(time.Second)))
	return code
}

func step(s string) {
	fmt.Printf("\n== %s\n", s)
}
