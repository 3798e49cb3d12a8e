package peek

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/charmbracelet/lipgloss"

	"github.com/dlqops/dlq/internal/testenv"
)

// The built binary on a real pseudo-terminal of 80 and 100 columns: every
// message's full ID is in the table, beside a trace ID, a recorded error
// and a long body that compete for the width, and a FIFO queue's table
// has a GROUP column. No line is wider than the terminal.
func TestPeekInATerminalShowsWholeMessageIDs(t *testing.T) {
	t.Parallel()
	ep := testenv.Endpoint(t)
	bin := buildDLQ(t)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "tty")
	std := testenv.CreateQueue(t, c, p+"-payments-dlq", nil)
	fifo := testenv.CreateQueue(t, c, p+"-payments-dlq.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	ids := map[string][]string{}
	for i := range 3 {
		for _, q := range []testenv.Queue{std, fifo} {
			in := &sqs.SendMessageInput{
				QueueUrl:    aws.String(q.URL),
				MessageBody: aws.String(fmt.Sprintf(`{"orderId":"order-%d","customer":{"id":"c-%d","tier":"gold"},"items":[{"sku":"A-1","qty":2}],"total":"129.90"}`, 1040+i, i)),
				MessageAttributes: map[string]types.MessageAttributeValue{
					"traceId":      str(fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02d", i)),
					"ErrorCode":    str("500"),
					"ErrorMessage": str("Task timed out after 30.00 seconds while calling the payment provider"),
					"RequestID":    str(fmt.Sprintf("req-%d", i)),
				},
			}
			if q == fifo {
				in.MessageGroupId = aws.String(fmt.Sprintf("customer-%d", i))
			}
			out, err := c.SendMessage(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			ids[q.Name] = append(ids[q.Name], aws.ToString(out.MessageId))
		}
	}

	for _, cols := range []int{80, 100} {
		for _, q := range []testenv.Queue{std, fifo} {
			t.Run(fmt.Sprintf("%d/%s", cols, q.Name), func(t *testing.T) {
				screen := runInTerminal(t, bin, cols, "--endpoint-url", ep, "--region", testenv.Region, "peek", q.Name)
				table := tableLines(screen, "MESSAGE ID")
				first := map[string]bool{}
				for _, line := range table {
					if w := lipgloss.Width(line); w > cols {
						t.Errorf("line is %d wide on a %d-column terminal: %q", w, cols, line)
					}
					if f := strings.Fields(line); len(f) > 0 {
						first[f[0]] = true
					}
				}
				for _, id := range ids[q.Name] {
					if !first[id] {
						t.Errorf("the table lacks the whole message ID %s:\n%s", id, screen)
					}
				}
				if q == fifo && cols == 100 && !strings.Contains(screen, "customer-1") {
					t.Errorf("the FIFO table lacks the message groups:\n%s", screen)
				}
			})
		}
	}
}

func str(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
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
