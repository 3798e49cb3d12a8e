package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/dlqops/dlq/internal/render"
)

func mapEnv(m map[string]string) render.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parse(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("dlq", pflag.ContinueOnError)
	AddGlobalFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

const testConfig = `currentContext: staging
contexts:
  staging:
    profile: stage-profile
    region: eu-west-1
    queuePrefix: orders-
    logGroupPrefix: /aws/lambda/orders-
  local:
    region: us-east-1
    endpointUrl: http://127.0.0.1:5000
    logGroups: [/aws/lambda/a, /aws/lambda/b]
`

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "dlq", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestResolveSettingsPrecedence(t *testing.T) {
	t.Parallel()
	xdg := writeConfig(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Settings
	}{
		{
			name: "current context from the file",
			env:  map[string]string{"XDG_CONFIG_HOME": xdg},
			want: Settings{Profile: "stage-profile", Region: "eu-west-1", Context: "staging", Output: "table", QueuePrefix: "orders-", LogGroupPrefix: []string{"/aws/lambda/orders-"}},
		},
		{
			name: "flag beats env beats context",
			args: []string{"--region", "ap-south-1", "--context", "local"},
			env:  map[string]string{"XDG_CONFIG_HOME": xdg, "DLQ_REGION": "us-west-2", "DLQ_OUTPUT": "json"},
			want: Settings{Region: "ap-south-1", EndpointURL: "http://127.0.0.1:5000", Context: "local", Output: "json", LogGroups: []string{"/aws/lambda/a", "/aws/lambda/b"}},
		},
		{
			name: "env selects the context and the region",
			env:  map[string]string{"XDG_CONFIG_HOME": xdg, "DLQ_CONTEXT": "local", "DLQ_REGION": "us-west-2", "DLQ_NO_COLOR": "true"},
			want: Settings{Region: "us-west-2", EndpointURL: "http://127.0.0.1:5000", Context: "local", Output: "table", NoColor: true, LogGroups: []string{"/aws/lambda/a", "/aws/lambda/b"}},
		},
		{
			name: "default path under a file is no config",
			env:  map[string]string{"XDG_CONFIG_HOME": "/dev/null"},
			want: Settings{Output: "table"},
		},
		{
			name: "no config file is fine",
			args: []string{"-o", "ndjson", "--profile", "p"},
			env:  map[string]string{"XDG_CONFIG_HOME": t.TempDir()},
			want: Settings{Profile: "p", Output: "ndjson"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveSettings(parse(t, tt.args...), mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got.ConfigFile = ""
			if got.Profile != tt.want.Profile || got.Region != tt.want.Region || got.EndpointURL != tt.want.EndpointURL ||
				got.Context != tt.want.Context || got.Output != tt.want.Output || got.NoColor != tt.want.NoColor ||
				got.QueuePrefix != tt.want.QueuePrefix || !equal(got.LogGroups, tt.want.LogGroups) || !equal(got.LogGroupPrefix, tt.want.LogGroupPrefix) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResolveSettingsErrors(t *testing.T) {
	t.Parallel()
	xdg := writeConfig(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("contexts: [unclosed"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown context", []string{"--context", "prod"}, map[string]string{"XDG_CONFIG_HOME": xdg}},
		{"invalid output", []string{"-o", "yaml"}, nil},
		{"explicit config missing", []string{"--config", "/nonexistent/dlq.yaml"}, nil},
		{"malformed config", []string{"--config", bad}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveSettings(parse(t, tt.args...), mapEnv(tt.env))
			var u *UsageError
			if !errors.As(err, &u) {
				t.Fatalf("err = %v, want a UsageError", err)
			}
		})
	}
}

func TestResolveSettingsRefusesWhatWouldBeIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("contexts:\n  prod:\n    regoin: eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"misspelt key", []string{"--config", typo, "--context", "prod"}, nil, `unknown key "contexts.prod.regoin"`},
		{"context without a file", []string{"--context", "prod"}, map[string]string{"XDG_CONFIG_HOME": dir}, "no config file at " + filepath.Join(dir, "dlq", "config.yaml")},
		{"verbose not a boolean", nil, map[string]string{"DLQ_VERBOSE": "maybe"}, `DLQ_VERBOSE="maybe"`},
		{"bad timeout", []string{"--call-timeout", "0"}, map[string]string{"DLQ_TIMEOUT": "soon"}, `--timeout: "soon" is not a duration`},
	}
	for _, tt := range tests {
		_, err := ResolveSettings(parse(t, tt.args...), mapEnv(tt.env))
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want a usage error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestResolveSettingsBooleansAndTimeouts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("contexts:\n  slow:\n    region: eu-west-1\n    callTimeout: 40s\n    timeout: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ResolveSettings(parse(t), mapEnv(map[string]string{"DLQ_VERBOSE": "yes", "DLQ_NO_COLOR": "1"}))
	if err != nil || !s.Verbose || !s.NoColor {
		t.Fatalf("DLQ_VERBOSE=yes DLQ_NO_COLOR=1: %+v, %v", s, err)
	}
	if s.ConnectTimeout != DefaultConnectTimeout || s.CallTimeout != DefaultCallTimeout || s.Timeout != 0 {
		t.Errorf("default timeouts: %+v", s)
	}
	s, err = ResolveSettings(parse(t, "--config", cfg, "--context", "slow", "--timeout", "2m"), mapEnv(map[string]string{"DLQ_CONNECT_TIMEOUT": "2s"}))
	if err != nil || s.CallTimeout != 40*time.Second || s.Timeout != 2*time.Minute || s.ConnectTimeout != 2*time.Second {
		t.Fatalf("timeouts from context, flag and env: %+v, %v", s, err)
	}
}
