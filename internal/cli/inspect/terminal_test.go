package inspect

import (
	"fmt"
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
	bin := testenv.BuildDLQ(t)
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
			screen := testenv.RunInTerminal(t, bin, cols, "--endpoint-url", ep, "--region", testenv.Region, "inspect", "--prefix", p)
			table := testenv.TableLines(screen, "DLQ")
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
