package peek

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/render"
)

// redriveDLQ is fakeDLQ with a RedrivePolicy of its own (a DLQ chained to
// another).
type redriveDLQ struct{ *fakeDLQ }

func (f redriveDLQ) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	out, err := f.fakeDLQ.GetQueueAttributes(ctx, in, o...)
	if err == nil {
		out.Attributes["RedrivePolicy"] = `{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:orders-dlq-2","maxReceiveCount":5}`
	}
	return out, err
}

// --force lets peek read a queue with its own RedrivePolicy, and --cause's
// classification too; without --force both refuse.
func TestPeekForceWithCause(t *testing.T) {
	t.Parallel()
	ios, _, _, stderr := render.Test()
	f := redriveDLQ{&fakeDLQ{n: 3}}
	opts := peekOptions(ios, f, render.FormatNDJSON)
	opts.Force = true
	opts.Cause.ID = "3f9a2c"
	err := peekRun(context.Background(), opts)
	if err != nil && strings.Contains(err.Error(), "pass --force") {
		t.Errorf("peek --force --cause = %v (stderr %q): refused for want of the --force it was given", err, stderr.String())
	}
	opts = peekOptions(ios, f, render.FormatNDJSON)
	opts.Cause.ID = "3f9a2c"
	if err := peekRun(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "pass --force") {
		t.Errorf("peek --cause without --force = %v, want the RedrivePolicy refusal", err)
	}
}
