package timeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const xrayID = "1-5759e988-bd862e3fe1be46a994272793"

func TestNewCmdTimeline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    string
		want    TimelineOptions
		wantErr string // part of the usage error
	}{
		{args: "t-1 --log-group g", want: TimelineOptions{TraceID: "t-1", Since: day}},
		{args: "--trace-id t-1 --log-group g", want: TimelineOptions{TraceID: "t-1", Since: day}},
		{args: "--order-id o-1 --log-group g --since 7d", want: TimelineOptions{OrderID: "o-1", Since: 7 * day, SinceSet: true}},
		{args: "t-1 --log-group g --since 1d12h", want: TimelineOptions{TraceID: "t-1", Since: 36 * time.Hour, SinceSet: true}},
		{args: "t-1 --log-group g --start 2026-11-28", want: TimelineOptions{TraceID: "t-1", Since: day, Start: "2026-11-28"}},
		{args: "t-1 --log-group g --start 2026-11-28 --end 2026-11-29", want: TimelineOptions{TraceID: "t-1", Since: day, Start: "2026-11-28", End: "2026-11-29"}},
		{args: "--from-dlq orders-dlq --log-group g --where a=b", want: TimelineOptions{FromDLQ: "orders-dlq", Since: day, Filter: cli.MessageFilter{Options: filter.Options{Where: []string{"a=b"}}}}},
		// An X-Ray trace: by its shape, as a pasted header, or by flag;
		// --trace-id means the pipeline's traceId whatever its shape.
		{args: "1-5759e988-bd862e3fe1be46a994272793 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "1-5759E988-BD862E3FE1BE46A994272793 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "Sampled=1;Root=1-5759e988-bd862e3fe1be46a994272793 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "--xray-trace-id 1-5759e988-bd862e3fe1be46a994272793 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "--xray-trace-id Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1 --log-group g", want: TimelineOptions{XRayTraceID: xrayID, Since: day}},
		{args: "--trace-id 1-5759e988-bd862e3fe1be46a994272793 --log-group g", want: TimelineOptions{TraceID: xrayID, Since: day}},
		{args: "1-5759e988-bd862e3fe1be46a99427279 --log-group g", want: TimelineOptions{TraceID: "1-5759e988-bd862e3fe1be46a99427279", Since: day}},
		{args: "Root=nope;Sampled=1 --log-group g", want: TimelineOptions{TraceID: "Root=nope;Sampled=1", Since: day}},

		{args: "a b --log-group g", wantErr: "at most one TRACE_ID, got 2"},
		{args: "t-1 --trace-id t-2 --log-group g", wantErr: "TRACE_ID or --trace-id, not both"},
		{args: "--from-dlq orders-dlq --trace-id t-1 --log-group g", wantErr: "exactly one of TRACE_ID (or --trace-id or --xray-trace-id), --order-id or --from-dlq"},
		{args: "--xray-trace-id 1-5759e988-bd862e3fe1be46a994272793 --trace-id t-1 --log-group g", wantErr: "exactly one of TRACE_ID"},
		{args: "--xray-trace-id 1-5759e988-bd862e3fe1be46a994272793 --order-id o-1 --log-group g", wantErr: "exactly one of TRACE_ID"},
		{args: "1-5759e988-bd862e3fe1be46a994272793 --xray-trace-id 1-5759e988-bd862e3fe1be46a994272793 --log-group g", wantErr: "TRACE_ID or --xray-trace-id, not both"},
		{args: "--xray-trace-id 4bf92f3577b34da6 --log-group g", wantErr: `invalid --xray-trace-id "4bf92f3577b34da6"`},
		{args: "t-1 --log-group g --start 2026-11-28T00:00:00Z --since 2h", wantErr: "give --start or --since, not both"},
		{args: "t-1 --log-group g --start 2026-11-28 --since 1d", wantErr: "give --start or --since, not both"},
		{args: "t-1 --log-group g --since 0", wantErr: "want a positive duration"},
		{args: "t-1 --log-group g --since 1h2d", wantErr: "want a positive duration"},
		{args: "t-1 --log-group g --start 28/11/2026", wantErr: "invalid --start"},
		{args: "t-1 --log-group g --start 2026-11-29 --end 2026-11-29", wantErr: "is not before --end"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := render.Test()
			f := cli.NewFactory(ios, func() (cli.Settings, error) { return cli.Settings{Output: render.FormatTable}, nil })
			f.Now = func() time.Time { return now }
			var got *TimelineOptions
			cmd := NewCmdTimeline(f, func(_ context.Context, o *TimelineOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(cli.FlagErrorFunc) // the root sets it for every command
			err := testenv.ExecuteCommand(cmd, ios, tt.args)
			if tt.wantErr != "" {
				var u *cli.UsageError
				if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want a one-line usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Every case names --log-group g and leaves the other flags at
			// their defaults.
			w := tt.want
			w.Groups, w.Output, w.Limit = []string{"g"}, render.FormatTable, 10
			if diff := cmp.Diff(w, *got, cmpopts.IgnoreFields(TimelineOptions{}, "IO", "Logs", "SQS", "Now"), cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(cli.MessageFilter{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"30m": 30 * time.Minute, "6h": 6 * time.Hour, "1d": day, "7d": 7 * day, "14d": 14 * day,
		"1d12h": 36 * time.Hour, "2d30m": 2*day + 30*time.Minute, "1h30m": 90 * time.Minute, "90s": 90 * time.Second,
	}
	for in, want := range good {
		got, err := parseSince(in)
		if err != nil || got != want {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
		// What --help shows as the default reads back as the same value.
		if back, err := parseSince(formatSince(want)); err != nil || back != want {
			t.Errorf("formatSince(%v) = %q, which reads back as %v, %v", want, formatSince(want), back, err)
		}
	}
	for _, in := range []string{"", "d", "0", "0d", "-1h", "-7d", "1.5d", "1h2d", "1d-2h", "1dd", "7 d", "99999999999999d", "106752d", "106751d24h"} {
		if got, err := parseSince(in); err == nil {
			t.Errorf("parseSince(%q) = %v, want an error", in, got)
		}
	}
	for d, want := range map[time.Duration]string{day: "1d", 7 * day: "7d", 36 * time.Hour: "1d12h", 90 * time.Minute: "1h30m", 6 * time.Hour: "6h", 45 * time.Second: "45s"} {
		if got := formatSince(d); got != want {
			t.Errorf("formatSince(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	date := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	sent := []queue.Message{{SentAt: now.Add(-3 * time.Hour)}, {SentAt: now.Add(-5 * time.Hour)}}
	tests := []struct {
		name       string
		opts       TimelineOptions
		msgs       []queue.Message
		start, end time.Time
	}{
		{"default day", TimelineOptions{Since: day}, nil, now.Add(-day), now},
		{"since 7d", TimelineOptions{Since: 7 * day, SinceSet: true}, nil, now.Add(-7 * day), now},
		{"start date", TimelineOptions{Since: day, Start: "2026-11-28"}, nil, date(28), now},
		{"start and end dates", TimelineOptions{Since: day, Start: "2026-11-28", End: "2026-11-29"}, nil, date(28), date(29)},
		{"RFC3339 with offset", TimelineOptions{Since: day, Start: "2026-11-28T01:00:00+01:00"}, nil, date(28), now},
		{"since before end date", TimelineOptions{Since: 2 * day, SinceSet: true, End: "2026-11-29"}, nil, date(27), date(29)},
		{"around DLQ messages", TimelineOptions{Since: day}, sent, now.Add(-5*time.Hour - 10*time.Minute), now},
		{"--since beats the messages' window", TimelineOptions{Since: 7 * day, SinceSet: true}, sent, now.Add(-7 * day), now},
	}
	for _, tt := range tests {
		tt.opts.Now = func() time.Time { return now }
		start, end, err := window(&tt.opts, tt.msgs)
		if err != nil || !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("%s: window = %v .. %v, %v; want %v .. %v", tt.name, start, end, err, tt.start, tt.end)
		}
	}
}
