package root

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
	"github.com/dlqops/dlq/internal/triage"
)

type triageJSON struct {
	Queue   string `json:"queue"`
	Scanned int    `json:"scanned"`
	Matched int    `json:"matched"`
	Groups  []struct {
		ID         string     `json:"id"`
		Step       string     `json:"step"`
		Error      string     `json:"error"`
		Example    string     `json:"example"`
		Source     string     `json:"source"`
		Count      int        `json:"count"`
		FirstSent  *time.Time `json:"firstSent"`
		LastSent   *time.Time `json:"lastSent"`
		OrderIDs   []string   `json:"orderIds"`
		TraceIDs   []string   `json:"traceIds"`
		MessageIDs []string   `json:"messageIds"`
	} `json:"groups"`
}

func triageRun(t *testing.T, args string) (triageJSON, result) {
	t.Helper()
	r := dlq(t, "", args+" -o json")
	if r.code != 0 {
		t.Fatalf("dlq %s: exit %d: %s", args, r.code, r.stderr)
	}
	var out triageJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("dlq %s: %v\n%s", args, err, r.stdout)
	}
	return out, r
}

// A DLQ in an incident: a payment provider's outage (503s, each with its
// own request ID in the log line), poison orders (an unknown currency), a
// Lambda asynchronous invocation's failure recorded only in its
// attributes, and a message nothing explains.
func TestTriageGroupsDLQByCause(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := "/aws/lambda/" + testenv.Name(t, "triage")
	// Within the window a query searches: from 10 minutes before the
	// messages were sent (here: after the log lines; in a pipeline, before).
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
	line := func(trace, order, step, status, level, msg, errText string) string {
		b, _ := json.Marshal(map[string]string{"time": "x", "level": level, "msg": msg, "traceId": trace, "orderId": order, "step": step, "status": status, "error": errText})
		return string(b)
	}
	// A trace ID with a quote and a pipe: quoted in the query, it cannot
	// add a command to it.
	quoted := `t-pay-"3" | filter 1=1`
	var lines []logLine
	for i, tr := range []struct{ trace, order, request string }{{"t-pay-1", "o-1", "4f1c0a9b"}, {"t-pay-2", "o-2", "9a0b77e2"}, {quoted, "o-3", "12345678"}} {
		at := base.Add(time.Duration(i) * time.Second)
		lines = append(lines,
			logLine{p + "-payments", at, line(tr.trace, tr.order, "charge", "started", "INFO", "charging", "")},
			logLine{p + "-payments", at.Add(100 * time.Millisecond), line(tr.trace, tr.order, "charge", "retry", "WARN", "charge failed, will retry", "connection reset")},
			logLine{p + "-payments", at.Add(200 * time.Millisecond), line(tr.trace, tr.order, "charge", "error", "ERROR", "charge failed", "payment provider: HTTP 503 (request "+tr.request+")")},
			logLine{p + "-saga", at.Add(300 * time.Millisecond), line(tr.trace, tr.order, "saga", "dlq", "ERROR", "dead-lettered", "charge: HTTP 503")},
		)
	}
	for i, tr := range []struct{ trace, order, currency string }{{"t-poison-7", "o-7", "XYZ"}, {"t-poison-8", "o-8", "ABC"}} {
		at := base.Add(time.Duration(10+i) * time.Second)
		lines = append(lines,
			logLine{p + "-validate", at, line(tr.trace, tr.order, "validate", "error", "ERROR", "order rejected", fmt.Sprintf("invalid currency '%s' in order %s", tr.currency, tr.order))},
			logLine{p + "-saga", at.Add(time.Second), line(tr.trace, tr.order, "saga", "dlq", "ERROR", "dead-lettered", "permanent")},
		)
	}
	// Someone else's failure in the same groups and window.
	lines = append(lines, logLine{p + "-payments", base.Add(5 * time.Second), line("t-other", "o-99", "charge", "error", "ERROR", "charge failed", "card declined")})
	putLogs(t, logs, lines)

	q := testenv.CreateQueue(t, c, testenv.Name(t, "triage-dlq"), nil)
	envelope := func(trace, order string) string {
		return fmt.Sprintf(`{"traceId":%q,"orderId":%q,"type":"payment-requested","attempt":1}`, trace, order)
	}
	for _, tr := range [][2]string{{"t-pay-1", "o-1"}, {"t-pay-2", "o-2"}, {quoted, "o-3"}, {"t-poison-7", "o-7"}, {"t-poison-8", "o-8"}} {
		send(t, c, q.URL, envelope(tr[0], tr[1]), map[string]sqstypes.MessageAttributeValue{"traceId": strAttr(tr[0])})
	}
	send(t, c, q.URL, `{"orderId":"o-20","detail":"async"}`, map[string]sqstypes.MessageAttributeValue{
		"ErrorCode": strAttr("200"), "ErrorMessage": strAttr("Task timed out after 3.00 seconds"), "RequestID": strAttr("c0ffee-1")})
	send(t, c, q.URL, `{"orderId":"o-30"}`, nil)

	args := "triage " + q.Name + " --log-group-prefix " + p + "-"
	first, r := triageRun(t, args)
	type group struct {
		Step, Error, Source string
		Count               int
		Orders              string
	}
	var got []group
	for _, g := range first.Groups {
		got = append(got, group{g.Step, g.Error, g.Source, g.Count, strings.Join(g.OrderIDs, ",")})
		if g.ID != triage.CauseID(g.Step, g.Error) || len(g.MessageIDs) != g.Count || g.FirstSent == nil || g.LastSent.Before(*g.FirstSent) {
			t.Errorf("group %+v", g)
		}
	}
	want := []group{
		{"charge", "payment provider: HTTP 503 (request <id>)", triage.SourceLogs, 3, "o-1,o-2,o-3"},
		{"validate", "invalid currency '<str>' in order <id>", triage.SourceLogs, 2, "o-7,o-8"},
		{"lambda", "200: Task timed out after <n> seconds", triage.SourceLambda, 1, "o-20"},
		{"", "unknown", triage.SourceUnknown, 1, "o-30"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups:\n%v\nwant\n%v\nstderr: %s", got, want, r.stderr)
	}
	if first.Queue != q.Name || first.Scanned != 7 || first.Matched != 7 || first.Groups[1].Example != "invalid currency 'XYZ' in order o-7" {
		t.Errorf("result %+v", first)
	}
	if !strings.Contains(r.stderr, "4 causes (5 from logs, 1 from Lambda's error attributes, 1 unknown)") || !strings.Contains(r.stderr, "7 released") {
		t.Errorf("summary = %q", r.stderr)
	}

	// A second run: the same causes under the same IDs.
	second, _ := triageRun(t, args)
	for i := range first.Groups {
		if i >= len(second.Groups) || second.Groups[i].ID != first.Groups[i].ID || second.Groups[i].Count != first.Groups[i].Count {
			t.Fatalf("second run: %+v\nfirst: %+v", second.Groups, first.Groups)
		}
	}

	// Piped, a table: one line per cause, the ID first, largest first.
	r = dlq(t, "", args)
	rows := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(rows) != 4 || !strings.HasPrefix(rows[0], first.Groups[0].ID+"\t3\tcharge\t") {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Without log groups the messages speak for themselves: only Lambda's
	// attributes explain anything.
	bare, r := triageRun(t, "triage "+q.Name)
	if len(bare.Groups) != 2 || bare.Groups[0].Error != "unknown" || bare.Groups[0].Count != 6 || bare.Groups[1].ID != first.Groups[2].ID ||
		!strings.Contains(r.stderr, "note: no log groups") {
		t.Errorf("without logs: %+v\n%s", bare.Groups, r.stderr)
	}
	assertUntouched(t, c, q.URL, 7)
}

// Ctrl-C while the DLQ is read, or while the logs are queried: every
// message is released, and dlq exits 130.
func TestTriageInterruptedReleasesAndExits130(t *testing.T) {
	t.Parallel()
	logs := cwl.NewFromConfig(testenv.Config(t, ""))
	g := "/aws/lambda/" + testenv.Name(t, "triage-int")
	putLogs(t, logs, []logLine{{g, time.Now().Add(-time.Minute), `{"traceId":"t-1","level":"ERROR","status":"error","error":"boom"}`}})
	for _, op := range []string{"ReceiveMessage", "StartQuery"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			c := sqs.NewFromConfig(testenv.Config(t, ""))
			q := testenv.CreateQueue(t, c, testenv.Name(t, "triage-int"), nil)
			for i := 0; i < 25; i++ {
				send(t, c, q.URL, fmt.Sprintf(`{"traceId":"t-%d","orderId":"o-%d"}`, i, i), nil)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			interrupt := func(stack *middleware.Stack) error {
				return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("interrupt",
					func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
						if middleware.GetOperationName(ctx) == op {
							cancel()
						}
						return next.HandleInitialize(ctx, in)
					}), middleware.After)
			}
			ios, _, stdout, stderr := render.Test()
			argv := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "triage", q.Name, "--log-group", g}
			code := Run(ctx, ios, emulatorEnv, argv, BuildInfo{}, interrupt)
			if code != cli.ExitInterrupted || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 130 and nothing printed", code, stdout.String(), stderr.String())
			}
			assertUntouched(t, c, q.URL, 25)
		})
	}
}

func TestTriageBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"triage", "takes 1 argument"},
		{"triage bad/name", "invalid queue"},
		{"triage q --where nope", "PATH=VALUE"},
		{"triage q --limit -1", "--limit and --max-scan must be 0"},
	} {
		r := dlq(t, "", tc.args)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want usage error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// BenchmarkTriage triages a DLQ of 1,000 messages whose traces logged
// over five log groups (found by prefix) on moto: wall time per `dlq
// triage` and the Insights queries it issued, against the target of
// ⌈1,000 / batch⌉ plus a few.
func BenchmarkTriage(b *testing.B) {
	const region, n = "eu-north-1", 1000
	logs := cwl.NewFromConfig(testenv.Config(b, region))
	c := sqs.NewFromConfig(testenv.Config(b, region))
	p := "/aws/lambda/" + testenv.Name(b, "trbench")
	base := time.Now().Add(-5 * time.Minute).Truncate(time.Millisecond)
	var lines []logLine
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * 10 * time.Millisecond)
		errText := fmt.Sprintf("payment provider: HTTP 503 (request %08x)", i*7919)
		if i%100 == 0 {
			errText = fmt.Sprintf("invalid currency 'C%d' in order o-%d", i, i)
		}
		lines = append(lines,
			logLine{fmt.Sprintf("%s-%d", p, i%5), at, fmt.Sprintf(`{"traceId":"t-%d","orderId":"o-%d","step":"charge","status":"started","level":"INFO"}`, i, i)},
			logLine{fmt.Sprintf("%s-%d", p, (i+1)%5), at.Add(time.Millisecond), fmt.Sprintf(`{"traceId":"t-%d","orderId":"o-%d","step":"charge","status":"error","level":"ERROR","error":%q}`, i, i, errText)})
	}
	putLogs(b, logs, lines)
	q := testenv.CreateQueue(b, c, testenv.Name(b, "trbench"), nil)
	testenv.SendBatch(b, c, q.URL, n, func(i int) string { return fmt.Sprintf(`{"traceId":"t-%d","orderId":"o-%d"}`, i, i) }, nil)
	args := []string{"--endpoint-url", testenv.Endpoint(b), "--region", region, "triage", q.Name, "--log-group-prefix", p + "-", "-o", "json"}
	counter := testenv.NewCallCounter()
	env := emulatorEnv
	for b.Loop() {
		ios, _, out, errOut := render.Test()
		if code := Run(context.Background(), ios, env, args, BuildInfo{}, counter.Middleware); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		var res triageJSON
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Groups) != 2 || res.Groups[0].Count != 990 || res.Groups[1].Count != 10 {
			b.Fatalf("%v: %+v\n%s", err, res.Groups, errOut.String())
		}
	}
	counts := counter.Counts()
	b.ReportMetric(float64(counts["StartQuery"])/float64(b.N), "queries/op")
	b.ReportMetric(float64(counts["GetQueryResults"])/float64(b.N), "polls/op")
	b.ReportMetric(float64(counts["ReceiveMessage"])/float64(b.N), "receives/op")
}
