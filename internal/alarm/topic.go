package alarm

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// SNSAPI is the part of the SNS client this package calls.
type SNSAPI interface {
	GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error)
}

// TopicNotFoundError is an SNS topic that does not exist in the account
// and region its ARN names.
type TopicNotFoundError struct{ ARN string }

func (e *TopicNotFoundError) Error() string {
	return fmt.Sprintf("SNS topic %s does not exist (nothing was changed)", e.ARN)
}

// deniedCodes are what SNS (AuthorizationError) and other services answer
// when the caller may not read the topic.
var deniedCodes = map[string]bool{
	"AuthorizationError": true, "AccessDenied": true, "AccessDeniedException": true,
}

// CheckTopic makes sure the topic alarms are to notify exists: CloudWatch
// accepts any well-formed ARN, and an alarm notifying a topic that is not
// there pages nobody. When the check is refused it returns a note and no
// error, because the refusal says nothing about the topic: a role may lack
// sns:GetTopicAttributes, and another account's topic usually lets
// CloudWatch publish without letting us read it.
func CheckTopic(ctx context.Context, api SNSAPI, arn string) (note string, err error) {
	_, err = api.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if err == nil {
		return "", nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode() == "NotFound":
			return "", &TopicNotFoundError{ARN: arn}
		case deniedCodes[apiErr.ErrorCode()]:
			return fmt.Sprintf("could not check that SNS topic %s exists (%s): alarms will notify it as given", arn, apiErr.ErrorCode()), nil
		}
	}
	return "", fmt.Errorf("check SNS topic %s: %w", arn, err)
}
