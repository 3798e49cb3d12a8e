package inspect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dlqops/dlq/internal/render"
)

func write(opts *InspectOptions, r *Report) error {
	if opts.Output != render.FormatTable {
		return render.WriteData(opts.IO.Out, opts.Output, r.Rows)
	}
	return writeTable(opts.IO, r)
}

// writeTable prints aligned columns and a warnings list on a terminal, and
// one tab-separated line per DLQ (warnings in the last field) when piped.
func writeTable(ios *render.IOStreams, r *Report) error {
	tty := ios.IsStdoutTTY()
	st := ios.Styles()
	header := []string{"DLQ", "TYPE", "VISIBLE", "IN FLIGHT", "DELAYED", "RETENTION", "SOURCES", "ALARM", "STATUS"}
	if !tty {
		header = append(header, "WARNINGS")
	}
	t := render.NewTable(ios, header...)
	for _, row := range r.Rows {
		typ := "standard"
		if row.FIFO {
			typ = "fifo"
		}
		cells := []string{
			row.Name, typ,
			strconv.FormatInt(row.Visible, 10), strconv.FormatInt(row.InFlight, 10), strconv.FormatInt(row.Delayed, 10),
			ios.Seconds(row.RetentionSeconds), sources(ios, row), alarmCell(row, r.AlarmsErr != nil), row.Status,
		}
		if !row.Exists {
			typ, cells[2], cells[3], cells[4], cells[5] = "missing", "-", "-", "-", "-"
			cells[1] = typ
		}
		if !tty {
			cells = append(cells, strings.Join(row.Warnings, "; "))
		}
		t.AddRow(cells...)
	}
	t.StyleColumn(8, func(s string) string { return statusStyle(st, s) })
	if err := t.Render(ios.Out); err != nil {
		return err
	}
	if !tty {
		return nil
	}
	var b strings.Builder
	for _, row := range r.Rows {
		for _, w := range row.Warnings {
			fmt.Fprintf(&b, "%s %s: %s\n", st.Warning.Render("!"), render.Sanitize(row.Name), render.Sanitize(w))
		}
	}
	if b.Len() > 0 {
		_, err := fmt.Fprintf(ios.Out, "\n%s\n%s", st.Bold.Render("Warnings"), b.String())
		return err
	}
	return nil
}

func sources(ios *render.IOStreams, row Row) string {
	parts := make([]string, 0, len(row.Sources))
	for _, s := range row.Sources {
		if ios.IsStdoutTTY() {
			parts = append(parts, fmt.Sprintf("%s (max %d, %s)", s.Name, s.MaxReceiveCount, ios.Seconds(s.RetentionSeconds)))
		} else {
			parts = append(parts, fmt.Sprintf("%s:%d:%d", s.Name, s.MaxReceiveCount, s.RetentionSeconds))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func alarmCell(row Row, unknown bool) string {
	switch {
	case unknown:
		return "unknown"
	case row.Alarm == nil:
		return "none"
	}
	return row.Alarm.Name + " " + row.Alarm.State
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
