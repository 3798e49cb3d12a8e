package inspect

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/charmbracelet/lipgloss"

	"github.com/dlqops/dlq/internal/testenv"
)

// The built binary on a real pseudo-terminal of 80 and 100 columns: every
// DLQ's full name is in the table, and no line is wider than the terminal.
// This is what tests of write cannot see: the width dlq detects itself.
func TestInspectInATerminalShowsWholeQueueNames(t *testing.T) {
	t.Parallel()
	ep := testenv.Endpoint(t)
	bin := buildDLQ(t)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "tty")
	var names []string
	for _, stage := range []string{"orders", "payments", "shipping"} {
		d := testenv.CreateQueue(t, c, p+"-"+stage+"-dlq", map[string]string{"MessageRetentionPeriod": "1209600"})
		testenv.CreateQueue(t, c, p+"-"+stage, testenv.Redrive(d.ARN, 5))
		if stage == "payments" {
			testenv.Send(t, c, d.URL, 3, "x")
		}
		names = append(names, d.Name)
	}

	for _, cols := range []int{80, 100} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			screen := runInTerminal(t, bin, cols, "--endpoint-url", ep, "--region", testenv.Region, "inspect", "--prefix", p)
			table := tableLines(screen, "DLQ")
			first := map[string]bool{}
			for _, line := range table {
				if w := lipgloss.Width(line); w > cols {
					t.Errorf("line is %d wide on a %d-column terminal: %q", w, cols, line)
				}
				if f := strings.Fields(line); len(f) > 0 {
					first[f[0]] = true
				}
			}
			for _, n := range names {
				if !first[n] {
					t.Errorf("the table lacks the whole name %s:\n%s", n, screen)
				}
			}
		})
	}
}

// buildDLQ builds cmd/dlq once for the test.
func buildDLQ(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dlq")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/dlq").CombinedOutput(); err != nil {
		t.Fatalf("build dlq: %v\n%s", err, out)
	}
	return bin
}

// runInTerminal runs bin under script(1), so that stdout is a
// pseudo-terminal sized cols×24 by stty, and returns what the terminal
// received with its CRLFs made newlines. Stderr goes to a file, shown only
// when the run fails. Colour is off for readable failures.
func runInTerminal(t *testing.T, bin string, cols int, args ...string) string {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) is not installed")
	}
	words := []string{shellQuote(bin)}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	stderr := filepath.Join(t.TempDir(), "stderr")
	line := fmt.Sprintf("stty cols %d rows 24 && exec %s 2>%s", cols, strings.Join(words, " "), shellQuote(stderr))
	cmd := exec.Command(script, "-qec", line, "/dev/null")
	// The emulator speaks plain HTTP: a CA bundle from the environment has
	// nothing to verify and only makes the run depend on the machine.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "NO_COLOR=1", fmt.Sprintf("COLUMNS=%d", cols), "LINES=24", "XDG_CONFIG_HOME="+t.TempDir())
	out, err := cmd.Output()
	screen := strings.ReplaceAll(string(out), "\r\n", "\n")
	if err != nil {
		errOut, _ := os.ReadFile(stderr)
		t.Fatalf("script %s: %v\n%s%s", line, err, screen, errOut)
	}
	return screen
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// tableLines returns the table on a screen: from the line starting with
// the first header to the next blank line.
func tableLines(screen, firstHeader string) []string {
	var table []string
	in := false
	for _, line := range strings.Split(screen, "\n") {
		switch {
		case !in && strings.HasPrefix(line, firstHeader+" "):
			in = true
		case in && strings.TrimSpace(line) == "":
			return table
		case in:
			table = append(table, line)
		}
	}
	return table
}
