package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	apiErr := func(code string) error {
		return &smithy.OperationError{ServiceID: "SQS", OperationName: "ListQueues", Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
	}
	tests := []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{bg, nil, ExitOK},
		{bg, errors.New("boom"), ExitError},
		{bg, Usagef("bad flag"), ExitUsage},
		{bg, fmt.Errorf("wrapped: %w", &ConditionError{Message: "over"}), ExitCondition},
		{bg, fmt.Errorf("list queues: %w", &CredentialsError{Err: errors.New("no creds")}), ExitAuth},
		{bg, fmt.Errorf("list queues: %w", apiErr("AccessDenied")), ExitAuth},
		{bg, fmt.Errorf("list queues: %w", apiErr("InvalidClientTokenId")), ExitAuth},
		{bg, fmt.Errorf("list queues: %w", apiErr("AWS.SimpleQueueService.NonExistentQueue")), ExitError},
		{cancelled, fmt.Errorf("list queues: %w", context.Canceled), ExitInterrupted},
		{bg, fmt.Errorf("list queues: %w", context.Canceled), ExitError},
	}
	for i, tt := range tests {
		if got := ExitCode(tt.ctx, tt.err); got != tt.want {
			t.Errorf("case %d (%v): exit %d, want %d", i, tt.err, got, tt.want)
		}
	}
}

func TestMessageIsOneLine(t *testing.T) {
	t.Parallel()
	op := func(err error) error {
		return fmt.Errorf("inspect queues: list queues: %w", &smithy.OperationError{ServiceID: "SQS", OperationName: "ListQueues", Err: err})
	}
	netErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		err  error
		want string
	}{
		{op(&smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}),
			"inspect queues: list queues: NonExistentQueue: The specified queue does not exist."},
		{op(fmt.Errorf("https response error StatusCode: 0, RequestID: , request send failed, %w", netErr)),
			"inspect queues: list queues: cannot reach endpoint http://127.0.0.1:1: connection refused"},
		{op(&smithy.GenericAPIError{Code: "AccessDenied", Message: "nope"}),
			"inspect queues: list queues: AccessDenied: nope (profile prod, eu-west-1)"},
		{fmt.Errorf("x: %w", &CredentialsError{Profile: "prod", Region: "eu-west-1", Err: errors.New("sso expired")}),
			"no usable AWS credentials (profile prod, eu-west-1): set --profile or AWS_PROFILE, or log in with `aws sso login`; -v shows why"},
	}
	for _, tt := range tests {
		got := Message(tt.err, false, Settings{Profile: "prod", Region: "eu-west-1"})
		if got != tt.want || strings.Contains(got, "\n") {
			t.Errorf("Message = %q\nwant      %q", got, tt.want)
		}
	}
	if got := Message(errors.New("a: b"), true, Settings{}); got != "a: b" {
		t.Errorf("verbose = %q", got)
	}
}
