// Package queue knows SQS queues as dlq sees them: references given by name,
// URL or ARN, attributes read once per queue, redrive policies, and the
// discovery of dead-letter queues and their sources across an account.
package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// SQSAPI is the part of the SQS client this package calls.
type SQSAPI interface {
	ListQueues(context.Context, *sqs.ListQueuesInput, ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error)
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ListDeadLetterSourceQueues(context.Context, *sqs.ListDeadLetterSourceQueuesInput, ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error)
}

// Ref is a queue as the user named it: by name, URL or ARN.
type Ref struct {
	Name    string
	URL     string
	ARN     string
	Account string
	// Region is the region an ARN or an AWS queue URL names ("" for a
	// bare name, or a URL of an emulator): the queue is only there.
	Region string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// InvalidRefError is a queue argument that is neither a valid name, a URL
// nor an SQS ARN.
type InvalidRefError struct{ Input, Reason string }

func (e *InvalidRefError) Error() string {
	return fmt.Sprintf("invalid queue %q: %s", e.Input, e.Reason)
}

// ParseRef reads a queue name, URL or ARN.
func ParseRef(s string) (Ref, error) {
	switch {
	case s == "":
		return Ref{}, &InvalidRefError{Input: s, Reason: "empty"}
	case strings.HasPrefix(s, "arn:"):
		parts := strings.Split(s, ":")
		if len(parts) != 6 || parts[2] != "sqs" || !regionRE.MatchString(parts[3]) {
			return Ref{}, &InvalidRefError{Input: s, Reason: "want arn:aws:sqs:REGION:ACCOUNT:NAME"}
		}
		if err := checkName(parts[5]); err != nil {
			return Ref{}, &InvalidRefError{Input: s, Reason: err.Error()}
		}
		return Ref{Name: parts[5], ARN: s, Account: parts[4], Region: parts[3]}, nil
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		u, err := url.Parse(s)
		if err != nil {
			return Ref{}, &InvalidRefError{Input: s, Reason: err.Error()}
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) < 2 {
			return Ref{}, &InvalidRefError{Input: s, Reason: "want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"}
		}
		name := segs[len(segs)-1]
		if err := checkName(name); err != nil {
			return Ref{}, &InvalidRefError{Input: s, Reason: err.Error()}
		}
		return Ref{Name: name, URL: s, Account: segs[len(segs)-2], Region: urlRegion(u.Hostname())}, nil
	}
	if err := checkName(s); err != nil {
		return Ref{}, &InvalidRefError{Input: s, Reason: err.Error()}
	}
	return Ref{Name: s}, nil
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// AWS's SQS endpoints: sqs.REGION.amazonaws.com[.cn] and the legacy
	// REGION.queue.amazonaws.com.
	awsHostRE = regexp.MustCompile(`^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$`)
)

// urlRegion is the region in an AWS queue URL's host; "" for any other
// host (an emulator, a VPC endpoint), whose region is the client's.
func urlRegion(host string) string {
	m := awsHostRE.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return ""
	}
	if m[1] != "" {
		return m[1]
	}
	return m[2]
}

func checkName(n string) error {
	base := strings.TrimSuffix(n, ".fifo")
	if !nameRE.MatchString(base) || len(n) > 80 {
		return errors.New("a queue name has 1-80 letters, digits, hyphens and underscores, with an optional .fifo suffix")
	}
	return nil
}

// String is how the user named the queue.
func (r Ref) String() string {
	switch {
	case r.URL != "":
		return r.URL
	case r.ARN != "":
		return r.ARN
	}
	return r.Name
}

// NotFoundError is a queue that does not exist in the account and region.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("queue %q does not exist", e.Name)
}

// IsNotExist reports whether err is SQS saying a queue does not exist.
func IsNotExist(err error) bool {
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue":
			return true
		}
	}
	return false
}

// ResolveURL returns the queue's URL, asking SQS for it when the reference
// has none.
func ResolveURL(ctx context.Context, api SQSAPI, r Ref) (string, error) {
	if r.URL != "" {
		return r.URL, nil
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(r.Name)}
	if r.Account != "" {
		in.QueueOwnerAWSAccountId = aws.String(r.Account)
	}
	out, err := api.GetQueueUrl(ctx, in)
	if err != nil {
		if IsNotExist(err) {
			return "", &NotFoundError{Name: r.Name}
		}
		return "", fmt.Errorf("get queue url %s: %w", r.Name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// NameFromARN returns the last field of an SQS ARN.
func NameFromARN(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
