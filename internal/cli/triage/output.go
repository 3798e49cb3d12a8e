package triage

import (
	"strconv"
	"strings"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/triage"
)

// Result is triage's documented JSON form (docs/json-output.md).
type Result struct {
	Queue   string         `json:"queue"`
	Scanned int            `json:"scanned"`
	Matched int            `json:"matched"`
	Groups  []triage.Group `json:"groups"`
}

// write prints the result: JSON (NDJSON: one line), or the table of
// causes, largest first.
func write(opts *TriageOptions, r Result) error {
	if r.Groups == nil {
		r.Groups = []triage.Group{}
	}
	if opts.Output != render.FormatTable {
		return render.WriteData(opts.IO.Out, opts.Output, r)
	}
	if len(r.Groups) == 0 {
		return nil // the summary on stderr says there was nothing
	}
	ios := opts.IO
	now := opts.Now()
	// On a narrow terminal the cause ID and count stay; the examples give
	// way first, then times, then the error is cut (its start says most).
	t := render.NewTableColumns(ios,
		render.Column{Header: "CAUSE", Key: true},
		render.Column{Header: "COUNT", Key: true},
		render.Column{Header: "STEP", Priority: 7, Whole: true},
		render.Column{Header: "ERROR", Priority: 6, Min: 24},
		render.Column{Header: "FIRST SENT", Priority: 4, Whole: true},
		render.Column{Header: "LAST SENT", Priority: 5, Whole: true},
		render.Column{Header: "ORDER", Priority: 3, Whole: true},
		render.Column{Header: "TRACE", Priority: 2, Whole: true},
		render.Column{Header: "EXAMPLE", Priority: 1, Min: 24},
	)
	for _, g := range r.Groups {
		// Cells are sanitised by the table: log lines and bodies are
		// untrusted.
		t.AddRow(g.ID, strconv.Itoa(g.Count), g.Step, g.Error, ios.Time(g.FirstSent, now), ios.Time(g.LastSent, now),
			first(g.OrderIDs), first(g.TraceIDs), example(g))
	}
	return t.Render(ios.Out)
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// example is the raw text when it says more than the normalised one.
func example(g triage.Group) string {
	if strings.TrimSpace(g.Example) == g.Error {
		return ""
	}
	return g.Example
}
