package root

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// An endpoint that accepts connections and never answers (a black-holed
// VPC endpoint) fails the command with one line naming it, exit 1, instead
// of hanging it.
func TestABlackHoledEndpointFailsTheCommand(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	ep := "http://" + ln.Addr().String()
	for _, args := range [][]string{{"inspect"}, {"peek", "orders-dlq"}, {"replay", "orders-dlq", "--dry-run"}} {
		r := dlqArgs(t, append([]string{"--endpoint-url", ep, "--region", "us-east-1", "--call-timeout", "300ms"}, args...)...)
		line := strings.TrimSpace(r.stderr)
		if r.code != 1 || !strings.Contains(line, "cannot reach endpoint "+ep) || !strings.Contains(line, "no answer within 300ms") || strings.Contains(line, "\n") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line naming the endpoint", args, r.code, r.stderr)
		}
	}
}

// -v logs every request and answer, and people paste it into tickets: no
// secret key, session token or signature may be in it.
func TestVerboseOutputHasNoSecrets(t *testing.T) { // not parallel: it sets the process's credentials
	const (
		keyID  = "ASIAVERBOSETESTKEY01"
		secret = "verbose/Secret/Key/Example0123456789abcd"
		token  = "FwoGZXIvYXdzEVerboseSessionTokenExample////Zm9v"
	)
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", token)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "verbose"), nil)
	r := dlqArgs(t, "--region", testenv.Region, "-v", "peek", q.Name)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "X-Amz-Security-Token: [REDACTED]") || !strings.Contains(r.stderr, "Signature=[REDACTED]") {
		t.Fatalf("-v does not show the redacted request headers:\n%s", r.stderr)
	}
	for _, s := range []string{keyID, secret, token} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("-v output contains %q", s)
		}
	}
	if sig := strings.Index(r.stderr, "Signature="); sig >= 0 && !strings.HasPrefix(r.stderr[sig:], "Signature=[REDACTED]") {
		t.Errorf("a signature is printed: %s", r.stderr[sig:min(len(r.stderr), sig+80)])
	}
}

// Small things a user trips over, each once.
func TestHonestMessagesAndUsageExits(t *testing.T) {
	t.Parallel()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body>proxy login</body></html>"))
	}))
	t.Cleanup(html.Close)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "small"), nil)
	src := testenv.CreateQueue(t, c, testenv.Name(t, "small-src"), testenv.Redrive(q.ARN, 3))
	_ = src

	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr, or stdout when code is 0
		not  string
	}{
		{"unknown completion shell", []string{"completion", "tcsh"}, 2, `no completion for shell "tcsh"`, ""},
		{"missing profile", []string{"--profile", "nosuch-profile-xyz", "--region", "us-east-1", "inspect"}, 2, `AWS profile "nosuch-profile-xyz" does not exist`, "credentials"},
		{"not an AWS endpoint", []string{"--endpoint-url", html.URL, "--region", "us-east-1", "--call-timeout", "5s", "peek", "q"}, 1, "the endpoint " + html.URL + " did not answer like AWS (HTTP 404)", "invalid character"},
		{"version as JSON", []string{"version", "-o", "json"}, 0, `"version": "test"`, ""},
		{"boolean flags in help", []string{"replay", "--help"}, 0, "--dry-run  ", "[=true|false]"},
		{"completion descriptions", []string{"__complete", "replay", "--li"}, 0, "replay at most N messages", "`"},
	}
	for _, tt := range tests {
		r := dlqArgs(t, tt.args...)
		if tt.args[0] == "__complete" { // as a shell runs it: first
			ios, _, out, errOut := render.Test()
			code := Run(context.Background(), ios, emulatorEnv, tt.args, BuildInfo{Version: "test"})
			r = result{code: code, stdout: out.String(), stderr: errOut.String()}
		}
		out := r.stderr
		if tt.code == 0 {
			out = r.stdout
		}
		if r.code != tt.code || !strings.Contains(out, tt.want) || tt.not != "" && strings.Contains(out, tt.not) {
			t.Errorf("%s: dlq %v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q, not %q", tt.name, tt.args, r.code, tt.code, r.stdout, r.stderr, tt.want, tt.not)
		}
	}

	// A queue named twice (by name and by ARN) is one row.
	r := dlq(t, "", "inspect "+q.Name+" "+q.ARN+" "+q.Name+" -o json")
	if r.code != 0 || strings.Count(r.stdout, `"name": "`+q.Name+`"`) != 1 {
		t.Errorf("inspect X X: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
