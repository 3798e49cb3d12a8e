package root

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// sendBodies puts n messages {"orderId":"o-i"} on a queue.
func sendBodies(t *testing.T, c *sqs.Client, url string, n int) {
	t.Helper()
	testenv.SendBatch(t, c, url, n, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) }, nil)
}

// journalLines reads a replay journal's message records (a line a batch:
// ids, state); a torn last line is left out.
func journalLines(path string) []journalRecord {
	b, _ := os.ReadFile(path)
	var out []journalRecord
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l journalRecord
		if json.Unmarshal([]byte(line), &l) == nil && len(l.IDs) > 0 {
			out = append(out, l)
		}
	}
	return out
}

type journalRecord struct {
	IDs   []string
	State string
}

// journalCounts counts messages by state in a replay journal.
func journalCounts(path string) (sending, sent, deleted int) {
	for _, l := range journalLines(path) {
		switch l.State {
		case "sending":
			sending += len(l.IDs)
		case "sent":
			sent += len(l.IDs)
		case "deleted":
			deleted += len(l.IDs)
		}
	}
	return sending, sent, deleted
}

// killMidRun starts the replay and kills it (SIGKILL) once the journal
// shows at least atLeast sends, wherever the run is then: between batches,
// or inside a send (the documented window where a batch may arrive twice,
// which the caller allows for).
func killMidRun(t *testing.T, bin string, args, env []string, journal string, atLeast int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if _, sent, _ := journalCounts(journal); sent >= atLeast {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// inWindow counts, per message, the kills that landed inside one of its
// sends: its "sending" lines not followed by a "sent". A kill inside a send
// leaves a "sending" with no "sent"; the next run journals "sending" (and
// "sent") again for the same message, so the last state alone hides the
// first kill's window. Each such kill may add one arrival.
func inWindow(path string) map[string]int {
	window := map[string]int{}
	pending := map[string]int{}
	for _, l := range journalLines(path) {
		for _, id := range l.IDs {
			switch l.State {
			case "sending":
				pending[id]++
			case "sent":
				pending[id]--
			}
		}
	}
	for id, n := range pending {
		if n > 0 {
			window[id] = n
		}
	}
	return window
}

// kill -9 twice, then the same command: it waits for the messages the
// killed runs still hold, finishes, verifies the DLQ and exits 0, with
// every message in the source exactly once. With --order none (and
// --yes) the run sends while it scans, so the kills land mid-scan.
func TestReplayKilledTwiceThenResumedFinishesExactlyOnce(t *testing.T) {
	t.Parallel()
	ep := testenv.Endpoint(t)
	bin := filepath.Join(t.TempDir(), "dlq")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/dlq").CombinedOutput(); err != nil {
		t.Fatalf("build dlq: %v\n%s", err, out)
	}
	for _, order := range []string{"key", "none"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			killTwiceThenResume(t, ep, bin, order)
		})
	}
}

func killTwiceThenResume(t *testing.T, ep, bin, order string) {
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "kill")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 3))
	const total = 100
	sendBodies(t, c, d.URL, total)
	originals := map[string]bool{}
	for id := range peekIDs(t, d.Name) {
		originals[id] = true
	}
	if len(originals) != total {
		t.Fatalf("peeked %d originals", len(originals))
	}
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	args := []string{"--endpoint-url", ep, "--region", testenv.Region, "replay", d.Name, "--yes", "--order", order, "--rate", "10", "--visibility", "3s", "--journal", journal}
	env := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "DLQ_CALL_TIMEOUT="+testenv.CallTimeout)

	killMidRun(t, bin, args, env, journal, 20)
	_, sent, _ := journalCounts(journal)
	killMidRun(t, bin, args, env, journal, sent+20)
	window := inWindow(journal)

	third := exec.Command(bin, append(args, "-o", "json")...)
	third.Env = env
	var stderr strings.Builder
	third.Stderr = &stderr
	out, err := third.Output()
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, out, stderr.String())
	}
	var rep replay.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(window) > 0 {
		t.Logf("a kill landed inside a send: %d message(s) in the duplicate window", len(window))
	}
	if !rep.Verified || rep.LeftInDLQ != 0 || rep.Matched == total || rep.Matched == 0 || rep.Streamed != (order == "none") {
		t.Errorf("resume report = %+v: want the rest moved and verified", rep)
	}
	if !strings.Contains(stderr.String(), "held by an interrupted run") {
		t.Logf("the resume found no hold to wait for (the second run's hold had expired):\n%s", stderr.String())
	}
	sending, sentN, deleted := journalCounts(journal)
	t.Logf("report: matched %d sent %d skipped %d deleted %d; journal: sending %d sent %d deleted %d", rep.Matched, rep.Sent, rep.Skipped, rep.Deleted, sending, sentN, deleted)
	got := testenv.DrainCounts(t, c, src.URL)
	if len(got) != total {
		t.Errorf("%d distinct messages in the destination, want %d", len(got), total)
	}
	dups := 0
	for id, n := range got {
		if !originals[id] {
			t.Errorf("unknown original %s", id)
		}
		// Each kill inside one of its sends may add one arrival.
		if n > 1+window[id] {
			t.Errorf("original %s arrived %d times; %d kill(s) landed inside its sends", id, n, window[id])
		}
		dups += n - 1
	}
	if dups > rep.Uncertain {
		t.Errorf("%d duplicate arrivals, but the resumed run counted only %d uncertain", dups, rep.Uncertain)
	}
	if left := testenv.DrainCounts(t, c, d.URL); len(left) != 0 {
		t.Errorf("%d messages still in the DLQ", len(left))
	}
}

// peekIDs returns the message IDs of a queue through dlq peek.
func peekIDs(t *testing.T, q string) map[string]bool {
	t.Helper()
	r := dlq(t, "", "peek "+q+" --limit 0 -o ndjson")
	if r.code != 0 {
		t.Fatalf("peek: %s", r.stderr)
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m struct{ MessageID string }
		_ = json.Unmarshal([]byte(line), &m)
		ids[m.MessageID] = true
	}
	return ids
}

func TestReplayDestinationRulesAndExitCodes(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "dest")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	testenv.CreateQueue(t, c, p+"-a", testenv.Redrive(d.ARN, 3))
	testenv.CreateQueue(t, c, p+"-b", testenv.Redrive(d.ARN, 3))
	other := testenv.CreateQueue(t, c, p+"-other", map[string]string{"MaximumMessageSize": "1024"})
	fifo := testenv.CreateQueue(t, c, p+"-x.fifo", map[string]string{"FifoQueue": "true"})
	sendBodies(t, c, d.URL, 3)
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.URL), MessageBody: aws.String(strings.Repeat("x", 2000))}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"replay " + d.Name + " --yes", cli.ExitUsage, "has 2 sources (" + p + "-a, " + p + "-b) and 4 message(s) do not say which they came from: pass --to QUEUE"},
		{"replay " + d.Name + " --to " + other.Name + " --yes", cli.ExitUsage, "is not a source of " + d.Name + ": pass --force"},
		{"replay " + d.Name + " --to " + fifo.Name + " --yes --force", cli.ExitUsage, "FIFO and standard queues do not mix"},
		{"replay " + d.Name + " --to " + p + "-a", cli.ExitUsage, "pass --yes"},
		{"replay " + d.Name + " --to " + p + "-a --order random", cli.ExitUsage, "--order must be key, sent or none"},
		{"replay " + d.Name + " --to " + p + "-a --order none --order-key customer.id --yes", cli.ExitUsage, "--order-key needs --order key"},
		{"replay " + d.Name + " --to " + other.Name + " --force --dry-run", cli.ExitOK, "Dry run (nothing changes): 4 of 4"},
		{"replay " + d.Name + " --to " + other.Name + " --force --yes --journal " + state + "/j", cli.ExitCondition, "1 message(s) of this replay are still in " + d.Name + " (1 failed)"},
	} {
		r := dlq(t, "", tc.args)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d with %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	if got := testenv.DrainCounts(t, c, other.URL); len(got) != 3 {
		t.Errorf("destination holds %d, want the 3 that fit", len(got))
	}
	if left := testenv.DrainCounts(t, c, d.URL); len(left) != 1 {
		t.Errorf("DLQ holds %d, want the oversize one", len(left))
	}
}

func TestReplayAsksOnATerminal(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "ask")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 3))
	sendBodies(t, c, d.URL, 4)
	ask := func(answer string) (int, string) {
		ios, in, _, errOut := render.Test()
		ios.SetStderrTTY(true)
		in.WriteString(answer)
		args := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "replay", d.Name, "--journal", filepath.Join(t.TempDir(), "j")}
		code := Run(context.Background(), ios, emulatorEnv, args, BuildInfo{})
		return code, errOut.String()
	}
	code, stderr := ask("n\n")
	if code != cli.ExitCondition || !strings.Contains(stderr, "Replay 4 message(s) to "+src.Name+"? [y/N]") || !strings.Contains(stderr, "declined: nothing moved; the 4 message(s)") {
		t.Fatalf("declined: exit %d\n%s", code, stderr)
	}
	if n := len(peekIDs(t, d.Name)); n != 4 {
		t.Fatalf("after declining, the DLQ holds %d, want 4", n)
	}
	code, stderr = ask("y\n")
	if code != 0 || !strings.Contains(stderr, "sent 4") {
		t.Fatalf("accepted: exit %d\n%s", code, stderr)
	}
	if got := testenv.DrainCounts(t, c, src.URL); len(got) != 4 {
		t.Errorf("source holds %d, want 4", len(got))
	}
}

// blockingReader signals when someone starts reading and then never
// answers: a user looking at the question.
type blockingReader struct{ reading chan struct{} }

func (b blockingReader) Read([]byte) (int, error) {
	close(b.reading)
	select {}
}

// Ctrl-C while the question waits ends the run at once: exit 130, every
// held message back in the DLQ.
func TestReplayInterruptedAtTheQuestion(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "intr")
	d := testenv.CreateQueue(t, c, p+"-dlq", nil)
	testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(d.ARN, 3))
	sendBodies(t, c, d.URL, 4)
	ios, _, _, errOut := render.Test()
	ios.SetStderrTTY(true)
	reading := make(chan struct{})
	ios.In = blockingReader{reading: reading}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-reading; cancel() }()
	args := []string{"--endpoint-url", testenv.Endpoint(t), "--region", testenv.Region, "replay", d.Name, "--journal", filepath.Join(t.TempDir(), "j")}
	code := Run(ctx, ios, emulatorEnv, args, BuildInfo{})
	if code != cli.ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", code, errOut.String())
	}
	if n := len(peekIDs(t, d.Name)); n != 4 {
		t.Fatalf("after the interrupt, the DLQ shows %d, want all 4 given back", n)
	}
}
