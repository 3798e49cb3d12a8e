package inspect

import (
	"fmt"
	"strings"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// Row is one DLQ as inspect reports it; its JSON form is the documented
// contract (docs/json-output.md).
type Row struct {
	Name             string      `json:"name"`
	URL              string      `json:"url"`
	ARN              string      `json:"arn"`
	Exists           bool        `json:"exists"`
	FIFO             bool        `json:"fifo"`
	Visible          int64       `json:"visible"`
	InFlight         int64       `json:"inFlight"`
	Delayed          int64       `json:"delayed"`
	RetentionSeconds int64       `json:"retentionSeconds"`
	Sources          []SourceRow `json:"sources"`
	Alarm            *AlarmRow   `json:"alarm"`
	Status           string      `json:"status"`
	Warnings         []string    `json:"warnings"`
}

// SourceRow is a queue redriving into the DLQ.
type SourceRow struct {
	Name             string `json:"name"`
	URL              string `json:"url"`
	ARN              string `json:"arn"`
	MaxReceiveCount  int    `json:"maxReceiveCount"`
	RetentionSeconds int64  `json:"retentionSeconds"`
}

// AlarmRow is the alarm that watches the DLQ's depth.
type AlarmRow struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// The statuses of a DLQ.
const (
	StatusOK       = "ok"
	StatusMessages = "messages"
	StatusWarning  = "warning"
)

// Report is the result of one inspection.
type Report struct {
	Rows []Row
	// AlarmsErr is why alarms could not be read; rows then carry no alarm
	// and no alarm warnings.
	AlarmsErr error
}

// NewReport joins DLQs with the alarms that watch them and judges each.
func NewReport(dlqs []queue.DeadLetterQueue, alarms map[string][]alarm.Alarm, alarmsErr error) *Report {
	r := &Report{Rows: make([]Row, 0, len(dlqs)), AlarmsErr: alarmsErr}
	for _, d := range dlqs {
		row := Row{
			Name: d.Name, URL: d.URL, ARN: d.ARN, Exists: d.Exists, FIFO: d.FIFO,
			Visible: d.Visible, InFlight: d.InFlight, Delayed: d.Delayed,
			RetentionSeconds: d.RetentionSeconds,
			Sources:          make([]SourceRow, 0, len(d.Sources)),
			Warnings:         d.Warnings(),
		}
		for _, s := range d.Sources {
			row.Sources = append(row.Sources, SourceRow{
				Name: s.Name, URL: s.URL, ARN: s.ARN,
				MaxReceiveCount: s.MaxReceiveCount, RetentionSeconds: s.RetentionSeconds,
			})
		}
		if d.Exists && alarmsErr == nil {
			row.Warnings = append(row.Warnings, alarmWarnings(d.Name, alarms[d.Name], &row)...)
		}
		if row.Warnings == nil {
			row.Warnings = []string{}
		}
		switch {
		case d.Depth() > 0:
			row.Status = StatusMessages
		case len(row.Warnings) > 0:
			row.Status = StatusWarning
		default:
			row.Status = StatusOK
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

func alarmWarnings(queueName string, alarms []alarm.Alarm, row *Row) []string {
	a := alarm.Primary(alarms)
	if a == nil {
		return []string{fmt.Sprintf("no CloudWatch alarm watches its depth: run `dlq alarm ensure %s`", queueName)}
	}
	row.Alarm = &AlarmRow{Name: a.Name, State: a.State}
	var w []string
	if !a.FiresOnFirstMessage() {
		w = append(w, fmt.Sprintf("alarm %s does not fire on the first message (%s %g, period %ds, %d datapoint(s))",
			a.Name, a.ComparisonOperator, a.Threshold, a.Period, max(a.DatapointsToAlarm, a.EvaluationPeriods)))
	}
	if len(a.Actions) == 0 || !a.ActionsEnabled {
		w = append(w, fmt.Sprintf("alarm %s notifies nobody: it has no enabled actions", a.Name))
	}
	return w
}

// Summary is the one line printed to stderr after the data.
func (r *Report) Summary() string {
	if len(r.Rows) == 0 {
		return "no dead-letter queues found"
	}
	var withMsgs []string
	warnings := 0
	for _, row := range r.Rows {
		if row.Status == StatusMessages {
			withMsgs = append(withMsgs, fmt.Sprintf("%s %d", row.Name, row.Visible+row.InFlight+row.Delayed))
		}
		warnings += len(row.Warnings)
	}
	s := fmt.Sprintf("%s, %d with messages", render.Count(len(r.Rows), "DLQ"), len(withMsgs))
	if len(withMsgs) > 0 {
		s += " (" + strings.Join(firstN(withMsgs, 5), ", ") + ")"
	}
	s += ", " + render.Count(warnings, "warning")
	if r.AlarmsErr != nil {
		s += "; alarms unknown: " + cli.Message(r.AlarmsErr, false, cli.Settings{})
	}
	return s
}

// Verdict returns a ConditionError (exit 3) when a DLQ holds more than
// maxDepth messages (maxDepth < 0: no threshold) or, with failOnWarning,
// when any DLQ has a warning.
func (r *Report) Verdict(maxDepth int64, failOnWarning bool) error {
	var over, warned []string
	for _, row := range r.Rows {
		depth := row.Visible + row.InFlight + row.Delayed
		if maxDepth >= 0 && depth > maxDepth {
			over = append(over, fmt.Sprintf("%s (%d)", row.Name, depth))
		}
		if failOnWarning && len(row.Warnings) > 0 {
			warned = append(warned, row.Name)
		}
	}
	var parts []string
	if len(over) > 0 {
		parts = append(parts, fmt.Sprintf("over --max-depth %d: %s", maxDepth, strings.Join(firstN(over, 10), ", ")))
	}
	if len(warned) > 0 {
		parts = append(parts, fmt.Sprintf("with warnings: %s", strings.Join(firstN(warned, 10), ", ")))
	}
	if len(parts) == 0 {
		return nil
	}
	return &cli.ConditionError{Message: "dlq: check failed: DLQs " + strings.Join(parts, "; DLQs ")}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
