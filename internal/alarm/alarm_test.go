package alarm_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/testenv"
)

func putAlarm(t *testing.T, cw *cloudwatch.Client, name, queue string, threshold float64, period int32) {
	t.Helper()
	_, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String(alarm.Namespace), MetricName: aws.String(alarm.MetricName),
		Dimensions:         []types.Dimension{{Name: aws.String("QueueName"), Value: aws.String(queue)}},
		Statistic:          types.StatisticSum,
		Period:             aws.Int32(period),
		EvaluationPeriods:  aws.Int32(1),
		Threshold:          aws.Float64(threshold),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
	})
	if err != nil {
		t.Fatalf("put alarm %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{name}})
	})
}

func TestDepthAlarmsFindsAlarmsByQueue(t *testing.T) {
	t.Parallel()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	q := testenv.Name(t, "q")
	putAlarm(t, cw, q+"-loose", q, 100, 300)
	putAlarm(t, cw, q+"-tight", q, 0, 60)
	all, err := alarm.DepthAlarms(context.Background(), cw)
	if err != nil {
		t.Fatal(err)
	}
	got := all[q]
	if len(got) != 2 || got[0].Name != q+"-loose" || got[1].Name != q+"-tight" {
		t.Fatalf("alarms for %s = %+v", q, got)
	}
	if got[0].FiresOnFirstMessage() || !got[1].FiresOnFirstMessage() {
		t.Errorf("FiresOnFirstMessage: loose %v, tight %v", got[0].FiresOnFirstMessage(), got[1].FiresOnFirstMessage())
	}
	if p := alarm.Primary(got); p == nil || p.Name != q+"-tight" {
		t.Errorf("Primary = %+v, want the one that fires on the first message", p)
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	a, b := testenv.Name(t, "a"), testenv.Name(t, "b")
	t.Cleanup(func() {
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{alarm.NameFor(a), alarm.NameFor(b)}})
	})
	topic := "arn:aws:sns:us-east-1:123456789012:oncall"
	ensure := func(opts alarm.EnsureOptions) map[string]alarm.Result {
		t.Helper()
		existing, err := alarm.DepthAlarms(ctx, cw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := alarm.Ensure(ctx, cw, []string{a, b}, existing, opts)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]alarm.Result{}
		for _, r := range res {
			m[r.Queue] = r
		}
		return m
	}

	// Dry run changes nothing.
	if r := ensure(alarm.EnsureOptions{SNSTopicARN: topic, DryRun: true}); r[a].Action != alarm.Created || !r[a].DryRun {
		t.Fatalf("dry run = %+v", r[a])
	}
	if existing, _ := alarm.DepthAlarms(ctx, cw); len(existing[a]) != 0 {
		t.Fatalf("dry run created %+v", existing[a])
	}

	if r := ensure(alarm.EnsureOptions{SNSTopicARN: topic}); r[a].Action != alarm.Created || r[b].Action != alarm.Created {
		t.Fatalf("first run = %+v", r)
	}
	existing, _ := alarm.DepthAlarms(ctx, cw)
	got := existing[a]
	if len(got) != 1 {
		t.Fatalf("alarms on %s = %+v", a, got)
	}
	want := alarm.Desired(a, []string{topic})
	g := got[0]
	if g.Name != want.Name || g.Statistic != "Maximum" || g.Period != 60 || g.EvaluationPeriods != 1 || g.DatapointsToAlarm != 1 ||
		g.Threshold != 0 || g.ComparisonOperator != "GreaterThanThreshold" || g.TreatMissingData != "notBreaching" ||
		len(g.Actions) != 1 || g.Actions[0] != topic || !g.FiresOnFirstMessage() {
		t.Errorf("created alarm = %+v", g)
	}

	// Second run, with or without the topic: nothing to change, actions kept.
	for _, opts := range []alarm.EnsureOptions{{SNSTopicARN: topic}, {}} {
		if r := ensure(opts); r[a].Action != alarm.Unchanged || r[b].Action != alarm.Unchanged {
			t.Fatalf("second run %+v = %+v", opts, r)
		}
	}

	// Drift is repaired and named.
	_, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm.NameFor(a)), Namespace: aws.String(alarm.Namespace), MetricName: aws.String(alarm.MetricName),
		Dimensions: []types.Dimension{{Name: aws.String("QueueName"), Value: aws.String(a)}},
		Statistic:  types.StatisticMaximum, Period: aws.Int32(300), EvaluationPeriods: aws.Int32(1), DatapointsToAlarm: aws.Int32(1),
		Threshold: aws.Float64(10), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		TreatMissingData: aws.String("notBreaching"), AlarmActions: []string{topic}, ActionsEnabled: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := ensure(alarm.EnsureOptions{})
	if r[a].Action != alarm.Updated || len(r[a].Changes) != 2 || r[b].Action != alarm.Unchanged {
		t.Fatalf("after drift = %+v", r)
	}
	if r := ensure(alarm.EnsureOptions{}); r[a].Action != alarm.Unchanged {
		t.Fatalf("after repair = %+v", r[a])
	}
}

func TestEnsureLeavesCoveringAlarmAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	q := testenv.Name(t, "q")
	putAlarm(t, cw, q+"-team-alarm", q, 0, 60)
	existing, err := alarm.DepthAlarms(ctx, cw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := alarm.Ensure(ctx, cw, []string{q}, existing, alarm.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != alarm.Covered || res[0].Alarm != q+"-team-alarm" {
		t.Fatalf("result = %+v", res[0])
	}
	after, _ := alarm.DepthAlarms(ctx, cw)
	if len(after[q]) != 1 {
		t.Errorf("alarms after = %+v, want only the team's", after[q])
	}
}
