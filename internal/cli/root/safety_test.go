package root

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
