package alarm_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/testenv"
)

// putOwnAlarm writes dlq's alarm on queue as dlq wants it but for the
// threshold and the actions given.
func putOwnAlarm(t *testing.T, cw *cloudwatch.Client, queue string, threshold float64, alarmActions, okActions, insufficient []string) {
	t.Helper()
	want := alarm.Desired(queue, alarmActions)
	_, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(want.Name), Namespace: aws.String(alarm.Namespace), MetricName: aws.String(alarm.MetricName),
		Dimensions: []types.Dimension{{Name: aws.String(alarm.Dimension), Value: aws.String(queue)}},
		Statistic:  types.Statistic(want.Statistic), Period: aws.Int32(want.Period),
		EvaluationPeriods: aws.Int32(want.EvaluationPeriods), DatapointsToAlarm: aws.Int32(want.DatapointsToAlarm),
		Threshold: aws.Float64(threshold), ComparisonOperator: types.ComparisonOperator(want.ComparisonOperator),
		TreatMissingData: aws.String(want.TreatMissingData), ActionsEnabled: aws.Bool(true),
		AlarmActions: alarmActions, OKActions: okActions, InsufficientDataActions: insufficient,
	})
	if err != nil {
		t.Fatalf("put alarm %s: %v", want.Name, err)
	}
	t.Cleanup(func() {
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{want.Name}})
	})
}

// ownAlarm reads dlq's alarm on queue back from CloudWatch.
func ownAlarm(t *testing.T, cw *cloudwatch.Client, queue string) alarm.Alarm {
	t.Helper()
	all, err := alarm.DepthAlarms(context.Background(), cw)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all[queue] {
		if a.Name == alarm.NameFor(queue) {
			return a
		}
	}
	t.Fatalf("no alarm %s", alarm.NameFor(queue))
	return alarm.Alarm{}
}

func ensureOne(t *testing.T, cw *cloudwatch.Client, queue string, opts alarm.EnsureOptions) alarm.Result {
	t.Helper()
	existing, err := alarm.DepthAlarms(context.Background(), cw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := alarm.Ensure(context.Background(), cw, []string{queue}, existing, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// Issue 13: `ensure --sns-topic slack` on an alarm that pages must keep
// paging; only --replace-actions takes an action away.
func TestEnsureAddsTopicAndRemovesOnlyWhenReplacing(t *testing.T) {
	t.Parallel()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	q := testenv.Name(t, "q")
	const (
		pager   = "arn:aws:sns:us-east-1:123456789012:pager"
		pagerOK = "arn:aws:sns:us-east-1:123456789012:pager-resolve"
		audit   = "arn:aws:sns:us-east-1:123456789012:audit"
		slack   = "arn:aws:sns:us-east-1:123456789012:slack"
	)
	putOwnAlarm(t, cw, q, 0, []string{pager}, []string{pagerOK}, []string{audit})

	r := ensureOne(t, cw, q, alarm.EnsureOptions{SNSTopicARN: slack})
	if r.Action != alarm.Updated || !slices.Equal(r.ActionsAdded, []string{slack}) || len(r.ActionsRemoved) != 0 ||
		!slices.Equal(r.Changes, []string{"added action " + slack}) {
		t.Fatalf("adding a topic = %+v", r)
	}
	got := ownAlarm(t, cw, q)
	if !slices.Equal(got.Actions, []string{pager, slack}) || !slices.Equal(got.OKActions, []string{pagerOK}) ||
		!slices.Equal(got.InsufficientDataActions, []string{audit}) {
		t.Fatalf("after adding: actions %v, OK %v, insufficient data %v; want the pager kept and slack added, the others untouched",
			got.Actions, got.OKActions, got.InsufficientDataActions)
	}
	if r := ensureOne(t, cw, q, alarm.EnsureOptions{SNSTopicARN: slack}); r.Action != alarm.Unchanged {
		t.Fatalf("adding the same topic again = %+v", r)
	}
	if r := ensureOne(t, cw, q, alarm.EnsureOptions{SNSTopicARN: pager}); r.Action != alarm.Unchanged {
		t.Fatalf("adding a topic already there = %+v", r)
	}

	// --replace-actions, dry run: says what would go, removes nothing.
	r = ensureOne(t, cw, q, alarm.EnsureOptions{SNSTopicARN: slack, ReplaceActions: true, DryRun: true})
	if r.Action != alarm.Updated || len(r.ActionsAdded) != 0 || !slices.Equal(r.ActionsRemoved, []string{pager}) ||
		!slices.Equal(r.Changes, []string{"removed action " + pager}) {
		t.Fatalf("replace, dry run = %+v", r)
	}
	if got := ownAlarm(t, cw, q); !slices.Equal(got.Actions, []string{pager, slack}) {
		t.Fatalf("dry run changed the actions to %v", got.Actions)
	}

	r = ensureOne(t, cw, q, alarm.EnsureOptions{SNSTopicARN: slack, ReplaceActions: true})
	if r.Action != alarm.Updated || !slices.Equal(r.ActionsRemoved, []string{pager}) {
		t.Fatalf("replace = %+v", r)
	}
	got = ownAlarm(t, cw, q)
	if !slices.Equal(got.Actions, []string{slack}) || !slices.Equal(got.OKActions, []string{pagerOK}) ||
		!slices.Equal(got.InsufficientDataActions, []string{audit}) {
		t.Fatalf("after replacing: actions %v, OK %v, insufficient data %v", got.Actions, got.OKActions, got.InsufficientDataActions)
	}
}

// Repairing drift rewrites the whole alarm: OK and insufficient-data
// actions dlq does not manage must survive it.
func TestEnsureRepairKeepsOKActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	q := testenv.Name(t, "q")
	pager, resolve := "arn:aws:sns:us-east-1:123456789012:pager", "arn:aws:sns:us-east-1:123456789012:pager-resolve"
	// Drift: someone raised the threshold.
	putOwnAlarm(t, cw, q, 10, []string{pager}, []string{resolve}, nil)
	existing, err := alarm.DepthAlarms(ctx, cw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := alarm.Ensure(ctx, cw, []string{q}, existing, alarm.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != alarm.Updated || !slices.Equal(res[0].Changes, []string{"threshold 10 → 0"}) {
		t.Fatalf("repair = %+v", res[0])
	}
	got := ownAlarm(t, cw, q)
	if !slices.Equal(got.Actions, []string{pager}) || !slices.Equal(got.OKActions, []string{resolve}) {
		t.Errorf("after repair: actions %v, OK actions %v; want both kept", got.Actions, got.OKActions)
	}
}

// A plan CloudWatch would refuse (a sixth action) is refused before any
// alarm is written, so an --all run does not stop half-way.
func TestEnsureRefusesASixthActionBeforeWritingAnything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
	first, full := testenv.Name(t, "a"), testenv.Name(t, "b")
	t.Cleanup(func() {
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{alarm.NameFor(first)}})
	})
	var five []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		five = append(five, "arn:aws:sns:us-east-1:123456789012:"+n)
	}
	putOwnAlarm(t, cw, full, 0, five, nil, nil)
	existing, err := alarm.DepthAlarms(ctx, cw)
	if err != nil {
		t.Fatal(err)
	}
	_, err = alarm.Ensure(ctx, cw, []string{first, full}, existing, alarm.EnsureOptions{SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:f"})
	var tooMany *alarm.TooManyActionsError
	if !errors.As(err, &tooMany) || tooMany.Alarm != alarm.NameFor(full) {
		t.Fatalf("err = %v, want TooManyActionsError for %s", err, alarm.NameFor(full))
	}
	if after, _ := alarm.DepthAlarms(ctx, cw); len(after[first]) != 0 {
		t.Errorf("alarm on %s was created before the refusal: %+v", first, after[first])
	}
	// Replacing is within the limit.
	res, err := alarm.Ensure(ctx, cw, []string{full}, existing, alarm.EnsureOptions{SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:f", ReplaceActions: true})
	if err != nil || len(res[0].ActionsRemoved) != 5 {
		t.Fatalf("replace = %+v, %v", res, err)
	}
}
