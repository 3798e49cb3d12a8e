package alarm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/testenv"
)

// refusingSNS answers every GetTopicAttributes with a service error.
type refusingSNS struct {
	alarm.SNSAPI
	code string
}

func (r refusingSNS) GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error) {
	return nil, &smithy.GenericAPIError{Code: r.code, Message: "refused by the test"}
}

func TestCheckTopic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := sns.NewFromConfig(testenv.Config(t, ""))
	out, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.Name(t, "oncall"))})
	if err != nil {
		t.Fatal(err)
	}
	topic := aws.ToString(out.TopicArn)
	t.Cleanup(func() { _, _ = client.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: out.TopicArn}) })
	missing := topic + "-missing"

	if note, err := alarm.CheckTopic(ctx, client, topic); note != "" || err != nil {
		t.Errorf("existing topic: note %q, err %v", note, err)
	}
	_, err = alarm.CheckTopic(ctx, client, missing)
	var nf *alarm.TopicNotFoundError
	if !errors.As(err, &nf) || nf.ARN != missing || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing topic: err = %v, want TopicNotFoundError", err)
	}
	for _, code := range []string{"AuthorizationError", "AccessDenied"} {
		note, err := alarm.CheckTopic(ctx, refusingSNS{code: code}, topic)
		if err != nil || !strings.Contains(note, "could not check") || !strings.Contains(note, code) {
			t.Errorf("%s: note %q, err %v; want a note and no error", code, note, err)
		}
	}
	if _, err := alarm.CheckTopic(ctx, refusingSNS{code: "InvalidParameter"}, topic); err == nil {
		t.Error("InvalidParameter: no error")
	}
}
