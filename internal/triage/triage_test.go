package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
)

var t0 = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)

// fakeLogs answers Insights queries from fixed lines the way CloudWatch
// does: a row for each line in the window that contains one of the
// query's quoted needles. It records every query.
type fakeLogs struct {
	lines []fakeLine

	mu      sync.Mutex
	queries []*cwl.StartQueryInput
}

type fakeLine struct {
	group string
	at    time.Time
	msg   string
}

func (f *fakeLogs) StartQuery(_ context.Context, in *cwl.StartQueryInput, _ ...func(*cwl.Options)) (*cwl.StartQueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, in)
	return &cwl.StartQueryOutput{QueryId: aws.String(fmt.Sprint(len(f.queries) - 1))}, nil
}

func (f *fakeLogs) GetQueryResults(_ context.Context, in *cwl.GetQueryResultsInput, _ ...func(*cwl.Options)) (*cwl.GetQueryResultsOutput, error) {
	i, err := strconv.Atoi(aws.ToString(in.QueryId))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	q := f.queries[i]
	f.mu.Unlock()
	needles := queryNeedles(aws.ToString(q.QueryString))
	var out [][]types.ResultField
	for _, l := range f.lines {
		sec := l.at.Unix()
		if sec < aws.ToInt64(q.StartTime) || sec > aws.ToInt64(q.EndTime) || !containsAny(l.msg, needles) {
			continue
		}
		out = append(out, []types.ResultField{
			{Field: aws.String("@timestamp"), Value: aws.String(fmt.Sprint(l.at.UnixMilli()))},
			{Field: aws.String("@log"), Value: aws.String(l.group)},
			{Field: aws.String("@logStream"), Value: aws.String("s")},
			{Field: aws.String("@message"), Value: aws.String(l.msg)},
		})
	}
	return &cwl.GetQueryResultsOutput{Status: types.QueryStatusComplete, Results: out}, nil
}

// queryNeedles are the quoted needles of a query's filter, unescaped:
// CloudWatch's `@message like "X"`.
func queryNeedles(query string) []string {
	var needles []string
	for _, part := range strings.Split(query, `@message like "`)[1:] {
		end := strings.Index(part, `"`)
		for end > 0 && part[end-1] == '\\' {
			end += 1 + strings.Index(part[end+1:], `"`)
		}
		needles = append(needles, strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(part[:end]))
	}
	return needles
}

func containsAny(msg string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(msg, n) {
			return true
		}
	}
	return false
}

func (f *fakeLogs) StopQuery(context.Context, *cwl.StopQueryInput, ...func(*cwl.Options)) (*cwl.StopQueryOutput, error) {
	return &cwl.StopQueryOutput{}, nil
}

func (f *fakeLogs) DescribeLogGroups(context.Context, *cwl.DescribeLogGroupsInput, ...func(*cwl.Options)) (*cwl.DescribeLogGroupsOutput, error) {
	return &cwl.DescribeLogGroupsOutput{}, nil
}

// logLine is one line of dlq's log schema.
func logLine(trace, step, status, level, msg, errText, requestID string) string {
	b, _ := json.Marshal(map[string]string{"traceId": trace, "step": step, "status": status, "level": level, "msg": msg, "error": errText, "requestId": requestID})
	return string(b)
}

func msg(id, trace, order string, sent time.Time) queue.Message {
	return queue.Message{MessageID: id, TraceID: trace, OrderID: order, SentAt: sent}
}

func TestClassifyGroupsByFirstFailure(t *testing.T) {
	t.Parallel()
	pay, val := "/aws/lambda/orders-payments", "/aws/lambda/orders-validate"
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	logs := &fakeLogs{lines: []fakeLine{
		// Three traces fail at charge with the provider's 503, each with
		// its own request ID; a retry line (WARN) before it is no failure,
		// a later error line no first failure.
		{pay, at(1), logLine("t-1", "charge", "started", "INFO", "charging", "", "r-1")},
		{pay, at(2), logLine("t-1", "charge", "retry", "WARN", "charge failed, will retry", "timeout", "r-1")},
		{pay, at(3), logLine("t-1", "charge", "error", "ERROR", "charge failed", "payment provider: HTTP 503 (request 4f1c0a9b)", "r-1")},
		{pay, at(4), logLine("t-1", "saga", "dlq", "ERROR", "dead-lettered", "compensation failed", "r-1")},
		{pay, at(5), logLine("t-2", "charge", "error", "ERROR", "charge failed", "payment provider: HTTP 503 (request 9a0b77e2)", "r-2")},
		{pay, at(6), logLine("t-3", "charge", "error", "ERROR", "charge failed", "payment provider: HTTP 503 (request 12345678)", "r-3")},
		// Two poison orders.
		{val, at(7), logLine("t-4", "validate", "error", "ERROR", "rejected", "invalid currency 'XYZ' in order o-4", "r-4")},
		{val, at(8), logLine("t-5", "validate", "error", "ERROR", "rejected", "invalid currency 'QQQ' in order o-5", "r-5")},
		// Two traces of one invocation that timed out: Lambda's line has
		// only the request ID, and counts for both.
		{pay, at(9), logLine("t-6", "charge", "started", "INFO", "charging", "", "r-6")},
		{pay, at(9), logLine("t-7", "charge", "started", "INFO", "charging", "", "r-6")},
		{pay, at(10), "2026-11-26T18:00:10.000Z r-6 Task timed out after 3.00 seconds"},
		// Someone else's failure in the window.
		{pay, at(11), logLine("t-other", "charge", "error", "ERROR", "charge failed", "other", "r-9")},
	}}
	lambdaErr := msg("m-lambda", "t-nolog", "o-8", at(20))
	lambdaErr.Error = &queue.MessageError{Code: "200", Message: "Unhandled: card 4111 declined"}
	bodyErr := msg("m-body", "", "o-9", at(21))
	bodyErr.Body = `{"orderId":"o-9","errorType":"ValidationError","errorMessage":"missing sku for item 3"}`
	msgs := []queue.Message{
		msg("m-1", "t-1", "o-1", at(0)), msg("m-2", "t-2", "o-2", at(1)), msg("m-3", "t-3", "o-3", at(2)),
		msg("m-4", "t-4", "o-4", at(3)), msg("m-5", "t-5", "o-5", at(4)),
		msg("m-6", "t-6", "o-6", at(5)), msg("m-7", "t-7", "o-7", at(6)),
		lambdaErr, bodyErr,
		msg("m-none", "", "", at(30)), msg("m-silent", "t-silent", "o-10", at(31)),
	}
	src := &LogSource{API: logs, Groups: []string{pay, val}, PollInterval: time.Millisecond}
	rep, err := Classify(context.Background(), Options{Logs: src, Now: func() time.Time { return t0.Add(time.Hour) }}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	// One query for the nine traces, one for Lambda's lines of their
	// invocations (insights joins them through request IDs).
	type row struct {
		Step, Error, Example, Source string
		Count                        int
		Orders, Traces, Messages     string
	}
	var got []row
	for _, g := range rep.Groups {
		if g.ID != CauseID(g.Step, g.Error) {
			t.Errorf("group %q: ID %s is not CauseID(step, error)", g.Error, g.ID)
		}
		got = append(got, row{g.Step, g.Error, g.Example, g.Source, g.Count, strings.Join(g.OrderIDs, ","), strings.Join(g.TraceIDs, ","), strings.Join(g.MessageIDs, ",")})
	}
	want := []row{
		{"charge", "payment provider: HTTP 503 (request <id>)", "payment provider: HTTP 503 (request 4f1c0a9b)", SourceLogs, 3, "o-1,o-2,o-3", "t-1,t-2,t-3", "m-1,m-2,m-3"},
		{"validate", "invalid currency '<str>' in order <id>", "invalid currency 'XYZ' in order o-4", SourceLogs, 2, "o-4,o-5", "t-4,t-5", "m-4,m-5"},
		{"orders-payments", "Task timed out after <n> seconds", "Task timed out after 3.00 seconds", SourceLogs, 2, "o-6,o-7", "t-6,t-7", "m-6,m-7"},
		{"", UnknownError, "", SourceUnknown, 2, "o-10", "t-silent", "m-none,m-silent"},
		{StepLambda, "200: Unhandled: card <n> declined", "200: Unhandled: card 4111 declined", SourceLambda, 1, "o-8", "t-nolog", "m-lambda"},
		{"", "ValidationError: missing sku for item <n>", "ValidationError: missing sku for item 3", SourceBody, 1, "o-9", "", "m-body"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups:\n%s\nwant\n%s", rowsText(got), rowsText(want))
	}
	if g := rep.Groups[0]; !g.FirstSent.Equal(at(0)) || !g.LastSent.Equal(at(2)) {
		t.Errorf("first %v last %v, want the group's sent times", g.FirstSent, g.LastSent)
	}
	if rep.FromLogs != 7 || rep.FromLambda != 1 || rep.FromBody != 1 || rep.Unknown != 2 || rep.Traces != 9 || rep.Queries != 2 {
		t.Errorf("report: logs %d lambda %d body %d unknown %d traces %d queries %d", rep.FromLogs, rep.FromLambda, rep.FromBody, rep.Unknown, rep.Traces, rep.Queries)
	}
	if rep.CauseOf["m-2"] != rep.Groups[0].ID || rep.CauseOf["m-silent"] != CauseID("", UnknownError) || len(rep.CauseOf) != len(msgs) {
		t.Errorf("CauseOf = %v", rep.CauseOf)
	}

	// The same messages in another order give the same groups and IDs.
	shuffled := append([]queue.Message(nil), msgs...)
	rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := Classify(context.Background(), Options{Logs: src, Now: func() time.Time { return t0.Add(time.Hour) }}, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Groups, rep.Groups) {
		t.Errorf("second run differs:\n%+v\n%+v", again.Groups, rep.Groups)
	}

	// Without logs, the messages speak for themselves.
	bare, err := Classify(context.Background(), Options{}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(bare.Groups) != 3 || bare.Groups[0].Error != UnknownError || bare.Groups[0].Count != 9 || bare.Queries != 0 {
		t.Errorf("without logs: %+v", bare.Groups)
	}
}

func rowsText[T any](rows []T) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %+v\n", r)
	}
	return b.String()
}

func TestSelect(t *testing.T) {
	t.Parallel()
	rep := Report{Groups: []Group{
		{ID: "3f9a01", MessageIDs: []string{"m-1", "m-2"}},
		{ID: "3f9a77", MessageIDs: []string{"m-3"}},
		{ID: "b1b6b3", MessageIDs: []string{"m-4"}},
	}}
	for _, tc := range []struct {
		id, want, err string
	}{
		{id: "3f9a01", want: "3f9a01"},
		{id: " 3F9A77 ", want: "3f9a77"},
		{id: "b1b6", want: "b1b6b3"},
		{id: "3f9a", err: `cause "3f9a" is ambiguous: it starts 3f9a01, 3f9a77`},
		{id: "b1b", err: "too short"},
		{id: "ffffff", err: `no cause "ffffff" among the selected messages (causes now: 3f9a01, 3f9a77, b1b6b3)`},
	} {
		sel, err := rep.Select(tc.id)
		if tc.err != "" {
			var ce *CauseError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Select(%q) err = %v, want a CauseError with %q", tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || sel.Group.ID != tc.want {
			t.Errorf("Select(%q) = %v, %v; want %s", tc.id, sel, err, tc.want)
			continue
		}
		var matched []string
		for _, id := range []string{"m-1", "m-2", "m-3", "m-4", "m-new"} {
			if sel.Match(&queue.Message{MessageID: id}) {
				matched = append(matched, id)
			}
		}
		if fmt.Sprint(matched) != fmt.Sprint(sel.Group.MessageIDs) {
			t.Errorf("Select(%q) matches %v, want %v", tc.id, matched, sel.Group.MessageIDs)
		}
	}
}

func TestSelectCauseRunsTheSameClassification(t *testing.T) {
	t.Parallel()
	a := msg("m-a", "", "", t0)
	a.Error = &queue.MessageError{Code: "200", Message: "HTTP 503 (request 4f1c0a9b)"}
	b := msg("m-b", "", "", t0.Add(time.Second))
	b.Error = &queue.MessageError{Code: "200", Message: "HTTP 503 (request 9a0b77e2)"}
	c := msg("m-c", "", "", t0.Add(2*time.Second))
	c.Error = &queue.MessageError{Code: "200", Message: "invalid currency 'XYZ'"}
	msgs := []queue.Message{a, b, c}
	rep, err := Classify(context.Background(), Options{}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := SelectCause(context.Background(), Options{}, msgs, rep.Groups[0].ID[:4])
	if err != nil {
		t.Fatal(err)
	}
	if sel.Group.Count != 2 || !sel.Match(&a) || !sel.Match(&b) || sel.Match(&c) {
		t.Errorf("selection %+v", sel.Group)
	}
}

func TestFirstFailuresIn(t *testing.T) {
	t.Parallel()
	ev := func(s int, trace, status, level, step, errText, req string, platform bool) insights.Event {
		return insights.Event{Timestamp: t0.Add(time.Duration(s) * time.Second), TraceID: trace, Status: status, Level: level, Step: step,
			Error: errText, Message: "m:" + errText, RequestID: req, Platform: platform, LogGroup: "/aws/lambda/fn"}
	}
	events := []insights.Event{
		ev(0, "t-1", "started", "INFO", "a", "", "r-1", false),
		ev(1, "t-1", "retry", "WARN", "a", "first try", "r-1", false),
		ev(2, "t-2", "", "error", "b", "lower-case level", "r-2", false),
		ev(3, "", "error", "ERROR", "invoke", "timed out", "r-1", true),
		ev(4, "t-1", "error", "ERROR", "a", "later", "r-1", false),
		ev(5, "t-3", "dlq", "ERROR", "", "dead-lettered", "", false),
		ev(6, "t-x", "error", "ERROR", "a", "not asked for", "r-1", false),
	}
	got := firstFailuresIn(events, []string{"t-1", "t-2", "t-3", "t-4"})
	want := map[string]failure{
		// Timed out after step a had failed once: a's failure started it.
		"t-1": {at: t0.Add(3 * time.Second), step: "a", raw: "m:timed out"},
		"t-2": {at: t0.Add(2 * time.Second), step: "b", raw: "lower-case level"},
		"t-3": {at: t0.Add(5 * time.Second), step: "fn", raw: "dead-lettered"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first failures = %+v\nwant %+v", got, want)
	}
}

// The demo's payment outage as its pipeline logs it: the saga's charge
// step fails with a retryable error (status retry, step charge), then the
// batch handler logs the record's failure (status error, no step). The
// cause's step is charge, not the function; its error is the first failed
// line's. A step in progress elsewhere (a retry without an error) is no
// step's failure, and a trace whose lines name no failed step falls back
// to the function.
func TestFirstFailureStepIsTheStepThatFailedFirst(t *testing.T) {
	t.Parallel()
	const group = "/aws/lambda/orders-payments"
	ev := func(ms int, trace, step, status, level, errText string) insights.Event {
		return insights.Event{Timestamp: t0.Add(time.Duration(ms) * time.Millisecond), LogGroup: group, TraceID: trace, RequestID: "r-" + trace,
			Step: step, Status: status, Level: level, Error: errText, Message: "msg"}
	}
	events := []insights.Event{
		ev(0, "t-pay", "charge", "started", "INFO", ""),
		ev(5, "t-pay", "charge", "retry", "WARN", "payment provider unavailable: HTTP 503"),
		ev(6, "t-pay", "", "error", "ERROR", "saga o-1: charge: payment provider unavailable: HTTP 503"),
		ev(900, "t-pay", "charge", "retry", "WARN", "payment provider unavailable: HTTP 503"),
		ev(901, "t-pay", "", "error", "ERROR", "saga o-1: charge: payment provider unavailable: HTTP 503"),

		ev(10, "t-busy", "reserve", "retry", "WARN", ""),
		ev(11, "t-busy", "", "error", "ERROR", "decode record: unexpected EOF"),

		ev(20, "t-plain", "", "error", "ERROR", "decode record: unexpected EOF"),
	}
	got := firstFailuresIn(events, []string{"t-pay", "t-busy", "t-plain"})
	want := map[string]failure{
		"t-pay":   {at: t0.Add(6 * time.Millisecond), step: "charge", raw: "saga o-1: charge: payment provider unavailable: HTTP 503"},
		"t-busy":  {at: t0.Add(11 * time.Millisecond), step: "orders-payments", raw: "decode record: unexpected EOF"},
		"t-plain": {at: t0.Add(20 * time.Millisecond), step: "orders-payments", raw: "decode record: unexpected EOF"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first failures = %+v\nwant %+v", got, want)
	}
}

func TestBodyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, step, raw string
		ok                    bool
	}{
		{"lambda destination record", `{"requestContext":{"functionArn":"arn:aws:lambda:eu-west-1:123456789012:function:orders-payments:$LATEST","condition":"RetriesExhausted"},` +
			`"responsePayload":{"errorType":"ProviderError","errorMessage":"HTTP 503"}}`, "orders-payments", "ProviderError: HTTP 503", true},
		{"lambda error shape", `{"errorMessage":"boom"}`, "", "boom", true},
		{"error object", `{"error":{"code":"E42","message":"bad sku"},"failedStep":"reserve"}`, "reserve", "E42: bad sku", true},
		{"error string", `{"error":"card declined","step":"charge"}`, "charge", "card declined", true},
		{"last error", `{"lastError":"timeout"}`, "", "timeout", true},
		{"inside an SNS envelope", `{"Type":"Notification","Message":"{\"error\":\"inner\"}"}`, "", "inner", true},
		{"inside EventBridge", `{"detail-type":"x","detail":{"error":"in detail"}}`, "", "in detail", true},
		{"blank error", `{"error":"  "}`, "", "", false},
		{"blank error, last error", `{"error":"","lastError":"timeout"}`, "", "timeout", true},
		{"no error", `{"orderId":"o-1"}`, "", "", false},
		{"not JSON", `error: nope`, "", "", false},
	}
	for _, tt := range tests {
		step, raw, ok := bodyError(tt.body)
		if step != tt.step || raw != tt.raw || ok != tt.ok {
			t.Errorf("%s: (%q, %q, %v), want (%q, %q, %v)", tt.name, step, raw, ok, tt.step, tt.raw, tt.ok)
		}
	}
}
