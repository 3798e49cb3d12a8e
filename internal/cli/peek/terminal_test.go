package peek

import (
	"context"
	"fmt"
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
	bin := testenv.BuildDLQ(t)
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
				screen := testenv.RunInTerminal(t, bin, cols, "--endpoint-url", ep, "--region", testenv.Region, "peek", q.Name)
				table := testenv.TableLines(screen, "MESSAGE ID")
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
