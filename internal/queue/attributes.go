package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is one SQS queue and the attributes dlq uses, read in one call.
type Queue struct {
	Name             string
	URL              string
	ARN              string
	FIFO             bool
	Visible          int64
	InFlight         int64
	Delayed          int64
	RetentionSeconds int64
	MaxMessageSize   int64
	Redrive          *RedrivePolicy
	// Policy is the queue's access policy (JSON), "" when it has none.
	Policy string
	// KMSMasterKeyID is the KMS key of server-side encryption with KMS
	// ("alias/aws/sqs" for the AWS managed key), "" when there is none.
	KMSMasterKeyID string
	// VisibilitySeconds is the queue's visibility timeout, and
	// ReceiveWaitSeconds its receive wait (long polling).
	VisibilitySeconds  int64
	ReceiveWaitSeconds int64
}

// Depth is every message the queue holds: visible, in flight and delayed.
func (q Queue) Depth() int64 { return q.Visible + q.InFlight + q.Delayed }

// RedrivePolicy is a source queue's pointer to its dead-letter queue.
type RedrivePolicy struct {
	DeadLetterTargetARN string
	MaxReceiveCount     int
}

// UnmarshalJSON accepts maxReceiveCount as a number or a string: SQS
// returns either, depending on how the policy was written.
func (p *RedrivePolicy) UnmarshalJSON(b []byte) error {
	var raw struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.DeadLetterTargetARN = raw.DeadLetterTargetArn
	s := string(raw.MaxReceiveCount)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("maxReceiveCount %s: %w", s, err)
		}
		p.MaxReceiveCount = n
	}
	return nil
}

// Attributes reads every attribute of the queue at url: one
// GetQueueAttributes call, whatever the caller needs from it.
func Attributes(ctx context.Context, api SQSAPI, url string) (Queue, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		if IsNotExist(err) {
			return Queue{}, &NotFoundError{Name: nameFromURL(url)}
		}
		return Queue{}, fmt.Errorf("get queue attributes %s: %w", nameFromURL(url), err)
	}
	return fromAttributes(url, out.Attributes)
}

func fromAttributes(url string, a map[string]string) (Queue, error) {
	q := Queue{
		URL:                url,
		ARN:                a[string(types.QueueAttributeNameQueueArn)],
		FIFO:               a[string(types.QueueAttributeNameFifoQueue)] == "true",
		Visible:            atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessages)]),
		InFlight:           atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]),
		Delayed:            atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)]),
		RetentionSeconds:   atoi(a[string(types.QueueAttributeNameMessageRetentionPeriod)]),
		MaxMessageSize:     atoi(a[string(types.QueueAttributeNameMaximumMessageSize)]),
		Policy:             a[string(types.QueueAttributeNamePolicy)],
		KMSMasterKeyID:     a[string(types.QueueAttributeNameKmsMasterKeyId)],
		VisibilitySeconds:  atoi(a[string(types.QueueAttributeNameVisibilityTimeout)]),
		ReceiveWaitSeconds: atoi(a[string(types.QueueAttributeNameReceiveMessageWaitTimeSeconds)]),
	}
	q.Name = nameFromURL(url)
	if q.ARN != "" {
		q.Name = NameFromARN(q.ARN)
	}
	if rp := a[string(types.QueueAttributeNameRedrivePolicy)]; rp != "" {
		var p RedrivePolicy
		if err := json.Unmarshal([]byte(rp), &p); err != nil {
			return Queue{}, fmt.Errorf("parse redrive policy of %s: %w", q.Name, err)
		}
		if p.DeadLetterTargetARN != "" {
			q.Redrive = &p
		}
	}
	return q, nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func nameFromURL(u string) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '/' {
			return u[i+1:]
		}
	}
	return u
}
