package sources

import (
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aws/smithy-go"
)

// Whether invoking a function keeps its failed events depends on the
// qualifier invoked: $LATEST and versions have their own DLQ and
// event-invoke config; an alias without a config of its own runs a
// version dlq does not resolve, so any version's DLQ counts.
func TestFunctionKeeps(t *testing.T) {
	t.Parallel()
	f := &functions{read: true, kept: map[string]map[string]bool{
		"charge": {latest: false, "1": true, "2": false},
		"audit":  {latest: false, "live": false},
		"ship":   {latest: false, "live": true},
	}}
	for _, tt := range []struct {
		name, qualifier string
		want            bool
	}{
		{"charge", latest, false},
		{"charge", "1", true},
		{"charge", "2", false},
		{"charge", "prod", true}, // an alias: version 1 may be behind it
		{"audit", "live", false},
		{"ship", "live", true},
		{"ship", latest, false},
	} {
		if got := f.keeps(tt.name, tt.qualifier); got != tt.want {
			t.Errorf("keeps(%s, %s) = %v, want %v", tt.name, tt.qualifier, got, tt.want)
		}
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"arn:aws:sqs:eu-west-1:123456789012:shipping":                      "sqs:shipping",
		"arn:aws:lambda:eu-west-1:123456789012:function:charge":            "lambda:charge",
		"arn:aws:lambda:eu-west-1:123456789012:function:charge:live":       "lambda:charge:live",
		"arn:aws:states:eu-west-1:123456789012:stateMachine:checkout":      "states:checkout",
		"arn:aws:events:eu-west-1:123456789012:event-bus/orders":           "events:orders",
		"arn:aws:sns:eu-west-1:123456789012:orders-events":                 "sns:orders-events",
		"https://api.example.com/hook":                                     "https://api.example.com/hook",
		"arn:aws:kinesis:eu-west-1:123456789012:stream/orders":             "kinesis:orders",
		"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/events/orders": "logs:orders",
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%s) = %q, want %q", in, got, want)
		}
	}
}

// A refusal for want of permission names the IAM action; credentials that
// are wrong or expired are not a refusal (they stop the command, exit 4).
func TestDeniedPermission(t *testing.T) {
	t.Parallel()
	op := func(service, name string, err error) error {
		return &smithy.OperationError{ServiceID: service, OperationName: name, Err: err}
	}
	forbidden := func(code string) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
			Err: &smithy.GenericAPIError{Code: code}}}
	}
	for _, tt := range []struct {
		err      error
		wantPerm string
		wantOK   bool
	}{
		{op("EventBridge", "ListRules", &smithy.GenericAPIError{Code: "AccessDeniedException"}), "events:ListRules", true},
		{op("SNS", "ListSubscriptions", &smithy.GenericAPIError{Code: "AuthorizationError"}), "sns:ListSubscriptions", true},
		{op("Lambda", "ListFunctions", forbidden("SomethingNew")), "lambda:ListFunctions", true},
		{op("Lambda", "ListFunctions", forbidden("ExpiredTokenException")), "", false},
		{op("SNS", "ListSubscriptions", &smithy.GenericAPIError{Code: "InvalidClientTokenId"}), "", false},
		{op("SNS", "ListSubscriptions", errors.New("connection reset")), "", false},
	} {
		perm, _, ok := deniedPermission(tt.err)
		if perm != tt.wantPerm || ok != tt.wantOK {
			t.Errorf("deniedPermission(%v) = %q, %v; want %q, %v", tt.err, perm, ok, tt.wantPerm, tt.wantOK)
		}
	}
}
