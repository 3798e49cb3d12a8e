package peek

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/testenv"
)

// The built binary streaming NDJSON into a pipe whose reader goes away
// after one line (| head -1): the pipe holds far less than the output, so
// a write fails while the scan still holds messages. dlq must not die of
// SIGPIPE there: it stops, releases every message and says why.
func TestPeekStreamIntoAClosedPipeReleasesEverything(t *testing.T) {
	t.Parallel()
	ep := testenv.Endpoint(t)
	bin := testenv.BuildDLQ(t)
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	q := testenv.CreateQueue(t, c, testenv.Name(t, "pipe"), nil)
	const n = 300 // a line each of about 1 KB: several times a pipe's 64 KB
	pad := strings.Repeat("x", 900)
	testenv.SendBatch(t, c, q.URL, n, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d","pad":"%s"}`, i, pad) }, nil)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--endpoint-url", ep, "--region", testenv.Region, "peek", q.Name, "--limit", "0", "-o", "ndjson")
	cmd.Stdout, cmd.Stderr = w, &stderr
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	first, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, `{"messageId":`) {
		t.Fatalf("first line %q: %v", first, err)
	}
	_ = r.Close()
	err = cmd.Wait()
	var exit *exec.ExitError
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("dlq was killed by %v\n%s", ws.Signal(), stderr.String())
	} else if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("exit %v, stderr %q; want exit 1 naming the broken pipe", err, stderr.String())
	}
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if v, nv := out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]; v != fmt.Sprint(n) || nv != "0" {
		t.Errorf("after the broken pipe: %s visible, %s in flight; want %d and 0", v, nv, n)
	}
}
