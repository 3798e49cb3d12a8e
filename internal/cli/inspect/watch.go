package inspect

import (
	"fmt"

	"github.com/charmbracelet/lipgloss"

	"github.com/dlqops/dlq/internal/render"
)

// watchScreenRows is the height a watch screen is laid out for. IOStreams
// knows the terminal's width but not its height, and 24 rows is the
// smallest terminal in common use and the default of most emulators.
const watchScreenRows = 24

// watchChromeRows are the rows of a watch screen besides the table's rows,
// the warnings and the summary: the "Every" line and a blank, the table's
// header, a blank and "Warnings", and the row the cursor rests on.
const watchChromeRows = 6

// watchWarnings fits the warning lines of a watch screen below its table
// so that the screen does not scroll its header away: each line is cut to
// the terminal's width instead of wrapping, and when they are more than
// the rows left, the last one left says how many more there are.
func watchWarnings(lines []string, r *Report, width int) []string {
	summaryRows := (lipgloss.Width(r.Summary()) + width - 1) / max(width, 1)
	rows := watchScreenRows - watchChromeRows - len(r.Rows) - max(summaryRows, 1)
	if len(lines) > rows {
		if rows < 1 {
			// No room at all: the summary still counts the warnings.
			return nil
		}
		more := len(lines) - (rows - 1)
		lines = append(lines[:rows-1:rows-1], fmt.Sprintf("… %s more: `dlq inspect` without --watch lists them all", render.Count(more, "warning")))
	}
	for i, l := range lines {
		lines[i] = render.TruncateLine(l, width)
	}
	return lines
}
