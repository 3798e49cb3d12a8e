package queue

import (
	"fmt"
	"time"
)

// Warnings are what an experienced operator would point out about this DLQ
// and its sources, alarms aside (the queue package does not know them).
func (d DeadLetterQueue) Warnings() []string {
	var w []string
	if !d.Exists {
		w = append(w, fmt.Sprintf("does not exist, but %s redrive%s to it: failed messages have nowhere to go",
			plural(len(d.Sources), "source", "sources"), verbS(len(d.Sources))))
		return w
	}
	if n := d.Depth(); n > 0 {
		w = append(w, fmt.Sprintf("holds %d message%s", n, pluralS(n)))
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
				shortDuration(d.RetentionSeconds), s.Name, shortDuration(s.RetentionSeconds)))
		}
		if s.MaxReceiveCount == 1 {
			w = append(w, fmt.Sprintf("source %s has maxReceiveCount 1: a single failed or timed-out receive dead-letters a message", s.Name))
		}
	}
	return w
}

func shortDuration(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", sec)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

func pluralS(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
