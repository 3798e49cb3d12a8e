package replay

import (
	"fmt"
	"time"

	"github.com/dlqops/dlq/internal/queue"
)

// plan describes the round's messages: counts, keys, times, routes,
// samples and the warnings a user should read before saying yes.
func (h *round) plan() Plan {
	p := Plan{Messages: len(h.order), Samples: []string{}, Warnings: []string{}, Routes: []RoutePlan{}}
	groups := map[int32]bool{}
	for k, i := range h.order {
		rw := h.t.row(i)
		p.Bytes += int64(rw.body)
		if rw.group >= 0 {
			groups[rw.group] = true
		}
		if k < 3 {
			p.Samples = append(p.Samples, h.sample(i))
		}
	}
	p.Groups = len(groups)
	if h.r.cfg.Order == OrderKey && !h.r.dlq.FIFO {
		h.planKeys(&p)
	}
	if n := len(h.order); n > 0 {
		p.Oldest = time.UnixMilli(h.t.row(h.order[0]).sent).UTC().Format(time.RFC3339)
		p.Newest = time.UnixMilli(h.t.row(h.order[n-1]).sent).UTC().Format(time.RFC3339)
	}
	for _, rt := range h.routes {
		p.Routes = append(p.Routes, h.r.router.routePlan(rt))
		for _, i := range rt.rows {
			if int64(h.t.row(i).size)+markerSize > rt.dest.MaxMessageSize {
				p.Warnings = append(p.Warnings, fmt.Sprintf("message %s is larger than %s's maximum message size: it will stay in the DLQ", h.t.id(i), rt.dest.Name))
			}
		}
	}
	p.Warnings = append(p.Warnings, h.planWarnings()...)
	return p
}

// planKeys counts the order keys of --order key, and warns about keys
// that make it slow, messages without one, and a limit.
func (h *round) planKeys(p *Plan) {
	keys := map[int32]bool{}
	for _, i := range h.order {
		if k := h.t.row(i).key; k >= 0 {
			keys[k] = true
		} else {
			p.Unkeyed++
		}
	}
	p.Keys = len(keys)
	if (h.r.cfg.Limit > 0 || h.r.cfg.MaxScan > 0) && !h.r.cfg.byID {
		p.Warnings = append(p.Warnings, "with a limit, the messages taken are the first received, not always the oldest of each key: a later run may send an older message of a key after a newer one")
	}
	if p.Keys > 0 && len(h.order)-p.Unkeyed > 20*p.Keys {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d messages share %d key(s): each key sends one message at a time, so this is slow; --order none if order does not matter", len(h.order)-p.Unkeyed, p.Keys))
	}
	if p.Unkeyed > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d message(s) have no order key: they are sent as independent messages", p.Unkeyed))
	}
}

// planWarnings are the run's warnings for the plan: what the router
// noted, messages in flight or held by an interrupted run, messages held
// back, a round cut short, FIFO rounds, and a rate that would pass SQS's
// 12-hour hold.
func (h *round) planWarnings() []string {
	r, cfg := h.r, h.r.cfg
	w := append([]string(nil), r.router.notes...)
	if r.earlier.Messages != 0 {
		w = append(w, fmt.Sprintf("%s held by an interrupted run until %s are not part of this run (not waited for)",
			countOrSome(r.earlier.Messages), r.earlier.Until.UTC().Format(time.RFC3339)))
	} else if r.dlq.InFlight > 0 {
		w = append(w, fmt.Sprintf("%d message(s) in %s are in flight (another consumer, or a replay still running): they are not part of this replay", r.dlq.InFlight, r.dlq.Name))
	}
	if n := len(r.heldBack); n > 0 {
		w = append(w, fmt.Sprintf("dedup original: %d message(s) first sent less than %s ago are held back (SQS would drop them as duplicates); run again later", n, DedupWindow))
	}
	if h.cut {
		w = append(w, h.cutWhy)
	}
	if r.dlq.FIFO {
		w = append(w, "FIFO: SQS shows the first messages of each group at a time; later messages are replayed in further rounds")
	}
	if cfg.Rate > 0 {
		if need := time.Duration(float64(len(h.order)) / cfg.Rate * float64(time.Second)); need > MaxHold-cfg.Visibility {
			w = append(w, fmt.Sprintf("at %g messages a second, %d messages take %s: SQS holds a received message at most %s, so the run stops before then; run it again to go on",
				cfg.Rate, len(h.order), need.Round(time.Minute), MaxHold))
		}
	}
	return w
}

func countOrSome(n int) string {
	if n < 0 {
		return "messages"
	}
	return fmt.Sprintf("%d message(s)", n)
}

// sample names row i's message in the plan: its ID, order and trace.
func (h *round) sample(i int32) string {
	s := h.t.id(i)
	m, err := h.t.load(i)
	if err != nil {
		return s
	}
	queue.Correlate(&m) // the spool keeps no parsed fields
	if m.OrderID != "" {
		s += " order " + m.OrderID
	}
	if m.TraceID != "" {
		s += " trace " + m.TraceID
	}
	return s
}

// held is one message of a round, for a caller that picks from them: its
// DLQ message ID and order key ("" none).
type held struct {
	id, key, src string // src: the origin, where it failed
}

// held lists the round's messages in send order.
func (h *round) held() []held {
	out := make([]held, len(h.order))
	for k, i := range h.order {
		rw := h.t.row(i)
		out[k] = held{id: h.t.id(i), key: h.r.keys.str(rw.key), src: h.r.sources.str(rw.src)}
	}
	return out
}
