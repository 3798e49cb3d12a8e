package peek

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

const fakeURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"

// fakeDLQ is a narrow fake of the calls peek makes: a standard queue of n
// messages that hands each out once, one per receive, and accepts every
// visibility change. Anything else peek might call panics on the nil
// embedded interface.
type fakeDLQ struct {
	SQSAPI
	n int
	// beforeReceive, when set, runs at the start of the k-th receive
	// (from 1), before anything is handed out.
	beforeReceive func(k int)
	// handedOut, when set, runs after the k-th message (from 1) is taken
	// from the queue, before the receive returns it.
	handedOut func(k int)
	// onRelease, when set, runs after each release call, told whether
	// every message was received and released by now.
	onRelease func(all bool)

	mu       sync.Mutex
	receives int
	given    []string // IDs handed out, in order
	released map[string]bool
}

func (f *fakeDLQ) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"QueueArn":                              "arn:aws:sqs:eu-west-1:123456789012:orders-dlq",
		"ApproximateNumberOfMessages":           strconv.Itoa(f.n),
		"ApproximateNumberOfMessagesNotVisible": "0",
	}}, nil
}

func (f *fakeDLQ) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.receives++
	k := f.receives
	f.mu.Unlock()
	if f.beforeReceive != nil {
		f.beforeReceive(k)
	}
	f.mu.Lock()
	if len(f.given) == f.n {
		f.mu.Unlock()
		return &sqs.ReceiveMessageOutput{}, nil
	}
	i := len(f.given) + 1
	id := fmt.Sprintf("m-%d", i)
	f.given = append(f.given, id)
	f.mu.Unlock()
	if f.handedOut != nil {
		f.handedOut(i)
	}
	// Sent in reverse order of receipt: the sorted outputs differ from
	// scan order.
	sent := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).Add(-time.Duration(i) * time.Minute)
	return &sqs.ReceiveMessageOutput{Messages: []types.Message{{
		MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id),
		Body: aws.String(fmt.Sprintf(`{"orderId":"order-%d"}`, i)),
		Attributes: map[string]string{"ApproximateReceiveCount": "1",
			"SentTimestamp": strconv.FormatInt(sent.UnixMilli(), 10)},
	}}}, nil
}

func (f *fakeDLQ) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released == nil {
		f.released = map[string]bool{}
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		if e.VisibilityTimeout == 0 {
			f.released[strings.TrimPrefix(aws.ToString(e.ReceiptHandle), "rh-")] = true
		}
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	if f.onRelease != nil {
		f.onRelease(len(f.given) == f.n && len(f.released) == f.n)
	}
	return out, nil
}

// handedOutIDs are the IDs received so far, sorted.
func (f *fakeDLQ) handedOutIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := append([]string(nil), f.given...)
	sort.Strings(ids)
	return ids
}

// assertReleased: every message the fake handed out was given back.
func (f *fakeDLQ) assertReleased(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.given {
		if !f.released[id] {
			t.Errorf("%s was received and never released", id)
		}
	}
}

// lineSignal is stdout that closes first when its first line is complete.
type lineSignal struct {
	testenv.SyncBuffer
	first chan struct{}
	once  sync.Once
}

func (l *lineSignal) Write(p []byte) (int, error) {
	n, err := l.SyncBuffer.Write(p)
	if strings.Contains(l.String(), "\n") {
		l.once.Do(func() { close(l.first) })
	}
	return n, err
}

func peekOptions(ios *render.IOStreams, api SQSAPI, output render.Format) *PeekOptions {
	clock := testenv.NewClock(now)
	return &PeekOptions{
		IO: ios, SQS: func(context.Context) (SQSAPI, error) { return api, nil },
		// Every reading moves the clock on, so that every progress update is
		// drawn: nothing waits on the wall clock.
		Now:   func() time.Time { _ = clock.Sleep(context.Background(), time.Second); return clock.Now() },
		Queue: fakeURL, Output: output, Limit: 100,
	}
}

// NDJSON and piped table rows are printed as the scan finds them: every
// receive after the first waits until the first line is out, so a peek
// that printed only at the end would never see it.
func TestPeekStreamsMatchesAsTheScanFindsThem(t *testing.T) {
	t.Parallel()
	for _, output := range []render.Format{render.FormatNDJSON, render.FormatTable} {
		t.Run(string(output), func(t *testing.T) {
			t.Parallel()
			ios, _, _, stderr := render.Test()
			out := &lineSignal{first: make(chan struct{})}
			ios.Out = out
			api := &fakeDLQ{n: 3}
			api.beforeReceive = func(k int) {
				if k == 1 {
					return
				}
				select {
				case <-out.first:
				case <-time.After(10 * time.Second): // only if the test fails: no line comes
					t.Errorf("receive %d waited 10s for the first line: nothing was printed while the scan ran", k)
				}
			}
			if err := peekRun(context.Background(), peekOptions(ios, api, output)); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
			}
			// The first message received is the first line: scan order, not
			// sent order (m-1 was sent last).
			first := lines[0]
			if output == render.FormatNDJSON {
				var v struct{ MessageID, Queue string }
				if err := json.Unmarshal([]byte(first), &v); err != nil || v.MessageID != "m-1" || v.Queue != "orders-dlq" {
					t.Errorf("first line %q (%v): want m-1's JSON", first, err)
				}
			} else if f := strings.Split(first, "\t"); len(f) != 8 || f[0] != "m-1" {
				t.Errorf("first row %q: want m-1's eight fields", first)
			}
			if want := "scanned 3 of ~3 visible messages in orders-dlq, 3 matched; 3 released\n"; stderr.String() != want {
				t.Errorf("stderr = %q, want only the summary %q", stderr.String(), want)
			}
			api.assertReleased(t)
		})
	}
}

// Ctrl-C after some matches were found: every output shows exactly the
// messages received so far (json as one valid document), everything is
// released, and the error is the one that exits 130.
func TestPeekInterruptedPrintsWhatItFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		output render.Format
		tty    bool
	}{
		{"json", render.FormatJSON, false},
		{"ndjson", render.FormatNDJSON, false},
		{"table-piped", render.FormatTable, false},
		{"table-tty", render.FormatTable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStdoutTTY(tc.tty)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const found = 5
			api := &fakeDLQ{n: 40, handedOut: func(k int) {
				if k == found {
					cancel()
				}
			}}
			opts := peekOptions(ios, api, tc.output)
			opts.Limit = 0
			err := peekRun(ctx, opts)
			if code := cli.ExitCode(ctx, err); code != cli.ExitInterrupted {
				t.Fatalf("err %v: exit %d, want 130", err, code)
			}
			want := api.handedOutIDs()
			if len(want) < found || len(want) == api.n {
				t.Fatalf("%d messages received: the interrupt did not stop the scan midway", len(want))
			}
			var got []string
			switch tc.output {
			case render.FormatJSON:
				var msgs []struct{ MessageID string }
				if err := json.Unmarshal(stdout.Bytes(), &msgs); err != nil {
					t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
				}
				for _, m := range msgs {
					got = append(got, m.MessageID)
				}
			case render.FormatNDJSON:
				dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
				for {
					var m struct{ MessageID string }
					if err := dec.Decode(&m); err != nil {
						break
					}
					got = append(got, m.MessageID)
				}
			default:
				for _, line := range strings.Split(stdout.String(), "\n") {
					if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "m-") {
						got = append(got, f[0])
					}
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("printed %v\nreceived %v", got, want)
			}
			if !strings.Contains(stderr.String(), fmt.Sprintf("%d matched; %d released", len(want), len(want))) {
				t.Errorf("stderr = %q: want the summary of what was found", stderr.String())
			}
			api.assertReleased(t)
		})
	}
}

// On a terminal's stderr a progress line runs while the scan does and is
// cleared before the summary; off a terminal stderr has the summary alone
// (TestPeekStreamsMatchesAsTheScanFindsThem).
func TestPeekShowsProgressOnATerminal(t *testing.T) {
	t.Parallel()
	for _, output := range []render.Format{render.FormatJSON, render.FormatNDJSON} {
		t.Run(string(output), func(t *testing.T) {
			t.Parallel()
			ios, _, stdout, stderr := render.Test()
			ios.SetStderrTTY(true)
			api := &fakeDLQ{n: 3}
			if err := peekRun(context.Background(), peekOptions(ios, api, output)); err != nil {
				t.Fatal(err)
			}
			e := stderr.String()
			for _, want := range []string{"\r\x1b[K[", "░] scanned 0 of ~3, 0 matched", "█] scanned 3 of ~3, 3 matched"} {
				if !strings.Contains(e, want) {
					t.Errorf("stderr lacks %q: %q", want, e)
				}
			}
			if !strings.HasSuffix(e, "\r\x1b[Kscanned 3 of ~3 visible messages in orders-dlq, 3 matched; 3 released\n") {
				t.Errorf("the progress line is not cleared before the summary: %q", e)
			}
			if strings.Contains(stdout.String(), "\x1b") || strings.Contains(stdout.String(), "scanned") {
				t.Errorf("progress reached stdout: %q", stdout.String())
			}
		})
	}
}

// When stdout and stderr are the same terminal, streamed lines are not
// written after the progress line's text: each starts a clean row.
func TestPeekProgressStepsAsideForStreamedLines(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := render.Test()
	term := &testenv.SyncBuffer{}
	ios.Out, ios.ErrOut = term, term
	ios.SetStdoutTTY(true)
	ios.SetStderrTTY(true)
	api := &fakeDLQ{n: 5}
	if err := peekRun(context.Background(), peekOptions(ios, api, render.FormatNDJSON)); err != nil {
		t.Fatal(err)
	}
	screen := term.String()
	if !strings.Contains(screen, "] scanned") {
		t.Fatalf("no progress line: %q", screen)
	}
	lines := 0
	for _, row := range strings.Split(screen, "\n") {
		// What the terminal shows of a row: what follows its last carriage
		// return, past the erase-line sequence.
		shown := strings.TrimPrefix(row[strings.LastIndex(row, "\r")+1:], "\x1b[K")
		if !strings.Contains(row, `"messageId"`) {
			continue
		}
		lines++
		if !json.Valid([]byte(shown)) {
			t.Errorf("the terminal shows %q", shown)
		}
	}
	if lines != 5 {
		t.Errorf("%d JSON lines, want 5: %q", lines, screen)
	}
}

// A write that fails (a closed pipe) ends the scan; everything is released
// and the error says what failed. Receives after the first wait for the
// failure, so the scan cannot have finished before it.
func TestPeekStreamWriteErrorReleases(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := render.Test()
	w := &failingWriter{failed: make(chan struct{})}
	ios.Out = w
	api := &fakeDLQ{n: 20}
	api.beforeReceive = func(k int) {
		if k > 1 {
			<-w.failed
		}
	}
	err := peekRun(context.Background(), peekOptions(ios, api, render.FormatNDJSON))
	if err == nil || !strings.Contains(err.Error(), "write output: broken pipe") {
		t.Fatalf("err = %v", err)
	}
	if n := len(api.handedOutIDs()); n == api.n {
		t.Errorf("all %d messages received: the scan should stop at the failed write", n)
	}
	api.assertReleased(t)
}

// failingWriter is a closed pipe: every write fails; failed closes at the
// first.
type failingWriter struct {
	failed chan struct{}
	once   sync.Once
}

func (w *failingWriter) Write([]byte) (int, error) {
	w.once.Do(func() { close(w.failed) })
	return 0, errors.New("broken pipe")
}

// A reader that stops reading (| less) holds up neither the scan nor the
// release: stdout blocks until every message was released, and the lines
// still all come out afterwards.
func TestPeekStalledReaderDoesNotHoldTheScan(t *testing.T) {
	t.Parallel()
	ios, _, _, stderr := render.Test()
	released := make(chan struct{})
	var once sync.Once
	out := &stalledWriter{until: released}
	ios.Out = out
	api := &fakeDLQ{n: 12}
	api.onRelease = func(all bool) {
		if all {
			once.Do(func() { close(released) })
		}
	}
	if err := peekRun(context.Background(), peekOptions(ios, api, render.FormatNDJSON)); err != nil {
		t.Fatal(err)
	}
	if out.waitedTooLong {
		t.Error("stdout waited 10s for the release: the scan was held up by its reader")
	}
	if n := strings.Count(out.String(), "\n"); n != 12 {
		t.Errorf("%d lines, want 12", n)
	}
	if !strings.Contains(stderr.String(), "12 matched; 12 released") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// stalledWriter blocks every write until until is closed.
type stalledWriter struct {
	testenv.SyncBuffer
	until         <-chan struct{}
	waitedTooLong bool // written only by the one stream writer
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	if !w.waitedTooLong {
		select {
		case <-w.until:
		case <-time.After(10 * time.Second): // only if the test fails
			w.waitedTooLong = true
		}
	}
	return w.SyncBuffer.Write(p)
}

// haltingTTY is a terminal that takes its first write, then stalls
// (Ctrl-S, a dead SSH link) until released.
type haltingTTY struct {
	mu      sync.Mutex
	writes  int
	stalled chan struct{} // closed when a write stalls
	once    sync.Once
	release chan struct{}
}

func (h *haltingTTY) Write(p []byte) (int, error) {
	h.mu.Lock()
	h.writes++
	n := h.writes
	h.mu.Unlock()
	if n > 1 {
		h.once.Do(func() { close(h.stalled) })
		<-h.release
	}
	return len(p), nil
}

// A stalled terminal must not hold the scan: the progress line is drawn
// apart from the receivers, so Ctrl-C still ends the scan and every
// message is given back while the terminal is stuck.
func TestPeekStalledTerminalDoesNotHoldTheScan(t *testing.T) {
	t.Parallel()
	tty := &haltingTTY{stalled: make(chan struct{}), release: make(chan struct{})}
	defer close(tty.release)
	ios, _, _, _ := render.Test()
	ios.ErrOut = tty
	ios.SetStderrTTY(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeDLQ{n: 40}
	f.beforeReceive = func(k int) {
		if k == 5 {
			<-tty.stalled // the drawer is stuck on the terminal now
			cancel()
		}
	}
	released := make(chan struct{})
	var once sync.Once
	f.onRelease = func(bool) { // called with f.mu held
		if ctx.Err() != nil && len(f.released) == len(f.given) {
			once.Do(func() { close(released) })
		}
	}
	// The summary still waits for the terminal, as any program's output
	// does: what matters is that nothing stays hidden meanwhile.
	go func() { _ = peekRun(ctx, peekOptions(ios, f, render.FormatNDJSON)) }()
	select {
	case <-released:
	case <-time.After(20 * time.Second):
		t.Fatal("the scan is held by a stalled terminal: messages stay hidden")
	}
	f.assertReleased(t)
}
