package version

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

var release = Info{Version: "v1.4.0", Commit: "3f9a2c1", Date: "2026-11-20T10:00:00Z"}

func TestNewCmdVersion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		args     string
		settings cli.Settings
		want     VersionOptions
		wantErr  string // a usage error with this text
	}{
		{name: "table", settings: cli.Settings{Output: render.FormatTable}, want: VersionOptions{Info: release, Output: render.FormatTable}},
		{name: "json", settings: cli.Settings{Output: render.FormatJSON}, want: VersionOptions{Info: release, Output: render.FormatJSON}},
		{name: "an argument", args: "v2", wantErr: `unexpected argument "v2" for "version"`},
		{name: "a flag", args: "--short", wantErr: "unknown flag: --short (see 'version --help')"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			f := cli.NewFactory(ios, func() (cli.Settings, error) { return tt.settings, nil })
			var got *VersionOptions
			cmd := NewCmdVersion(f, release, func(o *VersionOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr != "" {
				var u *cli.UsageError
				if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) || cli.ExitCode(context.Background(), err) != cli.ExitUsage {
					t.Fatalf("err = %v, want a usage error (exit 2) with %q", err, tt.wantErr)
				}
				if got != nil {
					t.Error("the run function was called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(VersionOptions{}, "IO")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if got.IO != ios {
				t.Error("the options do not write to the Factory's streams")
			}
		})
	}
}

// Settings that cannot be resolved (an unknown --context) fail the
// command before it prints anything.
func TestNewCmdVersionSettingsError(t *testing.T) {
	t.Parallel()
	ios, _, stdout, _ := render.Test()
	bad := cli.Usagef("unknown context %q", "prod")
	f := cli.NewFactory(ios, func() (cli.Settings, error) { return cli.Settings{}, bad })
	cmd := NewCmdVersion(f, release, nil)
	cmd.SilenceUsage = true // as under the root command
	err := testenv.ExecuteCommand(cmd, ios, "")
	if !errors.Is(err, bad) || stdout.Len() > 0 {
		t.Errorf("err = %v, stdout %q; want the settings' error and nothing printed", err, stdout)
	}
}

// The version for people (one line, whatever is known) and for programs
// (JSON fields always present, "dev" for an unstamped build). The output
// goes to stdout whether or not it is a terminal.
func TestVersionRun(t *testing.T) {
	t.Parallel()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	type fields struct{ Version, Commit, Date, OS, Arch, Go string }
	for _, tt := range []struct {
		name   string
		info   Info
		output render.Format
		tty    bool
		want   string // table output
		fields fields // JSON and NDJSON output
	}{
		{name: "release on a terminal", info: release, output: render.FormatTable, tty: true,
			want: "dlq v1.4.0 (3f9a2c1, 2026-11-20T10:00:00Z) " + platform + "\n"},
		{name: "release piped", info: release, output: render.FormatTable,
			want: "dlq v1.4.0 (3f9a2c1, 2026-11-20T10:00:00Z) " + platform + "\n"},
		{name: "go install", info: Info{Version: "v1.4.0", Commit: "none", Date: "0001-01-01T00:00:00Z"}, output: render.FormatTable,
			want: "dlq v1.4.0 " + platform + "\n"},
		{name: "dev build", output: render.FormatTable, want: "dlq dev " + platform + "\n"},
		{name: "commit only", info: Info{Commit: "3f9a2c1"}, output: render.FormatTable, want: "dlq dev (3f9a2c1) " + platform + "\n"},
		{name: "release as JSON", info: release, output: render.FormatJSON,
			fields: fields{"v1.4.0", "3f9a2c1", "2026-11-20T10:00:00Z", runtime.GOOS, runtime.GOARCH, runtime.Version()}},
		{name: "dev build as NDJSON", output: render.FormatNDJSON,
			fields: fields{Version: "dev", OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(tt.tty)
			if err := versionRun(&VersionOptions{IO: ios, Info: tt.info, Output: tt.output}); err != nil {
				t.Fatal(err)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr = %q", stderr)
			}
			if tt.output == render.FormatTable {
				if stdout.String() != tt.want {
					t.Errorf("stdout = %q, want %q", stdout, tt.want)
				}
				return
			}
			out := stdout.String()
			if lines := strings.Count(out, "\n"); tt.output == render.FormatNDJSON && lines != 1 || tt.output == render.FormatJSON && lines < 8 {
				t.Errorf("%d lines of %s:\n%s", lines, tt.output, out)
			}
			var got map[string]string
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
			}
			want := map[string]string{"version": tt.fields.Version, "commit": tt.fields.Commit, "date": tt.fields.Date, "os": tt.fields.OS, "arch": tt.fields.Arch, "go": tt.fields.Go}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}
