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

// bodyMin is the narrowest body preview worth a column: narrower, it
// shows little more than an envelope's opening brace and first key.
const bodyMin = 20

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
	grouped := false
	for i := range msgs {
		grouped = grouped || msgs[i].GroupID != ""
	}
	t := render.NewTableColumns(ios, columns(grouped)...)
	for i := range msgs {
		m := &msgs[i]
		body := m.Body
		if ios.IsStdoutTTY() {
			// The terminal shows a preview; piped output stays whole.
			body = preview(body)
		}
		cells := []render.Cell{{Text: m.MessageID}, {Text: ios.Time(m.SentAt, now)}, {Text: strconv.Itoa(m.ReceiveCount)}}
		if grouped {
			cells = append(cells, render.Cell{Text: m.GroupID})
		}
		cells = append(cells, render.Cell{Text: m.TraceID}, render.Cell{Text: m.OrderID}, errCell(m.Error), render.Cell{Text: body})
		t.AddCells(cells...)
	}
	return t.Render(ios.Out)
}

// columns are peek's table columns; GROUP only for messages that have one
// (FIFO), so a standard queue's piped lines keep their fields. On a narrow
// terminal the message ID stays whole and the others give way: the body
// preview first, then the trace ID (32 characters, and in --body), then
// the error, to its code alone; the IDs are dropped, never cut.
func columns(grouped bool) []render.Column {
	cols := []render.Column{
		{Header: "MESSAGE ID", Key: true},
		{Header: "SENT", Priority: 8, Whole: true},
		{Header: "RECEIVES", Priority: 9, Whole: true},
	}
	if grouped {
		cols = append(cols, render.Column{Header: "GROUP", Priority: 6, Whole: true})
	}
	return append(cols,
		render.Column{Header: "TRACE ID", Priority: 3, Whole: true},
		render.Column{Header: "ORDER ID", Priority: 7, Whole: true},
		render.Column{Header: "ERROR", Priority: 4},
		render.Column{Header: "BODY", Priority: 1, Min: bodyMin},
	)
}

// errCell is the recorded error; its short form the code alone.
func errCell(e *queue.MessageError) render.Cell {
	if e == nil || e.Code == "" {
		return render.Cell{Text: errText(e)}
	}
	return render.Cell{Text: errText(e), Short: e.Code}
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
			req := ""
			if m.Error.RequestID != "" {
				req = " (request " + render.Sanitize(m.Error.RequestID) + ")"
			}
			fmt.Fprintf(&b, "  %s %s%s\n", st.Error.Render("error"), render.Sanitize(errText(m.Error)), req)
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
