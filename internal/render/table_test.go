package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
)

// renderTTY renders t on a terminal width cells wide, without colour.
func renderTTY(t *testing.T, tb *Table, width int) []string {
	t.Helper()
	tb.ios.SetStdoutTTY(true)
	tb.ios.SetTerminalWidth(width)
	var out bytes.Buffer
	if err := tb.Render(&out); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

// queueTable is a table like inspect's: a key, two whole numbers of
// different priority, a cuttable text column with short forms, and a
// low-priority text column.
func queueTable() *Table {
	ios, _, _, _ := Test()
	tb := NewTableColumns(ios,
		Column{Header: "NAME", Key: true},
		Column{Header: "DEPTH", Priority: 9, Whole: true},
		Column{Header: "TYPE", Priority: 1, Whole: true},
		Column{Header: "SOURCES", Priority: 5},
		Column{Header: "NOTE", Priority: 2, Min: 10},
	)
	tb.AddCells(Cell{Text: "orders-payments-dlq"}, Cell{Text: "1312"}, Cell{Text: "standard"},
		Cell{Text: "orders-payments (max 5, 4d)", Short: "orders-payments"}, Cell{Text: "redrives from two queues in two regions"})
	tb.AddCells(Cell{Text: "orders-dlq"}, Cell{Text: "0"}, Cell{Text: "fifo"},
		Cell{Text: "orders (max 3, 4d), orders-retry (max 3, 4d)", Short: "orders, orders-retry"}, Cell{Text: "-"})
	return tb
}

func TestTableGivesWayByPriority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		width int
		want  string
	}{
		// Everything fits.
		{200, `
NAME                 DEPTH  TYPE      SOURCES                                       NOTE
orders-payments-dlq  1312   standard  orders-payments (max 5, 4d)                   redrives from two queues in two regions
orders-dlq           0      fifo      orders (max 3, 4d), orders-retry (max 3, 4d)  -`},
		// TYPE (1) is dropped whole; NOTE (2) is cut.
		{100, `
NAME                 DEPTH  SOURCES                                       NOTE
orders-payments-dlq  1312   orders-payments (max 5, 4d)                   redrives from two queues …
orders-dlq           0      orders (max 3, 4d), orders-retry (max 3, 4d)  -`},
		// NOTE would be cut below its Min: dropped. SOURCES (5) shows its
		// short form, and NOTE, the last dropped, comes back into the room.
		{70, `
NAME                 DEPTH  SOURCES               NOTE
orders-payments-dlq  1312   orders-payments       redrives from two q…
orders-dlq           0      orders, orders-retry  -`},
		// SOURCES is cut after its short form.
		{45, `
NAME                 DEPTH  SOURCES
orders-payments-dlq  1312   orders-payments
orders-dlq           0      orders, orders-r…`},
		// Only the key and the most valued column are left.
		{30, `
NAME                 DEPTH
orders-payments-dlq  1312
orders-dlq           0`},
		// The key is never cut, even when nothing else fits.
		{10, `
NAME
orders-payments-dlq
orders-dlq`},
	}
	for _, tt := range tests {
		lines := renderTTY(t, queueTable(), tt.width)
		if got := "\n" + strings.Join(lines, "\n"); got != tt.want {
			t.Errorf("width %d:%s\nwant%s", tt.width, got, tt.want)
		}
		for _, l := range lines {
			if w := lipgloss.Width(l); w > tt.width && tt.width > 19 {
				t.Errorf("line is %d wide on %d columns: %q", w, tt.width, l)
			}
		}
	}
}

func TestTableKeyColumnsAreNeverCut(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	// NewTable makes the first column the key.
	tb := NewTable(ios, "ID", "A", "B")
	tb.AddRow("a-very-long-message-id-that-is-wider-than-the-terminal", "x", "y")
	lines := renderTTY(t, tb, 20)
	if lines[1] != "a-very-long-message-id-that-is-wider-than-the-terminal" {
		t.Errorf("lines = %q", lines)
	}
}

func TestTableHidesEmptyColumnsOnATerminalOnly(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	tb := NewTable(ios, "ID", "TRACE ID", "ORDER ID", "BODY")
	tb.AddRow("m-1", "", "o-1", "{}")
	tb.AddRow("m-2", "", "", "{}")
	lines := renderTTY(t, tb, 80)
	if lines[0] != "ID   ORDER ID  BODY" || lines[2] != "m-2            {}" {
		t.Errorf("terminal lines = %q", lines)
	}
	tb.ios.SetStdoutTTY(false)
	var out bytes.Buffer
	if err := tb.Render(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "m-1\t\to-1\t{}\nm-2\t\t\t{}\n" {
		t.Errorf("piped = %q: every field stays where scripts expect it", out.String())
	}
	// With no rows there is nothing to hide: the header shows whole.
	empty := NewTable(ios, "ID", "TRACE ID")
	if lines := renderTTY(t, empty, 80); lines[0] != "ID  TRACE ID" {
		t.Errorf("empty table = %q", lines)
	}
}

// A backslash in the data is doubled when piped, so a reader can tell a
// tab (written \t) from a backslash and a t, and undo every escape.
func TestTablePipedEscapesBackslashes(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	tb := NewTable(ios, "A", "B")
	tb.AddRow("tab\there", `backslash\there`)
	tb.AddRow(`C:\orders\x1b`, "esc\x1b[31m")
	var out bytes.Buffer
	if err := tb.Render(&out); err != nil {
		t.Fatal(err)
	}
	want := `tab\there` + "\t" + `backslash\\there` + "\n" + `C:\\orders\\x1b` + "\t" + `esc\x1b[31m` + "\n"
	if out.String() != want {
		t.Errorf("piped = %q, want %q", out.String(), want)
	}
}

// Cells are sanitised before they are measured and cut, so a cut never
// splits an escape into something a terminal interprets, and styles go on
// after the cut.
func TestTableOnTerminalSanitisesBeforeCutting(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	tb := NewTableColumns(ios, Column{Header: "ID", Key: true}, Column{Header: "BODY"})
	tb.AddRow("m-\x1b]52;c;AAAA\x07", "\x1b[2J\u202eevil \x00 body that is far too long for the terminal")
	tb.StyleColumn(1, func(s string) string { return "<" + s + ">" })
	lines := renderTTY(t, tb, 40)
	got := strings.Join(lines, "\n")
	if strings.ContainsAny(got, "\x1b\x07\x00\u202e") {
		t.Fatalf("raw control characters in %q", got)
	}
	if !strings.HasPrefix(lines[1], `m-\x1b]52;c;AAAA\x07  <\x1b[2J\u202e`) || !strings.HasSuffix(lines[1], "…>") {
		t.Errorf("row = %q", lines[1])
	}
}
