package orders_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
)

func TestParseFailSteps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []orders.FailRule
		err  string
	}{
		{in: ""},
		{in: "charge", want: []orders.FailRule{{Step: "charge"}}},
		{in: "charge,ship", want: []orders.FailRule{{Step: "charge"}, {Step: "ship"}}},
		{in: "charge:outage@order-00060..order-00089,ship@order-00180..order-00194", want: []orders.FailRule{
			{Step: "charge", Outage: true, From: "order-00060", To: "order-00089"}, {Step: "ship", From: "order-00180", To: "order-00194"}}},
		{in: "reserve@..order-00010", want: []orders.FailRule{{Step: "reserve", To: "order-00010"}}},
		{in: "pay", err: `unknown step "pay"`},
		{in: "charge:slow", err: `unknown kind "slow"`},
		{in: "charge@order-1", err: "want STEP[:outage][@FROM..TO]"},
		{in: " , ", err: "no rule"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := orders.ParseFailSteps(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("rules = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if back := orders.FailSteps(got); back != tc.in {
				t.Errorf("FailSteps = %q, want %q back", back, tc.in)
			}
		})
	}
}

func TestFailRuleFaults(t *testing.T) {
	t.Parallel()
	faults := orders.RuleFaults([]orders.FailRule{{Step: "charge", Outage: true, From: "order-00060", To: "order-00089"}, {Step: "ship"}})
	ctx := context.Background()
	for _, tc := range []struct {
		step, order string
		want        string
		retryable   bool
	}{
		{"charge", "order-00060", "payment provider unavailable: HTTP 503", true},
		{"charge", "order-00089", "payment provider unavailable: HTTP 503", true},
		{"charge", "order-00090", "", false},
		{"charge", "order-00059", "", false},
		{"reserve", "order-00070", "", false},
		{"ship", "order-00001", "shipping provider rejected the order", false},
	} {
		err := faults(ctx, tc.step, orders.Order{OrderID: tc.order})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want || saga.IsRetryable(err) != tc.retryable {
			t.Errorf("%s of %s: %v (retryable %v), want %q (retryable %v)", tc.step, tc.order, err, saga.IsRetryable(err), tc.want, tc.retryable)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := func(extra map[string]string) func(string) string {
		m := map[string]string{"INVENTORY_TABLE": "inv", "PAYMENTS_TABLE": "pay", "SHIPMENTS_TABLE": "ship", "SAGA_TABLE": "sagas", "IDEMPOTENCY_TABLE": "idem"}
		for k, v := range extra {
			m[k] = v
		}
		return func(k string) string { return m[k] }
	}
	p, err := orders.FromEnv(env(map[string]string{"IDEMPOTENCY_TTL": "720h", "FAIL_STEPS": "ship"}), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tables != (orders.Tables{Inventory: "inv", Payments: "pay", Shipments: "ship", Sagas: "sagas", Idempotency: "idem"}) || p.IdempotencyTTL != 720*time.Hour {
		t.Errorf("pipeline = %+v", p)
	}
	if p.Faults == nil || p.Faults(context.Background(), "ship", orders.Order{OrderID: "o-1"}) == nil {
		t.Error("FAIL_STEPS=ship did not make ship fail")
	}
	if err := p.DeadLetter(context.Background(), saga.State{}); err == nil || !strings.Contains(err.Error(), "SAGA_DLQ_URL") {
		t.Errorf("dead-lettering without SAGA_DLQ_URL: %v", err)
	}
	for name, tc := range map[string]struct {
		env  func(string) string
		want string
	}{
		"no tables":  {func(string) string { return "" }, "IDEMPOTENCY_TABLE, INVENTORY_TABLE, PAYMENTS_TABLE, SAGA_TABLE, SHIPMENTS_TABLE not set"},
		"bad TTL":    {env(map[string]string{"IDEMPOTENCY_TTL": "-1h"}), "IDEMPOTENCY_TTL"},
		"bad drill":  {env(map[string]string{"FAIL_STEPS": "pay"}), "FAIL_STEPS"},
		"one table":  {env(map[string]string{"SAGA_TABLE": ""}), "SAGA_TABLE not set"},
		"ttl as int": {env(map[string]string{"IDEMPOTENCY_TTL": "360"}), "IDEMPOTENCY_TTL"},
	} {
		if _, err := orders.FromEnv(tc.env, nil, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
