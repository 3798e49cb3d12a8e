package render

import (
	"bytes"
	"io"
	"sort"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table collects rows and prints them the way a reader of the stream needs:
// on a terminal, aligned columns under a bold header, fitted to the
// terminal's width by the columns' priorities (see Column); piped,
// tab-separated rows of every column, whole, without a header, ready for
// cut and awk. Cells are sanitised here, so callers may pass untrusted text.
type Table struct {
	ios    *IOStreams
	cols   []Column
	rows   [][]Cell
	styles []func(string) string
}

// Column describes a column and how it gives way when the table is wider
// than the terminal. On a terminal a column with no text in any row is
// hidden. Then the columns give way a priority level at a time, the lowest
// first: the level's columns show their cells' short forms, then are cut
// (the widest first) down to their header's width (at least cutFloor, or
// Min), then dropped (the rightmost first); the first step that makes the
// table fit ends it. Space left over goes back to dropped columns, the
// last dropped first.
type Column struct {
	Header string
	// Key columns hold what a reader copies into the next command (a
	// queue name, a message ID): they are never cut nor dropped.
	Key bool
	// Priority orders how the other columns give way: lowest first; 0
	// unless set.
	Priority int
	// Whole columns are dropped rather than cut: half an ID, a number or a
	// time is no use.
	Whole bool
	// Min is the narrowest a cut column gets, when it needs more than its
	// header (and cutFloor) to say anything: a body preview, say.
	Min int
}

// Cell is a table cell with an optional short form ("OK" for an alarm's
// name and state), shown on a narrow terminal before anything is cut.
// Piped output always carries Text.
type Cell struct {
	Text  string
	Short string
}

const (
	// columnGap is the space between columns on a terminal.
	columnGap = 2
	// cutFloor is the narrowest a cut column gets, header permitting:
	// fewer characters than this say nothing.
	cutFloor = 6
)

// NewTable starts a table with the given column headers: the first is the
// key, the others of normal priority and cuttable.
func NewTable(ios *IOStreams, header ...string) *Table {
	cols := make([]Column, len(header))
	for i, h := range header {
		cols[i] = Column{Header: h, Key: i == 0}
	}
	return NewTableColumns(ios, cols...)
}

// NewTableColumns starts a table with the given columns.
func NewTableColumns(ios *IOStreams, cols ...Column) *Table {
	return &Table{ios: ios, cols: cols}
}

// AddRow appends a row; missing cells are blank.
func (t *Table) AddRow(cells ...string) {
	row := make([]Cell, len(cells))
	for i, c := range cells {
		row[i] = Cell{Text: c}
	}
	t.AddCells(row...)
}

// AddCells appends a row of cells with short forms; missing cells are
// blank.
func (t *Table) AddCells(cells ...Cell) {
	row := make([]Cell, len(t.cols))
	copy(row, cells)
	t.rows = append(t.rows, row)
}

// StyleColumn styles the cells of column i on a terminal, after they are
// sanitised and fitted; piped output is never styled.
func (t *Table) StyleColumn(i int, style func(string) string) {
	if t.styles == nil {
		t.styles = make([]func(string) string, len(t.cols))
	}
	if i >= 0 && i < len(t.styles) {
		t.styles[i] = style
	}
}

// Render writes the table to w.
func (t *Table) Render(w io.Writer) error {
	if !t.ios.IsStdoutTTY() {
		_, err := io.WriteString(w, t.tsv())
		return err
	}
	l := t.fit(t.ios.TerminalWidth())
	st := t.ios.Styles()
	var header []string
	rows := make([][]string, len(t.rows))
	for i, c := range t.cols {
		if !l.show[i] {
			continue
		}
		header = append(header, st.Header.Render(c.Header))
		for r := range t.rows {
			s := l.cell(r, i)
			if lipgloss.Width(s) > l.width[i] {
				s = ansi.Truncate(s, l.width[i], "…")
			}
			if t.styles != nil && t.styles[i] != nil {
				s = t.styles[i](s)
			}
			rows[r] = append(rows[r], s)
		}
	}
	return writeAligned(w, header, rows)
}

// tsv is the piped form: every column, whole, one line per row. A
// backslash is written as \\ so that the escapes Sanitize writes for tabs,
// newlines and control characters (\t, \n, \x1b) can be told apart from
// the same characters in the data, and a reader can undo them.
func (t *Table) tsv() string {
	var b strings.Builder
	for _, row := range t.rows {
		for i, c := range row {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(Sanitize(strings.ReplaceAll(c.Text, `\`, `\\`)))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// layout is how a table fits a terminal: which columns show, which in
// their short form, and each one's width.
type layout struct {
	t           *Table
	show, short []bool
	width       []int
	dropped     []int // in the order they were dropped

	// text and shortText are the sanitised cells, full and short (the full
	// text when a cell has no short form); their widest cell, header
	// included, per column.
	text, shortText       [][]string
	textWidth, shortWidth []int
}

func newLayout(t *Table) *layout {
	n := len(t.cols)
	l := &layout{t: t, show: make([]bool, n), short: make([]bool, n), width: make([]int, n),
		text: make([][]string, len(t.rows)), shortText: make([][]string, len(t.rows)),
		textWidth: make([]int, n), shortWidth: make([]int, n)}
	for i, c := range t.cols {
		l.textWidth[i] = lipgloss.Width(c.Header)
		l.shortWidth[i] = l.textWidth[i]
	}
	for r, row := range t.rows {
		l.text[r], l.shortText[r] = make([]string, n), make([]string, n)
		for i, c := range row {
			l.text[r][i] = Sanitize(c.Text)
			l.shortText[r][i] = l.text[r][i]
			if c.Short != "" {
				l.shortText[r][i] = Sanitize(c.Short)
			}
			l.textWidth[i] = max(l.textWidth[i], lipgloss.Width(l.text[r][i]))
			l.shortWidth[i] = max(l.shortWidth[i], lipgloss.Width(l.shortText[r][i]))
		}
	}
	return l
}

// cell is the text column i shows in row r.
func (l *layout) cell(r, i int) string {
	if l.short[i] {
		return l.shortText[r][i]
	}
	return l.text[r][i]
}

// natural is the width column i needs to show every cell whole.
func (l *layout) natural(i int) int {
	if l.short[i] {
		return l.shortWidth[i]
	}
	return l.textWidth[i]
}

// floor is the narrowest column i may be cut to.
func (l *layout) floor(i int) int {
	if c := l.t.cols[i]; !c.Whole && !c.Key {
		return min(l.natural(i), max(lipgloss.Width(c.Header), cutFloor, c.Min))
	}
	return l.natural(i)
}

// total is the width of the widest line.
func (l *layout) total() int {
	n, sum := 0, 0
	for i, show := range l.show {
		if show {
			n++
			sum += l.width[i]
		}
	}
	return sum + columnGap*max(n-1, 0)
}

// fit lays the table out for a terminal limit cells wide: columns with no
// content are hidden, then the others give way as Column describes.
func (t *Table) fit(limit int) *layout {
	l := newLayout(t)
	for i := range t.cols {
		l.show[i] = len(t.rows) == 0 || !t.empty(i)
		l.width[i] = l.natural(i)
	}
	for _, level := range t.levels(l.show) {
		if l.giveWay(level, limit) {
			break
		}
	}
	// Dropping a wide column can leave room for a narrower one dropped
	// before it.
	for d := len(l.dropped) - 1; d >= 0; d-- {
		i := l.dropped[d]
		if room := limit - l.total() - columnGap; room >= l.floor(i) {
			l.show[i] = true
			l.width[i] = min(l.natural(i), room)
		}
	}
	return l
}

// levels groups the shown columns that may give way by priority, lowest
// first, each group rightmost column first.
func (t *Table) levels(show []bool) [][]int {
	var order []int
	for i, c := range t.cols {
		if show[i] && !c.Key {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		pa, pb := t.cols[order[a]].Priority, t.cols[order[b]].Priority
		return pa < pb || (pa == pb && order[a] > order[b])
	})
	var levels [][]int
	for k, i := range order {
		if k == 0 || t.cols[i].Priority != t.cols[order[k-1]].Priority {
			levels = append(levels, nil)
		}
		levels[len(levels)-1] = append(levels[len(levels)-1], i)
	}
	return levels
}

// giveWay makes the columns of one priority level give way until the table
// fits: short forms, then cuts (the widest first), then drops (the
// rightmost first, the rest of the level widened again). It reports
// whether the table fits.
func (l *layout) giveWay(level []int, limit int) bool {
	if l.total() <= limit {
		return true
	}
	for _, i := range level {
		if l.shortWidth[i] < l.textWidth[i] {
			l.short[i] = true
			l.width[i] = l.natural(i)
			if l.total() <= limit {
				return true
			}
		}
	}
	if l.cut(level, limit) {
		return true
	}
	for _, i := range level {
		l.show[i] = false
		l.dropped = append(l.dropped, i)
		for _, j := range level {
			if l.show[j] {
				l.width[j] = l.natural(j)
			}
		}
		if l.cut(level, limit) {
			return true
		}
	}
	return false
}

// cut narrows the widest cuttable column of level one cell at a time, down
// to the columns' floors, until the table fits; it reports whether it does.
func (l *layout) cut(level []int, limit int) bool {
	for over := l.total() - limit; over > 0; over-- {
		widest := -1
		for _, i := range level {
			if l.show[i] && l.width[i] > l.floor(i) && (widest < 0 || l.width[i] > l.width[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			return false
		}
		l.width[widest]--
	}
	return true
}

// empty reports whether column i has no text in any row.
func (t *Table) empty(i int) bool {
	for _, row := range t.rows {
		if row[i].Text != "" {
			return false
		}
	}
	return true
}

// writeAligned writes header and rows as left-aligned columns two spaces
// apart; cells are already fitted and styled, so tablewriter only aligns.
func writeAligned(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	cells := tw.CellConfig{
		Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
		Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
		Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: strings.Repeat(" ", columnGap), Overwrite: true}},
	}
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithConfig(tablewriter.Config{Header: cells, Row: cells, Behavior: tw.Behavior{TrimSpace: tw.On}}),
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

// TruncateLine cuts s, which may carry styles, to width cells with an
// ellipsis: for lines that must not wrap, such as a watch screen's.
func TruncateLine(s string, width int) string {
	return ansi.Truncate(s, width, "…")
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
