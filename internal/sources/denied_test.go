package sources

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/dlqops/dlq/internal/queue"
)

// A role that may not read one service still sees the DLQs of the others,
// and a warning names the permission it lacks; any other failure stops
// discovery.
func TestFindGoesOnWithoutAPermission(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		deny      func(*fakeEventBridge, *fakeSNS, *fakeLambda)
		wantDLQs  []string
		wantWarns []string // warnings that start so
	}{
		{
			name: "no events:ListRules",
			deny: func(eb *fakeEventBridge, _ *fakeSNS, _ *fakeLambda) {
				eb.errs = map[string]error{"ListRules": denied("EventBridge", "ListRules")}
			},
			wantDLQs:  []string{"orders-payments-dlq", "orders-bus-dlq", "orders-charge-dlq", "orders-notify-dlq"},
			wantWarns: []string{"events:ListRules denied 2 times (AccessDeniedException): the rules of those event buses were not read; grant it to see every DLQ (docs/iam.md)"},
		},
		{
			name: "no events:DescribeEventBus",
			deny: func(eb *fakeEventBridge, _ *fakeSNS, _ *fakeLambda) {
				eb.errs = map[string]error{"DescribeEventBus": denied("EventBridge", "DescribeEventBus")}
			},
			wantDLQs:  []string{"orders-payments-dlq", "orders-shipping-dlq", "orders-bus-dlq", "orders-charge-dlq", "orders-notify-dlq"},
			wantWarns: []string{"events:DescribeEventBus denied 2 times (AccessDeniedException): those event buses' own DLQs"},
		},
		{
			name: "no sns:ListSubscriptions",
			deny: func(_ *fakeEventBridge, sn *fakeSNS, _ *fakeLambda) {
				sn.errs = map[string]error{"ListSubscriptions": denied("SNS", "ListSubscriptions")}
			},
			wantDLQs:  []string{"orders-payments-dlq", "orders-shipping-dlq", "orders-bus-dlq", "orders-charge-dlq"},
			wantWarns: []string{"sns:ListSubscriptions denied (AccessDeniedException): SNS subscriptions were not read"},
		},
		{
			name: "no lambda:ListFunctions",
			deny: func(_ *fakeEventBridge, _ *fakeSNS, la *fakeLambda) {
				la.errs = map[string]error{"ListFunctions": denied("Lambda", "ListFunctions")}
			},
			wantDLQs:  []string{"orders-payments-dlq", "orders-shipping-dlq", "orders-bus-dlq", "orders-notify-dlq"},
			wantWarns: []string{"lambda:ListFunctions denied (AccessDeniedException): Lambda functions' DLQs and on-failure destinations were not read"},
		},
		{
			name: "no lambda:ListFunctionEventInvokeConfigs",
			deny: func(_ *fakeEventBridge, _ *fakeSNS, la *fakeLambda) {
				la.errs = map[string]error{"ListFunctionEventInvokeConfigs": denied("Lambda", "ListFunctionEventInvokeConfigs")}
			},
			wantDLQs:  []string{"orders-payments-dlq", "orders-shipping-dlq", "orders-bus-dlq", "orders-charge-dlq", "orders-notify-dlq"},
			wantWarns: []string{"lambda:ListFunctionEventInvokeConfigs denied 2 times"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, eb, sn, la := pipeline()
			tt.deny(eb, sn, la)
			res, err := Find(context.Background(), clients(q, eb, sn, la), Options{Prefix: "orders-"})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range res.DLQs {
				names = append(names, d.Name)
			}
			if diff := cmp.Diff(tt.wantDLQs, names); diff != "" {
				t.Errorf("DLQs (-want +got):\n%s", diff)
			}
			for _, w := range tt.wantWarns {
				if !hasPrefix(res.Denied, w) {
					t.Errorf("denied %q\nwant one starting %q", res.Denied, w)
				}
			}
			for _, w := range res.Warnings {
				if strings.HasPrefix(w, "lambda audit is invoked") && strings.Contains(tt.name, "lambda:") {
					t.Errorf("a function dlq could not read is judged: %q", w)
				}
			}
		})
	}
	t.Run("other errors stop it", func(t *testing.T) {
		t.Parallel()
		q, eb, sn, la := pipeline()
		sn.errs = map[string]error{"ListSubscriptions": &smithy.OperationError{ServiceID: "SNS", OperationName: "ListSubscriptions", Err: errors.New("connection reset")}}
		if _, err := Find(context.Background(), clients(q, eb, sn, la), Options{}); err == nil || !strings.Contains(err.Error(), "list subscriptions") {
			t.Errorf("err = %v, want the listing's failure", err)
		}
	})
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// --sources reads only the kinds asked for: no client of another kind is
// even built.
func TestFindReadsOnlyTheKindsAsked(t *testing.T) {
	t.Parallel()
	q, eb, sn, la := pipeline()
	c := clients(q, eb, sn, la)
	c.EventBridge = func(context.Context) (EventBridgeAPI, error) { t.Error("EventBridge client built"); return eb, nil }
	c.Lambda = func(context.Context) (LambdaAPI, error) { t.Error("Lambda client built"); return la, nil }
	kinds, err := ParseKinds([]string{"sns"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Find(context.Background(), c, Options{Kinds: kinds, Prefix: "orders-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DLQs) != 1 || res.DLQs[0].Name != "orders-notify-dlq" {
		t.Errorf("DLQs = %v, want orders-notify-dlq alone (no queue redrive was read)", res.DLQs)
	}
	if _, err := ParseKinds([]string{"sqs", "kinesis"}); err == nil || !strings.Contains(err.Error(), `unknown source kind "kinesis"`) {
		t.Errorf("ParseKinds(kinesis) = %v", err)
	}
}

// Named DLQs get their sources of every kind, and only they are shown;
// the account's warnings about other places are not theirs.
func TestFindNamedQueues(t *testing.T) {
	t.Parallel()
	q, eb, sn, la := pipeline()
	ref, err := queue.ParseRef("orders-charge-dlq")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Find(context.Background(), clients(q, eb, sn, la), Options{Refs: []queue.Ref{ref}})
	if err != nil {
		t.Fatal(err)
	}
	want := `orders-charge-dlq exists=true depth=0
  < lambda charge (dlq) [arn:aws:lambda:eu-west-1:123456789012:function:charge:$LATEST]
  < lambda charge:3 (dlq) [arn:aws:lambda:eu-west-1:123456789012:function:charge:3]
  < lambda charge:live (on-failure) [arn:aws:lambda:eu-west-1:123456789012:function:charge:live]
`
	if diff := cmp.Diff(want, describe(res)); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
}

// A DLQ that a target names but that is gone is shown as missing.
func TestFindMissingDLQ(t *testing.T) {
	t.Parallel()
	q, eb, sn, la := pipeline()
	delete(q.queues, "orders-shipping-dlq")
	res, err := Find(context.Background(), clients(q, eb, sn, la), Options{Prefix: "orders-shipping"})
	if err != nil {
		t.Fatal(err)
	}
	want := `orders-shipping-dlq exists=false depth=0
  < rule orders/ship → sqs:orders-shipping [arn:aws:events:eu-west-1:123456789012:rule/orders/ship]
  ! does not exist, but 1 source dead-letters into it: failed messages and events have nowhere to go
`
	got := describe(&Result{DLQs: res.DLQs})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
}
