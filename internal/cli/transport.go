package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// httpClient is the HTTP client of every AWS client dlq builds: a
// connection that does not open within connect fails. (It stays the SDK's
// BuildableClient: the SDK adds AWS_CA_BUNDLE's roots to that type only.)
func httpClient(connect time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			if connect > 0 {
				d.Timeout = connect
			}
		}).
		WithTransportOptions(func(t *http.Transport) {
			if connect > 0 {
				t.TLSHandshakeTimeout = connect
			}
			// A replay keeps dozens of calls in flight to one endpoint; the
			// SDK keeps 10 idle connections a host, so the rest were closed
			// after each call and opened again (TLS included) for the next.
			t.MaxIdleConnsPerHost = idleConnsPerHost
		})
}

// idleConnsPerHost is more than a replay keeps in flight at once (its
// scan's receivers, or its batches and their deletes).
const idleConnsPerHost = 128

// AttemptTimeoutError is an attempt that got no answer in time.
type AttemptTimeoutError struct{ After time.Duration }

func (e *AttemptTimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s (--call-timeout)", e.After)
}

// Timeout marks it as a timeout for the SDK's retryer and net/url.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// attemptTimeout bounds each attempt of a call, reading the answer
// included, to call (plus a receive's long poll). It sits inside the SDK's
// retry loop, and an attempt it cuts fails as a connection error, which
// the retryer retries like any other: an endpoint that accepts connections
// and never answers (a black-holed VPC endpoint or proxy) fails the
// command within a few attempts instead of hanging it.
func attemptTimeout(call time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if call <= 0 {
			return nil
		}
		if err := stack.Initialize.Add(longPollWait, middleware.After); err != nil {
			return err
		}
		mw := middleware.FinalizeMiddlewareFunc("dlqAttemptTimeout",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				// Receives are bounded by the scan itself, which knows that a
				// receive cut mid-flight may have hidden messages it holds no
				// handle for: cutting them here would hide messages more often.
				if _, ok := middleware.GetStackValue(ctx, longPollKey{}).(time.Duration); ok {
					return next.HandleFinalize(ctx, in)
				}
				d := call
				timeout := &AttemptTimeoutError{After: d}
				actx, cancel := context.WithTimeoutCause(ctx, d, timeout)
				defer cancel()
				out, md, err := next.HandleFinalize(actx, in)
				// Our deadline, not the caller's context: an answer that
				// did not come, which the retryer may try again.
				if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), timeout) {
					u := ""
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						u = req.URL.String()
					}
					err = &smithyhttp.RequestSendError{Err: &url.Error{Op: "POST", URL: u, Err: timeout}}
				}
				return out, md, err
			})
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(mw, "Retry", middleware.After)
		}
		return stack.Finalize.Add(mw, middleware.After)
	}
}

// longPollKey carries a receive's wait to attemptClient.
type longPollKey struct{}

// longPollWait marks a ReceiveMessage (with its long poll's wait), which
// attemptTimeout leaves to the scan that made it.
var longPollWait = middleware.InitializeMiddlewareFunc("dlqLongPollWait",
	func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if r, ok := in.Parameters.(*sqs.ReceiveMessageInput); ok {
			ctx = middleware.WithStackValue(ctx, longPollKey{}, time.Duration(r.WaitTimeSeconds)*time.Second)
		}
		return next.HandleInitialize(ctx, in)
	})

// secretPatterns match what -v must never print: the session token and
// signature of every signed request, and credentials in the answers of
// STS, SSO and the container or instance credential endpoints.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(X-Amz-Security-Token:\s*)[^\r\n]+`),
	regexp.MustCompile(`(?i)(X-Amz-Security-Token=)[^&\s]+`),
	regexp.MustCompile(`(?i)(Signature=)[0-9a-f]+`),
	regexp.MustCompile(`(?i)(Credential=)[A-Z0-9]+`),
	regexp.MustCompile(`(?i)(X-Amz-Credential=)[^&\s]+`),
	regexp.MustCompile(`(?i)("(?:SecretAccessKey|SessionToken|AccessKeyId|Token|accessToken|secretAccessKey|sessionToken|accessKeyId|roleCredentials)"\s*:\s*)"[^"]*"`),
	regexp.MustCompile(`(?i)(<(SecretAccessKey|SessionToken|AccessKeyId)>)[^<]*`),
	regexp.MustCompile(`(?i)(X-Amz-Sso_bearer_token:\s*)[^\r\n]+`),
}

// Redact replaces secrets in one line of verbose output.
func Redact(s string) string {
	for _, re := range secretPatterns {
		s = re.ReplaceAllString(s, "${1}[REDACTED]")
	}
	return s
}

// redactingWriter is stderr for the SDK's request log: each write (one log
// entry) is redacted before it is written.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
