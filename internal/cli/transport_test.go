package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/render"
)

// blackHole accepts connections and never answers, like a black-holed VPC
// endpoint or proxy; it counts the connections (an attempt that timed out
// closes its own).
func blackHole(t *testing.T) (endpoint string, conns *atomic.Int32) {
	t.Helper()
	conns = &atomic.Int32{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String(), conns
}

func testClient(t *testing.T, endpoint string, call time.Duration) *sqs.Client {
	t.Helper()
	ios, _, _, _ := render.Test()
	cfg, err := LoadAWSConfig(context.Background(), Settings{Region: "us-east-1", EndpointURL: endpoint, ConnectTimeout: time.Second, CallTimeout: call}, ios)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials = aws.AnonymousCredentials{}
	return sqs.NewFromConfig(cfg)
}

func TestAnEndpointThatNeverAnswersFailsAfterTheRetriersAttempts(t *testing.T) {
	t.Parallel()
	ep, conns := blackHole(t)
	_, err := testClient(t, ep, 200*time.Millisecond).ListQueues(context.Background(), &sqs.ListQueuesInput{})
	var timeout *AttemptTimeoutError
	if !errors.As(err, &timeout) {
		t.Fatalf("err = %v, want an attempt timeout", err)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d attempts reached the endpoint, want the retryer's 3", n)
	}
	msg := Message(err, false, Settings{})
	if !strings.Contains(msg, "cannot reach endpoint "+ep) || !strings.Contains(msg, "no answer within 200ms") || strings.Contains(msg, "\n") {
		t.Errorf("message = %q, want one line naming the endpoint and the timeout", msg)
	}
}

// A receive is not cut by the call timeout (the scan bounds it): a long
// poll that waits longer than the call timeout is an answer on its way.
func TestALongPollOutlastsTheCallTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select { // answers once the test saw the call timeout pass
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"Messages":[]}`))
	}))
	t.Cleanup(srv.Close)
	go func() { time.Sleep(1500 * time.Millisecond); close(release) }()
	_, err := testClient(t, srv.URL, 500*time.Millisecond).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(srv.URL + "/1/q"), WaitTimeSeconds: 20})
	if err != nil || attempts.Load() != 1 {
		t.Fatalf("long poll cut: %d attempts, %v", attempts.Load(), err)
	}
}

func TestConnectTimeoutIsTheDialers(t *testing.T) {
	t.Parallel()
	if tr := httpClient(123 * time.Millisecond).GetTransport(); tr.TLSHandshakeTimeout != 123*time.Millisecond {
		t.Errorf("TLS handshake timeout %s", tr.TLSHandshakeTimeout)
	}
}

// Connections opened for calls in flight together are kept for the next
// ones: a second wave as wide as the first opens none.
func TestConcurrentCallsReuseTheirConnections(t *testing.T) {
	t.Parallel()
	const wide = 48
	var opened atomic.Int32
	arrived := make(chan struct{}, wide)
	gate := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-gate
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := httpClient(time.Second)
	wave := func() {
		gate = make(chan struct{})
		var wg sync.WaitGroup
		for range wide {
			wg.Go(func() {
				req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, http.NoBody)
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			})
		}
		for range wide { // every call in flight at once
			<-arrived
		}
		close(gate)
		wg.Wait()
	}
	wave()
	first := opened.Load()
	wave()
	if again := opened.Load() - first; again != 0 {
		t.Fatalf("the second wave of %d calls opened %d connection(s) (the first opened %d)", wide, again, first)
	}
}

func TestRedactRemovesSecretsFromVerboseOutput(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef",
		"X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE==",
		`{"Credentials":{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","SessionToken":"FwoGZXIvYXdzEXAMPLE2","Expiration":"2026-11-28T00:00:00Z"}}`,
		`{"roleCredentials":{"accessKeyId":"ASIA2","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":1}}`,
		"<SecretAccessKey>xml-secret</SecretAccessKey><SessionToken>xml-token</SessionToken>",
		"https://sqs.us-east-1.amazonaws.com/?X-Amz-Credential=AKIA%2F2026&X-Amz-Security-Token=query-token&X-Amz-Signature=abcdef",
	}, "\n")
	out := Redact(in)
	for _, secret := range []string{"AKIAIOSFODNN7EXAMPLE", "0123456789abcdef0123456789abcdef", "FwoGZXIvYXdzEXAMPLETOKEN", "ASIAEXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzEXAMPLE2", "sso-secret", "sso-token", "xml-secret", "xml-token", "query-token", "AKIA%2F2026", "abcdef\n"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q survives redaction:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "SignedHeaders=host;x-amz-date") || !strings.Contains(out, `"Expiration":"2026-11-28T00:00:00Z"`) {
		t.Errorf("redaction removed more than secrets:\n%s", out)
	}
}
