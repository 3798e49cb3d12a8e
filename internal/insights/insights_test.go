package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

func TestQuoteAndQuery(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`plain-id`:        `"plain-id"`,
		`with "quotes"`:   `"with \"quotes\""`,
		`back\slash`:      `"back\\slash"`,
		`pipe | fields x`: `"pipe | fields x"`,
		`end\"`:           `"end\\\""`,
	}
	for in, want := range tests {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	q, err := Query([]string{`t-1`, `x" | filter 1=1 | display "`})
	if err != nil {
		t.Fatal(err)
	}
	want := "fields @timestamp, @message, @log, @logStream, @requestId\n" +
		`| filter @message like "t-1" or @message like "x\" | filter 1=1 | display \""` + "\n" +
		"| sort @timestamp asc\n| limit 10000"
	if q != want {
		t.Errorf("query =\n%s\nwant\n%s", q, want)
	}
	// Every quote inside the filter line is escaped: the query has exactly
	// the four commands it was built with.
	if n := strings.Count(q, "\n| "); n != 3 {
		t.Errorf("query has %d commands after fields, want 3", n)
	}
	for _, bad := range []string{"", "line\nbreak", "nul\x00", strings.Repeat("x", 257)} {
		if _, err := Query([]string{bad}); err == nil {
			t.Errorf("Query accepted %q", bad)
		}
	}
	if got := SourcePrefix([]string{"/aws/lambda/orders-", `we"ird`}, "fields @message"); got != `SOURCE logGroups(namePrefix: ["/aws/lambda/orders-", "we\"ird"])`+"\n| fields @message" {
		t.Errorf("SourcePrefix = %s", got)
	}
}

func TestParseRow(t *testing.T) {
	t.Parallel()
	ms := func(f float64) *float64 { return &f }
	tests := []struct {
		name   string
		fields map[string]string
		want   Event
	}{
		{"schema line, AWS timestamp and @log", map[string]string{
			"@timestamp": "2026-11-26 18:33:58.123", "@log": "123456789012:/aws/lambda/orders-payments", "@logStream": "s",
			"@message": `{"time":"2026-11-26T18:33:58.123Z","level":"ERROR","msg":"charge failed","traceId":"t-1","orderId":"o-1","step":"charge","status":"error","durationMs":30012.5,"error":"provider timeout"}`},
			Event{Timestamp: time.Date(2026, 11, 26, 18, 33, 58, 123e6, time.UTC), LogGroup: "/aws/lambda/orders-payments", LogStream: "s",
				TraceID: "t-1", OrderID: "o-1", Step: "charge", Status: "error", Level: "ERROR", Message: "charge failed", Error: "provider timeout", DurationMs: ms(30012.5)}},
		{"moto epoch millis, no @log", map[string]string{"@timestamp": "1795718038123", "@message": `{"traceId":"t-2","status":"success","step":"reserve"}`},
			Event{Timestamp: time.UnixMilli(1795718038123).UTC(), TraceID: "t-2", Status: "success", Step: "reserve"}},
		{"lambda text prefix", map[string]string{"@message": "2026-11-26T18:33:58.123Z\treq-9\tINFO\t" + `{"traceId":"t-3","msg":"hi"}`},
			Event{TraceID: "t-3", Message: "hi", RequestID: "req-9"}},
		{"START", map[string]string{"@message": "START RequestId: 8f5c-11 Version: $LATEST"},
			Event{Platform: true, RequestID: "8f5c-11", Step: "invoke", Status: "started", Message: "START"}},
		{"END", map[string]string{"@message": "END RequestId: 8f5c-11\n"},
			Event{Platform: true, RequestID: "8f5c-11", Step: "invoke", Message: "END"}},
		{"REPORT", map[string]string{"@message": "REPORT RequestId: 8f5c-11\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB"},
			Event{Platform: true, RequestID: "8f5c-11", Step: "report", Message: "REPORT", DurationMs: ms(102.25)}},
		{"REPORT timeout", map[string]string{"@message": "REPORT RequestId: 8f5c-11\tDuration: 3000.00 ms\tStatus: timeout"},
			Event{Platform: true, RequestID: "8f5c-11", Step: "report", Status: "error", Message: "REPORT status timeout", DurationMs: ms(3000)}},
		{"task timed out", map[string]string{"@message": "2026-11-26T18:34:01.123Z 8f5c1111-aaaa-bbbb Task timed out after 3.00 seconds"},
			Event{Platform: true, RequestID: "8f5c1111-aaaa-bbbb", Step: "invoke", Status: "error", Level: "ERROR", Message: "Task timed out after 3.00 seconds", DurationMs: ms(3000)}},
		{"X-Ray traced line", map[string]string{"@message": `{"msg":"charged","traceId":"t-4","xrayTraceId":"1-5759e988-bd862e3fe1be46a994272793","orderId":"o-4"}`},
			Event{TraceID: "t-4", XRayTraceID: "1-5759e988-bd862e3fe1be46a994272793", OrderID: "o-4", Message: "charged"}},
		{"malformed JSON", map[string]string{"@message": `{"traceId": "t-1", oops`}, Event{Message: `{"traceId": "t-1", oops`}},
		{"plain text", map[string]string{"@message": "hello t-1"}, Event{Message: "hello t-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseRow(tt.fields)
			got.Raw, tt.want.Raw = "", ""
			if fmt.Sprintf("%+v", deref(got)) != fmt.Sprintf("%+v", deref(tt.want)) {
				t.Errorf("got  %+v\nwant %+v", deref(got), deref(tt.want))
			}
		})
	}
}

type flat struct {
	Event
	D string
}

func deref(e Event) flat {
	d := "nil"
	if e.DurationMs != nil {
		d = fmt.Sprint(*e.DurationMs)
	}
	e.DurationMs = nil
	return flat{e, d}
}

// fakeLogs answers queries from a fixed set of rows: a window returns
// every row in it, capped at MaxRows like the service.
type fakeLogs struct {
	mu      sync.Mutex
	rows    []map[string]string // with @timestamp in epoch ms
	windows [][2]int64
	queries map[string][2]int64
	n       int
	noLog   bool
}

func (f *fakeLogs) StartQuery(_ context.Context, in *cwl.StartQueryInput, _ ...func(*cwl.Options)) (*cwl.StartQueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprint(f.n)
	if f.queries == nil {
		f.queries = map[string][2]int64{}
	}
	f.queries[id] = [2]int64{*in.StartTime, *in.EndTime}
	f.windows = append(f.windows, [2]int64{*in.StartTime, *in.EndTime})
	return &cwl.StartQueryOutput{QueryId: aws.String(id)}, nil
}

func (f *fakeLogs) GetQueryResults(_ context.Context, in *cwl.GetQueryResultsInput, _ ...func(*cwl.Options)) (*cwl.GetQueryResultsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.queries[*in.QueryId]
	var out [][]types.ResultField
	for _, r := range f.rows {
		ms, err := strconv.ParseInt(r["@timestamp"], 10, 64)
		if err != nil {
			return nil, err
		}
		if sec := ms / 1000; sec >= w[0] && sec <= w[1] {
			var fields []types.ResultField
			for k, v := range r {
				if k == "@log" && f.noLog {
					continue
				}
				fields = append(fields, types.ResultField{Field: aws.String(k), Value: aws.String(v)})
			}
			out = append(out, fields)
			if len(out) == MaxRows {
				break
			}
		}
	}
	return &cwl.GetQueryResultsOutput{Status: types.QueryStatusComplete, Results: out}, nil
}

func (f *fakeLogs) StopQuery(context.Context, *cwl.StopQueryInput, ...func(*cwl.Options)) (*cwl.StopQueryOutput, error) {
	return &cwl.StopQueryOutput{}, nil
}

func (f *fakeLogs) DescribeLogGroups(context.Context, *cwl.DescribeLogGroupsInput, ...func(*cwl.Options)) (*cwl.DescribeLogGroupsOutput, error) {
	return &cwl.DescribeLogGroupsOutput{}, nil
}

func TestFetchSplitsCappedWindows(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f := &fakeLogs{}
	// 25,000 events of the trace spread over 100 seconds: any window of
	// more than 40 seconds hits the cap.
	const total = 25000
	for i := 0; i < total; i++ {
		ts := start.Add(time.Duration(i) * 4 * time.Millisecond)
		f.rows = append(f.rows, map[string]string{"@timestamp": fmt.Sprint(ts.UnixMilli()), "@log": "/aws/lambda/a", "@logStream": "s",
			"@message": fmt.Sprintf(`{"traceId":"t-1","msg":"event %d"}`, i)})
	}
	// And someone else's events, which the client-side check drops.
	f.rows = append(f.rows, map[string]string{"@timestamp": fmt.Sprint(start.Add(time.Second).UnixMilli()), "@log": "/aws/lambda/a", "@message": `{"traceId":"t-other"}`})
	fe := &Fetcher{API: f, PollInterval: time.Millisecond}
	res, err := fe.Fetch(context.Background(), Request{TraceIDs: []string{"t-1"}, Groups: []string{"/aws/lambda/a"}, Start: start, End: start.Add(100 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != total {
		t.Fatalf("got %d events, want %d", len(res.Events), total)
	}
	for i := 1; i < len(res.Events); i++ {
		if res.Events[i].Timestamp.Before(res.Events[i-1].Timestamp) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	if res.Queries < 3 || len(res.Truncated) != 0 {
		t.Errorf("queries %d, truncated %v: want the window split and nothing cut", res.Queries, res.Truncated)
	}
	for _, w := range f.windows[1:] {
		if w[1]-w[0] > 100 {
			t.Errorf("window %v not narrower than the original", w)
		}
	}
}

func TestFetchReportsWindowsTooDenseToSplit(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f := &fakeLogs{}
	for i := 0; i < MaxRows+5; i++ {
		f.rows = append(f.rows, map[string]string{"@timestamp": fmt.Sprint(start.UnixMilli()), "@log": "g", "@message": `{"traceId":"t-1"}`})
	}
	fe := &Fetcher{API: f, PollInterval: time.Millisecond}
	res, err := fe.Fetch(context.Background(), Request{TraceIDs: []string{"t-1"}, Groups: []string{"g"}, Start: start, End: start.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Truncated) == 0 {
		t.Error("a one-second window at the cap must be reported as truncated")
	}
}

func TestFetchQueriesGroupsSeparatelyWithoutLog(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f := &fakeLogs{noLog: true}
	f.rows = append(f.rows, map[string]string{"@timestamp": fmt.Sprint(start.Add(time.Second).UnixMilli()), "@log": "x", "@message": `{"traceId":"t-1"}`})
	fe := &Fetcher{API: f, PollInterval: time.Millisecond}
	res, err := fe.Fetch(context.Background(), Request{TraceIDs: []string{"t-1"}, Groups: []string{"g1", "g2"}, Start: start, End: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// The fake returns the row for every group: once per group, each named.
	if res.Queries != 3 || len(res.Events) != 2 || res.Events[0].LogGroup == "" || res.Events[0].LogGroup == res.Events[1].LogGroup {
		t.Errorf("queries %d, events %+v", res.Queries, res.Events)
	}
}

func TestBuildJoinsPlatformLinesAndFindsFirstFailure(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	ev := func(off time.Duration, trace, req, status string, platform bool) Event {
		return Event{Timestamp: t0.Add(off), TraceID: trace, RequestID: req, Status: status, Platform: platform, Step: "s", LogGroup: "/aws/lambda/fn"}
	}
	events := []Event{
		ev(0, "t-1", "r-1", "started", false),
		ev(time.Millisecond, "", "r-1", "", true),
		ev(2*time.Second, "t-2", "r-2", "success", false),
		ev(3*time.Second, "t-1", "r-1", "error", false),
		ev(4*time.Second, "", "r-1", "error", true),
	}
	tls := Build(events, Request{TraceIDs: []string{"t-1", "t-2"}})
	if len(tls) != 2 || tls[0].TraceID != "t-1" || len(tls[0].Events) != 4 || tls[1].TraceID != "t-2" {
		t.Fatalf("timelines = %+v", tls)
	}
	st := tls[0].Stats()
	if st.Errors != 2 || st.FirstFailure != 2 || st.Span != 4*time.Second || tls[0].Events[3].OffsetMs != 4000 || tls[0].Events[0].Function() != "fn" {
		t.Errorf("stats = %+v, events = %+v", st, tls[0].Events)
	}
}

// runningLogs never finishes a query and records StopQuery.
type runningLogs struct {
	fakeLogs
	stopped chan string
}

func (r *runningLogs) GetQueryResults(context.Context, *cwl.GetQueryResultsInput, ...func(*cwl.Options)) (*cwl.GetQueryResultsOutput, error) {
	return &cwl.GetQueryResultsOutput{Status: types.QueryStatusRunning}, nil
}

func (r *runningLogs) StopQuery(_ context.Context, in *cwl.StopQueryInput, _ ...func(*cwl.Options)) (*cwl.StopQueryOutput, error) {
	r.stopped <- aws.ToString(in.QueryId)
	return &cwl.StopQueryOutput{}, nil
}

func TestFetchStopsQueryOnInterrupt(t *testing.T) {
	t.Parallel()
	api := &runningLogs{stopped: make(chan string, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	fe := &Fetcher{API: api, PollInterval: 5 * time.Millisecond, PollMax: 5 * time.Millisecond}
	_, err := fe.Fetch(ctx, Request{TraceIDs: []string{"t"}, Groups: []string{"g"}, Start: time.Now().Add(-time.Hour), End: time.Now()})
	if err == nil {
		t.Fatal("want the context's error")
	}
	select {
	case id := <-api.stopped:
		if id != "1" {
			t.Errorf("stopped query %q, want 1", id)
		}
	default:
		t.Error("StopQuery was not called")
	}
}

// missingLogs knows some log groups; a query over any other fails as the
// service fails it, without naming the group.
type missingLogs struct {
	fakeLogs
	exist       map[string]bool
	describeErr error
}

func (m *missingLogs) StartQuery(ctx context.Context, in *cwl.StartQueryInput, o ...func(*cwl.Options)) (*cwl.StartQueryOutput, error) {
	for _, g := range in.LogGroupNames {
		if !m.exist[g] {
			return nil, &types.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
		}
	}
	return m.fakeLogs.StartQuery(ctx, in, o...)
}

func (m *missingLogs) DescribeLogGroups(_ context.Context, in *cwl.DescribeLogGroupsInput, _ ...func(*cwl.Options)) (*cwl.DescribeLogGroupsOutput, error) {
	if m.describeErr != nil {
		return nil, m.describeErr
	}
	var out cwl.DescribeLogGroupsOutput
	for g := range m.exist {
		if strings.HasPrefix(g, aws.ToString(in.LogGroupNamePrefix)) {
			out.LogGroups = append(out.LogGroups, types.LogGroup{LogGroupName: aws.String(g)})
		}
	}
	return &out, nil
}

func TestFetchNamesMissingLogGroups(t *testing.T) {
	t.Parallel()
	many := []string{"/m/1", "/m/2", "/m/3", "/m/4", "/m/5", "/m/6", "/m/7"}
	for _, tc := range []struct {
		name        string
		groups      []string
		describeErr error
		want        string
	}{
		{"one of three", []string{"/a", "/a-absent", "/b"}, nil, "start query in log group /a-absent: "},
		{"two", []string{"/a", "/x", "/y"}, nil, "start query in log groups /x, /y: "},
		{"many", append([]string{"/a"}, many...), nil, "start query in log groups /m/1, /m/2, /m/3, /m/4, /m/5 and 2 more: "},
		{"lookup denied: all of the query's", []string{"/a", "/x"}, fmt.Errorf("access denied"), "start query in log groups /a, /x: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := &missingLogs{exist: map[string]bool{"/a": true, "/b": true, "/a-absent-not": true}, describeErr: tc.describeErr}
			fe := &Fetcher{API: api, PollInterval: time.Millisecond}
			_, err := fe.Fetch(context.Background(), Request{TraceIDs: []string{"t"}, Groups: tc.groups, Start: time.Unix(0, 0), End: time.Unix(60, 0)})
			var nf *types.ResourceNotFoundException
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.As(err, &nf) {
				t.Errorf("err = %v, want it to start %q and wrap the service's error", err, tc.want)
			}
		})
	}
}

// queryLog records the query strings a Fetcher starts.
type queryLog struct {
	*fakeLogs
	mu      sync.Mutex
	strings []string
}

func (q *queryLog) StartQuery(ctx context.Context, in *cwl.StartQueryInput, opts ...func(*cwl.Options)) (*cwl.StartQueryOutput, error) {
	q.mu.Lock()
	q.strings = append(q.strings, aws.ToString(in.QueryString))
	q.mu.Unlock()
	return q.fakeLogs.StartQuery(ctx, in, opts...)
}

// An X-Ray trace's lookup asks the server for the X-Ray ID, keeps the rows
// whose xrayTraceId (or traceId) is that ID, whatever pipeline trace they
// belong to, joins their invocations' platform lines, and builds one
// timeline whose events name their own traces.
func TestFetchAndBuildByXRayTrace(t *testing.T) {
	t.Parallel()
	const xrayID = "1-5759e988-bd862e3fe1be46a994272793"
	start := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	row := func(sec int, msg string) map[string]string {
		return map[string]string{"@timestamp": fmt.Sprint(start.Add(time.Duration(sec) * time.Second).UnixMilli()), "@log": "/aws/lambda/orders", "@logStream": "s", "@message": msg}
	}
	f := &queryLog{fakeLogs: &fakeLogs{rows: []map[string]string{
		row(1, `{"msg":"a","traceId":"t-1","orderId":"o-1","xrayTraceId":"`+xrayID+`","requestId":"r-1"}`),
		row(2, `{"msg":"b","traceId":"t-2","orderId":"o-2","xrayTraceId":"`+xrayID+`","status":"error"}`),
		row(3, `{"msg":"c","traceId":"`+xrayID+`"}`),
		row(4, "REPORT RequestId: r-1\tDuration: 10.00 ms"),
		// Not this X-Ray trace: another one, a lookalike, a mention in
		// plain text, a line without one, another invocation's REPORT.
		row(5, `{"msg":"x","traceId":"t-3","xrayTraceId":"1-5759e988-bd862e3fe1be46a994272794"}`),
		row(6, `{"msg":"x","traceId":"t-4","xrayTraceId":"`+xrayID+`0"}`),
		row(7, "saw "+xrayID+" go by"),
		row(8, `{"msg":"x","traceId":"t-1","requestId":"r-9"}`),
		row(9, "REPORT RequestId: r-9\tDuration: 10.00 ms"),
	}}}
	req := Request{XRayTraceID: xrayID, Groups: []string{"/aws/lambda/orders"}, Start: start, End: start.Add(time.Minute)}
	res, err := (&Fetcher{API: f, PollInterval: time.Millisecond}).Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.strings) == 0 || !strings.Contains(f.strings[0], `@message like "`+xrayID+`"`) {
		t.Errorf("first query = %q, want it to filter on the X-Ray ID", f.strings)
	}
	tls := Build(res.Events, req)
	if len(tls) != 1 {
		t.Fatalf("timelines = %+v", tls)
	}
	tl := tls[0]
	var got []string
	for _, e := range tl.Events {
		got = append(got, e.TraceID+":"+e.Message)
	}
	if fmt.Sprint(got) != "[t-1:a t-2:b "+xrayID+":c :REPORT]" {
		t.Errorf("events = %q", got)
	}
	if tl.XRayTraceID != xrayID || tl.TraceID != "t-1" || tl.OrderID != "o-1" || tl.Stats().Errors != 1 {
		t.Errorf("timeline = %+v", tl)
	}
	b, err := json.Marshal(tl)
	if err != nil || !strings.Contains(string(b), `"xrayTraceId":"`+xrayID+`"`) {
		t.Errorf("JSON = %s, %v", b, err)
	}
}

// A trace's timeline names the X-Ray trace its lines carry.
func TestBuildNamesTheXRayTraceOfATrace(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	tls := Build([]Event{
		{Timestamp: t0, TraceID: "t-1"},
		{Timestamp: t0.Add(time.Second), TraceID: "t-1", XRayTraceID: "1-5759e988-bd862e3fe1be46a994272793"},
		{Timestamp: t0, TraceID: "t-2"},
	}, Request{TraceIDs: []string{"t-1", "t-2"}})
	if len(tls) != 2 || tls[0].XRayTraceID != "1-5759e988-bd862e3fe1be46a994272793" || tls[1].XRayTraceID != "" || tls[0].Events[1].TraceID != "" {
		t.Errorf("timelines = %+v", tls)
	}
	b, _ := json.Marshal(tls[1])
	if !strings.Contains(string(b), `"xrayTraceId":""`) {
		t.Errorf("xrayTraceId missing from %s", b)
	}
}
