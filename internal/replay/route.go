package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/smithy-go"

	"github.com/dlqops/dlq/internal/queue"
)

// SourceARNAttribute is the system attribute SQS stamps on a message it
// moves to a dead-letter queue: the queue it came from.
const SourceARNAttribute = "DeadLetterQueueSourceArn"

// DestinationError is a destination that cannot be used: the caller's
// input is wrong (a usage error for the CLI). Its text names no flag;
// Fix says what the caller can do, in the caller's own words.
type DestinationError struct {
	Msg string
	Fix Fix
}

// Fix is what a caller can do about a DestinationError.
type Fix int

// Fixes.
const (
	FixNone  Fix = iota // nothing: the destination cannot be used
	FixTo               // name a destination (Config.To)
	FixForce            // replay there anyway (Config.Force)
)

func (e *DestinationError) Error() string {
	switch e.Fix {
	case FixTo:
		return e.Msg + ": name a destination"
	case FixForce:
		return e.Msg + ": replaying there needs force"
	}
	return e.Msg
}

// router decides where each message goes. Sources are compared by ARN.
type router struct {
	api   SQSAPI
	dlq   queue.Queue
	to    *queue.Queue // as given
	force bool
	// sources are the DLQ's source queues; sourcesErr says why they could
	// not be listed (denied, or unsupported by an emulator).
	sources    []queue.Queue
	sourcesErr error
	notes      []string

	// svc resolves what EventBridge, SNS and Lambda dead-lettered.
	svc *services

	mu    sync.Mutex
	byARN map[string]*queue.Queue // resolved destinations by origin key; nil: none
	used  map[string]bool         // destination names used
	// sendTo are the destinations other than a plain queue: how each is
	// sent to, by its URL (a key); used the destinations reported.
	sendTo map[string]target
	usedTo map[string]target
}

// newRouter lists the DLQ's sources and resolves to.
func newRouter(ctx context.Context, cfg *Config, dlq queue.Queue) (*router, error) {
	rt := &router{api: cfg.API, dlq: dlq, force: cfg.Force, byARN: map[string]*queue.Queue{}, used: map[string]bool{},
		sendTo: map[string]target{}, usedTo: map[string]target{},
		svc: &services{svc: cfg.Services, api: cfg.API, dlqARN: dlq.ARN, viaBus: cfg.ViaBus, toTopic: cfg.ToTopic}}
	if err := rt.listSources(ctx); err != nil {
		return nil, err
	}
	if cfg.ViaBus {
		rt.notes = append(rt.notes, "events a rule's target failed to take go back on the rule's bus: every rule there that matches sees them again, each gets a new event ID and time, and events with an aws.* source cannot be put back")
	}
	if cfg.ToTopic {
		rt.notes = append(rt.notes, "notifications a subscription failed to deliver are published to the topic again: every subscriber gets them, not only the one that failed")
	}
	if cfg.To != "" {
		return rt, rt.resolveTo(ctx, cfg.To)
	}
	if rt.sourcesErr != nil {
		rt.notes = append(rt.notes, fmt.Sprintf("the sources of %s could not be listed (%s): messages go back to the source SQS recorded on each", dlq.Name, errorCode(rt.sourcesErr)))
	}
	for _, s := range rt.sources {
		if err := rt.usable(s); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

// listSources reads the DLQ's source queues; a denied (or unsupported)
// listing is kept in sourcesErr, not returned.
func (rt *router) listSources(ctx context.Context) error {
	urls, err := queue.ListSources(ctx, rt.api, rt.dlq.URL)
	if _, denied := queue.SourcesUnlisted(err); denied {
		// The service answered: the call is denied, or not supported.
		rt.sourcesErr = err
	} else if err != nil {
		return err
	}
	for _, u := range urls {
		q, err := queue.Attributes(ctx, rt.api, u)
		if err != nil {
			return err
		}
		rt.sources = append(rt.sources, q)
		rt.byARN[q.ARN] = &q
	}
	return nil
}

// resolveTo resolves --to: a queue (a source of the DLQ unless forced),
// else a Lambda function that writes its failed invocations to the DLQ.
func (rt *router) resolveTo(ctx context.Context, to string) error {
	var q queue.Queue
	err := errNotAQueue
	if !IsFunctionARN(to) {
		q, err = resolveQueue(ctx, rt.api, to)
	}
	var nf *queue.NotFoundError
	if errors.Is(err, errNotAQueue) || errors.As(err, &nf) {
		t, ok, ferr := rt.toFunction(ctx, to)
		switch {
		case ferr != nil:
			return ferr
		case ok:
			rt.register(t)
			rt.to = &t.q
			return nil
		}
	}
	if err != nil {
		return err
	}
	if err := rt.usable(q); err != nil {
		return err
	}
	switch {
	case rt.sourcesErr != nil:
		rt.notes = append(rt.notes, fmt.Sprintf("the sources of %s could not be listed (%s): %s is used as given", rt.dlq.Name, errorCode(rt.sourcesErr), q.Name))
	case rt.byARN[q.ARN] == nil && !rt.force:
		return &DestinationError{Msg: fmt.Sprintf("%s is not a source of %s", q.Name, rt.dlq.Name), Fix: FixForce}
	}
	rt.to = &q
	return nil
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return err.Error()
}

// usable refuses a destination of the other kind, or the DLQ itself.
func (rt *router) usable(q queue.Queue) error {
	if q.FIFO != rt.dlq.FIFO {
		return &DestinationError{Msg: fmt.Sprintf("%s is %s but %s is %s: FIFO and standard queues do not mix", rt.dlq.Name, kind(rt.dlq.FIFO), q.Name, kind(q.FIFO))}
	}
	if q.URL == rt.dlq.URL || (q.ARN != "" && q.ARN == rt.dlq.ARN) {
		return &DestinationError{Msg: "the destination is the DLQ itself"}
	}
	return nil
}

// selects reports whether a message belongs to this replay: with a
// destination given and not forced, only messages that came from it (or
// that do not say where they came from).
func (rt *router) selects(m *queue.Message) bool {
	if rt.to == nil || rt.force {
		return true
	}
	src := m.System[SourceARNAttribute]
	return src == "" || src == rt.to.ARN
}

// route is the messages going to one destination (rows of the round's
// table), in send order.
type route struct {
	dest queue.Queue
	via  string
	rows []int32
}

// split routes the round's messages, in order; it counts apart those
// whose destination cannot be known. When they all go to one destination
// (the usual case), its route shares h.order.
func (rt *router) split(ctx context.Context, h *round) ([]route, int, error) {
	idx := map[string]int{}
	var routes []route
	of := make([]int32, len(h.order)) // each row's route; -1: none
	unroutable, given := 0, 0
	for k, i := range h.order {
		if h.t.has(i, stGiven) {
			// A stopped streaming round gave it back, maybe unrouted: it
			// goes nowhere.
			of[k] = -1
			given++
			continue
		}
		dest, via, err := rt.destination(ctx, h.r.sources.str(h.t.row(i).src))
		if err != nil {
			return nil, 0, err
		}
		if dest == nil {
			of[k] = -1
			unroutable++
			continue
		}
		n, ok := idx[dest.URL]
		if !ok {
			n = len(routes)
			idx[dest.URL] = n
			routes = append(routes, route{dest: *dest, via: via})
			rt.use(*dest)
		}
		of[k] = int32(n)
	}
	if len(routes) == 1 && unroutable == 0 && given == 0 {
		routes[0].rows = h.order
		return routes, 0, nil
	}
	for k, i := range h.order {
		if n := of[k]; n >= 0 {
			routes[n].rows = append(routes[n].rows, i)
		}
	}
	return routes, unroutable, nil
}

// use records that messages go to the queue name, for the report.
func (rt *router) use(dest queue.Queue) {
	rt.mu.Lock()
	rt.used[dest.Name] = true
	if t, ok := rt.sendTo[dest.URL]; ok {
		rt.usedTo[dest.URL] = t
	}
	rt.mu.Unlock()
}

// destination is where a message from the source src goes ("": it does
// not say).
func (rt *router) destination(ctx context.Context, key string) (*queue.Queue, string, error) {
	if rt.to != nil {
		return rt.to, "to", nil
	}
	o := parseOrigin(key)
	switch {
	case o.kind == originSQS:
		q, err := rt.lookup(ctx, o.arn)
		return q, "sourceArn", err
	case o.kind != originUnknown:
		q, err := rt.service(ctx, key, o)
		return q, string(o.kind), err
	case len(rt.sources) == 1:
		// SQS stamps what it redrives: a message without the stamp may
		// come from a service that also writes here.
		if feeders, err := rt.svc.feeders(ctx); err == nil && len(feeders) > 0 {
			return nil, "", &DestinationError{Msg: fmt.Sprintf("messages in %s do not say where they failed, and both the queue %s and %d EventBridge target(s), SNS subscription(s) or Lambda function(s) write to it",
				rt.dlq.Name, rt.sources[0].Name, len(feeders)), Fix: FixTo}
		}
		return &rt.sources[0], "source", nil
	case len(rt.sources) == 0 && rt.sourcesErr == nil:
		// No queue redrives here: one service alone may write to it.
		q, err := rt.service(ctx, key, o)
		return q, "writer", err
	}
	return nil, "", nil
}

// service resolves (once per origin key) where a message EventBridge, SNS
// or Lambda dead-lettered goes; nil: it cannot be known.
func (rt *router) service(ctx context.Context, key string, o origin) (*queue.Queue, error) {
	rt.mu.Lock()
	q, ok := rt.byARN[key]
	rt.mu.Unlock()
	if ok {
		return q, nil
	}
	t, err := rt.svc.resolve(ctx, o)
	if err != nil {
		return nil, err
	}
	if t.d != nil {
		rt.register(t)
		q = &t.q
	}
	rt.mu.Lock()
	rt.byARN[key] = q
	rt.mu.Unlock()
	return q, nil
}

// register records how to send to a destination other than a plain
// queue.
func (rt *router) register(t target) {
	rt.mu.Lock()
	rt.sendTo[t.q.URL] = t
	rt.mu.Unlock()
}

// deliverer is how the sender sends to dest.
func (rt *router) deliverer(dest queue.Queue) deliverer {
	rt.mu.Lock()
	t, ok := rt.sendTo[dest.URL]
	rt.mu.Unlock()
	if ok {
		return t.d
	}
	return &sqsDelivery{api: rt.api, url: dest.URL}
}

// errNotAQueue: --to names a Lambda function by its ARN.
var errNotAQueue = errors.New("not a queue")

// IsFunctionARN reports whether s is a Lambda function's ARN (a --to that
// names a function).
func IsFunctionARN(s string) bool {
	return strings.HasPrefix(s, "arn:") && service(s) == "lambda" && strings.Contains(s, ":function:")
}

// toFunction is a Lambda function named by --to (name or ARN) that writes
// its failed asynchronous invocations to this DLQ; any function ARN with
// force. ok is false when to names no such function.
func (rt *router) toFunction(ctx context.Context, to string) (target, bool, error) {
	if rt.svc.svc.Lambda == nil {
		return target{}, false, nil
	}
	isARN := IsFunctionARN(to)
	feeders, err := rt.svc.feeders(ctx)
	if err != nil && (!isARN || !rt.force) {
		return target{}, false, fmt.Errorf("find the functions that write to %s: %w", rt.dlq.Name, err)
	}
	for _, f := range feeders {
		if f.Lambda != nil && (f.Lambda.Function == to || f.ARN == to || strings.HasPrefix(f.ARN, to+":")) {
			return rt.svc.function("to", to, onFailurePayload), true, nil
		}
	}
	switch {
	case isARN && rt.force:
		return rt.svc.function("to", to, onFailurePayload), true, nil
	case isARN:
		return target{}, false, &DestinationError{Msg: fmt.Sprintf("%s does not write its failed invocations to %s", shortName(to), rt.dlq.Name), Fix: FixForce}
	}
	return target{}, false, nil
}

// lookup resolves a source ARN to its queue (SQS keeps a DLQ and its
// sources in one account and region).
func (rt *router) lookup(ctx context.Context, arn string) (*queue.Queue, error) {
	rt.mu.Lock()
	q, ok := rt.byARN[arn]
	rt.mu.Unlock()
	if ok {
		return q, nil
	}
	got, err := rt.resolve(ctx, arn)
	var nf *queue.NotFoundError
	if errors.As(err, &nf) {
		return nil, &DestinationError{Msg: fmt.Sprintf("messages in %s came from %s, which no longer exists", rt.dlq.Name, arn), Fix: FixTo}
	}
	if err != nil {
		return nil, err
	}
	if got.ARN != arn {
		return nil, &DestinationError{Msg: fmt.Sprintf("source %s resolved to %s: not the same queue", arn, got.ARN)}
	}
	if err := rt.usable(got); err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.byARN[arn] = &got
	rt.mu.Unlock()
	return &got, nil
}

// resolve reads the queue named by arn.
func (rt *router) resolve(ctx context.Context, arn string) (queue.Queue, error) {
	ref, err := queue.ParseRef(arn)
	if err != nil {
		return queue.Queue{}, err
	}
	url, err := queue.ResolveURL(ctx, rt.api, ref)
	if err != nil {
		return queue.Queue{}, err
	}
	return queue.Attributes(ctx, rt.api, url)
}

// unroutableError explains why n messages have no destination.
func (rt *router) unroutableError(n int) error {
	switch {
	case rt.sourcesErr != nil:
		return &DestinationError{Msg: fmt.Sprintf("%d message(s) in %s do not say which queue they came from and its sources could not be listed (%s)",
			n, rt.dlq.Name, errorCode(rt.sourcesErr)), Fix: FixTo}
	case len(rt.sources) == 0:
		return &DestinationError{Msg: fmt.Sprintf("no queue redrives to %s, and %d message(s) do not say where they failed (nor does one EventBridge target, SNS subscription or Lambda function alone write to it)", rt.dlq.Name, n), Fix: FixTo}
	}
	names := make([]string, len(rt.sources))
	for i, s := range rt.sources {
		names[i] = s.Name
	}
	return &DestinationError{Msg: fmt.Sprintf("%s has %d sources (%s) and %d message(s) do not say which they came from",
		rt.dlq.Name, len(rt.sources), strings.Join(names, ", "), n), Fix: FixTo}
}

// destinations names the queues messages went to, for the report.
func (rt *router) destinations() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.used) == 0 {
		switch {
		case rt.to != nil:
			return rt.to.Name
		case len(rt.sources) == 1:
			return rt.sources[0].Name
		}
	}
	names := make([]string, 0, len(rt.used))
	for n := range rt.used {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// resolveQueue reads a queue given by name, URL or ARN.
func resolveQueue(ctx context.Context, api SQSAPI, s string) (queue.Queue, error) {
	ref, err := queue.ParseRef(s)
	if err != nil {
		return queue.Queue{}, &DestinationError{Msg: err.Error()}
	}
	url, err := queue.ResolveURL(ctx, api, ref)
	if err != nil {
		return queue.Queue{}, err
	}
	return queue.Attributes(ctx, api, url)
}

func kind(fifo bool) string {
	if fifo {
		return "FIFO"
	}
	return "standard"
}

// routePlan describes a route for the plan.
func (rt *router) routePlan(r route) RoutePlan {
	p := RoutePlan{Destination: r.dest.Name, Kind: DestSQS, ARN: r.dest.ARN, Messages: len(r.rows), Via: r.via}
	rt.mu.Lock()
	t, ok := rt.sendTo[r.dest.URL]
	rt.mu.Unlock()
	if ok {
		p.Kind = t.kind
		if ref, refuses := t.d.(*refusing); refuses {
			p.Why = ref.why
		}
	}
	return p
}
