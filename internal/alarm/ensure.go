package alarm

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// NamePrefix starts the name of every alarm dlq creates.
const NamePrefix = "dlq-depth-"

// MaxActions is how many actions CloudWatch allows per alarm state.
const MaxActions = 5

// NameFor is the name dlq gives the depth alarm of a queue.
func NameFor(queue string) string { return NamePrefix + queue }

// Action says what Ensure did, or would do in a dry run.
type Action string

// The outcomes of Ensure for one queue.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	// Covered: another alarm already fires on the first message.
	Covered Action = "covered"
)

// Result is Ensure's outcome for one queue.
type Result struct {
	Queue   string   `json:"queue"`
	Alarm   string   `json:"alarm"`
	Action  Action   `json:"action"`
	Changes []string `json:"changes,omitempty"`
	// ActionsAdded and ActionsRemoved are the alarm actions (topic ARNs)
	// the alarm gains and loses, so that a script can tell a run that
	// took a notification away.
	ActionsAdded   []string `json:"actionsAdded,omitempty"`
	ActionsRemoved []string `json:"actionsRemoved,omitempty"`
	DryRun         bool     `json:"dryRun"`
	// Warnings are filled in by the caller, which knows the queue.
	Warnings []string `json:"warnings"`
}

// EnsureOptions set what the alarm notifies.
type EnsureOptions struct {
	// SNSTopicARN, when set, is added to the alarm actions of dlq's alarm;
	// the actions it already has stay. When empty, an existing alarm keeps
	// its actions and a new one has none.
	SNSTopicARN string
	// ReplaceActions makes SNSTopicARN the only alarm action, removing the
	// others. Without SNSTopicARN it changes nothing: removing every action
	// would silence the alarm.
	ReplaceActions bool
	DryRun         bool
}

// Desired is the alarm dlq wants on a queue: visible messages above zero,
// maximum over 60 seconds, one datapoint, missing data not breaching.
func Desired(queue string, actions []string) Alarm {
	return Alarm{
		Name:               NameFor(queue),
		QueueName:          queue,
		Statistic:          string(types.StatisticMaximum),
		Period:             60,
		EvaluationPeriods:  1,
		DatapointsToAlarm:  1,
		Threshold:          0,
		ComparisonOperator: string(types.ComparisonOperatorGreaterThanThreshold),
		TreatMissingData:   "notBreaching",
		Actions:            actions,
		ActionsEnabled:     true,
		Description:        fmt.Sprintf("Messages are waiting in dead-letter queue %s. Managed by dlq alarm ensure.", queue),
	}
}

// TooManyActionsError is an alarm that would need more actions than
// CloudWatch allows.
type TooManyActionsError struct {
	Alarm string
	Topic string
	Have  int
}

func (e *TooManyActionsError) Error() string {
	return fmt.Sprintf("alarm %s already has %d actions, the most CloudWatch allows: %s cannot be added without replacing them (nothing was changed)", e.Alarm, e.Have, e.Topic)
}

// step is the plan for one queue: its result and, when put, the alarm to
// write.
type step struct {
	result Result
	put    bool
	want   Alarm
}

// Ensure makes sure each queue has a depth alarm, given the alarms that
// exist (from DepthAlarms). It creates dlq's alarm when none fires on the
// first message, converges dlq's own alarm when it has drifted, and leaves
// everything else alone. Running it twice changes nothing the second time.
// It never removes an action unless asked to (ReplaceActions), and it
// plans every queue before it writes anything, so that a plan CloudWatch
// would refuse changes no alarm.
func Ensure(ctx context.Context, api CloudWatchAPI, queues []string, existing map[string][]Alarm, opts EnsureOptions) ([]Result, error) {
	steps := make([]step, 0, len(queues))
	for _, q := range queues {
		s, err := plan(q, existing[q], opts)
		if err != nil {
			return nil, err
		}
		s.result.DryRun = opts.DryRun
		steps = append(steps, s)
	}
	results := make([]Result, 0, len(steps))
	for _, s := range steps {
		if s.put && !opts.DryRun {
			if _, err := api.PutMetricAlarm(ctx, putInput(s.want)); err != nil {
				return results, fmt.Errorf("put alarm %s: %w", s.want.Name, err)
			}
		}
		results = append(results, s.result)
	}
	return results, nil
}

func plan(queue string, alarms []Alarm, opts EnsureOptions) (step, error) {
	var own *Alarm
	for i := range alarms {
		if alarms[i].Name == NameFor(queue) {
			own = &alarms[i]
		}
	}
	if own == nil {
		for _, a := range alarms {
			if a.FiresOnFirstMessage() && opts.SNSTopicARN == "" {
				return step{result: Result{Queue: queue, Alarm: a.Name, Action: Covered}}, nil
			}
		}
		var actions []string
		if opts.SNSTopicARN != "" {
			actions = []string{opts.SNSTopicARN}
		}
		want := Desired(queue, actions)
		r := Result{Queue: queue, Alarm: want.Name, Action: Created, ActionsAdded: actions}
		for _, a := range actions {
			r.Changes = append(r.Changes, "added action "+a)
		}
		return step{result: r, put: true, want: want}, nil
	}
	actions, added, removed := mergeActions(own.Actions, opts)
	if len(actions) > MaxActions {
		return step{}, &TooManyActionsError{Alarm: own.Name, Topic: opts.SNSTopicARN, Have: len(own.Actions)}
	}
	want := Desired(queue, actions)
	// dlq manages only the alarm actions; whatever else notifies on OK or
	// missing data stays, or PutMetricAlarm would drop it.
	want.OKActions, want.InsufficientDataActions = own.OKActions, own.InsufficientDataActions
	changes := diff(*own, want)
	for _, a := range added {
		changes = append(changes, "added action "+a)
	}
	for _, a := range removed {
		changes = append(changes, "removed action "+a)
	}
	r := Result{Queue: queue, Alarm: own.Name, Action: Unchanged, ActionsAdded: added, ActionsRemoved: removed}
	if len(changes) == 0 {
		return step{result: r, want: want}, nil
	}
	r.Action, r.Changes = Updated, changes
	return step{result: r, put: true, want: want}, nil
}

// mergeActions returns the alarm actions dlq's alarm should have, with
// what that adds to and removes from have. The topic is added after the
// actions already there, whose order is kept.
func mergeActions(have []string, opts EnsureOptions) (want, added, removed []string) {
	topic := opts.SNSTopicARN
	if topic == "" {
		return have, nil, nil
	}
	if !slices.Contains(have, topic) {
		added = []string{topic}
	}
	if opts.ReplaceActions {
		for _, a := range have {
			if a != topic && !slices.Contains(removed, a) {
				removed = append(removed, a)
			}
		}
		return []string{topic}, added, removed
	}
	return append(slices.Clone(have), added...), added, nil
}

// diff names what differs between the alarm's settings, actions aside
// (plan names those).
func diff(have, want Alarm) []string {
	var c []string
	add := func(field string, h, w any) {
		if fmt.Sprint(h) != fmt.Sprint(w) {
			c = append(c, fmt.Sprintf("%s %v → %v", field, h, w))
		}
	}
	add("statistic", have.Statistic, want.Statistic)
	add("period", have.Period, want.Period)
	add("evaluationPeriods", have.EvaluationPeriods, want.EvaluationPeriods)
	add("datapointsToAlarm", have.DatapointsToAlarm, want.DatapointsToAlarm)
	add("threshold", have.Threshold, want.Threshold)
	add("comparison", have.ComparisonOperator, want.ComparisonOperator)
	add("treatMissingData", have.TreatMissingData, want.TreatMissingData)
	add("actionsEnabled", have.ActionsEnabled, want.ActionsEnabled)
	return c
}

func putInput(a Alarm) *cloudwatch.PutMetricAlarmInput {
	return &cloudwatch.PutMetricAlarmInput{
		AlarmName:               aws.String(a.Name),
		AlarmDescription:        aws.String(a.Description),
		Namespace:               aws.String(Namespace),
		MetricName:              aws.String(MetricName),
		Dimensions:              []types.Dimension{{Name: aws.String(Dimension), Value: aws.String(a.QueueName)}},
		Statistic:               types.Statistic(a.Statistic),
		Period:                  aws.Int32(a.Period),
		EvaluationPeriods:       aws.Int32(a.EvaluationPeriods),
		DatapointsToAlarm:       aws.Int32(a.DatapointsToAlarm),
		Threshold:               aws.Float64(a.Threshold),
		ComparisonOperator:      types.ComparisonOperator(a.ComparisonOperator),
		TreatMissingData:        aws.String(a.TreatMissingData),
		AlarmActions:            a.Actions,
		OKActions:               a.OKActions,
		InsufficientDataActions: a.InsufficientDataActions,
		ActionsEnabled:          aws.Bool(a.ActionsEnabled),
	}
}
