// Command dlq-demo is `make demo`: it starts moto_server on loopback,
// provisions a small order pipeline with dead-letter queues, fails some
// orders into them the way a broken consumer would, and walks through the
// runbook with the real dlq binary, showing each command before its output.
// It leaves nothing running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/devstack"
)

const region = "us-east-1"

func main() {
	dlqBin := flag.String("dlq", "bin/dlq", "path of the dlq binary to demonstrate")
	prefix := flag.String("prefix", "demo-", "name prefix of the demo's queues")
	endpoint := flag.String("endpoint", "", "use this running emulator instead of starting moto_server")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dlqBin, *prefix, *endpoint); err != nil {
		fmt.Fprintf(os.Stderr, "dlq-demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dlqBin, prefix, endpoint string) error {
	if _, err := os.Stat(dlqBin); err != nil {
		return fmt.Errorf("dlq binary %s: %w (run make build)", dlqBin, err)
	}
	emu := &devstack.Emulator{Endpoint: endpoint}
	if endpoint == "" {
		step("Starting moto_server on loopback")
		started, err := devstack.StartMoto(nil)
		if err != nil {
			return err
		}
		defer started.Stop()
		emu = started
	}
	fmt.Printf("  emulator at %s\n", emu.Endpoint)

	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithBaseEndpoint(emu.Endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("demo", "demo", "")))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	c := sqs.NewFromConfig(cfg)

	step("Provisioning the order pipeline: orders, payments, shipping.fifo, notifications, each with a DLQ")
	queues, err := devstack.Provision(ctx, c, prefix, devstack.OrderPipeline)
	if err != nil {
		return err
	}
	byName := map[string]devstack.Queue{}
	for _, q := range queues {
		byName[q.Spec.Name] = q
		fmt.Printf("  %s → %s (maxReceiveCount %d)\n", q.Name, q.DLQ, q.Spec.MaxReceiveCount)
	}

	step("The payment provider is down: payments and shipments fail until SQS dead-letters them")
	failures := map[string]int{"payments": 7, "shipping": 3, "notifications": 2}
	n := 0
	for _, name := range []string{"payments", "shipping", "notifications"} {
		q := byName[name]
		orders := make([]devstack.Order, failures[name])
		for i := range orders {
			n++
			orders[i] = devstack.Order{TraceID: fmt.Sprintf("trace-%04d", n), OrderID: fmt.Sprintf("order-%d", 1000+n)}
		}
		if err := devstack.Publish(ctx, c, q, name+"-requested", orders); err != nil {
			return err
		}
		if err := devstack.FailAll(ctx, c, q, 500); err != nil {
			return err
		}
		fmt.Printf("  %d messages in %s\n", len(orders), q.DLQ)
	}

	// A config directory of its own, so a user's contexts cannot point the
	// demo anywhere but the emulator.
	cfgDir, err := os.MkdirTemp("", "dlq-demo-")
	if err != nil {
		return fmt.Errorf("make config dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(cfgDir) }()
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL="+emu.Endpoint, "AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID=demo", "AWS_SECRET_ACCESS_KEY=demo", "AWS_EC2_METADATA_DISABLED=true",
		"XDG_CONFIG_HOME="+cfgDir)
	runbook := []struct {
		why  string
		args []string
	}{
		{"Which DLQs hold messages, and is anything unwatched?", []string{"inspect", "--prefix", prefix}},
		{"Which orders, and why? Look without consuming anything", []string{"peek", prefix + "payments-dlq", "--limit", "5"}},
		{"One order, in full", []string{"peek", prefix + "payments-dlq", "--order-id", "order-1003", "--body"}},
		{"Still all there: peek released every message", []string{"inspect", prefix + "payments-dlq"}},
		{"What would it take to alarm every DLQ?", []string{"alarm", "ensure", "--all", "--prefix", prefix, "--dry-run"}},
		{"No DLQ fills silently again", []string{"alarm", "ensure", "--all", "--prefix", prefix, "--sns-topic", "arn:aws:sns:us-east-1:123456789012:oncall"}},
		{"Running it again changes nothing", []string{"alarm", "ensure", "--all", "--prefix", prefix}},
		{"The alarms, per DLQ", []string{"alarm", "list", "--prefix", prefix}},
		{"The CI smoke check: exit 3 while any DLQ holds a message", []string{"inspect", "--prefix", prefix, "--max-depth", "0"}},
		{"The payment provider is back: what would a replay do?", []string{"replay", prefix + "payments-dlq", "--dry-run"}},
		{"Replay, at most 50 messages a second", []string{"replay", prefix + "payments-dlq", "--rate", "50", "--yes", "--journal", filepath.Join(cfgDir, "journal.jsonl")}},
		{"The payments DLQ is empty again", []string{"inspect", "--prefix", prefix}},
	}
	for _, s := range runbook {
		step(s.why)
		fmt.Printf("$ dlq %s\n", strings.Join(s.args, " "))
		cmd := exec.CommandContext(ctx, dlqBin, s.args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			fmt.Printf("(exit status %d)\n", exit.ExitCode())
		case err != nil:
			return fmt.Errorf("run dlq %s: %w", strings.Join(s.args, " "), err)
		}
	}
	step("Done: the emulator stops now; nothing is left running")
	return nil
}

func step(s string) {
	fmt.Printf("\n== %s\n", s)
}
