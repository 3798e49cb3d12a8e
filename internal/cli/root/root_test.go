package root

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

type result struct {
	code   int
	stdout string
	stderr string
}

// dlq runs one invocation in-process against the emulator.
func dlq(t *testing.T, region string, args string, opts ...func(*middleware.Stack) error) result {
	t.Helper()
	if region == "" {
		region = testenv.Region
	}
	ios, _, out, errOut := render.Test()
	argv := append([]string{"--endpoint-url", testenv.Endpoint(t), "--region", region}, strings.Fields(args)...)
	dir := t.TempDir()
	env := func(k string) (string, bool) {
		if k == "XDG_CONFIG_HOME" || k == "XDG_STATE_HOME" {
			return dir, true
		}
		return emulatorEnv(k)
	}
	code := Run(context.Background(), ios, env, argv, BuildInfo{Version: "test"}, opts...)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// emulatorEnv is the environment of a command run against the emulator:
// testenv.CallTimeout, nothing else.
func emulatorEnv(k string) (string, bool) {
	if k == "DLQ_CALL_TIMEOUT" {
		return testenv.CallTimeout, true
	}
	return "", false
}

// pipeline creates an order pipeline under a unique prefix: orders and
// payments redrive into their DLQs, payments-dlq holds two messages, and
// an unrelated queue stands beside them.
func pipeline(t *testing.T) string {
	t.Helper()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "e2e")
	ordersDLQ := testenv.CreateQueue(t, c, p+"-orders-dlq", map[string]string{"MessageRetentionPeriod": "1209600"})
	payDLQ := testenv.CreateQueue(t, c, p+"-payments-dlq", map[string]string{"MessageRetentionPeriod": "1209600"})
	testenv.CreateQueue(t, c, p+"-orders", testenv.Redrive(ordersDLQ.ARN, 5))
	testenv.CreateQueue(t, c, p+"-payments", testenv.Redrive(payDLQ.ARN, 5))
	testenv.CreateQueue(t, c, p+"-audit", nil)
	testenv.Send(t, c, payDLQ.URL, 2, `{"orderId":"order-1"}`)
	t.Cleanup(func() {
		cw := cloudwatch.NewFromConfig(testenv.Config(t, ""))
		_, _ = cw.DeleteAlarms(context.Background(), &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"dlq-depth-" + p + "-orders-dlq", "dlq-depth-" + p + "-payments-dlq"}})
	})
	return p
}

func TestInspectJSONAndExitCodes(t *testing.T) {
	t.Parallel()
	p := pipeline(t)

	r := dlq(t, "", "inspect --prefix "+p+" -o json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if len(rows) != 2 || rows[0]["name"] != p+"-payments-dlq" || rows[0]["visible"] != float64(2) || rows[0]["status"] != "messages" {
		t.Fatalf("rows = %v", rows)
	}
	for _, key := range []string{"name", "url", "arn", "fifo", "visible", "inFlight", "delayed", "retentionSeconds", "sources", "alarm", "status", "warnings"} {
		if _, ok := rows[0][key]; !ok {
			t.Errorf("JSON row lacks %q", key)
		}
	}
	src := rows[1]["sources"].([]any)[0].(map[string]any)
	if src["name"] != p+"-orders" || src["maxReceiveCount"] != float64(5) || src["retentionSeconds"] != float64(345600) {
		t.Errorf("source = %v", src)
	}
	if rows[1]["alarm"] != nil || rows[1]["status"] != "warning" {
		t.Errorf("unwatched DLQ = %v", rows[1])
	}
	if !strings.Contains(r.stderr, "2 DLQs, 1 with messages ("+p+"-payments-dlq 2)") {
		t.Errorf("summary = %q", r.stderr)
	}

	for _, tc := range []struct {
		args     string
		code     int
		inStderr string
	}{
		{"--max-depth 0", cli.ExitCondition, "over --max-depth 0: " + p + "-payments-dlq (2)"},
		{"--max-depth 2", cli.ExitOK, ""},
		{"--fail-on-warning", cli.ExitCondition, "with warnings: " + p + "-payments-dlq, " + p + "-orders-dlq"},
	} {
		r := dlq(t, "", "inspect --prefix "+p+" "+tc.args)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.inStderr) {
			t.Errorf("inspect %s: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.inStderr)
		}
	}

	r = dlq(t, "", "inspect "+p+"-orders-dlq -o ndjson")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, `"name":"`+p+`-orders-dlq"`) {
		t.Errorf("named ndjson: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAlarmEnsureAndList(t *testing.T) {
	t.Parallel()
	p := pipeline(t)
	r := dlq(t, "", "alarm ensure --all --prefix "+p+" --dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would be created") || !strings.Contains(r.stderr, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", "alarm list --prefix "+p+" -o json")
	if r.code != 0 || strings.Count(r.stdout, `"alarms": []`) != 2 {
		t.Fatalf("after dry run, list = %s", r.stdout)
	}

	r = dlq(t, "", "alarm ensure --all --prefix "+p+" --sns-topic "+snsTopic(t, "", "oncall"))
	if r.code != 0 || !strings.Contains(r.stderr, "2 created, 0 updated, 0 unchanged") {
		t.Fatalf("ensure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", "alarm ensure --all --prefix "+p)
	if r.code != 0 || !strings.Contains(r.stderr, "0 created, 0 updated, 2 unchanged, 0 covered by another alarm: nothing to change") {
		t.Fatalf("second ensure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = dlq(t, "", "alarm list --prefix "+p)
	if r.code != 0 || !strings.Contains(r.stdout, p+"-orders-dlq\tdlq-depth-"+p+"-orders-dlq\t") || !strings.Contains(r.stderr, "2 DLQs, 0 without an alarm") {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = dlq(t, "", "inspect --prefix "+p+" -o json")
	var rows []struct {
		Name     string
		Alarm    *struct{ Name, State string }
		Status   string
		Warnings []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Alarm == nil || row.Alarm.Name != "dlq-depth-"+row.Name {
			t.Errorf("%s: alarm = %+v", row.Name, row.Alarm)
		}
		if row.Name == p+"-orders-dlq" && (row.Status != "ok" || len(row.Warnings) != 0) {
			t.Errorf("orders DLQ with alarm: status %s, warnings %q", row.Status, row.Warnings)
		}
	}
}

func TestInspectCallsPerQueue(t *testing.T) {
	t.Parallel()
	// Its own region, so the account holds exactly these queues and alarms.
	const region = "eu-north-1"
	c := sqs.NewFromConfig(testenv.Config(t, region))
	p := testenv.Name(t, "calls")
	const pairs = 20
	for i := 0; i < pairs; i++ {
		d := testenv.CreateQueue(t, c, fmt.Sprintf("%s-%02d-dlq", p, i), nil)
		testenv.CreateQueue(t, c, fmt.Sprintf("%s-%02d", p, i), testenv.Redrive(d.ARN, 3))
	}
	counter := testenv.NewCallCounter()
	r := dlq(t, region, "inspect -o json", counter.Middleware)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The other kinds of sources cost a call each in an account without
	// rules (but the default bus), subscriptions or functions.
	want := map[string]int{"ListQueues": 1, "GetQueueAttributes": 2 * pairs, "DescribeAlarms": 1,
		"ListEventBuses": 1, "DescribeEventBus": 1, "ListRules": 1, "ListSubscriptions": 1, "ListFunctions": 1}
	if got := counter.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestErrorsAreOneLineWithExitCodes(t *testing.T) {
	t.Parallel()
	p := testenv.Name(t, "err")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown queue", []string{"inspect", p + "-nope"}, cli.ExitError, `dlq: inspect queues: queue "` + p + `-nope" does not exist`},
		{"unreachable endpoint", []string{"--endpoint-url", "http://" + closed, "inspect"}, cli.ExitError, "cannot reach endpoint http://" + closed},
		{"bad flag value", []string{"inspect", "--max-depth", "x"}, cli.ExitUsage, `invalid argument "x" for "--max-depth"`},
		{"bad output", []string{"-o", "yaml", "inspect"}, cli.ExitUsage, `invalid output format "yaml"`},
		{"unknown command", []string{"inspekt"}, cli.ExitUsage, `unknown command "inspekt" for "dlq"; did you mean: inspect`},
		{"bad queue name", []string{"inspect", "a b"}, cli.ExitUsage, `invalid queue "a b"`},
		{"ensure without target", []string{"alarm", "ensure"}, cli.ExitUsage, "name the DLQs to alarm, or pass --all"},
		{"unknown alarm subcommand", []string{"alarm", "ensrue", "orders-dlq"}, cli.ExitUsage, `dlq: unexpected argument "ensrue" for "dlq alarm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, errOut := render.Test()
			args := append([]string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region}, tt.args...)
			code := Run(context.Background(), ios, emulatorEnv, args, BuildInfo{})
			msg := errOut.String()
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d with %q", code, msg, tt.code, tt.want)
			}
			if strings.Count(strings.TrimSuffix(msg, "\n"), "\n") > 1 || strings.Contains(msg, "RequestID") || strings.Contains(msg, "goroutine") {
				t.Errorf("stderr is not a short message: %q", msg)
			}
		})
	}
}

// Not parallel: it changes the process environment.
func TestMissingCredentialsExit4(t *testing.T) {
	ep := testenv.Endpoint(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ios, _, _, errOut := render.Test()
	code := Run(context.Background(), ios, emulatorEnv,
		[]string{"--endpoint-url", ep, "--region", "eu-west-3", "--profile", "", "inspect"}, BuildInfo{})
	if code != cli.ExitAuth || !strings.Contains(errOut.String(), "no usable AWS credentials (default chain, eu-west-3)") {
		t.Fatalf("exit %d, stderr %q; want 4 naming the chain and region", code, errOut.String())
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := render.Test()
	code := Run(context.Background(), ios, emulatorEnv, []string{"version"}, BuildInfo{Version: "1.2.3", Commit: "abc", Date: "2026-11-26"})
	if code != 0 || !strings.HasPrefix(out.String(), "dlq 1.2.3 (abc, 2026-11-26) ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	for _, cmd := range [][]string{{"inspect", "--help"}, {"alarm", "ensure", "--help"}, {"alarm", "list", "--help"}} {
		ios, _, out, _ := render.Test()
		if code := Run(context.Background(), ios, emulatorEnv, cmd, BuildInfo{}); code != 0 || !strings.Contains(out.String(), "Examples:") {
			t.Errorf("%v: exit %d, help without examples:\n%s", cmd, code, out.String())
		}
	}
}
