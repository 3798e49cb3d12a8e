package alarm

import (
	"context"
	"errors"
	"testing"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestNewCmdEnsure(t *testing.T) {
	t.Parallel()
	topic := "arn:aws:sns:eu-west-1:123456789012:oncall"
	tests := []struct {
		args    string
		want    EnsureOptions
		wantErr bool
	}{
		{args: "--all", want: EnsureOptions{All: true, Prefix: "ctx-"}},
		{args: "--all --prefix p- --dry-run --sns-topic " + topic, want: EnsureOptions{All: true, Prefix: "p-", DryRun: true, SNSTopic: topic}},
		{args: "a-dlq b-dlq", want: EnsureOptions{Queues: []string{"a-dlq", "b-dlq"}, Prefix: "ctx-"}},
		{args: "", wantErr: true},
		{args: "a-dlq --all", wantErr: true},
		{args: "--all --sns-topic " + topic + " --replace-actions", want: EnsureOptions{All: true, Prefix: "ctx-", SNSTopic: topic, ReplaceActions: true}},
		{args: "--all --sns-topic oncall", wantErr: true},
		{args: "--all --sns-topic arn:aws:sqs:eu-west-1:123456789012:orders-dlq", wantErr: true},
		{args: "--all --replace-actions", wantErr: true},
		{args: "bad/name", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			ios, _, _, _ := render.Test()
			f := cli.NewFactory(ios, func() (cli.Settings, error) {
				return cli.Settings{QueuePrefix: "ctx-", Output: render.FormatTable}, nil
			})
			var got *EnsureOptions
			cmd := NewCmdEnsure(f, func(_ context.Context, o *EnsureOptions) error { got = o; return nil })
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr {
				var u *cli.UsageError
				if !errors.As(err, &u) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.All != tt.want.All || got.Prefix != tt.want.Prefix || got.DryRun != tt.want.DryRun || got.SNSTopic != tt.want.SNSTopic || got.ReplaceActions != tt.want.ReplaceActions || len(got.Queues) != len(tt.want.Queues) {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}
