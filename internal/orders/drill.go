package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dlqops/dlq/internal/pipeline/saga"
)

// Steps are the order saga's step names, in order.
var Steps = []string{"reserve", "charge", "ship"}

// providers name the downstream service of each step in drill errors.
var providers = map[string]string{"reserve": "inventory service", "charge": "payment provider", "ship": "shipping provider"}

// FailRule makes a step fail for a range of orders, for drills (the
// FAIL_STEPS variable) and the demo's outages.
type FailRule struct {
	Step string
	// Outage: the step's provider is down, a retryable error (the saga
	// keeps its place, the delivery is retried and, past maxReceiveCount,
	// dead-lettered). Otherwise the provider refuses the order: the saga
	// compensates the steps before it.
	Outage bool
	// From and To bound the order IDs it applies to, both included,
	// compared as text (zero-padded IDs compare as numbers); empty: no
	// bound.
	From, To string
}

// Applies reports whether the rule makes step fail for the order.
func (r FailRule) Applies(step, orderID string) bool {
	return r.Step == step && (r.From == "" || orderID >= r.From) && (r.To == "" || orderID <= r.To)
}

// Err is the error the rule's step fails with.
func (r FailRule) Err() error {
	who := providers[r.Step]
	if r.Outage {
		return saga.Retryable(fmt.Errorf("%s unavailable: HTTP 503", who))
	}
	return fmt.Errorf("%s rejected the order", who)
}

// String is the rule in FAIL_STEPS syntax: STEP[:outage][@FROM..TO].
func (r FailRule) String() string {
	s := r.Step
	if r.Outage {
		s += ":outage"
	}
	if r.From != "" || r.To != "" {
		s += "@" + r.From + ".." + r.To
	}
	return s
}

// FailSteps is a list of rules in FAIL_STEPS syntax, comma-separated.
func FailSteps(rules []FailRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseFailSteps reads FAIL_STEPS: comma-separated rules
// STEP[:outage][@FROM..TO], e.g. "charge" (every charge is refused) or
// "charge:outage@order-00060..order-00089" (the payment provider is down
// for those orders).
func ParseFailSteps(s string) ([]FailRule, error) {
	var rules []FailRule
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var r FailRule
		spec, bounds, ranged := strings.Cut(part, "@")
		if ranged {
			var ok bool
			if r.From, r.To, ok = strings.Cut(bounds, ".."); !ok {
				return nil, fmt.Errorf("parse FAIL_STEPS rule %q: want STEP[:outage][@FROM..TO]", part)
			}
		}
		step, kind, hasKind := strings.Cut(spec, ":")
		if hasKind && kind != "outage" {
			return nil, fmt.Errorf("parse FAIL_STEPS rule %q: unknown kind %q (want outage, or none for a refusal)", part, kind)
		}
		if !slices.Contains(Steps, step) {
			return nil, fmt.Errorf("parse FAIL_STEPS rule %q: unknown step %q (want one of %s)", part, step, strings.Join(Steps, ", "))
		}
		r.Step, r.Outage = step, hasKind
		rules = append(rules, r)
	}
	if len(rules) == 0 && strings.TrimSpace(s) != "" {
		return nil, errors.New("parse FAIL_STEPS: no rule")
	}
	return rules, nil
}

// RuleFaults is Faults that fail the steps the rules name; the first rule
// that applies wins.
func RuleFaults(rules []FailRule) Faults {
	return func(_ context.Context, step string, o Order) error {
		for _, r := range rules {
			if r.Applies(step, o.OrderID) {
				return r.Err()
			}
		}
		return nil
	}
}
