package queue_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/testenv"
)

// failingTransport answers ListDeadLetterSourceQueues with an HTTP error
// of the given status (a server-side failure, not a refusal) and passes
// every other call to the emulator.
type failingTransport struct {
	next   http.RoundTripper
	status int
	body   string
}

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListDeadLetterSourceQueues") {
		h := http.Header{}
		if f.body != "" {
			h.Set("Content-Type", "application/x-amz-json-1.0")
		}
		return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Header: h,
			Body: io.NopCloser(strings.NewReader(f.body)), Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

// A 5xx (InternalError, ServiceUnavailable; or an empty-bodied 502/503
// from a proxy, which the SDK decodes as UnknownError) and throttling that
// outlived the SDK's retries are server failures, not refusals to list the
// sources: Inspect fails (exit 1) instead of reporting the DLQ with a
// warning and skipping the source checks.
func TestInspectServerErrorListingSourcesIsAnError(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "rv-unl")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 1)) // maxReceiveCount 1: a warning inspect must not lose
	ref, _ := queue.ParseRef(dlq.Name)
	for name, tr := range map[string]failingTransport{
		"503 empty body":       {status: http.StatusServiceUnavailable},
		"500 InternalError":    {status: http.StatusInternalServerError, body: `{"__type":"com.amazonaws.sqs#InternalError","message":"We encountered an internal error. Please try again."}`},
		"400 RequestThrottled": {status: http.StatusBadRequest, body: `{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := testenv.Config(t, "")
			tr.next = http.DefaultTransport
			cfg.HTTPClient = &http.Client{Transport: tr}
			api := sqs.NewFromConfig(cfg)
			dlqs, err := queue.Inspect(context.Background(), api, []queue.Ref{ref}, 4)
			if err == nil && len(dlqs) == 1 {
				t.Errorf("Inspect = nil error with SourcesUnlisted %q and warnings %q: a server failure listing sources was taken for a refusal (the maxReceiveCount 1 warning is lost, exit 0)",
					dlqs[0].SourcesUnlisted, dlqs[0].Warnings())
			}
		})
	}
}
