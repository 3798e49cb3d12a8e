package sources

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"golang.org/x/sync/errgroup"
)

// EventBridgeAPI is the part of the EventBridge client discovery calls.
type EventBridgeAPI interface {
	ListEventBuses(context.Context, *eventbridge.ListEventBusesInput, ...func(*eventbridge.Options)) (*eventbridge.ListEventBusesOutput, error)
	DescribeEventBus(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	ListRules(context.Context, *eventbridge.ListRulesInput, ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error)
	ListTargetsByRule(context.Context, *eventbridge.ListTargetsByRuleInput, ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error)
}

// eventBridgeLimit is the page size EventBridge's list calls allow.
const eventBridgeLimit = 100

// discoverEventBridge reads every bus (its own DLQ too), every rule of
// each bus and every target of each rule: a Source per target and per bus
// with a DLQ. A denied call is noted and its part skipped.
func discoverEventBridge(ctx context.Context, api EventBridgeAPI, concurrency int, d *denials) ([]Source, error) {
	buses, err := listBuses(ctx, api)
	if err != nil {
		return nil, d.note(err, "EventBridge rule targets and event buses were not read")
	}
	var c collected[Source]
	rules, err := readBuses(ctx, api, buses, concurrency, d, &c)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, r := range rules.all() {
		g.Go(func() error {
			s, err := ruleTargets(gctx, api, r)
			if IsNotFound(err) {
				return nil
			}
			if err != nil {
				return d.note(err, "those rules' targets were not read")
			}
			c.add(s...)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return c.all(), nil
}

// readBuses reads each bus's own DLQ (into c) and lists its rules.
func readBuses(ctx context.Context, api EventBridgeAPI, buses []types.EventBus, concurrency int, d *denials, c *collected[Source]) (*collected[types.Rule], error) {
	var rules collected[types.Rule]
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, b := range buses {
		g.Go(func() error {
			s, err := busDLQ(gctx, api, b)
			switch {
			case IsNotFound(err):
				return nil // deleted since it was listed
			case err != nil:
				if err := d.note(err, "those event buses' own DLQs (for events no rule could take, such as KMS failures) were not read"); err != nil {
					return err
				}
			case s != nil:
				c.add(*s)
			}
			rs, err := listRules(gctx, api, aws.ToString(b.Name))
			if err != nil && !IsNotFound(err) {
				return d.note(err, "the rules of those event buses were not read")
			}
			rules.add(rs...)
			return nil
		})
	}
	return &rules, g.Wait()
}

// collected gathers what concurrent reads find.
type collected[T any] struct {
	mu    sync.Mutex
	items []T
}

func (c *collected[T]) add(v ...T) {
	c.mu.Lock()
	c.items = append(c.items, v...)
	c.mu.Unlock()
}

func (c *collected[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items
}

func listBuses(ctx context.Context, api EventBridgeAPI) ([]types.EventBus, error) {
	var buses []types.EventBus
	in := &eventbridge.ListEventBusesInput{Limit: aws.Int32(eventBridgeLimit)}
	for {
		page, err := api.ListEventBuses(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list event buses: %w", err)
		}
		buses = append(buses, page.EventBuses...)
		if aws.ToString(page.NextToken) == "" {
			return buses, nil
		}
		in.NextToken = page.NextToken
	}
}

func listRules(ctx context.Context, api EventBridgeAPI, bus string) ([]types.Rule, error) {
	var rules []types.Rule
	in := &eventbridge.ListRulesInput{EventBusName: aws.String(bus), Limit: aws.Int32(eventBridgeLimit)}
	for {
		page, err := api.ListRules(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list rules of event bus %s: %w", bus, err)
		}
		rules = append(rules, page.Rules...)
		if aws.ToString(page.NextToken) == "" {
			return rules, nil
		}
		in.NextToken = page.NextToken
	}
}

// busDLQ is the bus's own dead-letter configuration, nil when it has none.
func busDLQ(ctx context.Context, api EventBridgeAPI, b types.EventBus) (*Source, error) {
	out, err := api.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: b.Name})
	if err != nil {
		return nil, fmt.Errorf("describe event bus %s: %w", aws.ToString(b.Name), err)
	}
	if out.DeadLetterConfig == nil || aws.ToString(out.DeadLetterConfig.Arn) == "" {
		return nil, nil
	}
	name := aws.ToString(b.Name)
	return &Source{
		Kind: KindEventBridge, ARN: aws.ToString(b.Arn), Name: name, DLQ: aws.ToString(out.DeadLetterConfig.Arn),
		EventBridge: &EventBridgeTarget{Bus: name},
	}, nil
}

// ruleTargets is a Source for every target of the rule, with or without a
// DLQ.
func ruleTargets(ctx context.Context, api EventBridgeAPI, r types.Rule) ([]Source, error) {
	bus := aws.ToString(r.EventBusName)
	if bus == "" {
		bus = "default"
	}
	in := &eventbridge.ListTargetsByRuleInput{Rule: r.Name, EventBusName: aws.String(bus), Limit: aws.Int32(eventBridgeLimit)}
	var out []Source
	for {
		page, err := api.ListTargetsByRule(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list targets of rule %s/%s: %w", bus, aws.ToString(r.Name), err)
		}
		for _, t := range page.Targets {
			out = append(out, targetSource(bus, r, t))
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

func targetSource(bus string, r types.Rule, t types.Target) Source {
	e := &EventBridgeTarget{
		Bus: bus, RuleARN: aws.ToString(r.Arn), Rule: aws.ToString(r.Name),
		TargetID: aws.ToString(t.Id), TargetARN: aws.ToString(t.Arn),
		Input: aws.ToString(t.Input), InputPath: aws.ToString(t.InputPath),
		Managed: aws.ToString(r.ManagedBy), Disabled: r.State == types.RuleStateDisabled,
	}
	if t.RetryPolicy != nil {
		e.Retry = &Retry{MaximumRetryAttempts: t.RetryPolicy.MaximumRetryAttempts, MaximumEventAgeInSeconds: t.RetryPolicy.MaximumEventAgeInSeconds}
	}
	if t.InputTransformer != nil {
		e.InputTransformer = &InputTransformer{PathsMap: t.InputTransformer.InputPathsMap, Template: aws.ToString(t.InputTransformer.InputTemplate)}
	}
	s := Source{Kind: KindEventBridge, ARN: e.RuleARN, Name: bus + "/" + e.Rule, EventBridge: e}
	if t.DeadLetterConfig != nil {
		s.DLQ = aws.ToString(t.DeadLetterConfig.Arn)
	}
	return s
}
