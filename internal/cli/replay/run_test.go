package replay

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The plan and the report of each kind of replay, for a terminal, a pipe
// and JSON, with the exit code: plan, progress and summaries on stderr,
// the report (data) on stdout.
func TestReplayRunGolden(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		for _, out := range []struct {
			name   string
			tty    bool
			format render.Format
		}{
			{"tty", true, render.FormatTable},
			{"piped", false, render.FormatTable},
			{"json", false, render.FormatJSON},
		} {
			t.Run(sc.name+"-"+out.name, func(t *testing.T) {
				t.Parallel()
				ios, _, stdout, stderr := render.Test()
				ios.SetStdoutTTY(out.tty)
				ios.SetStderrTTY(out.tty)
				e := sc.engine()
				opts := runOptions(t, ios, e, out.format)
				opts.DryRun = sc.dryRun
				ctx := context.Background()
				err := replayRun(ctx, opts)
				code := cli.ExitCode(ctx, err)
				if code != sc.exit {
					t.Errorf("exit %d (%v), want %d", code, err, sc.exit)
				}
				if sc.message != "" && (err == nil || err.Error() != sc.message) {
					t.Errorf("error %q\nwant  %q", err, sc.message)
				}
				testenv.Golden(t, filepath.Join("testdata", sc.name+"-"+out.name+".golden"), transcript(code, err, stdout.String(), stderr.String()), *update)
				if out.format == render.FormatJSON {
					var got engine.Report
					if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
						t.Fatalf("stdout is not one JSON document: %v", err)
					}
					if diff := cmp.Diff(e.report, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("JSON report (-engine +stdout):\n%s", diff)
					}
				}
				if out.format == render.FormatTable && strings.ContainsRune(stdout.String()+stripLiveLine(stderr.String()), '\x1b') {
					t.Errorf("a control character from a message reached the terminal:\n%q\n%q", stdout, stderr)
				}
			})
		}
	}
}

// NDJSON is the same report as JSON, on one line.
func TestReplayRunNDJSON(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, _ := render.Test()
			opts := runOptions(t, ios, sc.engine(), render.FormatNDJSON)
			opts.DryRun = sc.dryRun
			err := replayRun(context.Background(), opts)
			if code := cli.ExitCode(context.Background(), err); code != sc.exit {
				t.Errorf("exit %d (%v), want %d", code, err, sc.exit)
			}
			want, _ := json.Marshal(sc.engine().report)
			if got := stdout.String(); got != string(want)+"\n" {
				t.Errorf("stdout = %s\nwant     %s", got, want)
			}
		})
	}
}

// The question on a terminal, and what each answer does; off a terminal
// nothing is asked and the replay is a usage error without --yes.
func TestReplayRunConfirm(t *testing.T) {
	t.Parallel()
	const prompt = "Replay 5 message(s) to orders-payments? [y/N] "
	const declined = "declined: nothing moved; the 5 message(s) of the plan are back in orders-payments-dlq"
	for _, tt := range []struct {
		name      string
		tty       bool
		yes       bool
		dryRun    bool
		input     string
		wantAsked bool // Confirm was called
		wantExit  int
		prompted  bool // the question is on stderr
		declined  bool // the run ended at the question
	}{
		{name: "y", tty: true, input: "y\n", wantAsked: true, prompted: true},
		{name: "yes", tty: true, input: " YES \n", wantAsked: true, prompted: true},
		{name: "n", tty: true, input: "n\n", wantAsked: true, prompted: true, declined: true, wantExit: cli.ExitCondition},
		{name: "enter", tty: true, input: "\n", wantAsked: true, prompted: true, declined: true, wantExit: cli.ExitCondition},
		{name: "end of input", tty: true, input: "", wantAsked: true, prompted: true, declined: true, wantExit: cli.ExitCondition},
		{name: "anything else", tty: true, input: "sure\n", wantAsked: true, prompted: true, declined: true, wantExit: cli.ExitCondition},
		{name: "--yes on a terminal", tty: true, yes: true, wantAsked: true},
		{name: "--yes off a terminal", yes: true, wantAsked: true},
		{name: "off a terminal", wantAsked: true, wantExit: cli.ExitUsage},
		{name: "dry run", tty: true, dryRun: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, in, stdout, stderr := render.Test()
			in.WriteString(tt.input)
			ios.SetStdoutTTY(tt.tty)
			ios.SetStderrTTY(tt.tty)
			e := scenarios()[0].engine()
			e.status = nil
			opts := runOptions(t, ios, e, render.FormatTable)
			opts.Yes, opts.DryRun = tt.yes, tt.dryRun
			if tt.dryRun {
				e.report.DryRun, e.report.Verified = true, false
			}
			err := replayRun(context.Background(), opts)
			if code := cli.ExitCode(context.Background(), err); code != tt.wantExit {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantExit)
			}
			if e.asked != tt.wantAsked {
				t.Errorf("Confirm asked: %v, want %v", e.asked, tt.wantAsked)
			}
			errOut := stderr.String()
			if got := strings.Contains(errOut, prompt); got != tt.prompted {
				t.Errorf("prompted: %v, want %v:\n%s", got, tt.prompted, errOut)
			}
			if tt.declined {
				// A declined run exits 3: the DLQ still holds the plan.
				if !strings.Contains(err.Error(), declined) || stdout.Len() > 0 {
					t.Errorf("declined: error %q, stdout %q; want %q and no report", err, stdout, declined)
				}
				return
			}
			if tt.wantExit != cli.ExitOK {
				return
			}
			verb := "Plan: "
			if tt.dryRun {
				verb = "Dry run (nothing changes): "
			}
			if !strings.HasPrefix(errOut, verb+"5 of 7 scanned message(s) in orders-payments-dlq") {
				t.Errorf("stderr does not start with the plan:\n%s", errOut)
			}
			if stdout.Len() == 0 {
				t.Errorf("no report on stdout")
			}
		})
	}
}

// Ctrl-C while the question waits for an answer ends the run like
// anywhere else: exit 130, the prompt's line ended, and a report that
// says nothing was sent and nothing verified.
func TestReplayRunInterruptedAtTheQuestion(t *testing.T) {
	t.Parallel()
	ios, _, stdout, stderr := render.Test()
	r, w := io.Pipe() // a terminal nobody types on
	t.Cleanup(func() { _ = w.Close() })
	ios.In = r
	ios.SetStderrTTY(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := scenarios()[0].engine()
	e.status = nil
	e.beforeConfirm = cancel
	opts := runOptions(t, ios, e, render.FormatTable)
	opts.Yes = false
	err := replayRun(ctx, opts)
	if code := cli.ExitCode(ctx, err); code != cli.ExitInterrupted {
		t.Fatalf("exit %d (%v), want 130", code, err)
	}
	if !strings.Contains(stderr.String(), "[y/N] \n") {
		t.Errorf("the prompt's line is not ended:\n%q", stderr.String())
	}
	if strings.Contains(stderr.String(), "declined") {
		t.Errorf("an interrupted question reads as declined:\n%s", stderr)
	}
	if want := "orders-payments-dlq\torders-payments\t5\t0\t0\t0\t0\t0\t0\tno\t0.0\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

// The exit code says what the run verified: 0 only when the DLQ was read
// again and holds nothing of the selection; errors keep their own codes.
func TestReplayRunExitCodes(t *testing.T) {
	t.Parallel()
	moved := scenarios()[0].engine().report
	left := scenarios()[1].engine().report
	unverified := moved
	unverified.Verified, unverified.LeftInDLQ, unverified.Left = false, 1, engine.Left{Unchecked: 1}
	unverified.NextStep = "1 message(s) in flight could not be checked: run again"
	interrupted := moved
	interrupted.Verified, interrupted.Stopped, interrupted.Sent, interrupted.Deleted = false, "interrupted", 2, 2
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not allowed"}
	// A streaming run stops at a message it cannot route, after moving
	// others: the report says what moved.
	streamedThenStuck := moved
	streamedThenStuck.Streamed, streamedThenStuck.Verified = true, false
	sentNotDeleted := streamedThenStuck
	sentNotDeleted.Sent, sentNotDeleted.Deleted = 3, 0
	for _, tt := range []struct {
		name      string
		report    engine.Report
		err       error
		cancel    bool // Ctrl-C during the run
		wantExit  int
		wantErr   string // in the error's text
		wantTable bool   // the report was written
	}{
		{name: "verified", report: moved, wantExit: cli.ExitOK, wantTable: true},
		{name: "failed and not reached", report: left, wantExit: cli.ExitCondition, wantErr: "(1 failed, 1 not reached)", wantTable: true},
		{name: "not checked", report: unverified, wantExit: cli.ExitCondition,
			wantErr: "not verified: 1 message(s) of this replay are still in orders-payments-dlq (1 could not be checked): 1 message(s) in flight could not be checked: run again", wantTable: true},
		{name: "interrupted", report: interrupted, err: context.Canceled, cancel: true, wantExit: cli.ExitInterrupted, wantTable: true},
		{name: "no destination", report: engine.Report{DLQ: "shared-dlq"}, err: &engine.DestinationError{Msg: "shared-dlq has 2 sources (a, b) and 3 message(s) do not say which they came from", Fix: engine.FixTo},
			wantExit: cli.ExitUsage, wantErr: "do not say which they came from: pass --to QUEUE"},
		{name: "no destination after moving some", report: streamedThenStuck, err: &engine.DestinationError{Msg: "shared-dlq has 2 sources (a, b) and 1 message(s) do not say which they came from", Fix: engine.FixTo},
			wantExit: cli.ExitUsage, wantErr: "pass --to QUEUE", wantTable: true},
		{name: "no destination after sending some, give-back failed", report: sentNotDeleted,
			err:      errors.Join(&engine.DestinationError{Msg: "shared-dlq has 2 sources (a, b) and 1 message(s) do not say which they came from", Fix: engine.FixTo}, errors.New("give back: connection reset")),
			wantExit: cli.ExitUsage, wantErr: "give back: connection reset", wantTable: true},
		{name: "not a source", report: engine.Report{DLQ: "orders-dlq"}, err: &engine.DestinationError{Msg: "other is not a source of orders-dlq", Fix: engine.FixForce},
			wantExit: cli.ExitUsage, wantErr: "other is not a source of orders-dlq: pass --force to replay there anyway"},
		{name: "access denied before the DLQ is known", err: fmt.Errorf("get queue url orders-dlq: %w", denied), wantExit: cli.ExitAuth, wantErr: "replay: get queue url orders-dlq"},
		{name: "error before the DLQ is known", err: errors.New("open spool: disk full"), wantExit: cli.ExitError, wantErr: "replay: open spool: disk full"},
		{name: "error after the DLQ is known", report: left, err: errors.New("verify shared-dlq: connection reset"), wantExit: cli.ExitError,
			wantErr: "verify shared-dlq: connection reset", wantTable: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ios, _, stdout, _ := render.Test()
			e := &fakeEngine{report: tt.report, err: tt.err}
			if tt.cancel {
				cancel()
			}
			err := replayRun(ctx, runOptions(t, ios, e, render.FormatTable))
			if code := cli.ExitCode(ctx, err); code != tt.wantExit {
				t.Errorf("exit %d (%v), want %d", code, err, tt.wantExit)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			}
			if got := stdout.Len() > 0; got != tt.wantTable {
				t.Errorf("report written: %v, want %v:\n%s", got, tt.wantTable, stdout)
			}
		})
	}
}

// A report that cannot be written is the run's error, unless the run
// already failed.
func TestReplayRunWriteError(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := render.Test()
	ios.Out = brokenPipe{}
	e := scenarios()[0].engine()
	err := replayRun(context.Background(), runOptions(t, ios, e, render.FormatJSON))
	if err == nil || !strings.Contains(err.Error(), "broken pipe") || cli.ExitCode(context.Background(), err) != cli.ExitError {
		t.Errorf("err = %v, want the write's error (exit 1)", err)
	}
}

// What replayRun asks the engine for: the flags as engine settings, a
// journal (default or --journal) with the spool next to it unless it is a
// dry run, confirmation unless it is a dry run, and a progress bar only on
// a terminal.
func TestReplayRunConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		tty          bool
		change       func(o *ReplayOptions, dir string)
		want         func(dir string) engine.Config
		wantJournal  func(dir string) string // "" : none
		wantConfirm  bool
		wantProgress bool
	}{
		{name: "defaults", tty: true,
			want: func(dir string) engine.Config { return wantConfig(filepath.Join(dir, "dlq")) },
			wantJournal: func(dir string) string {
				return filepath.Join(dir, "dlq", "replay-us-east-1-123456789012-orders-payments-dlq.jsonl")
			},
			wantConfirm: true, wantProgress: true},
		{name: "asks first", tty: true,
			change: func(o *ReplayOptions, _ string) { o.Yes = false },
			want: func(dir string) engine.Config {
				c := wantConfig(filepath.Join(dir, "dlq"))
				c.Stream = false // the question needs the whole plan
				return c
			},
			wantJournal: func(dir string) string {
				return filepath.Join(dir, "dlq", "replay-us-east-1-123456789012-orders-payments-dlq.jsonl")
			},
			wantConfirm: true, wantProgress: true},
		{name: "piped",
			want: func(dir string) engine.Config { return wantConfig(filepath.Join(dir, "dlq")) },
			wantJournal: func(dir string) string {
				return filepath.Join(dir, "dlq", "replay-us-east-1-123456789012-orders-payments-dlq.jsonl")
			},
			wantConfirm: true},
		{name: "every flag",
			change: func(o *ReplayOptions, dir string) {
				o.To, o.Force, o.Order, o.Dedup, o.Rate, o.Concurrency, o.Limit, o.MaxScan = "orders-payments", true, "sent", "original", 50, 4, 10, 100
				o.NoWait, o.StopOnReturn, o.Visibility, o.Journal = true, 20, 5*time.Minute, filepath.Join(dir, "mine", "j.jsonl")
			},
			want: func(dir string) engine.Config {
				c := wantConfig(filepath.Join(dir, "mine"))
				c.To, c.Force, c.Order, c.Dedup, c.Rate, c.Concurrency, c.Limit, c.MaxScan = "orders-payments", true, engine.OrderSent, engine.DedupOriginal, 50, 4, 10, 100
				c.NoWait, c.StopOnReturn, c.Visibility = true, 20, 5*time.Minute
				return c
			},
			wantJournal: func(dir string) string { return filepath.Join(dir, "mine", "j.jsonl") },
			wantConfirm: true},
		{name: "dry run", tty: true,
			change: func(o *ReplayOptions, _ string) { o.DryRun = true },
			want: func(string) engine.Config {
				c := wantConfig("")
				c.DryRun, c.Stream = true, false
				return c
			},
			wantJournal: func(string) string { return "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			ios.SetStderrTTY(tt.tty)
			e := &fakeEngine{report: engine.Report{DLQ: "orders-payments-dlq", Verified: true}}
			opts := runOptions(t, ios, e, render.FormatTable)
			dir, _ := opts.Env("XDG_STATE_HOME")
			if tt.change != nil {
				tt.change(opts, dir)
			}
			if err := replayRun(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			got := e.config()
			ignore := cmp.Options{cmpopts.IgnoreFields(engine.Config{}, "API", "Filter", "OrderKey", "Journal", "Confirm", "Progress", "Status", "Now", "Sleep"), cmpopts.IgnoreUnexported(engine.Config{})}
			if diff := cmp.Diff(tt.want(dir), got, ignore); diff != "" {
				t.Errorf("engine config (-want +got):\n%s", diff)
			}
			if _, ok := got.API.(noSQS); !ok || got.Filter == nil || got.Status == nil || got.Now == nil {
				t.Errorf("API %T, Filter %v, Status set %v, Now set %v: want the options' client, a filter, a status line and the clock",
					got.API, got.Filter, got.Status != nil, got.Now != nil)
			}
			journal := ""
			if got.Journal != nil {
				journal = got.Journal.Location()
			}
			if want := tt.wantJournal(dir); journal != want {
				t.Errorf("journal %q, want %q", journal, want)
			}
			if (got.Confirm != nil) != tt.wantConfirm || (got.Progress != nil) != tt.wantProgress {
				t.Errorf("confirm %v, progress %v; want %v, %v", got.Confirm != nil, got.Progress != nil, tt.wantConfirm, tt.wantProgress)
			}
		})
	}
}

// wantConfig is the engine config of runOptions, its spool in spoolDir.
// wantConfig is the engine config of runOptions (--yes: Stream).
func wantConfig(spoolDir string) engine.Config {
	return engine.Config{DLQ: "orders-payments-dlq", Order: engine.OrderKey, Dedup: engine.DedupNew, Visibility: engine.DefaultVisibility, SpoolDir: spoolDir, Stream: true, LimitMemory: true}
}

// The plan names how each destination was chosen in the user's words.
func TestVia(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"sourceArn": "the source SQS recorded on each message",
		"source":    "the DLQ's source",
		"to":        "--to",
	} {
		if got := via(v); got != want {
			t.Errorf("via(%q) = %q, want %q", v, got, want)
		}
	}
}
