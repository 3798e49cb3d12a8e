package peek

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestNewCmdPeek(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    string
		want    PeekOptions
		wantErr bool
	}{
		{args: "orders-dlq", want: PeekOptions{Queue: "orders-dlq", Limit: 100}},
		{args: "orders-dlq --trace-id t-1 --order-id o-1 --limit 0 --max-scan 500 --body --force",
			want: PeekOptions{Queue: "orders-dlq", Filter: cli.MessageFilter{Options: filter.Options{TraceID: "t-1", OrderID: "o-1"}}, MaxScan: 500, Body: true, Force: true}},
		{args: "orders-dlq --where a.b=1 --where attr.X=y --jq '.receiveCount > 2' --since 1h --until 30m --min-receives 3 --error-code 500",
			want: PeekOptions{Queue: "orders-dlq", Limit: 100, Filter: cli.MessageFilter{Options: filter.Options{Where: []string{"a.b=1", "attr.X=y"}, JQ: ".receiveCount > 2", Since: time.Hour, Until: "30m", MinReceives: 3, ErrorCode: "500"}}}},
		{args: "", wantErr: true},
		{args: "a b", wantErr: true},
		{args: "bad/name", wantErr: true},
		{args: "q --where nope", wantErr: true},
		{args: "q --jq '.['", wantErr: true},
		{args: "q --max-scan -5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			ios, _, _, _ := render.Test()
			f := cli.NewFactory(ios, func() (cli.Settings, error) { return cli.Settings{Output: render.FormatTable}, nil })
			var got *PeekOptions
			cmd := NewCmdPeek(f, func(_ context.Context, o *PeekOptions) error { got = o; return nil })
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
			want := tt.want
			want.Output = render.FormatTable
			if diff := cmp.Diff(want, *got, cmpopts.IgnoreFields(PeekOptions{}, "IO", "SQS", "Logs", "Now"), cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(cli.MessageFilter{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// A scan refused at SQS's in-flight limit says so: the count is not the
// queue's.
func TestSummarySaysTheScanStoppedAtTheInFlightLimit(t *testing.T) {
	t.Parallel()
	q := queue.Queue{Name: "orders-dlq", Visible: 150000}
	got := summary(q, queue.ScanResult{Scanned: 120000, OverLimit: true}, 0)
	if !strings.Contains(got, "scanned 120000 of ~150000") || !strings.Contains(got, "stopped at SQS's in-flight limit") {
		t.Errorf("summary = %q", got)
	}
	if got := summary(q, queue.ScanResult{Scanned: 150000}, 0); strings.Contains(got, "in-flight limit") {
		t.Errorf("summary = %q: no limit was hit", got)
	}
}

func TestSummarySaysALostReceiveMayHideMessages(t *testing.T) {
	t.Parallel()
	q := queue.Queue{Name: "orders-dlq", Visible: 30}
	until := time.Date(2026, 11, 28, 2, 14, 5, 0, time.UTC)
	if got := summary(q, queue.ScanResult{Scanned: 30, HiddenUntil: until}, 0); !strings.Contains(got, "up to 10 messages may stay hidden until 02:14:05Z") {
		t.Errorf("summary = %q", got)
	}
	if got := summary(q, queue.ScanResult{Scanned: 30}, 0); strings.Contains(got, "hidden") {
		t.Errorf("summary = %q", got)
	}
}
