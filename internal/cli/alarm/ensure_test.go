package alarm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// ensure on the whole account, for a terminal, a pipe and JSON, as a dry
// run (nothing put) and for real (only what needs it put): a created, an
// unchanged, an updated and a covered DLQ.
func TestEnsureRunGolden(t *testing.T) {
	t.Parallel()
	for _, dryRun := range []bool{true, false} {
		for _, out := range outputs {
			name := "ensure-" + out.name
			if dryRun {
				name = "ensure-dry-run-" + out.name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ios, _, stdout, stderr := render.Test()
				ios.SetStdoutTTY(out.tty)
				api, cw, topics := account()
				opts := &EnsureOptions{deps: depsFor(ios, api, cw, topics), All: true, Prefix: "orders-", DryRun: dryRun, Output: out.format}
				err := ensureRun(context.Background(), opts)
				code := cli.ExitCode(context.Background(), err)
				if code != cli.ExitOK {
					t.Errorf("exit %d (%v)", code, err)
				}
				var want []string
				if !dryRun {
					want = []string{"dlq-depth-orders-notify-dlq", "dlq-depth-orders-payments-dlq"}
				}
				if diff := cmp.Diff(want, sorted(cw.put())); diff != "" {
					t.Errorf("alarms put (-want +got):\n%s", diff)
				}
				if topics.asked {
					t.Error("a topic was checked without --sns-topic")
				}
				testenv.Golden(t, filepath.Join("testdata", name+".golden"), transcript(code, err, stdout.String(), stderr.String()), *update)
			})
		}
	}
}

// sorted is s in order.
func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

// What ensure does around the alarms themselves: the topic is checked
// before anything else, a queue that may not be a DLQ is alarmed with a
// warning, and a put that fails ends the run with what was done so far.
func TestEnsureRun(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		opts       EnsureOptions
		change     func(*fakeSQS, *fakeCloudWatch, *fakeSNS)
		wantExit   int
		wantErr    string
		wantPuts   []string
		wantStdout string // in stdout
		wantStderr string // in stderr
	}{
		{name: "topic added", opts: EnsureOptions{Queues: []string{"orders-inventory-dlq"}, SNSTopic: topic},
			wantPuts: []string{"dlq-depth-orders-inventory-dlq"}, wantStdout: "updated\tadded action " + topic,
			wantStderr: "0 created, 1 updated, 0 unchanged, 0 covered by another alarm\n"},
		{name: "actions replaced", opts: EnsureOptions{Queues: []string{"orders-inventory-dlq"}, SNSTopic: topic, ReplaceActions: true},
			wantPuts: []string{"dlq-depth-orders-inventory-dlq"}, wantStdout: "added action " + topic + "; removed action " + pagerARN,
			wantStderr: "; alarms losing actions to --replace-actions: 1"},
		{name: "missing topic", opts: EnsureOptions{All: true, SNSTopic: topic},
			change: func(_ *fakeSQS, _ *fakeCloudWatch, s *fakeSNS) {
				s.err = &smithy.GenericAPIError{Code: "NotFound", Message: "Topic does not exist"}
			},
			wantExit: cli.ExitError, wantErr: "ensure alarms: SNS topic " + topic + " does not exist (nothing was changed)"},
		{name: "topic not readable", opts: EnsureOptions{Queues: []string{"orders-payments-dlq"}, SNSTopic: topic},
			change: func(_ *fakeSQS, _ *fakeCloudWatch, s *fakeSNS) {
				s.err = &smithy.GenericAPIError{Code: "AuthorizationError", Message: "no"}
			},
			wantPuts:   []string{"dlq-depth-orders-payments-dlq"},
			wantStderr: "warning: could not check that SNS topic " + topic + " exists (AuthorizationError): alarms will notify it as given\n"},
		{name: "not a DLQ", opts: EnsureOptions{Queues: []string{"orders-payments"}, DryRun: true},
			wantStdout: "would be created",
			wantStderr: "warning: orders-payments: nothing dead-letters into it (no queue, rule target, subscription or Lambda function): not a dead-letter queue, so a depth alarm fires on its ordinary traffic\n"},
		{name: "sources not listed", opts: EnsureOptions{Queues: []string{"orders-payments-dlq"}, DryRun: true},
			change: func(api *fakeSQS, _ *fakeCloudWatch, _ *fakeSNS) {
				api.sourcesErr = map[string]error{"orders-payments-dlq": &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}}
			},
			wantStderr: "warning: orders-payments-dlq: could not check that it is a dead-letter queue: listing its source queues failed (AccessDenied)\n"},
		{name: "new alarms notify nobody", opts: EnsureOptions{Queues: []string{"orders-payments-dlq"}},
			wantPuts:   []string{"dlq-depth-orders-payments-dlq"},
			wantStderr: "1 created, 0 updated, 0 unchanged, 0 covered by another alarm; new alarms have no actions: pass --sns-topic to be notified\n"},
		{name: "put fails", opts: EnsureOptions{All: true, Prefix: "orders-"},
			change: func(_ *fakeSQS, cw *fakeCloudWatch, _ *fakeSNS) {
				cw.putErr = map[string]error{"dlq-depth-orders-payments-dlq": &smithy.GenericAPIError{Code: "LimitExceeded", Message: "too many alarms"}}
			},
			wantExit: cli.ExitError, wantErr: "ensure alarms: put alarm dlq-depth-orders-payments-dlq: api error LimitExceeded",
			wantPuts: []string{"dlq-depth-orders-notify-dlq"}, wantStdout: "orders-notify-dlq\tdlq-depth-orders-notify-dlq\tupdated"},
		{name: "too many actions", opts: EnsureOptions{Queues: []string{"orders-inventory-dlq"}, SNSTopic: topic},
			change: func(_ *fakeSQS, cw *fakeCloudWatch, _ *fakeSNS) {
				cw.alarms[0].AlarmActions = []string{pagerARN + "1", pagerARN + "2", pagerARN + "3", pagerARN + "4", pagerARN + "5"}
			},
			wantExit: cli.ExitError, wantErr: "already has 5 actions, the most CloudWatch allows"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			api, cw, topics := account()
			if tt.change != nil {
				tt.change(api, cw, topics)
			}
			opts := tt.opts
			opts.deps, opts.Output = depsFor(ios, api, cw, topics), render.FormatTable
			err := ensureRun(context.Background(), &opts)
			if code := cli.ExitCode(context.Background(), err); code != tt.wantExit {
				t.Errorf("exit %d (%v), want %d", code, err, tt.wantExit)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one with %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantPuts, cw.put()); diff != "" {
				t.Errorf("alarms put (-want +got):\n%s", diff)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
		})
	}
}

// The alarm dlq puts is the documented rule: visible messages above zero,
// maximum over a minute, one datapoint, missing data not breaching; an
// update keeps what it does not manage (OK actions).
func TestEnsureRunPutsTheRule(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := render.Test()
	api, cw, topics := account()
	cw.alarms[1].OKActions = []string{pagerARN}
	opts := &EnsureOptions{deps: depsFor(ios, api, cw, topics), Queues: []string{"orders-notify-dlq"}, SNSTopic: topic, Output: render.FormatTable}
	if err := ensureRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if len(cw.puts) != 1 {
		t.Fatalf("%d alarms put, want 1", len(cw.puts))
	}
	in := cw.puts[0]
	got := fmt.Sprintf("%s %s/%s %s=%s %s period %d, %d of %d, %s %g, missing %s, actions %v (enabled %v), OK %v",
		aws.ToString(in.AlarmName), aws.ToString(in.Namespace), aws.ToString(in.MetricName), aws.ToString(in.Dimensions[0].Name), aws.ToString(in.Dimensions[0].Value),
		in.Statistic, aws.ToInt32(in.Period), aws.ToInt32(in.DatapointsToAlarm), aws.ToInt32(in.EvaluationPeriods), in.ComparisonOperator, aws.ToFloat64(in.Threshold),
		aws.ToString(in.TreatMissingData), in.AlarmActions, aws.ToBool(in.ActionsEnabled), in.OKActions)
	want := "dlq-depth-orders-notify-dlq AWS/SQS/ApproximateNumberOfMessagesVisible QueueName=orders-notify-dlq Maximum period 60, 1 of 1, " +
		"GreaterThanThreshold 0, missing notBreaching, actions [" + topic + "] (enabled true), OK [" + pagerARN + "]"
	if got != want {
		t.Errorf("alarm put:\n %s\nwant\n %s", got, want)
	}
}

// A run whose clients cannot be built stops before anything is read.
func TestEnsureRunNoCredentials(t *testing.T) {
	t.Parallel()
	ios, _, stdout, _ := render.Test()
	api, cw, topics := account()
	d := depsFor(ios, api, cw, topics)
	d.SNS = func(context.Context) (alarm.SNSAPI, error) {
		return nil, &cli.CredentialsError{Profile: "prod", Err: errors.New("token expired")}
	}
	err := ensureRun(context.Background(), &EnsureOptions{deps: d, All: true, SNSTopic: topic, Output: render.FormatTable})
	if code := cli.ExitCode(context.Background(), err); code != cli.ExitAuth {
		t.Errorf("exit %d (%v), want 4", code, err)
	}
	if stdout.Len() > 0 || len(cw.put()) > 0 {
		t.Errorf("printed %q, put %v", stdout, cw.put())
	}
}
