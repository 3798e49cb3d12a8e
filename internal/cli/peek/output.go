package peek

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// previewLen is how much of a body the table shows.
const previewLen = 120

// bodyMin is the narrowest body preview worth a column: narrower, it
// shows little more than an envelope's opening brace and first key.
const bodyMin = 20

// printer prints what a scan finds. NDJSON lines and piped table rows
// are streamed, one as each match is found, in scan order: a long scan
// shows its first results at once, and Ctrl-C loses none of them. JSON,
// the terminal's table and --body need every match first (one document,
// columns fitted to the widest cell, sent order) and are printed by rest.
// On a terminal's stderr a progress line runs meanwhile.
type printer struct {
	opts *PeekOptions
	q    queue.Queue
	now  time.Time
	// streams: matches are printed as the scan finds them.
	streams bool
	// live is the progress line; nil unless stderr is a terminal.
	live *progressLine

	// The stream: found queues each match's line and one goroutine writes
	// them out, so a reader that stops reading (| less) holds up neither
	// the scan nor the release of what it holds.
	mu     sync.Mutex
	more   *sync.Cond // lines were queued, or the stream closed
	queued [][]byte
	closed bool
	err    error // the first failed write; the scan ends on it
	done   chan struct{}
}

func newPrinter(opts *PeekOptions, q queue.Queue) *printer {
	ios := opts.IO
	p := &printer{opts: opts, q: q, now: opts.Now(),
		streams: opts.Output == render.FormatNDJSON || opts.Output == render.FormatTable && !opts.Body && !ios.IsStdoutTTY()}
	if ios.IsStderrTTY() {
		total := int(q.Visible)
		if opts.MaxScan > 0 && opts.MaxScan < total {
			total = opts.MaxScan
		}
		p.live = &progressLine{line: render.NewLiveLine(ios.ErrOut, true, ios.TerminalWidth()), now: opts.Now, total: total}
	}
	if p.streams {
		p.more = sync.NewCond(&p.mu)
		p.done = make(chan struct{})
		go p.writeStream()
	}
	return p
}

// found queues one match's NDJSON line or piped table row. The scan's
// receivers call it at once; the order they get here is the output's.
func (p *printer) found(m *queue.Message) error {
	var b bytes.Buffer
	if p.opts.Output == render.FormatNDJSON {
		if err := render.WriteNDJSON(&b, m.View(p.q.Name)); err != nil {
			return err
		}
	} else {
		// A FIFO queue's rows have GROUP from the first row on: the
		// columns of a stream cannot wait for the messages.
		t := render.NewTableColumns(p.opts.IO, columns(p.q.FIFO)...)
		t.AddCells(cells(p.opts.IO, m, p.q.FIFO, p.now)...)
		if err := t.Render(&b); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.queued = append(p.queued, b.Bytes())
	p.more.Signal()
	return nil
}

// writeStream writes queued lines to stdout until the stream is closed
// and empty, or a write fails. When the progress line shares the terminal
// with stdout, it steps aside.
func (p *printer) writeStream() {
	defer close(p.done)
	for {
		p.mu.Lock()
		for len(p.queued) == 0 && !p.closed {
			p.more.Wait()
		}
		lines := p.queued
		p.queued = nil
		p.mu.Unlock()
		if len(lines) == 0 {
			return // closed, and everything written
		}
		emit := func() error {
			_, err := p.opts.IO.Out.Write(bytes.Join(lines, nil))
			return err
		}
		var err error
		if p.live != nil && p.opts.IO.IsStdoutTTY() {
			err = p.live.aside(emit)
		} else {
			err = emit()
		}
		if err != nil {
			p.mu.Lock()
			p.err = fmt.Errorf("write output: %w", err)
			p.mu.Unlock()
			return
		}
	}
}

// finish waits until every streamed line is written, takes the progress
// line away, and returns the first failed write.
func (p *printer) finish() error {
	var err error
	if p.streams {
		p.mu.Lock()
		p.closed = true
		p.more.Signal()
		p.mu.Unlock()
		<-p.done
		p.mu.Lock()
		err = p.err
		p.mu.Unlock()
	}
	if p.live != nil {
		p.live.clear()
	}
	return err
}

// rest prints the matches that were not streamed, all at once.
func (p *printer) rest(msgs []queue.Message) error {
	if p.streams {
		return nil
	}
	return write(p.opts, p.q.Name, msgs)
}

// keepPipeErrors makes a write to a closed pipe (stdout piped to head,
// say) fail with EPIPE instead of killing the process, until the returned
// function is called. Go kills a program that writes to a broken stdout
// unless it asks for SIGPIPE itself: harmless once the scan is over, but a
// stream writes while the scan holds messages, and they would stay hidden
// for the whole visibility timeout.
func keepPipeErrors() (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGPIPE)
	return func() { signal.Stop(c) }
}

// write prints msgs in one go: JSON, NDJSON, the table or --body blocks.
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
		t.AddCells(cells(ios, &msgs[i], grouped, now)...)
	}
	return t.Render(ios.Out)
}

// cells are a message's table row.
func cells(ios *render.IOStreams, m *queue.Message, grouped bool, now time.Time) []render.Cell {
	body := m.Body
	if ios.IsStdoutTTY() {
		// The terminal shows a preview; piped output stays whole.
		body = preview(body)
	}
	cs := []render.Cell{{Text: m.MessageID}, {Text: ios.Time(m.SentAt, now)}, {Text: strconv.Itoa(m.ReceiveCount)}}
	if grouped {
		cs = append(cs, render.Cell{Text: m.GroupID})
	}
	return append(cs, render.Cell{Text: m.TraceID}, render.Cell{Text: m.OrderID}, errCell(m.Error), render.Cell{Text: body}, render.Cell{Text: m.XRayTraceID})
}

// columns are peek's table columns; GROUP only for messages that have one
// (FIFO), so a standard queue's piped lines keep their fields. X-RAY
// TRACE ID comes last, after BODY, for the same reason: it was added after
// scripts learnt the fields before it. On a narrow terminal the message ID
// stays whole and the others give way: the X-Ray trace ID first (35
// characters that matter only to whoever opens X-Ray; -o json has it),
// then the body preview, then the trace ID (32 characters, and in --body),
// then the error, to its code alone; the IDs are dropped, never cut.
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
		render.Column{Header: "X-RAY TRACE ID", Priority: 0, Whole: true},
	)
}

// errCell is the recorded error; its short form the code alone.
func errCell(e *queue.MessageError) render.Cell {
	if e == nil || e.Code == "" {
		return render.Cell{Text: errText(e)}
	}
	return render.Cell{Text: errText(e), Short: e.Code}
}

// errText is CODE: MESSAGE, and the condition that ended the retries
// (EventBridge's, an invocation record's) in parentheses.
func errText(e *queue.MessageError) string {
	if e == nil {
		return ""
	}
	text := e.Code
	if e.Message != "" {
		text = strings.TrimPrefix(e.Code+": "+e.Message, ": ")
	}
	switch {
	case e.Condition == "":
		return text
	case text == "":
		return e.Condition
	}
	return text + " (" + e.Condition + ")"
}

// preview is the start of a body for the table: previewLen cells and an
// ellipsis. It is sanitised first, so an escape sequence in the body is
// counted as the text it is shown as.
func preview(body string) string {
	return render.TruncateLine(render.Sanitize(body), previewLen+1)
}

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
		for _, kv := range [][2]string{{"trace", m.TraceID}, {"xray", m.XRayTraceID}, {"order", m.OrderID}, {"group", m.GroupID}, {"origin", m.Origin}} {
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
