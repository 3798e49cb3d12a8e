package replay_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// sourcesFailing answers ListDeadLetterSourceQueues with an HTTP 500 (a
// server failure, after the SDK's retries) and passes the rest on.
type sourcesFailing struct{ next http.RoundTripper }

func (f sourcesFailing) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListDeadLetterSourceQueues") {
		h := http.Header{"Content-Type": []string{"application/x-amz-json-1.0"}}
		return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Header: h, Request: r,
			Body: io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.sqs#InternalError","message":"internal error"}`))}, nil
	}
	return f.next.RoundTrip(r)
}

// A server failure listing the DLQ's sources (500 InternalError here) is
// not a refusal to list them: it must not turn off the guard that --to
// must be a source of the DLQ unless --force.
func TestReplayServerErrorListingSourcesKeepsTheDestinationGuard(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	other := testenv.CreateQueue(t, p.c, testenv.Name(t, "rv-other"), nil)
	sendN(t, p.c, p.dlq.URL, 3, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	// Without the fault the guard holds.
	if _, err := replay.Run(context.Background(), replay.Config{API: p.c, DLQ: p.dlq.URL, To: other.URL}); err == nil {
		t.Fatal("set-up: a replay to a queue that is not a source was not refused")
	}
	cfg := testenv.Config(t, "")
	cfg.HTTPClient = &http.Client{Transport: sourcesFailing{next: http.DefaultTransport}}
	r, err := replay.Run(context.Background(), replay.Config{API: sqs.NewFromConfig(cfg), DLQ: p.dlq.URL, To: other.URL})
	if err == nil {
		t.Errorf("a 500 listing the sources let the replay go to %s, which is not a source, without --force: %d sent, notes/warnings %q",
			other.Name, r.Sent, r.Warnings)
	}
}
