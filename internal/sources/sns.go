package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"golang.org/x/sync/errgroup"
)

// SNSAPI is the part of the SNS client discovery calls.
type SNSAPI interface {
	ListSubscriptions(context.Context, *sns.ListSubscriptionsInput, ...func(*sns.Options)) (*sns.ListSubscriptionsOutput, error)
	GetSubscriptionAttributes(context.Context, *sns.GetSubscriptionAttributesInput, ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error)
}

// discoverSNS reads every subscription and its attributes: a Source per
// confirmed subscription, with or without a DLQ.
func discoverSNS(ctx context.Context, api SNSAPI, concurrency int, d *denials) ([]Source, error) {
	subs, err := listSubscriptions(ctx, api)
	if err != nil {
		return nil, d.note(err, "SNS subscriptions were not read")
	}
	out := make([]Source, 0, len(subs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, s := range subs {
		g.Go(func() error {
			src, err := subscription(gctx, api, s)
			if err != nil {
				if IsNotFound(err) {
					return nil // unsubscribed since it was listed
				}
				return d.note(err, "those subscriptions' redrive policies were not read")
			}
			mu.Lock()
			out = append(out, src)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// listSubscriptions lists every confirmed subscription of the account
// (one pending confirmation has no ARN yet and delivers nothing).
func listSubscriptions(ctx context.Context, api SNSAPI) ([]types.Subscription, error) {
	var subs []types.Subscription
	p := sns.NewListSubscriptionsPaginator(api, &sns.ListSubscriptionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		for _, s := range page.Subscriptions {
			if strings.HasPrefix(aws.ToString(s.SubscriptionArn), "arn:") {
				subs = append(subs, s)
			}
		}
	}
	return subs, nil
}

func subscription(ctx context.Context, api SNSAPI, s types.Subscription) (Source, error) {
	arn := aws.ToString(s.SubscriptionArn)
	out, err := api.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: s.SubscriptionArn})
	if err != nil {
		return Source{}, fmt.Errorf("get subscription attributes %s: %w", arn, err)
	}
	a := out.Attributes
	sub := &Subscription{
		TopicARN: aws.ToString(s.TopicArn), Protocol: aws.ToString(s.Protocol), Endpoint: aws.ToString(s.Endpoint),
		RawMessageDelivery: strings.EqualFold(a["RawMessageDelivery"], "true"),
	}
	src := Source{Kind: KindSNS, ARN: arn, Name: lastField(sub.TopicARN), SNS: sub}
	if rp := a["RedrivePolicy"]; rp != "" {
		var p struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		}
		if err := json.Unmarshal([]byte(rp), &p); err != nil {
			return Source{}, fmt.Errorf("parse redrive policy of subscription %s: %w", arn, err)
		}
		src.DLQ = p.DeadLetterTargetArn
	}
	return src, nil
}

// lastField is the part of an ARN after its last colon: a topic's or a
// queue's name.
func lastField(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
