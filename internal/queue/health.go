package queue

import (
	"fmt"

	"github.com/dlqops/dlq/internal/render"
)

// Warnings are what an experienced operator would point out about this DLQ
// and its sources, alarms aside (the queue package does not know them).
func (d DeadLetterQueue) Warnings() []string {
	var w []string
	if !d.Exists {
		verb := "redrive"
		if len(d.Sources) == 1 {
			verb = "redrives"
		}
		w = append(w, fmt.Sprintf("does not exist, but %s %s to it: failed messages have nowhere to go", render.Count(len(d.Sources), "source"), verb))
		return w
	}
	if n := d.Depth(); n > 0 {
		w = append(w, "holds "+render.Count(int(n), "message"))
	}
	switch {
	case d.SourcesUnlisted != "":
		w = append(w, fmt.Sprintf("its sources could not be listed (%s): their redrive settings were not checked", d.SourcesUnlisted))
	case len(d.Sources) == 0:
		w = append(w, "no queue redrives to it: not a dead-letter queue")
	}
	for _, s := range d.Sources {
		if d.RetentionSeconds <= s.RetentionSeconds {
			w = append(w, fmt.Sprintf("retention %s is not longer than source %s's %s: SQS keeps each message's original enqueue time, so dead-lettered messages can expire before anyone looks",
				render.HumanSeconds(d.RetentionSeconds), s.Name, render.HumanSeconds(s.RetentionSeconds)))
		}
		if s.MaxReceiveCount == 1 {
			w = append(w, fmt.Sprintf("source %s has maxReceiveCount 1: a single failed or timed-out receive dead-letters a message", s.Name))
		}
	}
	return w
}
