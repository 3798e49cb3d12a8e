package queue

import (
	"fmt"

	"github.com/dlqops/dlq/internal/humanize"
)

// Warnings are what an experienced operator would point out about this DLQ
// and its sources, alarms aside (the queue package does not know them).
func (d DeadLetterQueue) Warnings() []string {
	return d.WarningsWithOtherSources(0)
}

// WarningsWithOtherSources are Warnings for a DLQ that, besides its source
// queues, others sources of other kinds (EventBridge targets, SNS
// subscriptions, Lambda functions) dead-letter into: such a queue is a
// dead-letter queue even when no queue redrives to it.
func (d DeadLetterQueue) WarningsWithOtherSources(others int) []string {
	var w []string
	if !d.Exists {
		n := len(d.Sources) + others
		switch {
		case others > 0 && n == 1:
			return []string{"does not exist, but 1 source dead-letters into it: failed messages and events have nowhere to go"}
		case others > 0:
			return []string{fmt.Sprintf("does not exist, but %s dead-letter into it: failed messages and events have nowhere to go", humanize.Count(n, "source"))}
		case n == 1:
			return []string{"does not exist, but 1 source redrives to it: failed messages have nowhere to go"}
		}
		return []string{fmt.Sprintf("does not exist, but %s redrive to it: failed messages have nowhere to go", humanize.Count(n, "source"))}
	}
	if n := d.Depth(); n > 0 {
		w = append(w, "holds "+humanize.Count(int(n), "message"))
	}
	switch {
	case d.SourcesUnlisted != "":
		w = append(w, fmt.Sprintf("its sources could not be listed (%s): their redrive settings were not checked", d.SourcesUnlisted))
	case len(d.Sources) == 0 && others == 0:
		w = append(w, "no queue redrives to it: not a dead-letter queue")
	}
	for _, s := range d.Sources {
		if d.RetentionSeconds <= s.RetentionSeconds {
			w = append(w, fmt.Sprintf("retention %s is not longer than source %s's %s: SQS keeps each message's original enqueue time, so dead-lettered messages can expire before anyone looks",
				humanize.Seconds(d.RetentionSeconds), s.Name, humanize.Seconds(s.RetentionSeconds)))
		}
		if s.MaxReceiveCount == 1 {
			w = append(w, fmt.Sprintf("source %s has maxReceiveCount 1: a single failed or timed-out receive dead-letters a message", s.Name))
		}
	}
	return w
}
