package insights

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/backoff"
)

// LogsAPI is the part of the CloudWatch Logs client this package calls.
type LogsAPI interface {
	StartQuery(context.Context, *cwl.StartQueryInput, ...func(*cwl.Options)) (*cwl.StartQueryOutput, error)
	GetQueryResults(context.Context, *cwl.GetQueryResultsInput, ...func(*cwl.Options)) (*cwl.GetQueryResultsOutput, error)
	StopQuery(context.Context, *cwl.StopQueryInput, ...func(*cwl.Options)) (*cwl.StopQueryOutput, error)
	DescribeLogGroups(context.Context, *cwl.DescribeLogGroupsInput, ...func(*cwl.Options)) (*cwl.DescribeLogGroupsOutput, error)
}

// Request says which events to find, where and when.
type Request struct {
	TraceIDs []string // events of any of these traces
	OrderID  string   // or: events of this order
	Groups   []string
	Prefixes []string
	Start    time.Time
	End      time.Time
	// XRayTraceID, or: events of this AWS X-Ray trace, which may span
	// several of the pipeline's traces.
	XRayTraceID string
}

// Result is what Fetch found and what it cost.
type Result struct {
	Events  []Event
	Queries int
	Groups  int
	// Truncated lists one-second windows that still held more than
	// MaxRows rows: events there may be missing.
	Truncated []time.Time
}

// Fetcher runs queries. PollInterval and its growth are fields so tests
// can run fast; the zero value uses sensible defaults.
type Fetcher struct {
	API          LogsAPI
	PollInterval time.Duration // first wait before GetQueryResults; default 250ms
	PollMax      time.Duration // longest wait between polls; default 2s
	queries      atomic.Int64
	truncated    []time.Time
	// noSource remembers that the endpoint rejected SOURCE; described
	// caches the groups found by prefix for later queries of the run.
	noSource  bool
	described []string
}

// Fetch finds the events of the request, checked client-side, in time
// order, with Lambda platform lines of the same invocations.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Result, error) {
	if len(req.TraceIDs) == 0 && req.OrderID == "" && req.XRayTraceID == "" {
		return Result{}, errors.New("fetch: no trace or order ID")
	}
	if len(req.Groups) == 0 && len(req.Prefixes) == 0 {
		return Result{}, errors.New("fetch: no log groups")
	}
	needles := req.TraceIDs
	switch {
	case req.OrderID != "":
		needles = []string{req.OrderID}
	case req.XRayTraceID != "":
		needles = []string{req.XRayTraceID}
	}
	query, err := Query(needles)
	if err != nil {
		return Result{}, err
	}
	rows, groups, err := f.runEverywhere(ctx, req, query)
	if err != nil {
		return Result{}, err
	}
	var events []Event
	requestIDs := map[string]bool{}
	for _, r := range rows {
		e := ParseRow(r)
		if belongs(e, req) {
			events = append(events, e)
			if e.RequestID != "" {
				requestIDs[e.RequestID] = true
			}
		}
	}

	// Lambda's platform lines (START, REPORT, timeouts) carry only the
	// request ID: fetch them for the invocations the trace ran in.
	platform, err := f.platformLines(ctx, req, requestIDs)
	if err != nil {
		return Result{}, err
	}
	events = append(events, platform...)
	events = dedupe(events)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Timestamp.Before(events[j].Timestamp) })
	return Result{Events: events, Queries: int(f.queries.Load()), Groups: len(groups), Truncated: f.truncated}, nil
}

// platformLines are Lambda's platform lines of the invocations
// requestIDs, 50 request IDs a query.
func (f *Fetcher) platformLines(ctx context.Context, req Request, requestIDs map[string]bool) ([]Event, error) {
	ids := make([]string, 0, len(requestIDs))
	for id := range requestIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var events []Event
	for start := 0; start < len(ids); start += 50 {
		pq, err := Query(ids[start:min(start+50, len(ids))])
		if err != nil {
			return nil, err
		}
		rows, _, err := f.runEverywhere(ctx, req, pq)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if e := ParseRow(r); e.Platform && requestIDs[e.RequestID] {
				events = append(events, e)
			}
		}
	}
	return events, nil
}

// belongs is the client-side check: a row is shown only when its own
// fields name the requested trace, X-Ray trace or order. Servers that
// ignore or loosen the filter (an emulator may) never leak someone else's
// events. An X-Ray trace ID matches a line's xrayTraceId, or its traceId
// for a producer that uses X-Ray IDs as its trace IDs: the same trace.
func belongs(e Event, req Request) bool {
	if e.Platform {
		return false // joined later through request IDs
	}
	if req.OrderID != "" {
		return e.OrderID == req.OrderID
	}
	if req.XRayTraceID != "" {
		return e.XRayTraceID == req.XRayTraceID || e.TraceID == req.XRayTraceID
	}
	for _, t := range req.TraceIDs {
		if e.TraceID == t {
			return true
		}
	}
	return false
}

func dedupe(events []Event) []Event {
	seen := map[string]bool{}
	out := events[:0]
	for _, e := range events {
		k := fmt.Sprintf("%d|%s|%s|%s", e.Timestamp.UnixNano(), e.LogGroup, e.LogStream, e.Raw)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// runEverywhere runs the query over the request's groups and prefixes and
// returns the rows and the group names it queried by name.
func (f *Fetcher) runEverywhere(ctx context.Context, req Request, query string) ([]map[string]string, []string, error) {
	groups := append([]string(nil), req.Groups...)
	var rows []map[string]string
	if len(req.Prefixes) > 0 && !f.noSource {
		prefixRows, ok, err := f.trySource(ctx, req, query)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			rows = append(rows, prefixRows...)
		} else {
			f.noSource = true
		}
	}
	if len(req.Prefixes) > 0 && f.noSource {
		if f.described == nil {
			found, err := f.describeGroups(ctx, req.Prefixes)
			if err != nil {
				return nil, nil, err
			}
			f.described = append([]string{}, found...)
		}
		groups = append(groups, f.described...)
	}
	groups = unique(groups)
	for start := 0; start < len(groups); start += MaxGroupsPerQuery {
		batch := groups[start:min(start+MaxGroupsPerQuery, len(groups))]
		r, err := f.runBatch(ctx, batch, req.Start, req.End, query)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, r...)
	}
	return rows, groups, nil
}

// trySource queries by prefix with the SOURCE command. An endpoint that
// does not know it (an emulator answers 500) makes ok false: the caller lists
// the groups instead.
func (f *Fetcher) trySource(ctx context.Context, req Request, query string) ([]map[string]string, bool, error) {
	var rows []map[string]string
	for start := 0; start < len(req.Prefixes); start += MaxPrefixesPerSource {
		q := SourcePrefix(req.Prefixes[start:min(start+MaxPrefixesPerSource, len(req.Prefixes))], query)
		r, err := f.runWindow(ctx, nil, req.Start, req.End, q, true)
		if err != nil {
			var api smithy.APIError
			if ctx.Err() == nil && start == 0 && (errors.As(err, &api) || isServerError(err)) && !isAuthError(err) {
				return nil, false, nil
			}
			return nil, false, err
		}
		rows = append(rows, r...)
	}
	return rows, true, nil
}

func isServerError(err error) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
}

func isAuthError(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	return strings.Contains(api.ErrorCode(), "AccessDenied") || strings.Contains(api.ErrorCode(), "Unrecognized")
}

func (f *Fetcher) describeGroups(ctx context.Context, prefixes []string) ([]string, error) {
	var groups []string
	for _, p := range prefixes {
		pg := cwl.NewDescribeLogGroupsPaginator(f.API, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(p)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe log groups %s: %w", p, err)
			}
			for _, g := range page.LogGroups {
				groups = append(groups, aws.ToString(g.LogGroupName))
			}
		}
	}
	return groups, nil
}

// runBatch runs one query over up to 50 groups. When rows come back
// without @log and the batch had several groups, the group of each row is
// unknown, so the batch is queried again group by group.
func (f *Fetcher) runBatch(ctx context.Context, groups []string, start, end time.Time, query string) ([]map[string]string, error) {
	rows, err := f.runWindow(ctx, groups, start, end, query, false)
	if err != nil {
		return nil, err
	}
	missingLog := false
	for _, r := range rows {
		if r["@log"] == "" {
			missingLog = true
			break
		}
	}
	if !missingLog {
		return rows, nil
	}
	if len(groups) == 1 {
		for _, r := range rows {
			r["@log"] = groups[0]
		}
		return rows, nil
	}
	var all []map[string]string
	for _, g := range groups {
		r, err := f.runBatch(ctx, []string{g}, start, end, query)
		if err != nil {
			return nil, err
		}
		all = append(all, r...)
	}
	return all, nil
}

// runWindow runs the query over [start, end]; a result at the row cap is
// cut short, so the window is halved and both halves run, until no window
// hits the cap or a window is one second wide.
func (f *Fetcher) runWindow(ctx context.Context, groups []string, start, end time.Time, query string, source bool) ([]map[string]string, error) {
	rows, err := f.runOne(ctx, groups, start, end, query, source)
	if err != nil {
		return nil, err
	}
	if len(rows) < MaxRows {
		return rows, nil
	}
	s, e := start.Unix(), end.Unix()
	if e-s <= 1 {
		f.truncated = append(f.truncated, start)
		return rows, nil
	}
	mid := s + (e-s)/2
	left, err := f.runWindow(ctx, groups, time.Unix(s, 0), time.Unix(mid, 0), query, source)
	if err != nil {
		return nil, err
	}
	right, err := f.runWindow(ctx, groups, time.Unix(mid+1, 0), time.Unix(e, 0), query, source)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// runOne starts one query, waits for it and returns its rows as maps.
func (f *Fetcher) runOne(ctx context.Context, groups []string, start, end time.Time, query string, source bool) ([]map[string]string, error) {
	in := &cwl.StartQueryInput{QueryString: aws.String(query), StartTime: aws.Int64(start.Unix()), EndTime: aws.Int64(end.Unix()), Limit: aws.Int32(MaxRows)}
	if !source {
		in.LogGroupNames = groups
	}
	var optFns []func(*cwl.Options)
	if source {
		// One try: an endpoint without SOURCE support should fail fast.
		optFns = append(optFns, func(o *cwl.Options) { o.RetryMaxAttempts = 1 })
	}
	var id string
	for attempt := 0; ; attempt++ {
		out, err := f.API.StartQuery(ctx, in, optFns...)
		if err == nil {
			id = aws.ToString(out.QueryId)
			f.queries.Add(1)
			break
		}
		var limit *types.LimitExceededException
		if errors.As(err, &limit) && attempt < 6 {
			// Too many concurrent queries in the account: wait our turn.
			if err := backoff.Sleep(ctx, time.Duration(1<<attempt)*time.Second); err != nil {
				return nil, err
			}
			continue
		}
		return nil, f.startError(ctx, groups, err)
	}
	return f.wait(ctx, id)
}

// maxNamed is how many log groups an error lists before "and N more".
const maxNamed = 5

// startError wraps a failed StartQuery. The service's "log group does not
// exist" names no group, and one query covers up to 50: the groups that
// are missing are looked up and named, or, failing that, all of the
// query's groups.
func (f *Fetcher) startError(ctx context.Context, groups []string, err error) error {
	var notFound *types.ResourceNotFoundException
	if len(groups) == 0 || !errors.As(err, &notFound) {
		return fmt.Errorf("start query: %w", err)
	}
	named := groups
	if missing, lerr := f.missingGroups(ctx, groups); lerr == nil && len(missing) > 0 {
		named = missing
	}
	what := "log group "
	if len(named) > 1 {
		what = "log groups "
	}
	list := strings.Join(named[:min(len(named), maxNamed)], ", ")
	if len(named) > maxNamed {
		list += fmt.Sprintf(" and %d more", len(named)-maxNamed)
	}
	return fmt.Errorf("start query in %s%s: %w", what, list, err)
}

// missingGroups returns the groups DescribeLogGroups does not know.
func (f *Fetcher) missingGroups(ctx context.Context, groups []string) ([]string, error) {
	var missing []string
	for _, g := range groups {
		found := false
		pg := cwl.NewDescribeLogGroupsPaginator(f.API, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(g)})
		for pg.HasMorePages() && !found {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, lg := range page.LogGroups {
				found = found || aws.ToString(lg.LogGroupName) == g
			}
		}
		if !found {
			missing = append(missing, g)
		}
	}
	return missing, nil
}

func (f *Fetcher) wait(ctx context.Context, id string) ([]map[string]string, error) {
	interval, maxInterval := f.PollInterval, f.PollMax
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	if maxInterval <= 0 {
		maxInterval = 2 * time.Second
	}
	for {
		if err := backoff.Sleep(ctx, interval); err != nil {
			f.stop(ctx, id)
			return nil, err
		}
		out, err := f.API.GetQueryResults(ctx, &cwl.GetQueryResultsInput{QueryId: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				f.stop(ctx, id)
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("get query results: %w", err)
		}
		switch out.Status {
		case types.QueryStatusComplete:
			return toMaps(out.Results), nil
		case types.QueryStatusFailed, types.QueryStatusCancelled, types.QueryStatusTimeout, types.QueryStatusUnknown:
			return nil, fmt.Errorf("query %s ended %s", id, out.Status)
		}
		interval = min(interval*3/2, maxInterval)
	}
}

// stop cancels a running query when the user interrupts, so it does not
// keep scanning (and billing) in the background.
func (f *Fetcher) stop(ctx context.Context, id string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = f.API.StopQuery(sctx, &cwl.StopQueryInput{QueryId: aws.String(id)})
}

func toMaps(results [][]types.ResultField) []map[string]string {
	rows := make([]map[string]string, len(results))
	for i, r := range results {
		m := make(map[string]string, len(r))
		for _, f := range r {
			m[aws.ToString(f.Field)] = aws.ToString(f.Value)
		}
		rows[i] = m
	}
	return rows
}

func unique(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
