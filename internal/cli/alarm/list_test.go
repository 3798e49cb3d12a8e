package alarm

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// Every DLQ of the account with the alarms on its depth, or "none".
func TestListRunGolden(t *testing.T) {
	t.Parallel()
	for _, out := range outputs {
		t.Run(out.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(out.tty)
			api, cw, topics := account()
			err := listRun(context.Background(), &ListOptions{deps: depsFor(ios, api, cw, topics), Prefix: "orders-", Output: out.format})
			code := cli.ExitCode(context.Background(), err)
			if code != cli.ExitOK {
				t.Errorf("exit %d (%v)", code, err)
			}
			if want := "4 DLQs, 1 without an alarm\n"; stderr.String() != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
			testenv.Golden(t, filepath.Join("testdata", "list-"+out.name+".golden"), transcript(code, err, stdout.String(), stderr.String()), *update)
		})
	}
}

// Named queues are listed as asked; one that does not exist is an error
// (exit 1), and no CloudWatch access is a credentials error (exit 4).
func TestListRunErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		queues   []string
		cwErr    error
		wantExit int
		wantErr  string
	}{
		{name: "missing queue", queues: []string{"orders-nope-dlq"}, wantExit: cli.ExitError, wantErr: `find dead-letter queues: queue "orders-nope-dlq" does not exist`},
		{name: "bad queue", queues: []string{"bad/name"}, wantExit: cli.ExitUsage, wantErr: `invalid queue "bad/name"`},
		{name: "alarms denied", cwErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}, wantExit: cli.ExitAuth, wantErr: "describe alarms: api error AccessDenied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, _ := render.Test()
			api, cw, topics := account()
			cw.describe = tt.cwErr
			err := listRun(context.Background(), &ListOptions{deps: depsFor(ios, api, cw, topics), Queues: tt.queues, Output: render.FormatTable})
			if code := cli.ExitCode(context.Background(), err); code != tt.wantExit || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("exit %d, %v; want %d with %q", code, err, tt.wantExit, tt.wantErr)
			}
			if stdout.Len() > 0 {
				t.Errorf("a failed list printed %q", stdout)
			}
		})
	}
}
