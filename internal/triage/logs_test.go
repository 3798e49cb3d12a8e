package triage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
)

// fits reports how many of the IDs, from the first, one query takes as
// insights writes it (behind the prefixes' longest SOURCE command):
// computed by building the queries, independently of planBatches' sums.
func fits(t *testing.T, ids []string, prefixes []string) int {
	t.Helper()
	n := 0
	for n < len(ids) && n < MaxTracesPerQuery {
		q, err := insights.Query(ids[:n+1])
		if err != nil {
			t.Fatal(err)
		}
		if longestSent(q, prefixes) > MaxQueryLength {
			break
		}
		n++
	}
	return n
}

// longestSent is the longest form of the query StartQuery may receive.
func longestSent(q string, prefixes []string) int {
	longest := len(q)
	for start := 0; start < len(prefixes); start += insights.MaxPrefixesPerSource {
		longest = max(longest, len(insights.SourcePrefix(prefixes[start:min(start+insights.MaxPrefixesPerSource, len(prefixes))], q)))
	}
	return longest
}

func TestPlanBatches(t *testing.T) {
	t.Parallel()
	long := func(i int) string { return fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 252)) }
	quoted := func(i int) string { return fmt.Sprintf(`t"%d\`, i) + strings.Repeat(`"\`, 100) }
	prefix := func(i int) string { return fmt.Sprintf("/aws/lambda/%d-", i) + strings.Repeat("p", 490) }
	tests := []struct {
		name     string
		n        int
		id       func(int) string
		prefixes int
	}{
		{"one", 1, func(i int) string { return "t-1" }, 0},
		{"exactly a batch", MaxTracesPerQuery, func(i int) string { return fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04d", i) }, 0},
		{"x-ray ids by count", 1000, func(i int) string { return fmt.Sprintf("1-5f8e9d2a-0123456789abcdef0123%04d", i) }, 0},
		{"256-character ids by length", 300, long, 0},
		{"escaped quotes count", 200, quoted, 0},
		{"long SOURCE prefixes take room", 300, long, 5},
		{"more prefixes than one SOURCE takes", 300, long, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			traces := make([]traceSpan, tt.n)
			ids := make([]string, tt.n)
			for i := range traces {
				ids[i] = tt.id(i)
				traces[i] = traceSpan{id: ids[i]}
			}
			var prefixes []string
			for i := range tt.prefixes {
				prefixes = append(prefixes, prefix(i))
			}
			batches := planBatches(traces, prefixes)
			var got []string
			for bi, b := range batches {
				batchIDs := make([]string, len(b))
				for i, tr := range b {
					batchIDs[i] = tr.id
				}
				q, err := insights.Query(batchIDs)
				if err != nil {
					t.Fatal(err)
				}
				if l := longestSent(q, prefixes); l > MaxQueryLength || len(b) > MaxTracesPerQuery {
					t.Errorf("batch %d: %d traces, query of %d characters", bi, len(b), l)
				}
				// Greedy: each batch but the last is as full as a query can be.
				if bi < len(batches)-1 {
					if want := fits(t, ids[len(got):], prefixes); len(b) != want {
						t.Errorf("batch %d holds %d traces, a query takes %d", bi, len(b), want)
					}
				}
				got = append(got, batchIDs...)
			}
			if strings.Join(got, "\n") != strings.Join(ids, "\n") {
				t.Errorf("batches do not hold every trace once, in order")
			}
		})
	}
}

func TestClassifyBatchesTraceIDs(t *testing.T) {
	t.Parallel()
	const n = 1000
	logs := &fakeLogs{}
	msgs := make([]queue.Message, n)
	for i := range msgs {
		trace := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04d", i)
		sent := t0.Add(time.Duration(i) * time.Minute)
		msgs[i] = msg(fmt.Sprintf("m-%d", i), trace, fmt.Sprintf("o-%d", i), sent)
		errText := fmt.Sprintf("payment provider: HTTP 503 (request %08x)", i*7919)
		if i%10 == 0 {
			errText = fmt.Sprintf("invalid currency 'C%d' in order o-%d", i, i)
		}
		logs.lines = append(logs.lines, fakeLine{"/aws/lambda/orders-payments", sent.Add(time.Second), logLine(trace, "charge", "error", "ERROR", "failed", errText, "")})
	}
	src := &LogSource{API: logs, Groups: []string{"/aws/lambda/orders-payments"}, PollInterval: time.Millisecond}
	rep, err := Classify(context.Background(), Options{Logs: src, Now: func() time.Time { return t0.Add(30 * 24 * time.Hour) }}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := (n + MaxTracesPerQuery - 1) / MaxTracesPerQuery
	if len(logs.queries) != want || rep.Queries != want {
		t.Errorf("%d queries (report: %d), want ⌈%d/%d⌉ = %d", len(logs.queries), rep.Queries, n, MaxTracesPerQuery, want)
	}
	inQuery := map[string]int{}
	for _, q := range logs.queries {
		s := aws.ToString(q.QueryString)
		if len(s) > MaxQueryLength {
			t.Errorf("query of %d characters", len(s))
		}
		for _, m := range msgs {
			if strings.Contains(s, insights.Quote(m.TraceID)) {
				inQuery[m.TraceID]++
			}
		}
		// Each query's window covers its own traces' messages (a batch
		// was sent over 100 minutes), not the whole DLQ's 17 hours.
		if span := aws.ToInt64(q.EndTime) - aws.ToInt64(q.StartTime); span > int64((windowLead + 100*time.Minute + windowTrail).Seconds()) {
			t.Errorf("window of %ds", span)
		}
	}
	for _, m := range msgs {
		if inQuery[m.TraceID] != 1 {
			t.Fatalf("trace %s is in %d queries, want 1", m.TraceID, inQuery[m.TraceID])
		}
	}
	var counts []string
	for _, g := range rep.Groups {
		counts = append(counts, fmt.Sprintf("%d %s", g.Count, g.Error))
	}
	if len(rep.Groups) != 2 || rep.Groups[0].Count != 900 || rep.Groups[1].Count != 100 || rep.FromLogs != n {
		t.Errorf("groups: %q, want 900 provider outages and 100 invalid currencies", counts)
	}
}

func TestRequestWindow(t *testing.T) {
	t.Parallel()
	now := t0.Add(24 * time.Hour)
	span := func(first, last time.Time) traceSpan { return traceSpan{id: "t", first: first, last: last} }
	tests := []struct {
		name       string
		src        LogSource
		batch      []traceSpan
		start, end time.Time
	}{
		{"around the batch's sent times", LogSource{}, []traceSpan{span(t0, t0.Add(time.Minute)), span(t0.Add(-time.Minute), t0)},
			t0.Add(-time.Minute - windowLead), t0.Add(time.Minute + windowTrail)},
		{"not past now", LogSource{}, []traceSpan{span(now.Add(-time.Hour), now.Add(-time.Hour))}, now.Add(-time.Hour - windowLead), now},
		{"as given", LogSource{Start: t0.Add(-48 * time.Hour), End: t0}, []traceSpan{span(t0, t0)}, t0.Add(-48 * time.Hour), t0},
		{"no sent time: as far back as SQS keeps messages", LogSource{}, []traceSpan{span(time.Time{}, time.Time{})}, now.Add(-maxRetention - windowLead), now},
	}
	for _, tt := range tests {
		req := tt.src.request(tt.batch, now)
		if !req.Start.Equal(tt.start) || !req.End.Equal(tt.end) {
			t.Errorf("%s: window %v – %v, want %v – %v", tt.name, req.Start, req.End, tt.start, tt.end)
		}
	}
}
