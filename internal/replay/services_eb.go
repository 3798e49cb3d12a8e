package replay

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/sources"
)

// ruleRef is a rule's bus and name, from its ARN:
// arn:aws:events:REGION:ACCOUNT:rule/[BUS/]NAME.
type ruleRef struct{ bus, name string }

func parseRuleARN(arn string) (ruleRef, bool) {
	i := strings.Index(arn, ":rule/")
	if i < 0 {
		return ruleRef{}, false
	}
	parts := strings.Split(arn[i+len(":rule/"):], "/")
	switch len(parts) {
	case 1:
		return ruleRef{bus: "default", name: parts[0]}, true
	case 2:
		return ruleRef{bus: parts[0], name: parts[1]}, true
	}
	return ruleRef{}, false
}

// eventBridge is where an event a rule's target failed to take goes: the
// target (TARGET_ARN) as the rule has it now, with its input shaping; or,
// with --via-bus, the rule's bus.
func (s *services) eventBridge(ctx context.Context, ruleARN, targetARN string) (target, error) {
	ref, ok := parseRuleARN(ruleARN)
	if !ok {
		return refused(DestNone, targetARN, fmt.Sprintf("RULE_ARN %s is not a rule's ARN", ruleARN)), nil
	}
	if s.svc.EventBridge == nil {
		return s.missing(DestEventBus, targetARN), nil
	}
	if s.viaBus {
		return s.ruleBus(ctx, ref, targetARN)
	}
	t, found, err := s.ruleTarget(ctx, ref, targetARN)
	if err != nil {
		return target{}, err
	}
	if !found {
		return refused(DestNone, targetARN, fmt.Sprintf("rule %s/%s no longer has the target %s: --via-bus puts the events back on its bus", ref.bus, ref.name, targetARN)), nil
	}
	in := targetInput{Input: aws.ToString(t.Input), InputPath: aws.ToString(t.InputPath), RuleARN: ruleARN, RuleName: ref.name}
	if t.InputTransformer != nil {
		in.PathsMap, in.Template = t.InputTransformer.InputPathsMap, aws.ToString(t.InputTransformer.InputTemplate)
	}
	return s.ruleDestination(ctx, ruleARN, t, in)
}

// ruleDestination sends to the target's service.
func (s *services) ruleDestination(ctx context.Context, ruleARN string, t ebtypes.Target, in targetInput) (target, error) {
	arn := aws.ToString(t.Arn)
	key := ruleARN + "#" + aws.ToString(t.Id)
	payload := func(e *types.SendMessageBatchRequestEntry) (string, error) {
		return in.apply(aws.ToString(e.MessageBody))
	}
	switch service(arn) {
	case "sqs":
		q, err := s.queue(ctx, arn, "rule "+shortName(ruleARN))
		if err != nil || q.d != nil {
			return q, err
		}
		group := ""
		if t.SqsParameters != nil {
			group = aws.ToString(t.SqsParameters.MessageGroupId)
		}
		q.d = &sqsDelivery{api: s.api, url: q.q.URL, fifo: q.q.FIFO, rewrite: func(e *types.SendMessageBatchRequestEntry) error {
			body, err := payload(e)
			if err != nil {
				return err
			}
			e.MessageBody = aws.String(body)
			if group != "" {
				e.MessageGroupId = aws.String(group)
			}
			return stripFailure(e)
		}}
		q.q.URL = "eventbridge:" + key
		return q, nil
	case "lambda":
		return s.function("eventbridge:"+key, arn, payload), nil
	case "sns":
		if s.svc.SNS == nil {
			return s.missing(DestSNS, arn), nil
		}
		return ruleTargetOf(key, DestSNS, arn, &snsDelivery{api: s.svc.SNS, arn: arn, transform: payload}), nil
	case "states":
		if s.svc.StepFunctions == nil {
			return s.missing(DestStepFunctions, arn), nil
		}
		return ruleTargetOf(key, DestStepFunctions, arn, &sfnDelivery{api: s.svc.StepFunctions, arn: arn, payload: payload}), nil
	case "events":
		if strings.Contains(arn, ":event-bus/") {
			q := serviceQueue(DestEventBus, arn)
			return target{q: q, kind: DestEventBus, d: &eventsDelivery{api: s.svc.EventBridge, bus: arn}}, nil
		}
	}
	return refused(DestNone, arn, fmt.Sprintf("the target %s is of a kind replay does not send to (%s): --via-bus puts the events back on the rule's bus", arn, service(arn))), nil
}

// service is the service of an ARN: arn:PARTITION:SERVICE:...
func service(arn string) string {
	parts := strings.SplitN(arn, ":", 4)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// ruleTarget reads the rule's target with that ARN, the one that names
// this DLQ first (one rule may send to one ARN twice, shaped apart).
func (s *services) ruleTarget(ctx context.Context, ref ruleRef, arn string) (ebtypes.Target, bool, error) {
	api, err := s.svc.EventBridge(ctx)
	if err != nil {
		return ebtypes.Target{}, false, err
	}
	in := &eventbridge.ListTargetsByRuleInput{Rule: aws.String(ref.name), EventBusName: aws.String(ref.bus)}
	var match []ebtypes.Target
	for {
		page, err := api.ListTargetsByRule(ctx, in)
		if sources.IsNotFound(err) {
			return ebtypes.Target{}, false, nil
		}
		if err != nil {
			return ebtypes.Target{}, false, fmt.Errorf("list targets of rule %s/%s: %w", ref.bus, ref.name, err)
		}
		for _, t := range page.Targets {
			if aws.ToString(t.Arn) == arn {
				match = append(match, t)
			}
		}
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	for _, t := range match {
		if t.DeadLetterConfig != nil && aws.ToString(t.DeadLetterConfig.Arn) == s.dlqARN {
			return t, true, nil
		}
	}
	if len(match) > 0 {
		return match[0], true, nil
	}
	return ebtypes.Target{}, false, nil
}

// ruleBus puts events back on the rule's bus (--via-bus), while the rule
// is there and enabled: PutEvents takes an event that no rule matches,
// and then nobody gets it.
func (s *services) ruleBus(ctx context.Context, ref ruleRef, targetARN string) (target, error) {
	api, err := s.svc.EventBridge(ctx)
	if err != nil {
		return target{}, err
	}
	out, err := api.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(ref.name), EventBusName: aws.String(ref.bus)})
	switch {
	case sources.IsNotFound(err):
		return refused(DestNone, targetARN, fmt.Sprintf("rule %s/%s no longer exists: on its bus the events might reach nobody", ref.bus, ref.name)), nil
	case err != nil:
		return target{}, fmt.Errorf("describe rule %s/%s: %w", ref.bus, ref.name, err)
	case out.State == ebtypes.RuleStateDisabled:
		return refused(DestNone, targetARN, fmt.Sprintf("rule %s/%s is disabled: on its bus the events might reach nobody", ref.bus, ref.name)), nil
	}
	q := serviceQueue(DestEventBus, "bus:"+ref.bus)
	q.Name = "event bus " + ref.bus
	return target{q: q, kind: DestEventBus, d: &eventsDelivery{api: s.svc.EventBridge, bus: ref.bus}}, nil
}

// ruleTargetOf is a rule target's destination: a route of its own (key),
// since the target shapes what it sends.
func ruleTargetOf(key, kind, arn string, d deliverer) target {
	q := serviceQueue(kind, arn)
	q.URL = "eventbridge:" + key
	return target{q: q, kind: kind, d: d}
}
