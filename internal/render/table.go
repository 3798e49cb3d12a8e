package render

import (
	"bytes"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table collects rows and prints them the way a reader of the stream needs:
// on a terminal, aligned columns under a bold header, truncated to the
// terminal's width; piped, tab-separated untruncated rows without a header,
// ready for cut and awk. Cells are sanitised here, so callers may pass
// untrusted text.
type Table struct {
	ios    *IOStreams
	header []string
	rows   [][]string
	styles []func(string) string
}

// NewTable starts a table with the given column headers.
func NewTable(ios *IOStreams, header ...string) *Table {
	return &Table{ios: ios, header: header}
}

// AddRow appends a row; missing cells are blank.
func (t *Table) AddRow(cells ...string) {
	row := make([]string, len(t.header))
	for i := range row {
		if i < len(cells) {
			row[i] = Sanitize(cells[i])
		}
	}
	t.rows = append(t.rows, row)
}

// StyleColumn styles the cells of column i on a terminal, after they are
// sanitised; piped output is never styled.
func (t *Table) StyleColumn(i int, style func(string) string) {
	if t.styles == nil {
		t.styles = make([]func(string) string, len(t.header))
	}
	if i >= 0 && i < len(t.styles) {
		t.styles[i] = style
	}
}

// Len is the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

// Render writes the table to w.
func (t *Table) Render(w io.Writer) error {
	if !t.ios.IsStdoutTTY() {
		var b strings.Builder
		for _, r := range t.rows {
			b.WriteString(strings.Join(r, "\t"))
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	st := t.ios.Styles()
	header := make([]string, len(t.header))
	for i, h := range t.header {
		header[i] = st.Header.Render(h)
	}
	// Truncate only when the natural width does not fit, and then the
	// widest columns first: names and numbers stay whole as long as they
	// can. Cells are cut here, before styling, so tablewriter only aligns.
	rows := t.rows
	if widths, cut := t.fitWidths(t.ios.TerminalWidth()); cut {
		rows = make([][]string, len(t.rows))
		for r, row := range t.rows {
			rows[r] = make([]string, len(row))
			for i, c := range row {
				rows[r][i] = ansi.Truncate(c, widths[i], "…")
			}
		}
		for i, h := range t.header {
			header[i] = st.Header.Render(ansi.Truncate(h, widths[i], "…"))
		}
	}
	if t.styles != nil {
		styled := make([][]string, len(rows))
		for r, row := range rows {
			styled[r] = make([]string, len(row))
			for i, c := range row {
				if t.styles[i] != nil {
					c = t.styles[i](c)
				}
				styled[r][i] = c
			}
		}
		rows = styled
	}
	var buf bytes.Buffer
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.SeparatorsNone,
				Lines:      tw.LinesNone,
			},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "  ", Overwrite: true}},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "  ", Overwrite: true}},
			},
			Behavior: tw.Behavior{TrimSpace: tw.On},
		}),
	)
	tbl.Header(header)
	if err := tbl.Bulk(rows); err != nil {
		return err
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		trimmed := trimLine(line)
		if trimmed == "" && !strings.HasSuffix(line, "\n") {
			continue
		}
		b.WriteString(trimmed)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fitWidths returns column content widths that fit limit, shrinking the
// widest column one cell at a time (never below 6), and whether any column
// had to be cut.
func (t *Table) fitWidths(limit int) ([]int, bool) {
	const gap, floor = 2, 6
	widths := make([]int, len(t.header))
	total := 0
	for i, h := range t.header {
		w := lipgloss.Width(h)
		for _, r := range t.rows {
			w = max(w, lipgloss.Width(r[i]))
		}
		widths[i] = w
		total += w + gap
	}
	cut := false
	for total > limit {
		widest := 0
		for i, w := range widths {
			if w > widths[widest] {
				widest = i
			}
		}
		if widths[widest] <= floor {
			break
		}
		widths[widest]--
		total--
		cut = true
	}
	return widths, cut
}

// trimLine drops trailing padding, also when a colour reset follows it.
func trimLine(line string) string {
	const reset = "\x1b[0m"
	line = strings.TrimRight(line, " \n")
	hadReset := false
	for strings.HasSuffix(line, reset) {
		line = strings.TrimRight(strings.TrimSuffix(line, reset), " ")
		hadReset = true
	}
	if hadReset {
		line += reset
	}
	return line
}
