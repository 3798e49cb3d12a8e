package replay

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

var now = time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)

// ignoreDeps leaves out of a comparison of ReplayOptions what is not a
// flag value: streams, client factories, the clock and the engine.
// orderKey is checked on its own (TestNewCmdReplayParsesTheOrderKey).
var ignoreDeps = cmp.Options{
	cmpopts.IgnoreFields(ReplayOptions{}, "IO", "SQS", "Logs", "Services", "Now", "Env", "Run"),
	cmpopts.IgnoreUnexported(ReplayOptions{}, cli.MessageFilter{}),
}

// defaults are the options of `dlq replay orders-dlq` with no flags.
func defaults() ReplayOptions {
	return ReplayOptions{DLQ: "orders-dlq", Order: "key", Dedup: "new", Visibility: 90 * time.Second, Output: render.FormatTable}
}

// newCmdTest builds `dlq replay` on test streams with settings s, its run
// function replaced by one that keeps the options it is given.
func newCmdTest(t *testing.T, s cli.Settings, stderrTTY bool) (*ReplayOptions, func(args string) error) {
	t.Helper()
	ios, _, _, _ := render.Test()
	ios.SetStderrTTY(stderrTTY)
	if s.Output == "" {
		s.Output = render.FormatTable
	}
	f := cli.NewFactory(ios, func() (cli.Settings, error) { return s, nil })
	f.Now = func() time.Time { return now }
	got := &ReplayOptions{}
	cmd := NewCmdReplay(f, func(_ context.Context, o *ReplayOptions) error { *got = *o; return nil })
	cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
	return got, func(args string) error { return testenv.ExecuteCommand(cmd, ios, args) }
}

func TestNewCmdReplay(t *testing.T) {
	t.Parallel()
	ctxGroups := cli.Settings{LogGroups: []string{"/aws/lambda/ctx"}, LogGroupPrefix: []string{"/aws/lambda/ctx-"}}
	with := func(change func(*ReplayOptions)) ReplayOptions {
		o := defaults()
		change(&o)
		return o
	}
	tests := []struct {
		name     string
		args     string
		tty      bool // stderr is a terminal
		settings cli.Settings
		want     ReplayOptions
	}{
		{name: "defaults on a terminal", args: "orders-dlq", tty: true, want: defaults()},
		{name: "yes off a terminal", args: "orders-dlq --yes", want: with(func(o *ReplayOptions) { o.Yes = true })},
		{name: "-y", args: "orders-dlq -y", want: with(func(o *ReplayOptions) { o.Yes = true })},
		{name: "dry run off a terminal", args: "orders-dlq --dry-run", want: with(func(o *ReplayOptions) { o.DryRun = true })},
		{name: "by URL", args: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq -y",
			want: with(func(o *ReplayOptions) {
				o.DLQ, o.Yes = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq", true
			})},
		{name: "output from settings", args: "orders-dlq -y", settings: cli.Settings{Output: render.FormatNDJSON},
			want: with(func(o *ReplayOptions) { o.Yes, o.Output = true, render.FormatNDJSON })},
		{name: "every flag", tty: true,
			args: "orders-dlq --to arn:aws:sqs:eu-west-1:123456789012:orders-payments --force --order sent --rate 50 --concurrency 4 --limit 10 " +
				"--max-scan 100 --journal /tmp/j.jsonl --dedup original --stop-on-return 20 --no-wait --visibility 5m --dry-run --via-bus --to-topic --canary 10 --canary-wait 2m --canary-only",
			want: with(func(o *ReplayOptions) {
				o.To, o.Force, o.Order, o.Rate, o.Concurrency, o.Limit = "arn:aws:sqs:eu-west-1:123456789012:orders-payments", true, "sent", 50, 4, 10
				o.MaxScan, o.Journal, o.Dedup, o.StopOnReturn, o.NoWait, o.Visibility, o.DryRun = 100, "/tmp/j.jsonl", "original", 20, true, 5*time.Minute, true
				o.ViaBus, o.ToTopic = true, true
				o.Canary, o.CanaryWait, o.CanaryOnly = 10, 2*time.Minute, true
			})},
		{name: "order none", args: "orders-dlq --order none -y", want: with(func(o *ReplayOptions) { o.Order, o.Yes = "none", true })},
		{name: "order key", args: "orders-dlq --order-key customer.id -y", want: with(func(o *ReplayOptions) { o.OrderKey, o.Yes = "customer.id", true })},
		{name: "visibility bounds", args: "orders-dlq --visibility 3s -y", want: with(func(o *ReplayOptions) { o.Visibility, o.Yes = 3*time.Second, true })},
		{name: "filters", args: "orders-dlq -y --order-id order-1042 --trace-id t-1 --where a.b=1 --where attr.x=2 --since 1h --until 10m --min-receives 2 --error-code 503 --jq .body",
			want: with(func(o *ReplayOptions) {
				o.Yes = true
				o.Filter.Options = filter.Options{OrderID: "order-1042", TraceID: "t-1", Where: []string{"a.b=1", "attr.x=2"}, Since: time.Hour, Until: "10m",
					MinReceives: 2, ErrorCode: "503", JQ: ".body"}
			})},
		{name: "cause with the context's log groups", args: "orders-dlq --cause 3f9a2c -y", settings: ctxGroups,
			want: with(func(o *ReplayOptions) {
				o.Yes = true
				o.Cause = cli.CauseOptions{ID: "3f9a2c", Groups: []string{"/aws/lambda/ctx"}, Prefixes: []string{"/aws/lambda/ctx-"}}
			})},
		{name: "log groups beat the context's", args: "orders-dlq --cause 3f9a2c --log-group-prefix /aws/lambda/orders- -y", settings: ctxGroups,
			want: with(func(o *ReplayOptions) {
				o.Yes = true
				o.Cause = cli.CauseOptions{ID: "3f9a2c", Prefixes: []string{"/aws/lambda/orders-"}}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, run := newCmdTest(t, tt.settings, tt.tty)
			if err := run(tt.args); err != nil {
				t.Fatalf("%s: %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, *got, ignoreDeps); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// Every bad input is a usage error (exit 2) that says what is wrong, and
// the run function is never called.
func TestNewCmdReplayUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    string
		tty     bool
		wantErr string
	}{
		{args: "", tty: true, wantErr: "takes 1 argument (the DLQ to replay), got 0"},
		{args: "a-dlq b-dlq", tty: true, wantErr: "got 2"},
		{args: "orders-dlq", wantErr: "not on a terminal: pass --yes to replay, or --dry-run to see the plan"},
		{args: "bad/name -y", wantErr: `invalid queue "bad/name"`},
		{args: "orders-dlq --to bad/name -y", wantErr: `invalid queue "bad/name"`},
		{args: "orders-dlq --order sent --order-key customer.id -y", wantErr: "--order-key needs --order key"},
		{args: "orders-dlq --order-key a=b -y", wantErr: `invalid path "a=b"`},
		{args: "orders-dlq --order random -y", wantErr: `--order must be key, sent or none, got "random"`},
		{args: "orders-dlq --dedup old -y", wantErr: `--dedup must be new or original, got "old"`},
		{args: "orders-dlq --rate -1 -y", wantErr: "must be 0 or more"},
		{args: "orders-dlq --concurrency -1 -y", wantErr: "must be 0 or more"},
		{args: "orders-dlq --limit -1 -y", wantErr: "must be 0 or more"},
		{args: "orders-dlq --max-scan -1 -y", wantErr: "must be 0 or more"},
		{args: "orders-dlq --stop-on-return -1 -y", wantErr: "must be 0 or more"},
		{args: "orders-dlq --visibility 2s -y", wantErr: "--visibility must be between 3s and 12h"},
		{args: "orders-dlq --visibility 13h -y", wantErr: "--visibility must be between 3s and 12h"},
		{args: "orders-dlq --canary -1 -y", wantErr: "--canary and --canary-wait must be 0 or more"},
		{args: "orders-dlq --canary-only -y", wantErr: "--canary-wait and --canary-only need --canary N"},
		{args: "orders-dlq --canary-wait 1m -y", wantErr: "--canary-wait and --canary-only need --canary N"},
		{args: "orders-dlq --jq '.[' -y", wantErr: "invalid --jq"},
		{args: "orders-dlq --since -1h -y", wantErr: "--since must be positive"},
		{args: "orders-dlq --rate fast -y", wantErr: `invalid argument "fast" for "--rate"`},
		{args: "orders-dlq --frobnicate -y", wantErr: "unknown flag: --frobnicate (see 'replay --help')"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			got, run := newCmdTest(t, cli.Settings{}, tt.tty)
			err := run(tt.args)
			var u *cli.UsageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
			}
			if code := cli.ExitCode(context.Background(), err); code != cli.ExitUsage {
				t.Errorf("exit %d, want %d", code, cli.ExitUsage)
			}
			if got.DLQ != "" {
				t.Errorf("the run function was called with %+v", *got)
			}
		})
	}
}

// --order-key is parsed once, in RunE, into the path the engine reads
// each message's key with.
func TestNewCmdReplayParsesTheOrderKey(t *testing.T) {
	t.Parallel()
	m := queue.FromSQS(types.Message{MessageId: aws.String("m-1"), Body: aws.String(`{"customer":{"id":"c-7"},"orderId":"o-1"}`)})
	for _, tt := range []struct {
		args string
		want string // "" : no key path (the engine's default)
	}{
		{args: "orders-dlq -y", want: ""},
		{args: "orders-dlq --order-key customer.id -y", want: "c-7"},
		{args: "orders-dlq --order key --order-key orderId -y", want: "o-1"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			got, run := newCmdTest(t, cli.Settings{}, false)
			if err := run(tt.args); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if got.orderKey != nil {
					t.Errorf("orderKey set without --order-key")
				}
				return
			}
			if got.orderKey == nil {
				t.Fatal("orderKey not set")
			}
			if v, ok := got.orderKey.Value(&m); !ok || v != tt.want {
				t.Errorf("key of the message = %q, %v; want %q", v, ok, tt.want)
			}
		})
	}
}

// Without a test's engine, the command runs the real one.
func TestNewCmdReplayRunsTheEngine(t *testing.T) {
	t.Parallel()
	got, run := newCmdTest(t, cli.Settings{}, false)
	if err := run("orders-dlq -y"); err != nil {
		t.Fatal(err)
	}
	if got.Run == nil || reflect.ValueOf(got.Run).Pointer() != reflect.ValueOf(engine.Run).Pointer() {
		t.Error("ReplayOptions.Run is not replay.Run")
	}
}
