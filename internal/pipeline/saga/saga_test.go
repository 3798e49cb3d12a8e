package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dlqops/dlq/internal/pipeline/idempotency"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/pipeline/trace"
	"github.com/dlqops/dlq/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// world records the side effects of a saga's steps.
type world struct {
	mu      sync.Mutex
	effects []string
	failAt  string
	// compFails makes a compensation fail that many times before it works
	// (-1: forever).
	compFails map[string]int
}

func (w *world) add(e string) {
	w.mu.Lock()
	w.effects = append(w.effects, e)
	w.mu.Unlock()
}

func (w *world) count(e string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, x := range w.effects {
		if x == e {
			n++
		}
	}
	return n
}

func (w *world) def() saga.Definition {
	step := func(name string) saga.Step {
		return saga.Step{
			Name: name,
			Action: func(context.Context) error {
				if w.failAt == name {
					return errors.New(name + " service unavailable")
				}
				w.add(name)
				return nil
			},
			// A conditional undo, as the services do: nothing to undo
			// when the action never happened (the saga also undoes the
			// step that failed: an earlier attempt may have happened).
			Compensate: func(context.Context) error {
				w.mu.Lock()
				n := w.compFails[name]
				if n != 0 {
					w.compFails[name] = n - 1
					w.mu.Unlock()
					return errors.New("undo " + name + " failed")
				}
				w.mu.Unlock()
				if w.count(name) > w.count("undo-"+name) {
					w.add("undo-" + name)
				}
				return nil
			},
		}
	}
	return saga.Definition{Name: "order", Steps: []saga.Step{step("reserve"), step("charge"), step("ship")},
		Compensation: saga.RetryPolicy{MaxAttempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}}
}

type env struct {
	log  *saga.DynamoLog
	idem idempotency.Config
	logs *testenv.SyncBuffer
}

func setup(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	c := dynamodb.NewFromConfig(testenv.Config(t, ""))
	sagas, idem := testenv.Name(t, "sagas"), testenv.Name(t, "idem")
	for _, in := range []*dynamodb.CreateTableInput{saga.CreateTableInput(sagas), idempotency.CreateTableInput(idem)} {
		if _, err := c.CreateTable(ctx, in); err != nil {
			t.Fatal(err)
		}
		name := aws.ToString(in.TableName)
		t.Cleanup(func() {
			_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		})
	}
	return env{log: &saga.DynamoLog{API: c, Table: sagas}, idem: idempotency.Config{Store: &idempotency.DynamoStore{API: c, Table: idem}}, logs: &testenv.SyncBuffer{}}
}

func (e env) orchestrator(w *world, dead *[]saga.State) *saga.Orchestrator {
	return &saga.Orchestrator{Def: w.def(), Log: e.log, Idem: e.idem, Logger: trace.NewLogger(e.logs, slog.LevelInfo),
		DeadLetter: func(ctx context.Context, s saga.State) error {
			if trace.From(ctx).TraceID == "" {
				return errors.New("dead letter without trace")
			}
			*dead = append(*dead, s)
			return nil
		}}
}

func assertTraced(t *testing.T, logs *testenv.SyncBuffer) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["traceId"] != "t-1" {
			t.Errorf("log line without the trace: %s", line)
		}
	}
}

func TestFailureAtEachStepCompensatesInReverseOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		failAt string
		want   []string
	}{
		{"reserve", nil},
		{"charge", []string{"reserve", "undo-reserve"}},
		{"ship", []string{"reserve", "charge", "undo-charge", "undo-reserve"}},
		{"", []string{"reserve", "charge", "ship"}},
	} {
		t.Run("fail-at-"+tc.failAt, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			w := &world{failAt: tc.failAt, compFails: map[string]int{}}
			var dead []saga.State
			o := e.orchestrator(w, &dead)
			ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
			st, err := o.Run(ctx, "saga-o-1", 1)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := saga.StatusCompensated
			if tc.failAt == "" {
				wantStatus = saga.StatusCompleted
			}
			if st.Status != wantStatus || fmt.Sprint(w.effects) != fmt.Sprint(tc.want) {
				t.Fatalf("status %s, effects %v; want %s, %v", st.Status, w.effects, wantStatus, tc.want)
			}
			// Redelivered: nothing runs again.
			if st, err := o.Run(ctx, "saga-o-1", 1); err != nil || st.Status != wantStatus || fmt.Sprint(w.effects) != fmt.Sprint(tc.want) {
				t.Fatalf("redelivery changed things: %s %v %v", st.Status, w.effects, err)
			}
			assertTraced(t, e.logs)
			if len(dead) != 0 {
				t.Errorf("dead-lettered %v", dead)
			}
		})
	}
}

func TestCompensationRetriesThenSucceedsOrDeadLetters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{failAt: "ship", compFails: map[string]int{"charge": 2}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	st, err := o.Run(ctx, "saga-retry", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 {
		t.Fatalf("status %s, effects %v, err %v", st.Status, w.effects, err)
	}

	w2 := &world{failAt: "ship", compFails: map[string]int{"charge": -1}}
	o2 := e.orchestrator(w2, &dead)
	st, err = o2.Run(ctx, "saga-stuck", 1)
	if !errors.Is(err, saga.ErrCompensationFailed) || st.Status != saga.StatusCompensationFailed || len(dead) != 1 || dead[0].SagaID != "saga-stuck" {
		t.Fatalf("status %s, err %v, dead %v", st.Status, err, dead)
	}
	if w2.count("undo-reserve") != 0 {
		t.Error("compensation went past a failed one: reverse order must hold")
	}
	if !strings.Contains(e.logs.String(), `"status":"dlq"`) {
		t.Error("no dlq log line")
	}
	assertTraced(t, e.logs)
}

// crashingLog fails one Save to simulate a crash between a step's effect
// and the saga log's record of it.
type crashingLog struct {
	saga.Log
	failOn int
	saves  int
}

func (c *crashingLog) Save(ctx context.Context, s *saga.State) error {
	c.saves++
	if c.saves == c.failOn {
		return errors.New("lambda crashed")
	}
	return c.Log.Save(ctx, s)
}

func TestCrashedSagaResumesWithoutRepeatingEffects(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	o.Log = &crashingLog{Log: e.log, failOn: 2} // after "charge" ran
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1", OrderID: "o-1"})
	if _, err := o.Run(ctx, "saga-crash", 1); err == nil {
		t.Fatal("want the crash")
	}
	o.Log = e.log
	st, err := o.Run(ctx, "saga-crash", 1)
	if err != nil || st.Status != saga.StatusCompleted {
		t.Fatalf("resume: %s %v", st.Status, err)
	}
	if fmt.Sprint(w.effects) != "[reserve charge ship]" {
		t.Errorf("effects = %v: the resumed saga repeated a step", w.effects)
	}
	if !strings.Contains(e.logs.String(), `"status":"duplicate"`) {
		t.Error("the replayed step should log as a duplicate")
	}
}

func TestCompensationRunsAfterCancel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	ctx, cancel := context.WithCancel(trace.With(context.Background(), trace.IDs{TraceID: "t-1"}))
	def := o.Def
	def.Steps[2].Action = func(context.Context) error {
		cancel() // the invocation is being torn down as shipping fails
		return errors.New("shipping down")
	}
	o.Def = def
	st, err := o.Run(ctx, "saga-cancel", 1)
	if err != nil || st.Status != saga.StatusCompensated || w.count("undo-charge") != 1 || w.count("undo-reserve") != 1 {
		t.Fatalf("status %s, effects %v, err %v", st.Status, w.effects, err)
	}
}

func TestStateMachineASL(t *testing.T) {
	t.Parallel()
	w := &world{}
	b, err := saga.StateMachine(w.def())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StartAt string
		States  map[string]struct {
			Type, Next string
			Catch      []struct{ Next string }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.States
	checks := []struct{ got, want string }{
		{doc.StartAt, "Reserve"},
		{st["Reserve"].Next, "Charge"}, {st["Charge"].Next, "Ship"}, {st["Ship"].Next, "SagaSucceeded"},
		{st["Reserve"].Catch[0].Next, "SagaFailed"},
		{st["Charge"].Catch[0].Next, "CompensateReserve"},
		{st["Ship"].Catch[0].Next, "CompensateCharge"},
		{st["CompensateCharge"].Next, "CompensateReserve"},
		{st["CompensateReserve"].Next, "SagaFailed"},
		{st["CompensateShip"].Next, "CompensateCharge"},
		{st["CompensateReserve"].Catch[0].Next, "CompensationFailed"},
		{st["SagaFailed"].Type, "Fail"}, {st["SagaSucceeded"].Type, "Succeed"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q\n%s", c.got, c.want, b)
		}
	}
	// Every transition names a state that exists.
	for name, s := range st {
		targets := []string{s.Next}
		for _, c := range s.Catch {
			targets = append(targets, c.Next)
		}
		for _, next := range targets {
			if _, ok := st[next]; next != "" && !ok {
				t.Errorf("state %s goes to missing state %s", name, next)
			}
		}
	}
}

func TestRetryableFailureKeepsThePlace(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := &world{compFails: map[string]int{}}
	var dead []saga.State
	o := e.orchestrator(w, &dead)
	outage := true
	def := o.Def
	charge := def.Steps[1].Action
	def.Steps[1].Action = func(ctx context.Context) error {
		if outage {
			return saga.Retryable(errors.New("payment provider timeout"))
		}
		return charge(ctx)
	}
	o.Def = def
	ctx := trace.With(context.Background(), trace.IDs{TraceID: "t-1"})
	st, err := o.Run(ctx, "saga-outage", 1)
	if !saga.IsRetryable(err) || st.Status != saga.StatusRunning || fmt.Sprint(w.effects) != "[reserve]" {
		t.Fatalf("during the outage: %s %v %v", st.Status, w.effects, err)
	}
	outage = false
	st, err = o.Run(ctx, "saga-outage", 1)
	if err != nil || st.Status != saga.StatusCompleted || fmt.Sprint(w.effects) != "[reserve charge ship]" {
		t.Fatalf("after the outage: %s %v %v", st.Status, w.effects, err)
	}
}
