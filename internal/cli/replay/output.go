package replay

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlqops/dlq/internal/render"
	engine "github.com/dlqops/dlq/internal/replay"
)

// writePlan shows what the replay will do, on stderr.
func writePlan(w io.Writer, r engine.Report) {
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
		render.HumanBytes(p.Bytes), render.Sanitize(r.Destination))
	if p.Groups > 0 {
		fmt.Fprintf(&b, ", %d FIFO group(s)", p.Groups)
	}
	if p.Keys > 0 {
		fmt.Fprintf(&b, ", %d order key(s)", p.Keys)
	}
	b.WriteString("\n")
	writeRoutes(&b, p.Routes)
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

// writeRoutes lists the destinations by kind, queues first, when there is
// more than one or one is not a queue; a refused one with its reason.
func writeRoutes(b *strings.Builder, routes []engine.RoutePlan) {
	if len(routes) == 1 && (routes[0].Kind == engine.DestSQS || routes[0].Kind == "") {
		return
	}
	sorted := append([]engine.RoutePlan(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool { return kindRank(sorted[i].Kind) < kindRank(sorted[j].Kind) })
	for _, rt := range sorted {
		if rt.Kind == engine.DestNone {
			fmt.Fprintf(b, "  %d stay in the DLQ: %s\n", rt.Messages, render.Sanitize(rt.Why))
			continue
		}
		fmt.Fprintf(b, "  %d to %s %s (%s)\n", rt.Messages, kindName(rt.Kind), render.Sanitize(rt.Destination), via(rt.Via))
	}
}

func kindRank(k string) int {
	for i, v := range []string{engine.DestSQS, engine.DestLambda, engine.DestSNS, engine.DestEventBus, engine.DestStepFunctions, engine.DestNone} {
		if k == v {
			return i
		}
	}
	return 99
}

func kindName(k string) string {
	switch k {
	case engine.DestSQS, "":
		return "queue"
	case engine.DestLambda:
		return "function"
	case engine.DestSNS:
		return "topic"
	case engine.DestEventBus:
		return "event bus"
	case engine.DestStepFunctions:
		return "state machine"
	}
	return k
}

func via(v string) string {
	switch v {
	case "sourceArn":
		return "the source SQS recorded on each message"
	case "source":
		return "the DLQ's source"
	case "eventbridge":
		return "the rule target that failed"
	case "sns":
		return "the subscription that failed"
	case "lambda":
		return "the function whose DLQ it is"
	case "lambda-on-failure":
		return "the function the record names"
	case "writer":
		return "the one writer of the DLQ"
	}
	return "--to"
}

func writeReport(opts *ReplayOptions, r engine.Report) error {
	if opts.Output != render.FormatTable {
		return render.WriteData(opts.IO.Out, opts.Output, r)
	}
	verified := "yes"
	switch {
	case r.DryRun:
		verified = "-"
	case !r.Verified:
		verified = "no"
	}
	// On a narrow terminal the outcome stays: VERIFIED and LEFT IN DLQ are
	// the last columns to give way.
	t := render.NewTableColumns(opts.IO, render.Column{Header: "DLQ", Key: true}, render.Column{Header: "DESTINATION", Priority: 2},
		render.Column{Header: "MATCHED", Priority: 2, Whole: true}, render.Column{Header: "SENT", Priority: 3, Whole: true},
		render.Column{Header: "DELETED", Priority: 3, Whole: true}, render.Column{Header: "FAILED", Priority: 4, Whole: true},
		render.Column{Header: "SKIPPED", Priority: 0, Whole: true}, render.Column{Header: "UNCERTAIN", Priority: 1, Whole: true},
		render.Column{Header: "LEFT IN DLQ", Priority: 5, Whole: true}, render.Column{Header: "VERIFIED", Priority: 6, Whole: true},
		render.Column{Header: "SECONDS", Priority: 0, Whole: true})
	t.AddRow(r.DLQ, r.Destination, strconv.Itoa(r.Matched), strconv.Itoa(r.Sent), strconv.Itoa(r.Deleted), strconv.Itoa(r.Failed),
		strconv.Itoa(r.Skipped), strconv.Itoa(r.Uncertain), strconv.Itoa(r.LeftInDLQ), verified, strconv.FormatFloat(r.DurationSeconds, 'f', 1, 64))
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
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", render.Sanitize(wn))
	}
	if len(r.HeldBack) > 0 {
		fmt.Fprintf(&b, "held back (--dedup original, first sent less than %s ago): %s\n", engine.DedupWindow, strings.Join(r.HeldBack, ", "))
	}
	if r.Uncertain > 0 {
		fmt.Fprintf(&b, "%d message(s) were sent again after an answer was lost: the destination may have them twice (docs/replay.md)\n", r.Uncertain)
	}
	if c := r.Canary; c != nil && c.Verdict != "" {
		evidence := ""
		if c.Evidence != "" {
			evidence = " (by " + c.Evidence + ")"
		}
		fmt.Fprintf(&b, "canary: %d sent, %d consumed, %d returned, %d not consumed after %.0f s: %s%s\n", c.Sent, c.Consumed, c.Returned, c.NotConsumed, c.WaitSeconds, c.Verdict, evidence)
		for _, rc := range c.ReturnedCauses {
			fmt.Fprintf(&b, "  returned: %s\n", render.Sanitize(rc.String()))
		}
	}
	if r.Stopped != "" {
		fmt.Fprintf(&b, "stopped: %s\n", r.Stopped)
	}
	if r.Journal != "" {
		fmt.Fprintf(&b, "journal: %s\n", r.Journal)
	}
	_, err := io.WriteString(opts.IO.ErrOut, b.String())
	return err
}

// progressBar draws sent, deleted, failed, rate and ETA on the live line.
func progressBar(l *render.LiveLine) func(engine.Progress) {
	var mu sync.Mutex
	last := time.Time{}
	return func(p engine.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 100*time.Millisecond && p.Deleted+p.Failed < p.Total {
			return
		}
		last = time.Now()
		done := p.Deleted + p.Failed
		rate := p.Rate
		if rate == 0 && p.Elapsed > 0 {
			rate = float64(p.Sent) / p.Elapsed.Seconds()
		}
		eta := "ETA -"
		switch {
		case p.Scanning:
			eta = "scanning" // sending while it scans: the total still grows
		case rate > 0 && p.Total > done:
			eta = "ETA " + (time.Duration(float64(p.Total-done)/rate) * time.Second).Round(time.Second).String()
		}
		l.Progress(fmt.Sprintf("%s sent %d  deleted %d  failed %d  %.0f msg/s  %d in flight  %s",
			render.ProgressBar(done, p.Total, 30), p.Sent, p.Deleted, p.Failed, rate, p.InFlight, eta))
	}
}
