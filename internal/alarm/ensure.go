package alarm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// NamePrefix starts the name of every alarm dlq creates.
const NamePrefix = "dlq-depth-"

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
	DryRun  bool     `json:"dryRun"`
}

// EnsureOptions set what the alarm notifies.
type EnsureOptions struct {
	// SNSTopicARN, when set, becomes the alarm's only action. When empty,
	// an existing alarm keeps its actions.
	SNSTopicARN string
	DryRun      bool
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

// Ensure makes sure each queue has a depth alarm, given the alarms that
// exist (from DepthAlarms). It creates dlq's alarm when none fires on the
// first message, converges dlq's own alarm when it has drifted, and leaves
// everything else alone. Running it twice changes nothing the second time.
func Ensure(ctx context.Context, api CloudWatchAPI, queues []string, existing map[string][]Alarm, opts EnsureOptions) ([]Result, error) {
	results := make([]Result, 0, len(queues))
	for _, q := range queues {
		r, put, want := plan(q, existing[q], opts)
		r.DryRun = opts.DryRun
		if put && !opts.DryRun {
			if _, err := api.PutMetricAlarm(ctx, putInput(want)); err != nil {
				return results, fmt.Errorf("put alarm %s: %w", want.Name, err)
			}
		}
		results = append(results, r)
	}
	return results, nil
}

func plan(queue string, alarms []Alarm, opts EnsureOptions) (Result, bool, Alarm) {
	var own *Alarm
	for i := range alarms {
		if alarms[i].Name == NameFor(queue) {
			own = &alarms[i]
		}
	}
	if own == nil {
		for _, a := range alarms {
			if a.FiresOnFirstMessage() && opts.SNSTopicARN == "" {
				return Result{Queue: queue, Alarm: a.Name, Action: Covered}, false, Alarm{}
			}
		}
		var actions []string
		if opts.SNSTopicARN != "" {
			actions = []string{opts.SNSTopicARN}
		}
		want := Desired(queue, actions)
		return Result{Queue: queue, Alarm: want.Name, Action: Created}, true, want
	}
	actions := own.Actions
	if opts.SNSTopicARN != "" {
		actions = []string{opts.SNSTopicARN}
	}
	want := Desired(queue, actions)
	changes := diff(*own, want)
	if len(changes) == 0 {
		return Result{Queue: queue, Alarm: own.Name, Action: Unchanged}, false, want
	}
	return Result{Queue: queue, Alarm: own.Name, Action: Updated, Changes: changes}, true, want
}

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
	if !slices.Equal(sorted(have.Actions), sorted(want.Actions)) {
		c = append(c, fmt.Sprintf("actions [%s] → [%s]", strings.Join(have.Actions, ","), strings.Join(want.Actions, ",")))
	}
	return c
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func putInput(a Alarm) *cloudwatch.PutMetricAlarmInput {
	return &cloudwatch.PutMetricAlarmInput{
		AlarmName:          aws.String(a.Name),
		AlarmDescription:   aws.String(a.Description),
		Namespace:          aws.String(Namespace),
		MetricName:         aws.String(MetricName),
		Dimensions:         []types.Dimension{{Name: aws.String(Dimension), Value: aws.String(a.QueueName)}},
		Statistic:          types.Statistic(a.Statistic),
		Period:             aws.Int32(a.Period),
		EvaluationPeriods:  aws.Int32(a.EvaluationPeriods),
		DatapointsToAlarm:  aws.Int32(a.DatapointsToAlarm),
		Threshold:          aws.Float64(a.Threshold),
		ComparisonOperator: types.ComparisonOperator(a.ComparisonOperator),
		TreatMissingData:   aws.String(a.TreatMissingData),
		AlarmActions:       a.Actions,
		ActionsEnabled:     aws.Bool(a.ActionsEnabled),
	}
}
