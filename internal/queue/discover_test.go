package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/testenv"
)

func names(d []queue.DeadLetterQueue) []string {
	out := make([]string, len(d))
	for i, q := range d {
		out[i] = q.Name
	}
	return out
}

func find(t *testing.T, d []queue.DeadLetterQueue, name string) queue.DeadLetterQueue {
	t.Helper()
	for _, q := range d {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("DLQ %s not found in %v", name, names(d))
	return queue.DeadLetterQueue{}
}

func TestDiscoverGroupsSourcesByDLQ(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "disc")
	ordersDLQ := testenv.CreateQueue(t, c, p+"-orders-dlq", map[string]string{"MessageRetentionPeriod": "1209600"})
	payDLQ := testenv.CreateQueue(t, c, p+"-pay-dlq", nil)
	fifoDLQ := testenv.CreateQueue(t, c, p+"-ship-dlq.fifo", map[string]string{"FifoQueue": "true", "MessageRetentionPeriod": "1209600"})
	testenv.CreateQueue(t, c, p+"-orders", testenv.Redrive(ordersDLQ.ARN, 5))
	testenv.CreateQueue(t, c, p+"-orders-retry", testenv.Redrive(ordersDLQ.ARN, 3))
	testenv.CreateQueue(t, c, p+"-pay", testenv.With(testenv.Redrive(payDLQ.ARN, 1), map[string]string{"MessageRetentionPeriod": "604800"}))
	testenv.CreateQueue(t, c, p+"-ship.fifo", testenv.With(testenv.Redrive(fifoDLQ.ARN, 4), map[string]string{"FifoQueue": "true"}))
	testenv.CreateQueue(t, c, p+"-unrelated", nil)
	testenv.CreateQueue(t, c, p+"-audit-log", nil)
	testenv.Send(t, c, payDLQ.URL, 3, `{"orderId":"o-1"}`)
	testenv.Send(t, c, ordersDLQ.URL, 1, `{"orderId":"o-2"}`)

	dlqs, err := queue.Discover(context.Background(), c, queue.DiscoverOptions{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{p + "-pay-dlq", p + "-orders-dlq", p + "-ship-dlq.fifo"}
	if got := names(dlqs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("DLQs = %v, want deepest first %v", got, want)
	}

	orders := find(t, dlqs, p+"-orders-dlq")
	if len(orders.Sources) != 2 || orders.Visible != 1 || !orders.Exists || orders.RetentionSeconds != 1209600 {
		t.Errorf("orders DLQ = %+v", orders)
	}
	mrc := map[string]int{}
	for _, s := range orders.Sources {
		mrc[s.Name] = s.MaxReceiveCount
	}
	if mrc[p+"-orders"] != 5 || mrc[p+"-orders-retry"] != 3 {
		t.Errorf("sources maxReceiveCount = %v", mrc)
	}
	if w := orders.Warnings(); len(w) != 1 || w[0] != "holds 1 message" {
		t.Errorf("orders warnings = %q, want only the message count (retention 14d > 4d)", w)
	}

	pay := find(t, dlqs, p+"-pay-dlq")
	if pay.Visible != 3 {
		t.Errorf("pay visible = %d, want 3", pay.Visible)
	}
	w := pay.Warnings()
	if len(w) != 3 {
		t.Fatalf("pay warnings = %q, want messages, retention and maxReceiveCount", w)
	}
	for i, prefix := range []string{"holds 3 messages", "retention 4d is not longer than source " + p + "-pay's 7d", "source " + p + "-pay has maxReceiveCount 1"} {
		if len(w[i]) < len(prefix) || w[i][:len(prefix)] != prefix {
			t.Errorf("warning %d = %q, want prefix %q", i, w[i], prefix)
		}
	}

	ship := find(t, dlqs, p+"-ship-dlq.fifo")
	if !ship.FIFO || len(ship.Sources) != 1 || !ship.Sources[0].FIFO {
		t.Errorf("fifo DLQ = %+v", ship)
	}
}

func TestDiscoverReportsMissingTarget(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "miss")
	dlq := testenv.CreateQueue(t, c, p+"-gone-dlq", nil)
	testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 3))
	if _, err := c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(dlq.URL)}); err != nil {
		t.Fatal(err)
	}
	// A DLQ outside the prefix is looked up by name; this one is gone.
	for _, prefix := range []string{p, p + "-src"} {
		dlqs, err := queue.Discover(context.Background(), c, queue.DiscoverOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		if len(dlqs) != 1 || dlqs[0].Exists || dlqs[0].Name != p+"-gone-dlq" || len(dlqs[0].Sources) != 1 {
			t.Fatalf("prefix %s: DLQs = %+v, want the missing %s with its source", prefix, dlqs, dlq.Name)
		}
		if w := dlqs[0].Warnings(); len(w) != 1 || w[0] != "does not exist, but 1 source redrives to it: failed messages have nowhere to go" {
			t.Errorf("warnings = %q", w)
		}
	}
}

func TestDiscoverFindsDLQOutsidePrefix(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "out")
	dlq := testenv.CreateQueue(t, c, p+"-shared-dlq", nil)
	testenv.CreateQueue(t, c, p+"-team-a", testenv.Redrive(dlq.ARN, 3))
	dlqs, err := queue.Discover(context.Background(), c, queue.DiscoverOptions{Prefix: p + "-team"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dlqs) != 1 || !dlqs[0].Exists || dlqs[0].URL == "" {
		t.Fatalf("DLQs = %+v, want the shared DLQ read by name", dlqs)
	}
}

func TestDiscoverWholeRegion(t *testing.T) {
	t.Parallel()
	// A region no other test uses: discovery without a prefix sees only
	// this test's queues.
	c := sqs.NewFromConfig(testenv.Config(t, "ap-southeast-2"))
	p := testenv.Name(t, "all")
	a := testenv.CreateQueue(t, c, p+"-a-dlq", nil)
	b := testenv.CreateQueue(t, c, p+"-b-dlq", nil)
	testenv.CreateQueue(t, c, p+"-a", testenv.Redrive(a.ARN, 3))
	testenv.CreateQueue(t, c, p+"-b", testenv.Redrive(b.ARN, 3))
	testenv.CreateQueue(t, c, p+"-plain", nil)
	dlqs, err := queue.Discover(context.Background(), c, queue.DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(dlqs)); got != fmt.Sprint([]string{a.Name, b.Name}) {
		t.Fatalf("DLQs = %s", got)
	}
}

func TestInspectNamedQueues(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "named")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	src := testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 4))
	plain := testenv.CreateQueue(t, c, p+"-plain", nil)
	testenv.Send(t, c, dlq.URL, 2, "x")

	for _, arg := range []string{dlq.Name, dlq.URL, dlq.ARN} {
		ref, err := queue.ParseRef(arg)
		if err != nil {
			t.Fatal(err)
		}
		dlqs, err := queue.Inspect(context.Background(), c, []queue.Ref{ref}, 4)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if len(dlqs) != 1 || dlqs[0].Name != dlq.Name || dlqs[0].Visible != 2 || len(dlqs[0].Sources) != 1 || dlqs[0].Sources[0].Name != src.Name || dlqs[0].Sources[0].MaxReceiveCount != 4 {
			t.Fatalf("%s: got %+v", arg, dlqs)
		}
	}

	ref, _ := queue.ParseRef(plain.Name)
	dlqs, err := queue.Inspect(context.Background(), c, []queue.Ref{ref}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if w := dlqs[0].Warnings(); len(w) != 1 || w[0] != "no queue redrives to it: not a dead-letter queue" {
		t.Errorf("plain queue warnings = %q", w)
	}

	ref, _ = queue.ParseRef(p + "-nope")
	_, err = queue.Inspect(context.Background(), c, []queue.Ref{ref}, 4)
	var nf *queue.NotFoundError
	if !errors.As(err, &nf) || nf.Name != p+"-nope" {
		t.Fatalf("unknown queue: err = %v, want NotFoundError naming it", err)
	}
}

func TestDiscoverReadsAttributesOncePerQueue(t *testing.T) {
	t.Parallel()
	counter := testenv.NewCallCounter()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	counted := sqs.NewFromConfig(testenv.Config(t, "", counter.Middleware))
	p := testenv.Name(t, "calls")
	for _, pairs := range []int{3, 12} {
		pp := fmt.Sprintf("%s-%d", p, pairs)
		for i := 0; i < pairs; i++ {
			dlq := testenv.CreateQueue(t, c, fmt.Sprintf("%s-q%02d-dlq", pp, i), nil)
			testenv.CreateQueue(t, c, fmt.Sprintf("%s-q%02d", pp, i), testenv.Redrive(dlq.ARN, 3))
		}
		testenv.CreateQueue(t, c, pp+"-zz-plain", nil)
		counter.Reset()
		dlqs, err := queue.Discover(context.Background(), counted, queue.DiscoverOptions{Prefix: pp})
		if err != nil {
			t.Fatal(err)
		}
		if len(dlqs) != pairs {
			t.Fatalf("found %d DLQs, want %d", len(dlqs), pairs)
		}
		queues := 2*pairs + 1
		want := map[string]int{"ListQueues": 1, "GetQueueAttributes": queues}
		if got := counter.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%d queues: calls = %v, want %v", queues, got, want)
		}
	}
}

func TestInspectReadsSharedSourceOnce(t *testing.T) {
	t.Parallel()
	counter := testenv.NewCallCounter()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	counted := sqs.NewFromConfig(testenv.Config(t, "", counter.Middleware))
	p := testenv.Name(t, "shared")
	a := testenv.CreateQueue(t, c, p+"-a-dlq", nil)
	b := testenv.CreateQueue(t, c, p+"-b-dlq", nil)
	testenv.CreateQueue(t, c, p+"-a1", testenv.Redrive(a.ARN, 3))
	testenv.CreateQueue(t, c, p+"-a2", testenv.Redrive(a.ARN, 3))
	testenv.CreateQueue(t, c, p+"-b1", testenv.Redrive(b.ARN, 3))
	refs, _ := queue.ParseRefs([]string{a.URL, b.URL})
	dlqs, err := queue.Inspect(context.Background(), counted, refs, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(dlqs) != 2 {
		t.Fatalf("got %d DLQs", len(dlqs))
	}
	want := map[string]int{"GetQueueAttributes": 5, "ListDeadLetterSourceQueues": 2}
	if got := counter.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

// refuseSourceListing answers ListDeadLetterSourceQueues with an API
// error, as a role without the permission (AccessDenied) or fauxqs
// (InvalidAction) does.
func refuseSourceListing(code string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("refuse", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if middleware.GetOperationName(ctx) == "ListDeadLetterSourceQueues" {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
					Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest}},
					Err:      &smithy.GenericAPIError{Code: code, Message: "refused"}}}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	}
}

// A DLQ whose sources SQS will not list is still inspected: depth and
// retention, with a warning in place of the source checks. A connection
// error is still an error.
func TestInspectWhenSourcesCannotBeListed(t *testing.T) {
	t.Parallel()
	c := sqs.NewFromConfig(testenv.Config(t, ""))
	p := testenv.Name(t, "unlisted")
	dlq := testenv.CreateQueue(t, c, p+"-dlq", nil)
	testenv.CreateQueue(t, c, p+"-src", testenv.Redrive(dlq.ARN, 4))
	testenv.Send(t, c, dlq.URL, 3, "x")
	ref, _ := queue.ParseRef(dlq.Name)
	for _, code := range []string{"AccessDenied", "InvalidAction"} {
		denied := sqs.NewFromConfig(testenv.Config(t, "", refuseSourceListing(code)))
		dlqs, err := queue.Inspect(context.Background(), denied, []queue.Ref{ref}, 4)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		want := []string{"holds 3 messages", "its sources could not be listed (" + code + "): their redrive settings were not checked"}
		if len(dlqs) != 1 || dlqs[0].Visible != 3 || dlqs[0].SourcesUnlisted != code || fmt.Sprint(dlqs[0].Warnings()) != fmt.Sprint(want) {
			t.Errorf("%s: got %+v, warnings %q; want %q", code, dlqs, dlqs[0].Warnings(), want)
		}
	}
	broken := sqs.NewFromConfig(testenv.Config(t, "", func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("reset", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if middleware.GetOperationName(ctx) == "ListDeadLetterSourceQueues" {
				return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("connection reset by peer")
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	}))
	if _, err := queue.Inspect(context.Background(), broken, []queue.Ref{ref}, 4); err == nil {
		t.Error("a connection error listing sources was not an error")
	}
}
