package peek

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// sampleMessages are a payments DLQ's messages: two failed calls with
// their traces and recorded errors, and one raw message with control
// characters and backslashes and no IDs at all. group, when not empty,
// makes them a FIFO queue's.
func sampleMessages(group string) []queue.Message {
	msgs := []queue.Message{
		{MessageID: "3f31fded-ef1e-4550-b96a-080cdd68c058", SentAt: now.Add(-5 * time.Minute), ReceiveCount: 4,
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", OrderID: "order-1042", XRayTraceID: "1-5759e988-bd862e3fe1be46a994272793",
			Error: &queue.MessageError{Code: "500", Message: "Task timed out after 30.00 seconds", RequestID: "req-1"},
			Body:  `{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","orderId":"order-1042","type":"PaymentRequested","attempt":3,"payload":{"amount":"129.90"}}`},
		{MessageID: "8d7fa157-f8b0-4fa1-8ace-a556810dc517", SentAt: now.Add(-2 * time.Hour), ReceiveCount: 6,
			TraceID: "0af7651916cd43dd8448eb211c80319c", OrderID: "order-1043",
			Error: &queue.MessageError{Code: "PaymentDeclined", Message: "card_declined: insufficient funds"},
			Body:  `{"traceId":"0af7651916cd43dd8448eb211c80319c","orderId":"order-1043","type":"PaymentRequested","attempt":1,"payload":{"amount":"12.00"}}`},
		{MessageID: "e9ca340b-840e-416f-a491-0574fd7e90be", SentAt: now.Add(-74 * time.Hour), ReceiveCount: 5,
			Body: "plain \x1b[31mred\x1b[0m and \u202eevil\x07 from C:\\orders\\in\tbox"},
	}
	for i := range msgs {
		if group != "" {
			msgs[i].GroupID = fmt.Sprintf("%s-%d", group, 7+i%2)
		}
	}
	return msgs
}

// plainMessages carry neither traces, nor orders, nor errors.
func plainMessages() []queue.Message {
	msgs := sampleMessages("")
	for i := range msgs {
		msgs[i].TraceID, msgs[i].XRayTraceID, msgs[i].OrderID, msgs[i].Error = "", "", "", nil
	}
	return msgs
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tty   bool
		width int
		msgs  []queue.Message
	}{
		{"table-tty-80", true, 80, sampleMessages("")},
		{"table-tty-100", true, 100, sampleMessages("")},
		{"table-tty-160", true, 160, sampleMessages("")},
		// Wide enough for every column: the X-Ray trace ID, which gives
		// way first, shows too.
		{"table-tty-320", true, 320, sampleMessages("")},
		{"table-piped", false, 80, sampleMessages("")},
		{"fifo-tty-80", true, 80, sampleMessages("customer")},
		{"fifo-tty-100", true, 100, sampleMessages("customer")},
		{"fifo-tty-160", true, 160, sampleMessages("customer")},
		{"fifo-piped", false, 80, sampleMessages("customer")},
		{"plain-tty-160", true, 160, plainMessages()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetTerminalWidth(tc.width)
			opts := &PeekOptions{IO: ios, Now: func() time.Time { return now }, Output: render.FormatTable}
			if err := write(opts, "orders-payments-dlq", tc.msgs); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes())
			if !tc.tty {
				return
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			for _, line := range lines {
				if w := lipgloss.Width(line); w > tc.width {
					t.Errorf("line is %d wide: %q", w, line)
				}
			}
			for i, m := range tc.msgs {
				if !strings.HasPrefix(lines[i+1], m.MessageID+" ") {
					t.Errorf("row %d does not start with the whole message ID: %q", i, lines[i+1])
				}
			}
		})
	}
}

// --body prints each message as a block (header, attributes, the whole
// body pretty-printed when it is JSON), sanitised on a terminal and when
// piped alike.
func TestWriteBodiesGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tty  bool
	}{{"body-tty", true}, {"body-piped", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, _ := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ios.SetTerminalWidth(100)
			msgs := sampleMessages("")
			msgs[0].Attributes = map[string]queue.Attribute{"tenant": {Type: "String", String: "acme"}}
			opts := &PeekOptions{IO: ios, Now: func() time.Time { return now }, Output: render.FormatTable, Body: true}
			if err := write(opts, "orders-payments-dlq", msgs); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes())
			if strings.ContainsAny(out.String(), "\x1b\u202e\a") {
				t.Errorf("a control character reached the output:\n%q", out.String())
			}
		})
	}
}

// Piped lines keep their fields where scripts expect them: seven for a
// standard queue, and the group after the receive count for a FIFO one;
// the X-Ray trace ID, added later, comes after them all.
func TestWritePipedFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group  string
		fields int
	}{{"", 8}, {"customer", 9}} {
		ios, _, out, _ := render.Test()
		opts := &PeekOptions{IO: ios, Now: func() time.Time { return now }, Output: render.FormatTable}
		if err := write(opts, "q", sampleMessages(tc.group)); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != tc.fields {
				t.Errorf("group %q: %d fields, want %d: %q", tc.group, len(f), tc.fields, line)
			}
			if tc.group != "" && !strings.HasPrefix(f[3], tc.group+"-") {
				t.Errorf("group field = %q", f[3])
			}
			if body := f[len(f)-2]; !strings.HasPrefix(body, "{") && !strings.HasPrefix(body, "plain") {
				t.Errorf("body is not the field before the X-Ray trace ID: %q", line)
			}
		}
	}
}

// Piped rows streamed one at a time, as the scan finds them, are the
// lines the piped table has always had: a FIFO queue's carry GROUP from
// the first row on.
func TestStreamedRowsAreThePipedTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, group string }{{"table-piped", ""}, {"fifo-piped", "customer"}} {
		ios, _, out, _ := render.Test()
		opts := &PeekOptions{IO: ios, Now: func() time.Time { return now }, Output: render.FormatTable}
		p := newPrinter(opts, queue.Queue{Name: "orders-payments-dlq", FIFO: tc.group != ""})
		if !p.streams {
			t.Fatalf("%s: a piped table is not streamed", tc.name)
		}
		msgs := sampleMessages(tc.group)
		for i := range msgs {
			if err := p.found(&msgs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.finish(); err != nil {
			t.Fatal(err)
		}
		if err := p.rest(msgs); err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", tc.name+".golden"), out.Bytes())
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	testenv.Golden(t, path, got, *update)
}

// The table's preview is previewLen cells and an ellipsis, counted in
// cells (a wide character takes two) and after sanitising, so an escape
// sequence in a body is cut as the text the table shows.
func TestPreview(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 200)
	for _, tc := range []struct{ body, want string }{
		{`{"orderId":"o-1"}`, `{"orderId":"o-1"}`},
		{long, strings.Repeat("a", previewLen) + "…"},
		{strings.Repeat("界", 100), strings.Repeat("界", previewLen/2) + "…"},
		{"\x1b[31m" + long, `\x1b[31m` + strings.Repeat("a", previewLen-len(`\x1b[31m`)) + "…"},
	} {
		if got := preview(tc.body); got != tc.want {
			t.Errorf("preview(%.20q…) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
