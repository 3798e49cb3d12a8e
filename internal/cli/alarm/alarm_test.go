package alarm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

const topic = "arn:aws:sns:eu-west-1:123456789012:oncall"

// testFactory is a Factory on ios whose settings name the context's queue
// prefix ctx- and the output format (table when empty).
func testFactory(ios *render.IOStreams, output render.Format) *cli.Factory {
	if output == "" {
		output = render.FormatTable
	}
	return cli.NewFactory(ios, func() (cli.Settings, error) {
		return cli.Settings{QueuePrefix: "ctx-", Output: output}, nil
	})
}

// assertUsageError fails unless err is a usage error (exit 2) with want
// in its text.
func assertUsageError(t *testing.T, err error, want string) {
	t.Helper()
	var u *cli.UsageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want a usage error with %q", err, want)
	}
	if code := cli.ExitCode(context.Background(), err); code != cli.ExitUsage {
		t.Errorf("exit %d, want %d", code, cli.ExitUsage)
	}
}

func TestNewCmdEnsure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    string
		output  render.Format
		want    EnsureOptions
		wantErr string
	}{
		{args: "--all", want: EnsureOptions{All: true, Prefix: "ctx-", Output: render.FormatTable}},
		{args: "--all --prefix p- --dry-run --sns-topic " + topic,
			want: EnsureOptions{All: true, Prefix: "p-", DryRun: true, SNSTopic: topic, Output: render.FormatTable}},
		{args: "a-dlq b-dlq", want: EnsureOptions{Queues: []string{"a-dlq", "b-dlq"}, Prefix: "ctx-", Output: render.FormatTable}},
		{args: "arn:aws:sqs:eu-west-1:123456789012:a-dlq", output: render.FormatJSON,
			want: EnsureOptions{Queues: []string{"arn:aws:sqs:eu-west-1:123456789012:a-dlq"}, Prefix: "ctx-", Output: render.FormatJSON}},
		{args: "--all --sns-topic " + topic + " --replace-actions",
			want: EnsureOptions{All: true, Prefix: "ctx-", SNSTopic: topic, ReplaceActions: true, Output: render.FormatTable}},
		{args: "", wantErr: "name the DLQs to alarm, or pass --all"},
		{args: "a-dlq --all", wantErr: "name DLQs or pass --all, not both"},
		{args: "--all --sns-topic oncall", wantErr: `--sns-topic wants a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got "oncall"`},
		{args: "--all --sns-topic arn:aws:sqs:eu-west-1:123456789012:orders-dlq", wantErr: "--sns-topic wants a topic ARN"},
		{args: "--all --sns-topic arn:aws:sns:eu-west-1:123456789012:", wantErr: "--sns-topic wants a topic ARN"},
		{args: "--all --replace-actions", wantErr: "--replace-actions needs --sns-topic"},
		{args: "bad/name", wantErr: `invalid queue "bad/name"`},
		{args: "--all --dry-run=maybe", wantErr: `invalid argument "maybe" for "--dry-run"`},
		{args: "--every", wantErr: "unknown flag: --every (see 'ensure --help')"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			var got *EnsureOptions
			cmd := NewCmdEnsure(testFactory(ios, tt.output), func(_ context.Context, o *EnsureOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr != "" {
				assertUsageError(t, err, tt.wantErr)
				if got != nil {
					t.Error("the run function was called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(EnsureOptions{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCmdList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    string
		output  render.Format
		want    ListOptions
		wantErr string
	}{
		{args: "", want: ListOptions{Prefix: "ctx-", Output: render.FormatTable}},
		{args: "--prefix orders-", want: ListOptions{Prefix: "orders-", Output: render.FormatTable}},
		{args: "--prefix ''", want: ListOptions{Output: render.FormatTable}},
		{args: "a-dlq https://sqs.eu-west-1.amazonaws.com/123456789012/b-dlq", output: render.FormatNDJSON,
			want: ListOptions{Queues: []string{"a-dlq", "https://sqs.eu-west-1.amazonaws.com/123456789012/b-dlq"}, Prefix: "ctx-", Output: render.FormatNDJSON}},
		{args: "bad/name", wantErr: `invalid queue "bad/name"`},
		{args: "--all", wantErr: "unknown flag: --all (see 'list --help')"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			var got *ListOptions
			cmd := NewCmdList(testFactory(ios, tt.output), func(_ context.Context, o *ListOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr != "" {
				assertUsageError(t, err, tt.wantErr)
				if got != nil {
					t.Error("the run function was called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(ListOptions{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// `dlq alarm` is a group: it has ensure and list, shows its help when
// run alone, and a subcommand it does not know is a usage error (a typo
// in a script must not exit 0).
func TestNewCmdAlarm(t *testing.T) {
	t.Parallel()
	ios, _, stdout, _ := render.Test()
	cmd := NewCmdAlarm(testFactory(ios, ""))
	var names []string
	for _, c := range cmd.Commands() {
		names = append(names, c.Name())
	}
	if diff := cmp.Diff([]string{"ensure", "list"}, names); diff != "" {
		t.Errorf("subcommands (-want +got):\n%s", diff)
	}
	err := testenv.ExecuteCommand(cmd, ios, "ensrue orders-dlq")
	assertUsageError(t, err, `unexpected argument "ensrue" for "alarm"`)
	if err := testenv.ExecuteCommand(cmd, ios, ""); err != nil || !strings.Contains(stdout.String(), "Available Commands:") {
		t.Errorf("dlq alarm: %v; want its help:\n%s", err, stdout)
	}
}
