// Package alarm finds and keeps the CloudWatch alarms that watch DLQ depth:
// the guidance dlq follows is an alarm on ApproximateNumberOfMessagesVisible
// above zero, evaluated every minute, so no DLQ fills silently.
package alarm

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// CloudWatchAPI is the part of the CloudWatch client this package calls.
type CloudWatchAPI interface {
	DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	PutMetricAlarm(context.Context, *cloudwatch.PutMetricAlarmInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricAlarmOutput, error)
}

// The metric a depth alarm watches.
const (
	Namespace  = "AWS/SQS"
	MetricName = "ApproximateNumberOfMessagesVisible"
	Dimension  = "QueueName"
)

// Alarm is a CloudWatch metric alarm on a queue's visible-message count.
type Alarm struct {
	Name               string
	State              string
	QueueName          string
	Statistic          string
	Period             int32
	EvaluationPeriods  int32
	DatapointsToAlarm  int32
	Threshold          float64
	ComparisonOperator string
	TreatMissingData   string
	// Actions notify on entering ALARM; OKActions and
	// InsufficientDataActions on the other transitions. PutMetricAlarm
	// replaces all three, so an update must carry each one it keeps.
	Actions                 []string
	OKActions               []string
	InsufficientDataActions []string
	ActionsEnabled          bool
	Description             string
}

// FiresOnFirstMessage reports whether the alarm goes off as soon as one
// message is visible for one datapoint of at most a minute.
func (a Alarm) FiresOnFirstMessage() bool {
	switch types.ComparisonOperator(a.ComparisonOperator) {
	case types.ComparisonOperatorGreaterThanThreshold:
		if a.Threshold >= 1 {
			return false
		}
	case types.ComparisonOperatorGreaterThanOrEqualToThreshold:
		if a.Threshold > 1 {
			return false
		}
	default:
		return false
	}
	dp := a.DatapointsToAlarm
	if dp == 0 {
		dp = a.EvaluationPeriods
	}
	return dp <= 1 && a.Period > 0 && a.Period <= 60
}

// DepthAlarms lists every metric alarm in the account and region (all
// pages) and returns those watching a queue's visible-message count, keyed
// by queue name and sorted by alarm name. Alarms on metric math count when
// one of their metrics is the queue's depth.
func DepthAlarms(ctx context.Context, api CloudWatchAPI) (map[string][]Alarm, error) {
	out := map[string][]Alarm{}
	p := cloudwatch.NewDescribeAlarmsPaginator(api, &cloudwatch.DescribeAlarmsInput{
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm},
		MaxRecords: aws.Int32(100),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe alarms: %w", err)
		}
		for _, m := range page.MetricAlarms {
			for _, q := range watchedQueues(m) {
				out[q] = append(out[q], fromMetricAlarm(m, q))
			}
		}
	}
	for q := range out {
		sort.Slice(out[q], func(i, j int) bool { return out[q][i].Name < out[q][j].Name })
	}
	return out, nil
}

func watchedQueues(m types.MetricAlarm) []string {
	if aws.ToString(m.Namespace) == Namespace && aws.ToString(m.MetricName) == MetricName {
		if q := queueDimension(m.Dimensions); q != "" {
			return []string{q}
		}
	}
	var qs []string
	for _, md := range m.Metrics {
		if md.MetricStat == nil || md.MetricStat.Metric == nil {
			continue
		}
		mt := md.MetricStat.Metric
		if aws.ToString(mt.Namespace) == Namespace && aws.ToString(mt.MetricName) == MetricName {
			if q := queueDimension(mt.Dimensions); q != "" {
				qs = append(qs, q)
			}
		}
	}
	return qs
}

func queueDimension(ds []types.Dimension) string {
	for _, d := range ds {
		if aws.ToString(d.Name) == Dimension {
			return aws.ToString(d.Value)
		}
	}
	return ""
}

func fromMetricAlarm(m types.MetricAlarm, queue string) Alarm {
	return Alarm{
		Name:                    aws.ToString(m.AlarmName),
		State:                   string(m.StateValue),
		QueueName:               queue,
		Statistic:               string(m.Statistic),
		Period:                  aws.ToInt32(m.Period),
		EvaluationPeriods:       aws.ToInt32(m.EvaluationPeriods),
		DatapointsToAlarm:       aws.ToInt32(m.DatapointsToAlarm),
		Threshold:               aws.ToFloat64(m.Threshold),
		ComparisonOperator:      string(m.ComparisonOperator),
		TreatMissingData:        aws.ToString(m.TreatMissingData),
		Actions:                 m.AlarmActions,
		OKActions:               m.OKActions,
		InsufficientDataActions: m.InsufficientDataActions,
		ActionsEnabled:          aws.ToBool(m.ActionsEnabled),
		Description:             aws.ToString(m.AlarmDescription),
	}
}

// Primary picks the alarm to show for a queue: one in ALARM first, then
// one that fires on the first message, then the first by name.
func Primary(alarms []Alarm) *Alarm {
	if len(alarms) == 0 {
		return nil
	}
	best := 0
	rank := func(a Alarm) int {
		r := 0
		if a.State == string(types.StateValueAlarm) {
			r += 2
		}
		if a.FiresOnFirstMessage() {
			r++
		}
		return r
	}
	for i := range alarms {
		if rank(alarms[i]) > rank(alarms[best]) {
			best = i
		}
	}
	a := alarms[best]
	return &a
}
