package triage

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
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
	"github.com/dlqops/dlq/internal/triage"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)

func TestNewCmdTriage(t *testing.T) {
	t.Parallel()
	ctxGroups := cli.Settings{Output: render.FormatJSON, LogGroups: []string{"/aws/lambda/ctx"}, LogGroupPrefix: []string{"/aws/lambda/ctx-"}}
	tests := []struct {
		args     string
		settings cli.Settings
		want     TriageOptions
		wantErr  string
	}{
		{args: "orders-dlq", want: TriageOptions{Queue: "orders-dlq", Output: render.FormatTable}},
		{args: "orders-dlq", settings: ctxGroups,
			want: TriageOptions{Queue: "orders-dlq", Output: render.FormatJSON, Groups: []string{"/aws/lambda/ctx"}, Prefixes: []string{"/aws/lambda/ctx-"}}},
		{args: "orders-dlq --log-group a --log-group b", settings: ctxGroups,
			want: TriageOptions{Queue: "orders-dlq", Output: render.FormatJSON, Groups: []string{"a", "b"}}},
		{args: "orders-dlq --log-group-prefix /aws/lambda/orders- --limit 50 --max-scan 500 --force --trace-id t-1 --where a.b=1 --since 1h",
			want: TriageOptions{Queue: "orders-dlq", Output: render.FormatTable, Prefixes: []string{"/aws/lambda/orders-"}, Limit: 50, MaxScan: 500, Force: true,
				Filter: cli.MessageFilter{Options: filter.Options{TraceID: "t-1", Where: []string{"a.b=1"}, Since: time.Hour}}}},
		{args: "arn:aws:sqs:eu-west-1:123456789012:orders-dlq --order-id order-1042 --until 2026-11-26T18:00:00Z --min-receives 3 --error-code 503 --jq .body",
			want: TriageOptions{Queue: "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", Output: render.FormatTable,
				Filter: cli.MessageFilter{Options: filter.Options{OrderID: "order-1042", Until: "2026-11-26T18:00:00Z", MinReceives: 3, ErrorCode: "503", JQ: ".body"}}}},
		{args: "", wantErr: "takes 1 argument"},
		{args: "a b", wantErr: "takes 1 argument"},
		{args: "bad/name", wantErr: "invalid queue"},
		{args: "q --jq '.['", wantErr: "invalid --jq"},
		{args: "q --since -1h", wantErr: "--since must be positive"},
		{args: "q --max-scan -5", wantErr: "--limit and --max-scan must be 0"},
		{args: "q --limit -1", wantErr: "--limit and --max-scan must be 0"},
		{args: "q --limit ten", wantErr: `invalid argument "ten" for "--limit"`},
		{args: "q --cause 3f9a2c", wantErr: "unknown flag: --cause (see 'triage --help')"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			s := tt.settings
			if s.Output == "" {
				s.Output = render.FormatTable
			}
			f := cli.NewFactory(ios, func() (cli.Settings, error) { return s, nil })
			f.Now = func() time.Time { return now }
			var got *TriageOptions
			cmd := NewCmdTriage(f, func(_ context.Context, o *TriageOptions) error { got = o; return nil })
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
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(TriageOptions{}, "IO", "SQS", "Logs", "Now"), cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(cli.MessageFilter{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// sample is a triage of seven messages: two causes from the logs (one
// with a control character in its example) and one unknown.
func sample() Result {
	at := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	return Result{Queue: "orders-payments-dlq", Scanned: 7, Matched: 7, Groups: []triage.Group{
		{ID: "959df6", Step: "charge", Error: "payment provider: HTTP 503 (request <id>)", Example: "payment provider: HTTP 503 (request 4f1c0a9b)",
			Source: triage.SourceLogs, Count: 3, FirstSent: at(50), LastSent: at(40), OrderIDs: []string{"order-1042", "order-1043", "order-1044"},
			TraceIDs: []string{"4bf92f3577b34da6", "9c1e0d2a41f7b388", "1f0e2d3c4b5a6978"}, MessageIDs: []string{"m-1", "m-2", "m-3"}},
		{ID: "d797a9", Step: "validate", Error: "invalid currency '<str>' in order <id>", Example: "invalid currency 'XYZ\x1b[31m' in order o-7",
			Source: triage.SourceLogs, Count: 2, FirstSent: at(45), LastSent: at(30), OrderIDs: []string{"o-7", "o-8"},
			TraceIDs: []string{"7a7a7a7a7a7a7a7a", "8b8b8b8b8b8b8b8b"}, MessageIDs: []string{"m-4", "m-5"}},
		{ID: "b1b6b3", Error: triage.UnknownError, Source: triage.SourceUnknown, Count: 1, FirstSent: at(20), LastSent: at(20),
			OrderIDs: []string{"o-30"}, MessageIDs: []string{"m-7"}},
	}}
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tty    bool
		width  int
		format render.Format
	}{
		{"tty-160", true, 160, render.FormatTable},
		{"tty-100", true, 100, render.FormatTable},
		{"tty-80", true, 80, render.FormatTable},
		{"piped", false, 0, render.FormatTable},
		{"json", false, 0, render.FormatJSON},
		{"ndjson", false, 0, render.FormatNDJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			if tc.width > 0 {
				ios.SetTerminalWidth(tc.width)
			}
			opts := &TriageOptions{IO: ios, Output: tc.format, Now: func() time.Time { return now }}
			if err := write(opts, sample()); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes(), *update)
			if strings.Contains(out.String(), "\x1b") {
				t.Error("a control character from a log line reached the output unescaped")
			}
			if tc.tty && strings.Count(out.String(), "\n") != 4 {
				t.Errorf("want a header and 3 rows:\n%s", out.String())
			}
			for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				if tc.tty && len([]rune(line)) > tc.width {
					t.Errorf("line wider than %d: %q", tc.width, line)
				}
			}
		})
	}
}

func TestWriteEmpty(t *testing.T) {
	t.Parallel()
	for format, want := range map[render.Format]string{
		render.FormatTable: "",
		render.FormatJSON:  "{\n  \"queue\": \"q\",\n  \"scanned\": 0,\n  \"matched\": 0,\n  \"groups\": []\n}\n",
	} {
		ios, _, out, _ := render.Test()
		if err := write(&TriageOptions{IO: ios, Output: format, Now: func() time.Time { return now }}, Result{Queue: "q"}); err != nil || out.String() != want {
			t.Errorf("%s: %q, %v; want %q", format, out.String(), err, want)
		}
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	q := queue.Queue{Name: "orders-dlq", Visible: 9, InFlight: 2}
	res := queue.ScanResult{Scanned: 9, Matched: make([]queue.Message, 8), Released: 9}
	rep := triage.Report{Groups: make([]triage.Group, 3), FromLogs: 5, FromBody: 1, Unknown: 2, Traces: 6, Queries: 2}
	got := summary(q, res, rep, true, 1234*time.Millisecond)
	want := "scanned 9 of ~9 visible messages in orders-dlq, 8 matched: 3 causes (5 from logs, 1 from the body, 2 unknown); " +
		"6 traces looked up in 2 queries; 2 in flight were not visible; 9 released; 1.234s"
	if got != want {
		t.Errorf("summary\n = %q\nwant %q", got, want)
	}
	if got := summary(q, res, rep, false, 0); strings.Contains(got, "looked up") {
		t.Errorf("without logs: %q", got)
	}
}
