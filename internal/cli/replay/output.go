package replay

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
)

// writePlan shows what the replay will do, on stderr.
func writePlan(w io.Writer, r engine.Report, dest queue.Queue) {
	p := r.Plan
	if p == nil {
		return
	}
	var b strings.Builder
	verb := "Plan"
	if r.DryRun {
		verb = "Dry run (nothing changes)"
	}
	fmt.Fprintf(&b, "%s: %d of %d scanned message(s) in %s, %s, to %s", verb, p.Messages, r.Scanned, render.Sanitize(r.DLQ),
		render.HumanBytes(p.Bytes), render.Sanitize(dest.Name))
	if p.Groups > 0 {
		fmt.Fprintf(&b, ", %d FIFO group(s)", p.Groups)
	}
	b.WriteString("\n")
	if p.Oldest != "" {
		fmt.Fprintf(&b, "  sent between %s and %s, order: %s\n", p.Oldest, p.Newest, r.Order)
	}
	for _, s := range p.Samples {
		fmt.Fprintf(&b, "  e.g. %s\n", render.Sanitize(s))
	}
	for _, wn := range p.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", render.Sanitize(wn))
	}
	_, _ = io.WriteString(w, b.String())
}

func writeReport(opts *ReplayOptions, r engine.Report) error {
	if opts.Output != render.FormatTable {
		return render.WriteData(opts.IO.Out, opts.Output, r)
	}
	t := render.NewTable(opts.IO, "DLQ", "DESTINATION", "MATCHED", "SENT", "DELETED", "FAILED", "SKIPPED", "REMAINING", "SECONDS")
	t.AddRow(r.DLQ, r.Destination, strconv.Itoa(r.Matched), strconv.Itoa(r.Sent), strconv.Itoa(r.Deleted), strconv.Itoa(r.Failed),
		strconv.Itoa(r.Skipped), strconv.Itoa(r.Remaining), strconv.FormatFloat(r.DurationSeconds, 'f', 1, 64))
	if err := t.Render(opts.IO.Out); err != nil {
		return err
	}
	var b strings.Builder
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failed %s: %s\n", render.Sanitize(f.MessageID), render.Sanitize(f.Error))
	}
	if len(r.Unmarked) > 0 {
		fmt.Fprintf(&b, "replayed without the %s marker (already 10 attributes): %s\n", engine.MarkerAttribute, strings.Join(r.Unmarked, ", "))
	}
	if r.Stopped != "" {
		fmt.Fprintf(&b, "stopped: %s\n", render.Sanitize(r.Stopped))
	}
	if r.Journal != "" {
		fmt.Fprintf(&b, "journal: %s\n", r.Journal)
	}
	_, err := io.WriteString(opts.IO.ErrOut, b.String())
	return err
}

// progressBar draws sent, deleted, failed, rate and ETA on one stderr line.
func progressBar(w io.Writer) func(engine.Progress) {
	var mu sync.Mutex
	last := time.Time{}
	return func(p engine.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 100*time.Millisecond && p.Deleted+p.Failed < p.Total {
			return
		}
		last = time.Now()
		const width = 30
		done := p.Deleted + p.Failed
		filled := 0
		if p.Total > 0 {
			filled = width * done / p.Total
		}
		rate := 0.0
		if p.Elapsed > 0 {
			rate = float64(p.Sent) / p.Elapsed.Seconds()
		}
		eta := "-"
		if rate > 0 && p.Total > done {
			eta = (time.Duration(float64(p.Total-done)/rate) * time.Second).Round(time.Second).String()
		}
		_, _ = fmt.Fprintf(w, "\r[%s%s] sent %d  deleted %d  failed %d  %.0f msg/s  ETA %s ",
			strings.Repeat("█", filled), strings.Repeat("░", width-filled), p.Sent, p.Deleted, p.Failed, rate, eta)
	}
}
