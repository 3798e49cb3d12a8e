package inspect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
)

// writeAccountWarnings prints the warnings that are not one DLQ's to
// stderr, one a line, when the table's warnings list (a terminal's) did
// not show them: JSON keeps its documented shape.
func writeAccountWarnings(opts *InspectOptions, r *Report) {
	if opts.Output == render.FormatTable && opts.IO.IsStdoutTTY() {
		return
	}
	for _, w := range r.Warnings {
		_, _ = fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", render.Sanitize(w))
	}
}

func write(opts *InspectOptions, r *Report) error {
	if opts.Output != render.FormatTable {
		return render.WriteData(opts.IO.Out, opts.Output, r.Rows)
	}
	return writeTable(opts.IO, r, opts.Watch > 0)
}

// columns are inspect's table columns. On a narrow terminal the name stays
// whole, depth and status stay longest, and the rest give way first: the
// type (a FIFO DLQ's name ends in .fifo), then retention and the alarm
// (their problems are listed as warnings), then delay and sources.
func columns() []render.Column {
	return []render.Column{
		{Header: "DLQ", Key: true},
		{Header: "TYPE", Priority: 1, Whole: true},
		{Header: "VISIBLE", Priority: 9, Whole: true},
		{Header: "IN FLIGHT", Priority: 7, Whole: true},
		{Header: "DELAYED", Priority: 5, Whole: true},
		{Header: "RETENTION", Priority: 2, Whole: true},
		{Header: "SOURCES", Priority: 5},
		{Header: "ALARM", Priority: 3},
		{Header: "STATUS", Priority: 9, Whole: true},
	}
}

// writeTable prints aligned columns and a warnings list on a terminal
// (in a watch, as many warnings as leave its header on screen), and one
// tab-separated line per DLQ (warnings in the last field) when piped.
func writeTable(ios *render.IOStreams, r *Report, watch bool) error {
	tty := ios.IsStdoutTTY()
	st := ios.Styles()
	cols := columns()
	if !tty {
		cols = append(cols, render.Column{Header: "WARNINGS"})
	}
	t := render.NewTableColumns(ios, cols...)
	for _, row := range r.Rows {
		typ := "standard"
		if row.FIFO {
			typ = "fifo"
		}
		cells := []render.Cell{
			{Text: row.Name}, {Text: typ},
			{Text: strconv.FormatInt(row.Visible, 10)}, {Text: strconv.FormatInt(row.InFlight, 10)}, {Text: strconv.FormatInt(row.Delayed, 10)},
			{Text: ios.Seconds(row.RetentionSeconds)}, sourcesCell(ios, row), alarmCell(row, r.AlarmsErr != nil), {Text: row.Status},
		}
		if !row.Exists {
			for _, i := range []int{2, 3, 4, 5} {
				cells[i].Text = "-"
			}
			cells[1].Text = "missing"
		}
		if !tty {
			cells = append(cells, render.Cell{Text: strings.Join(row.Warnings, "; ")})
		}
		t.AddCells(cells...)
	}
	t.StyleColumn(8, func(s string) string { return statusStyle(st, s) })
	if err := t.Render(ios.Out); err != nil {
		return err
	}
	if !tty {
		return nil
	}
	var lines []string
	for _, row := range r.Rows {
		for _, w := range row.Warnings {
			lines = append(lines, fmt.Sprintf("%s %s: %s", st.Warning.Render("!"), render.Sanitize(row.Name), render.Sanitize(w)))
		}
	}
	for _, w := range r.Warnings {
		lines = append(lines, fmt.Sprintf("%s %s", st.Warning.Render("!"), render.Sanitize(w)))
	}
	if watch {
		lines = watchWarnings(lines, r, ios.TerminalWidth())
	}
	if len(lines) > 0 {
		_, err := fmt.Fprintf(ios.Out, "\n%s\n%s\n", st.Bold.Render("Warnings"), strings.Join(lines, "\n"))
		return err
	}
	return nil
}

// sourcesCell lists what dead-letters into the DLQ: queues, on a terminal
// with their maxReceiveCount and retention, and the other kinds in a few
// words (`rule default/orders → sqs:shipping`, `λ charge (on-failure)`);
// its short form names only.
func sourcesCell(ios *render.IOStreams, row Row) render.Cell {
	parts := make([]string, 0, len(row.Sources))
	names := make([]string, 0, len(row.Sources))
	for _, s := range row.Sources {
		if s.Kind != string(sources.KindSQS) {
			full, short := serviceText(s, ios.IsStdoutTTY())
			parts, names = append(parts, full), append(names, short)
			continue
		}
		if ios.IsStdoutTTY() {
			parts = append(parts, fmt.Sprintf("%s (max %d, %s)", s.Name, s.MaxReceiveCount, ios.Seconds(s.RetentionSeconds)))
		} else {
			parts = append(parts, fmt.Sprintf("%s:%d:%d", s.Name, s.MaxReceiveCount, s.RetentionSeconds))
		}
		names = append(names, s.Name)
	}
	if len(parts) == 0 {
		return render.Cell{Text: "-"}
	}
	return render.Cell{Text: strings.Join(parts, ", "), Short: strings.Join(names, ", ")}
}

// serviceText is an EventBridge, SNS or Lambda source in a few words, and
// shorter. Lambda is λ on a terminal.
func serviceText(s SourceRow, tty bool) (full, short string) {
	full = s.text
	word := s.Kind
	switch {
	case s.Kind == string(sources.KindEventBridge) && s.RuleARN == "":
		word = "bus"
	case s.Kind == string(sources.KindEventBridge):
		word = "rule"
	case s.Kind == string(sources.KindLambda) && tty:
		word = "λ"
		full = "λ" + strings.TrimPrefix(full, "lambda")
	}
	return full, word + " " + s.Name
}

// alarmCell is the alarm's name and state; its short form the state alone.
func alarmCell(row Row, unknown bool) render.Cell {
	switch {
	case unknown:
		return render.Cell{Text: "unknown"}
	case row.Alarm == nil:
		return render.Cell{Text: "none"}
	}
	return render.Cell{Text: row.Alarm.Name + " " + row.Alarm.State, Short: row.Alarm.State}
}

func statusStyle(st render.Styles, status string) string {
	switch status {
	case StatusOK:
		return st.OK.Render(status)
	case StatusMessages:
		return st.Error.Render(status)
	}
	return st.Warning.Render(status)
}
