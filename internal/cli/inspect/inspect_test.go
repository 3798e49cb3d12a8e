package inspect

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
	"github.com/dlqops/dlq/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testFactory is a Factory on ios whose settings are s.
func testFactory(ios *render.IOStreams, s cli.Settings) *cli.Factory {
	return cli.NewFactory(ios, func() (cli.Settings, error) { return s, nil })
}

func TestNewCmdInspect(t *testing.T) {
	t.Parallel()
	// defaults are the options of `dlq inspect` with no flags.
	defaults := func() InspectOptions {
		all, _ := sources.ParseKinds(nil)
		return InspectOptions{MaxDepth: -1, Concurrency: 16, Output: render.FormatTable, Sources: all}
	}
	with := func(change func(*InspectOptions)) InspectOptions {
		o := defaults()
		change(&o)
		return o
	}
	tests := []struct {
		name     string
		args     string
		tty      bool
		settings cli.Settings
		want     InspectOptions
		wantErr  string // a usage error with this text
	}{
		{name: "defaults", args: "", want: defaults()},
		{name: "queues", args: "a-dlq https://sqs.us-east-1.amazonaws.com/1/b-dlq",
			want: with(func(o *InspectOptions) { o.Queues = []string{"a-dlq", "https://sqs.us-east-1.amazonaws.com/1/b-dlq"} })},
		{name: "smoke check", args: "--prefix orders- --max-depth 0 --fail-on-warning",
			want: with(func(o *InspectOptions) { o.Prefix, o.MaxDepth, o.FailOnWarning = "orders-", 0, true })},
		{name: "depth threshold", args: "--max-depth 25", want: with(func(o *InspectOptions) { o.MaxDepth = 25 })},
		{name: "concurrency", args: "--concurrency 4", want: with(func(o *InspectOptions) { o.Concurrency = 4 })},
		{name: "some sources", args: "--sources sqs,SNS --sources lambda",
			want: with(func(o *InspectOptions) { o.Sources = sources.KindSet{"sqs": true, "sns": true, "lambda": true} })},
		{name: "unknown source", args: "--sources sqs,kinesis", wantErr: `--sources: unknown source kind "kinesis": want one of sqs, eventbridge, sns, lambda`},
		{name: "context prefix", settings: cli.Settings{QueuePrefix: "ctx-"}, want: with(func(o *InspectOptions) { o.Prefix = "ctx-" })},
		{name: "flag beats context prefix", args: "--prefix flag-", settings: cli.Settings{QueuePrefix: "ctx-"},
			want: with(func(o *InspectOptions) { o.Prefix = "flag-" })},
		{name: "empty prefix beats context prefix", args: "--prefix ''", settings: cli.Settings{QueuePrefix: "ctx-"}, want: defaults()},
		{name: "output from settings", settings: cli.Settings{Output: render.FormatJSON}, want: with(func(o *InspectOptions) { o.Output = render.FormatJSON })},
		{name: "watch on a terminal", args: "--watch 5s", tty: true, want: with(func(o *InspectOptions) { o.Watch = 5 * time.Second })},
		{name: "watch piped", args: "--watch 5s", wantErr: "--watch needs a terminal and table output"},
		{name: "watch as JSON", args: "--watch 5s", tty: true, settings: cli.Settings{Output: render.FormatJSON}, wantErr: "--watch needs a terminal and table output"},
		{name: "negative watch", args: "--watch -5s", tty: true, wantErr: "--watch must be positive, got -5s"},
		{name: "negative depth", args: "--max-depth -1", wantErr: "--max-depth must be 0 or more, got -1"},
		{name: "bad queue", args: "not/a/queue", wantErr: `invalid queue "not/a/queue"`},
		{name: "queues and prefix", args: "a --prefix b", wantErr: "name queues or give --prefix, not both"},
		{name: "zero concurrency", args: "--concurrency 0", wantErr: "--concurrency must be at least 1, got 0"},
		{name: "not a number", args: "--max-depth many", wantErr: `invalid argument "many" for "--max-depth"`},
		{name: "unknown flag", args: "--depth 3", wantErr: "unknown flag: --depth (see 'inspect --help')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			ios.SetStdoutTTY(tt.tty)
			s := tt.settings
			if s.Output == "" {
				s.Output = render.FormatTable
			}
			var got *InspectOptions
			cmd := NewCmdInspect(testFactory(ios, s), func(_ context.Context, o *InspectOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr != "" {
				var u *cli.UsageError
				if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				if code := cli.ExitCode(context.Background(), err); code != cli.ExitUsage || got != nil {
					t.Errorf("exit %d, run function called: %v; want exit 2 and no run", code, got != nil)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(InspectOptions{}, "IO", "SQS", "CloudWatch", "EventBridge", "SNS", "Lambda", "Now"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// sampleReport is a fixed account: one DLQ with messages and a loose
// alarm, one healthy, one unwatched with a risky source, one missing.
func sampleReport() *Report {
	src := func(name string, mrc int) queue.Source {
		return queue.Source{Queue: queue.Queue{Name: name, URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/" + name, ARN: "arn:aws:sqs:eu-west-1:123456789012:" + name, RetentionSeconds: 345600}, MaxReceiveCount: mrc}
	}
	dlq := func(name string, vis, inflight int64, ret int64, fifo bool, sources ...queue.Source) queue.DeadLetterQueue {
		return queue.DeadLetterQueue{Exists: true, Sources: sources, Queue: queue.Queue{
			Name: name, URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/" + name, ARN: "arn:aws:sqs:eu-west-1:123456789012:" + name,
			FIFO: fifo, Visible: vis, InFlight: inflight, RetentionSeconds: ret}}
	}
	dlqs := []queue.DeadLetterQueue{
		dlq("payments-dlq", 42, 3, 1209600, false, src("payments", 5)),
		dlq("orders-dlq", 0, 0, 1209600, false, src("orders", 5), src("orders-retry", 3)),
		dlq("shipping-dlq.fifo", 0, 0, 345600, true, src("shipping.fifo", 1)),
		{Queue: queue.Queue{Name: "legacy-dlq\x1b[31m", ARN: "arn:aws:sqs:eu-west-1:123456789012:legacy-dlq"}, Sources: []queue.Source{src("legacy", 3)}},
	}
	topic := []string{"arn:aws:sns:eu-west-1:123456789012:oncall"}
	alarms := map[string][]alarm.Alarm{
		"payments-dlq": {{Name: "payments-dlq-depth", State: "ALARM", Period: 300, EvaluationPeriods: 1, Threshold: 10, ComparisonOperator: "GreaterThanThreshold", Actions: topic, ActionsEnabled: true}},
		"orders-dlq":   {{Name: "dlq-depth-orders-dlq", State: "OK", Period: 60, EvaluationPeriods: 1, DatapointsToAlarm: 1, Threshold: 0, ComparisonOperator: "GreaterThanThreshold", Actions: topic, ActionsEnabled: true}},
	}
	return NewReport(result(dlqs), alarms, nil)
}

// pipelineReport is the order pipeline's DLQs as an on-call engineer sees
// them: names long enough that a narrow terminal cannot show every column.
func pipelineReport() *Report {
	const acct = "123456789012:"
	src := func(name string, mrc int) queue.Source {
		return queue.Source{Queue: queue.Queue{Name: name, ARN: "arn:aws:sqs:eu-west-1:" + acct + name, RetentionSeconds: 345600}, MaxReceiveCount: mrc}
	}
	dlq := func(name string, vis, inflight, delayed int64, sources ...queue.Source) queue.DeadLetterQueue {
		return queue.DeadLetterQueue{Exists: true, Sources: sources, Queue: queue.Queue{
			Name: name, ARN: "arn:aws:sqs:eu-west-1:" + acct + name, FIFO: strings.HasSuffix(name, ".fifo"),
			Visible: vis, InFlight: inflight, Delayed: delayed, RetentionSeconds: 1209600}}
	}
	dlqs := []queue.DeadLetterQueue{
		dlq("orders-payments-dlq", 1312, 10, 0, src("orders-payments", 5)),
		dlq("orders-notifications-dlq", 7, 0, 2, src("orders-notifications", 3)),
		dlq("orders-inventory-dlq", 0, 0, 0, src("orders-inventory", 5), src("orders-inventory-retry", 3)),
		dlq("orders-shipping-dlq.fifo", 0, 0, 0, src("orders-shipping.fifo", 5)),
		{Queue: queue.Queue{Name: "orders-legacy-dlq\u202e", ARN: "arn:aws:sqs:eu-west-1:" + acct + "orders-legacy-dlq"}, Sources: []queue.Source{src("orders-legacy", 3)}},
	}
	topic := []string{"arn:aws:sns:eu-west-1:" + acct + "oncall"}
	firing := func(name, state string) []alarm.Alarm {
		return []alarm.Alarm{{Name: name, State: state, Period: 60, EvaluationPeriods: 1, DatapointsToAlarm: 1, ComparisonOperator: "GreaterThanThreshold", Actions: topic, ActionsEnabled: true}}
	}
	alarms := map[string][]alarm.Alarm{
		"orders-payments-dlq":      firing("dlq-depth-orders-payments-dlq", "ALARM"),
		"orders-notifications-dlq": firing("dlq-depth-orders-notifications-dlq", "ALARM"),
		"orders-inventory-dlq":     firing("dlq-depth-orders-inventory-dlq", "OK"),
		"orders-shipping-dlq.fifo": firing("dlq-depth-orders-shipping-dlq-fifo", "OK"),
	}
	return NewReport(result(dlqs), alarms, nil)
}

func TestReportStatusAndWarnings(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	want := map[string]struct {
		status   string
		warnings int
	}{
		"payments-dlq":       {StatusMessages, 2},
		"orders-dlq":         {StatusOK, 0},
		"shipping-dlq.fifo":  {StatusWarning, 3},
		"legacy-dlq\x1b[31m": {StatusWarning, 1},
	}
	for _, row := range r.Rows {
		w := want[row.Name]
		if row.Status != w.status || len(row.Warnings) != w.warnings {
			t.Errorf("%s: status %s, warnings %q; want %s with %d", row.Name, row.Status, row.Warnings, w.status, w.warnings)
		}
	}
	if got := r.Summary(); got != "4 DLQs, 1 with messages (payments-dlq 45), 6 warnings" {
		t.Errorf("summary = %q", got)
	}
}

func TestReportVerdict(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	tests := []struct {
		maxDepth int64
		failWarn bool
		want     string
	}{
		{-1, false, ""},
		{45, false, ""},
		{44, false, "dlq: check failed: DLQs over --max-depth 44: payments-dlq (45)"},
		{0, true, "dlq: check failed: DLQs over --max-depth 0: payments-dlq (45); DLQs with warnings: payments-dlq, shipping-dlq.fifo, legacy-dlq\x1b[31m"},
	}
	for _, tt := range tests {
		err := r.Verdict(tt.maxDepth, tt.failWarn)
		var c *cli.ConditionError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Verdict(%d, %v) = %v, want nil", tt.maxDepth, tt.failWarn, err)
		case tt.want != "" && (!errors.As(err, &c) || c.Message != tt.want):
			t.Errorf("Verdict(%d, %v) = %v, want %q", tt.maxDepth, tt.failWarn, err, tt.want)
		}
	}
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		color  bool
		width  int
		format render.Format
	}{
		{"table-tty", true, false, 200, render.FormatTable},
		{"table-tty-color", true, true, 200, render.FormatTable},
		{"table-piped", false, false, 40, render.FormatTable},
		{"json", false, false, 200, render.FormatJSON},
		{"ndjson", false, false, 200, render.FormatNDJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetColorEnabled(tc.color)
			ios.SetTerminalWidth(tc.width)
			if err := write(&InspectOptions{IO: ios, Output: tc.format}, sampleReport()); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes())
		})
	}
}

// On terminals of 80, 100 and 160 columns every DLQ's name is whole, no
// table line is wider than the terminal, and the columns that give way
// are the ones of least use.
func TestWriteTableFitsTheTerminal(t *testing.T) {
	t.Parallel()
	for _, width := range []int{80, 100, 160} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(true)
			ios.SetTerminalWidth(width)
			r := pipelineReport()
			if err := write(&InspectOptions{IO: ios, Output: render.FormatTable}, r); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", fmt.Sprintf("table-tty-%d.golden", width)), out.Bytes())
			table := strings.Split(strings.SplitN(out.String(), "\n\n", 2)[0], "\n")
			for _, line := range table {
				if w := lipgloss.Width(line); w > width {
					t.Errorf("line is %d wide: %q", w, line)
				}
			}
			for i, row := range r.Rows {
				if name := render.Sanitize(row.Name); !strings.HasPrefix(table[i+1], name+" ") {
					t.Errorf("row %d does not start with the whole name %s: %q", i, name, table[i+1])
				}
			}
		})
	}
}

// golden compares got with the golden file at path (-update rewrites it).
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	testenv.Golden(t, path, got, *update)
}
