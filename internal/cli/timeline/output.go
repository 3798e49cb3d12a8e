package timeline

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/render"
)

func writeTimelines(opts *TimelineOptions, tls []insights.Timeline) error {
	if tls == nil {
		tls = []insights.Timeline{}
	}
	switch {
	case opts.Output != render.FormatTable && opts.FromDLQ == "" && len(tls) == 1:
		return render.WriteData(opts.IO.Out, opts.Output, tls[0])
	case opts.Output != render.FormatTable && opts.FromDLQ == "" && len(tls) == 0:
		empty := insights.Timeline{TraceID: opts.TraceID, OrderID: opts.OrderID, XRayTraceID: opts.XRayTraceID, Events: []insights.TimelineEvent{}}
		return render.WriteData(opts.IO.Out, opts.Output, empty)
	case opts.Output != render.FormatTable:
		return render.WriteData(opts.IO.Out, opts.Output, tls)
	}
	// A table has nothing to show for a trace without log lines; the
	// note on stderr names it.
	shown := make([]insights.Timeline, 0, len(tls))
	for _, t := range tls {
		if len(t.Events) > 0 {
			shown = append(shown, t)
		}
	}
	if !opts.IO.IsStdoutTTY() {
		return writeTSV(opts.IO.Out, shown)
	}
	var b strings.Builder
	for i, t := range shown {
		if i > 0 {
			b.WriteByte('\n')
		}
		renderTimeline(&b, opts.IO.Styles(), t)
	}
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}

// writeTSV is the piped form: one line per event, tab-separated, times in
// RFC3339 with milliseconds, the trace in the first column.
func writeTSV(w io.Writer, tls []insights.Timeline) error {
	var b strings.Builder
	for _, t := range tls {
		for _, e := range t.Events {
			trace := t.TraceID
			if e.TraceID != "" {
				trace = e.TraceID
			}
			fields := []string{trace, e.Timestamp.UTC().Format(insights.TimeFormat), strconv.FormatInt(e.OffsetMs, 10),
				e.LogGroup, e.Step, e.Status, render.Millis(e.DurationMs), message(e)}
			for i := range fields {
				fields[i] = render.Sanitize(fields[i])
			}
			b.WriteString(strings.Join(fields, "\t"))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var glyphs = map[string]string{
	"started": "▶", "success": "✓", "error": "✗", "retry": "↻", "duplicate": "≡",
	"compensating": "↺", "compensated": "↩", "dlq": "⚠",
}

// renderTimeline draws one timeline: a header, then per event a line with
// time, offset, function, step, status and duration, and the message
// indented beneath it on a rail. The first failure is marked.
func renderTimeline(b *strings.Builder, st render.Styles, t insights.Timeline) {
	s := t.Stats()
	head := []string{}
	if t.TraceID != "" {
		head = append(head, "Trace "+render.Sanitize(t.TraceID))
	}
	if t.OrderID != "" {
		head = append(head, "Order "+render.Sanitize(t.OrderID))
	}
	if t.XRayTraceID != "" {
		head = append(head, "X-Ray "+render.Sanitize(t.XRayTraceID))
	}
	head = append(head, "span "+render.Elapsed(s.Span), render.Count(s.Steps, "step"), render.Count(s.Errors, "error"))
	b.WriteString(st.Bold.Render(strings.Join(head, "  ·  ")))
	b.WriteString("\n\n")

	rows := make([][]string, len(t.Events))
	widths := make([]int, 5)
	for i, e := range t.Events {
		fn := render.Sanitize(e.Function())
		step := render.Sanitize(e.Step)
		rows[i] = []string{e.Timestamp.UTC().Format("15:04:05.000"), "+" + render.Elapsed(time.Duration(e.OffsetMs)*time.Millisecond), fn, step, render.Millis(e.DurationMs)}
		for j, c := range rows[i] {
			widths[j] = max(widths[j], lipgloss.Width(c))
		}
	}
	statusWidth := 0
	for _, e := range t.Events {
		statusWidth = max(statusWidth, lipgloss.Width(statusWord(e)))
	}
	for i, e := range t.Events {
		r := rows[i]
		status := pad(statusWord(e), statusWidth)
		line := fmt.Sprintf("  %s  %s  %s %s  %s  %s  %s",
			pad(r[0], widths[0]), pad(r[1], widths[1]), glyph(st, e), pad(r[2], widths[2]), pad(r[3], widths[3]),
			statusStyle(st, e).Render(status), pad(r[4], widths[4]))
		if i == s.FirstFailure {
			line += "  " + st.Error.Render("◀ first failure")
		}
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
		if msg := message(e); msg != "" {
			rail := strings.Repeat(" ", 2+widths[0]+2+widths[1]+2) + "│ "
			text := render.Sanitize(msg)
			if i == s.FirstFailure {
				text = st.Error.Render(text)
			}
			b.WriteString(st.Muted.Render(rail) + text + "\n")
		}
	}
}

func statusWord(e insights.TimelineEvent) string {
	if e.Status == "" {
		return "-"
	}
	return render.Sanitize(e.Status)
}

func glyph(st render.Styles, e insights.TimelineEvent) string {
	g, ok := glyphs[e.Status]
	if !ok {
		g = "·"
	}
	return statusStyle(st, e).Render(g)
}

func statusStyle(st render.Styles, e insights.TimelineEvent) lipgloss.Style {
	switch e.Status {
	case "success", "compensated":
		return st.OK
	case "error", "dlq":
		return st.Error
	case "retry", "duplicate", "compensating":
		return st.Warning
	}
	return st.Muted
}

func message(e insights.TimelineEvent) string {
	m := e.Message
	if e.Error != "" && !strings.Contains(m, e.Error) {
		if m != "" {
			m += ": "
		}
		m += e.Error
	}
	return m
}

func pad(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
