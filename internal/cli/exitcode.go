// Package cli holds what every dlq command shares: the Factory that builds
// AWS clients lazily from resolved settings (flags, DLQ_ environment, the
// config file's named contexts, AWS's own environment), and the one place
// where errors become exit codes and one-line messages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Exit codes, documented in docs/exit-codes.md. Nothing else in dlq picks a
// process exit code.
const (
	ExitOK          = 0   // success
	ExitError       = 1   // any failure not listed below
	ExitUsage       = 2   // bad flags, arguments or configuration
	ExitCondition   = 3   // the command ran and found what it checks for
	ExitAuth        = 4   // missing or invalid credentials, access denied
	ExitInterrupted = 130 // interrupted by a signal, after cleanup
)

// UsageError is bad input: a flag, an argument, a config value. Exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// ConditionError means the command did its job and found the condition the
// caller asked it to check for (a DLQ over --max-depth, a replay that left
// messages behind). Exit 3. The message is the summary to print.
type ConditionError struct{ Message string }

func (e *ConditionError) Error() string { return e.Message }

// CredentialsError is a failure to obtain credentials, raised by the
// Factory's credential wrapper so that it is recognisable whatever the SDK
// wraps around it.
type CredentialsError struct {
	Profile string
	Region  string
	Err     error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("no usable AWS credentials (%s): %v", e.where(), e.Err)
}

func (e *CredentialsError) Unwrap() error { return e.Err }

func (e *CredentialsError) where() string {
	p := e.Profile
	if p == "" {
		p = "default chain"
	} else {
		p = "profile " + p
	}
	r := e.Region
	if r == "" {
		r = "no region"
	}
	return p + ", " + r
}

// authErrorCodes are the service error codes that mean "who you are" or
// "what you may do" is wrong, rather than the request.
var authErrorCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "AuthFailure": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidAccessKeyId": true,
	"InvalidClientTokenId": true, "InvalidSignatureException": true,
	"MissingAuthenticationToken": true, "SignatureDoesNotMatch": true,
	"UnrecognizedClientException": true, "UnauthorizedOperation": true,
	"AWS.SimpleQueueService.AccessDenied": true, "KMS.AccessDeniedException": true,
}

// ExitCode maps an error returned by a command to the process exit code.
// ctx is the command's context: a cancelled context means interrupted.
func ExitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		usage *UsageError
		cond  *ConditionError
		creds *CredentialsError
		api   smithy.APIError
	)
	switch {
	case ctx != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || isCanceled(err)):
		return ExitInterrupted
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &cond):
		return ExitCondition
	case errors.As(err, &creds):
		return ExitAuth
	case errors.As(err, &api) && authErrorCodes[api.ErrorCode()]:
		return ExitAuth
	}
	return ExitError
}

func isCanceled(err error) bool {
	var rc *aws.RequestCanceledError
	return errors.As(err, &rc)
}

// Message renders err as the one line printed to stderr. Without verbose,
// SDK operation dumps (request IDs, status codes, deserialisation details)
// are replaced by the service's own error code and message, and a network
// failure names the endpoint that could not be reached.
func Message(err error, verbose bool, s Settings) string {
	if verbose {
		return err.Error()
	}
	full := err.Error()
	var creds *CredentialsError
	if errors.As(err, &creds) {
		return fmt.Sprintf("no usable AWS credentials (%s): set --profile or AWS_PROFILE, or log in with `aws sso login`; -v shows why", creds.where())
	}
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return full
	}
	prefix := strings.TrimSuffix(full[:max(0, strings.Index(full, op.Error()))], ": ")
	var reason string
	var api smithy.APIError
	var urlErr *url.Error
	var decode *smithy.DeserializationError
	switch {
	case errors.As(err, &decode) || errors.As(err, &api) && api.ErrorCode() == "UnknownError":
		// Not an AWS answer: a proxy's login page, a web server, the wrong
		// port. The endpoint is what the user has to check.
		reason = fmt.Sprintf("the endpoint %s did not answer like AWS (%s): check --endpoint-url, AWS_ENDPOINT_URL and any proxy", answeredBy(err, s), statusOf(err))
	case errors.As(err, &api):
		reason = fmt.Sprintf("%s: %s", shortCode(api.ErrorCode()), api.ErrorMessage())
		if authErrorCodes[api.ErrorCode()] {
			who := "default credentials"
			if s.Profile != "" {
				who = "profile " + s.Profile
			}
			reason += fmt.Sprintf(" (%s, %s)", who, orDefault(s.Region, "no region"))
		}
	case errors.As(err, &urlErr):
		u, _ := url.Parse(urlErr.URL)
		endpoint := urlErr.URL
		if u != nil {
			endpoint = u.Scheme + "://" + u.Host
		}
		reason = fmt.Sprintf("cannot reach endpoint %s: %s", endpoint, netReason(urlErr.Err))
	default:
		reason = op.Err.Error()
	}
	if prefix == "" {
		return reason
	}
	return prefix + ": " + reason
}

func netReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg := op.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return err.Error()
}

// shortCode drops the "AWS.SimpleQueueService." style namespace from codes.
func shortCode(code string) string {
	if i := strings.LastIndex(code, "."); i >= 0 {
		return code[i+1:]
	}
	return code
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// answeredBy is the endpoint that sent the answer in err.
func answeredBy(err error, s Settings) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Request != nil && re.Response.Request.URL != nil {
		u := re.Response.Request.URL
		return u.Scheme + "://" + u.Host
	}
	return orDefault(s.EndpointURL, "of the region")
}

// statusOf is the HTTP status of the answer in err.
func statusOf(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d", re.HTTPStatusCode())
	}
	return "no HTTP status"
}
