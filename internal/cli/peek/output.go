package peek

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// previewLen is how much of a body the table shows.
const previewLen = 120

func write(opts *PeekOptions, queueName string, msgs []queue.Message) error {
	if opts.Output != render.FormatTable {
		views := make([]queue.View, len(msgs))
		for i := range msgs {
			views[i] = msgs[i].View(queueName)
		}
		return render.WriteData(opts.IO.Out, opts.Output, views)
	}
	if opts.Body {
		return writeBodies(opts, msgs)
	}
	ios := opts.IO
	now := opts.Now()
	t := render.NewTable(ios, "MESSAGE ID", "SENT", "RECEIVES", "TRACE ID", "ORDER ID", "ERROR", "BODY")
	for i := range msgs {
		m := &msgs[i]
		body := m.Body
		if ios.IsStdoutTTY() {
			// The terminal shows a preview; piped output stays whole.
			body = preview(body)
		}
		t.AddRow(m.MessageID, ios.Time(m.SentAt, now), strconv.Itoa(m.ReceiveCount), m.TraceID, m.OrderID, errText(m.Error), body)
	}
	return t.Render(ios.Out)
}

func errText(e *queue.MessageError) string {
	if e == nil {
		return ""
	}
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

func preview(body string) string {
	if len(body) > previewLen {
		cut := previewLen
		for cut > 0 && !isRuneStart(body[cut]) {
			cut--
		}
		return body[:cut] + "…"
	}
	return body
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// writeBodies prints each message as a block: a header line, attributes,
// and the full body, pretty-printed when it is JSON. Everything is
// sanitised: a body can hold escape sequences.
func writeBodies(opts *PeekOptions, msgs []queue.Message) error {
	st := opts.IO.Styles()
	now := opts.Now()
	var b strings.Builder
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %s\n", st.Bold.Render("message"), render.Sanitize(m.MessageID))
		fields := []string{"sent " + opts.IO.Time(m.SentAt, now), "receives " + strconv.Itoa(m.ReceiveCount)}
		for _, kv := range [][2]string{{"trace", m.TraceID}, {"order", m.OrderID}, {"group", m.GroupID}} {
			if kv[1] != "" {
				fields = append(fields, kv[0]+" "+render.Sanitize(kv[1]))
			}
		}
		fmt.Fprintf(&b, "  %s\n", strings.Join(fields, "  "))
		if m.Error != nil {
			fmt.Fprintf(&b, "  %s %s (request %s)\n", st.Error.Render("error"), render.Sanitize(errText(m.Error)), render.Sanitize(m.Error.RequestID))
		}
		names := make([]string, 0, len(m.Attributes))
		for k := range m.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			a := m.Attributes[k]
			fmt.Fprintf(&b, "  %s %s = %s\n", st.Muted.Render(render.Sanitize(a.Type)), render.Sanitize(k), render.Sanitize(a.Value()))
		}
		b.WriteString(indent(render.SanitizeLines(pretty(m.Body)), "  "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}

func pretty(body string) string {
	var buf bytes.Buffer
	if json.Valid([]byte(body)) && json.Indent(&buf, []byte(body), "", "  ") == nil {
		return buf.String()
	}
	return body
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
