package inspect

import (
	"fmt"
	"strings"

	"github.com/dlqops/dlq/internal/alarm"
	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/sources"
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

// SourceRow is what dead-letters into the DLQ: a queue redriving into it
// (kind sqs), an EventBridge rule's target or an event bus, an SNS
// subscription, or a Lambda function's DLQ or on-failure destination.
// Fields of other kinds are left out of its JSON.
type SourceRow struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// ARN is the source queue, the rule (the bus, for a bus's own DLQ),
	// the subscription, or the function with its qualifier.
	ARN              string `json:"arn"`
	MaxReceiveCount  int    `json:"maxReceiveCount,omitempty"`
	RetentionSeconds int64  `json:"retentionSeconds,omitempty"`

	EventBus  string `json:"eventBus,omitempty"`
	RuleARN   string `json:"ruleArn,omitempty"`
	TargetID  string `json:"targetId,omitempty"`
	TargetARN string `json:"targetArn,omitempty"`

	TopicARN           string `json:"topicArn,omitempty"`
	Protocol           string `json:"protocol,omitempty"`
	Endpoint           string `json:"endpoint,omitempty"`
	RawMessageDelivery *bool  `json:"rawMessageDelivery,omitempty"`

	Function  string `json:"function,omitempty"`
	Qualifier string `json:"qualifier,omitempty"`
	Via       string `json:"via,omitempty"`

	MaximumRetryAttempts     *int32 `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int32 `json:"maximumEventAgeInSeconds,omitempty"`

	// text is the source in a few words, for the table.
	text string
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
	// Warnings are the account's, not one DLQ's: a permission denied
	// (first), a rule target or subscription without a DLQ.
	Warnings []string
	// AlarmsErr is why alarms could not be read; rows then carry no alarm
	// and no alarm warnings.
	AlarmsErr error
}

// NewReport joins DLQs with the alarms that watch them and judges each.
func NewReport(found *sources.Result, alarms map[string][]alarm.Alarm, alarmsErr error) *Report {
	r := &Report{Rows: make([]Row, 0, len(found.DLQs)), Warnings: append(append([]string{}, found.Denied...), found.Warnings...), AlarmsErr: alarmsErr}
	for _, d := range found.DLQs {
		row := Row{
			Name: d.Name, URL: d.URL, ARN: d.ARN, Exists: d.Exists, FIFO: d.FIFO,
			Visible: d.Visible, InFlight: d.InFlight, Delayed: d.Delayed,
			RetentionSeconds: d.RetentionSeconds,
			Sources:          sourceRows(d),
			Warnings:         d.Warnings(),
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

func sourceRows(d sources.DeadLetterQueue) []SourceRow {
	rows := make([]SourceRow, 0, len(d.Sources)+len(d.Services))
	for _, s := range d.Sources {
		rows = append(rows, SourceRow{
			Kind: string(sources.KindSQS), Name: s.Name, URL: s.URL, ARN: s.ARN,
			MaxReceiveCount: s.MaxReceiveCount, RetentionSeconds: s.RetentionSeconds,
		})
	}
	for _, s := range d.Services {
		rows = append(rows, serviceRow(s))
	}
	return rows
}

func serviceRow(s sources.Source) SourceRow {
	row := SourceRow{Kind: string(s.Kind), Name: s.Name, ARN: s.ARN, text: s.String()}
	var retry *sources.Retry
	switch {
	case s.EventBridge != nil:
		e := s.EventBridge
		row.EventBus, row.RuleARN, row.TargetID, row.TargetARN, retry = e.Bus, e.RuleARN, e.TargetID, e.TargetARN, e.Retry
	case s.SNS != nil:
		raw := s.SNS.RawMessageDelivery
		row.TopicARN, row.Protocol, row.Endpoint, row.RawMessageDelivery = s.SNS.TopicARN, s.SNS.Protocol, s.SNS.Endpoint, &raw
	case s.Lambda != nil:
		row.Function, row.Qualifier, row.Via, retry = s.Lambda.Function, s.Lambda.Qualifier, string(s.Lambda.Via), s.Lambda.Retry
	}
	if retry != nil {
		row.MaximumRetryAttempts, row.MaximumEventAgeInSeconds = retry.MaximumRetryAttempts, retry.MaximumEventAgeInSeconds
	}
	return row
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
	if len(r.Rows) == 0 && len(r.Warnings) == 0 {
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
	warnings += len(r.Warnings)
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
		parts = append(parts, fmt.Sprintf("DLQs over --max-depth %d: %s", maxDepth, strings.Join(firstN(over, 10), ", ")))
	}
	if len(warned) > 0 {
		parts = append(parts, fmt.Sprintf("DLQs with warnings: %s", strings.Join(firstN(warned, 10), ", ")))
	}
	if failOnWarning && len(r.Warnings) > 0 {
		parts = append(parts, render.Count(len(r.Warnings), "warning")+" about the account's sources")
	}
	if len(parts) == 0 {
		return nil
	}
	return &cli.ConditionError{Message: "dlq: check failed: " + strings.Join(parts, "; ")}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
