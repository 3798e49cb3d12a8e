package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Invocation is one Invoke call the LambdaProxy saw.
type Invocation struct {
	// Function is the function's name, whether it was called by name, ARN
	// or partial ARN.
	Function string
	// Qualifier is the version or alias called ("" for none).
	Qualifier string
	// Type is the X-Amz-Invocation-Type (RequestResponse when not set).
	Type ltypes.InvocationType
	// Payload is the event the function was invoked with.
	Payload []byte
	// Ran is true when a runtime emulator ran the function; false when moto
	// answered, which runs no code.
	Ran bool
	// Response is what the function returned: its result or its error.
	Response []byte
	// Errored is true when the function failed (its response is an error
	// object with errorType and errorMessage), whatever the invocation type.
	Errored bool
}

// LambdaProxy stands in for the Lambda endpoint: the invocations of the
// functions it was given run in their runtime emulators, and every other
// request (CreateFunction, ListFunctions, event-invoke configs, Invokes of
// other functions) goes to moto. Point the SDK's Lambda client alone at it
// with AWS_ENDPOINT_URL_LAMBDA, which wins over AWS_ENDPOINT_URL but not over
// an endpoint set in code (config.WithBaseEndpoint, dlq's --endpoint-url).
type LambdaProxy struct {
	// URL is the proxy's endpoint.
	URL string

	moto      http.Handler
	functions map[string]*emulatedFunction

	mu          sync.Mutex
	invocations []Invocation
}

// emulatedFunction is a function whose invocations an aws-lambda-rie runs.
type emulatedFunction struct {
	invokeURL string
	// The emulator runs one invocation at a time and refuses a second while
	// one runs; Lambda would run them side by side, so they queue here.
	mu sync.Mutex
}

// StartLambdaProxy serves a LambdaProxy on a loopback port in front of moto
// (an endpoint URL) until the test ends. functions maps a function's name
// to its emulator's invoke URL (RIE.InvokeURL). For those functions the
// proxy answers as Lambda does, which the emulator does not: 202 and an
// empty body for an Event invocation (sent after the function ran, so a
// test may look for its effects at once), 200 and the function's response
// for RequestResponse, with X-Amz-Function-Error: Unhandled when the
// function failed, and 204 for DryRun.
func StartLambdaProxy(t testing.TB, moto string, functions map[string]string) *LambdaProxy {
	t.Helper()
	target, err := url.Parse(moto)
	if err != nil {
		t.Fatalf("parse moto endpoint %q: %v", moto, err)
	}
	p := &LambdaProxy{functions: map[string]*emulatedFunction{}}
	for name, invokeURL := range functions {
		p.functions[name] = &emulatedFunction{invokeURL: invokeURL}
	}
	p.moto = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the host the SDK signed
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Invocations returns the Invoke calls seen so far, in the order they were
// answered.
func (p *LambdaProxy) Invocations() []Invocation {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Invocation, len(p.invocations))
	copy(out, p.invocations)
	return out
}

func (p *LambdaProxy) record(inv Invocation) {
	p.mu.Lock()
	p.invocations = append(p.invocations, inv)
	p.mu.Unlock()
}

// ServeHTTP routes one request.
func (p *LambdaProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	function, qualifier, ok := invokedFunction(r)
	if !ok {
		p.moto.ServeHTTP(w, r)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("read payload: %v", err), http.StatusBadRequest)
		return
	}
	inv := Invocation{Function: function, Qualifier: qualifier, Payload: payload,
		Type: ltypes.InvocationType(r.Header.Get("X-Amz-Invocation-Type"))}
	if inv.Type == "" {
		inv.Type = ltypes.InvocationTypeRequestResponse
	}
	fn, emulated := p.functions[function]
	if !emulated {
		p.record(inv)
		r.Body = io.NopCloser(bytes.NewReader(payload))
		p.moto.ServeHTTP(w, r)
		return
	}
	p.run(w, r, fn, inv)
}

// run has the emulator run one invocation and answers as Lambda would.
func (p *LambdaProxy) run(w http.ResponseWriter, r *http.Request, fn *emulatedFunction, inv Invocation) {
	inv.Ran = true
	if inv.Type == ltypes.InvocationTypeDryRun {
		p.record(inv)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	response, errored, err := fn.invoke(r.Context(), inv.Payload, r.Header.Get("X-Amz-Client-Context"))
	if err != nil {
		// Lambda's own failure, not the function's: a service error.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "ServiceException")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
		return
	}
	inv.Response, inv.Errored = response, errored
	p.record(inv)
	if inv.Type == ltypes.InvocationTypeEvent {
		// An asynchronous invocation never reports how the function did.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	version := inv.Qualifier
	if version == "" {
		version = "$LATEST"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", version)
	if errored {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(response)
}

// invoke runs the function once in its emulator and returns its response
// and whether it is the function's error. The emulator answers a function
// error as it answers a result, and a crash or a timeout in its own shapes:
// those become the error objects Lambda would return.
func (fn *emulatedFunction) invoke(ctx context.Context, payload []byte, clientContext string) ([]byte, bool, error) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fn.invokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, false, fmt.Errorf("invoke emulator: %w", err)
	}
	if clientContext != "" {
		req.Header.Set("X-Amz-Client-Context", clientContext)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("invoke emulator: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, false, fmt.Errorf("read emulator response: %w", err)
	}
	switch {
	case isFunctionError(body):
		return body, true, nil
	case resp.StatusCode/100 != 2:
		return functionError("Runtime.ExitError", fmt.Sprintf("emulator answered %s: %s", resp.Status, body)), true, nil
	case bytes.HasPrefix(body, []byte("Task timed out")):
		return functionError("Sandbox.Timedout", string(body)), true, nil
	}
	return body, false, nil
}

// isFunctionError reports whether a response is a function's error: a JSON
// object with errorType and errorMessage, as every Lambda runtime reports one.
func isFunctionError(response []byte) bool {
	var e struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	return json.Unmarshal(response, &e) == nil && e.Type != nil && e.Message != nil
}

func functionError(errorType, message string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message})
	return b
}

// invokedFunction returns the function and qualifier of an Invoke request
// (POST /2015-03-31/functions/{FunctionName}/invocations), where
// FunctionName is a name, an ARN or a partial ARN
// (123456789012:function:name), each with an optional :qualifier, and the
// Qualifier query parameter wins over that.
func invokedFunction(r *http.Request) (function, qualifier string, ok bool) {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	path := r.URL.EscapedPath()
	if r.Method != http.MethodPost || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		return "", "", false
	}
	escaped := strings.TrimSuffix(strings.TrimPrefix(path, prefix), suffix)
	name, err := url.PathUnescape(escaped)
	if err != nil || name == "" || strings.Contains(escaped, "/") {
		return "", "", false
	}
	if _, after, found := strings.Cut(name, ":function:"); found {
		name = after
	}
	function, qualifier, _ = strings.Cut(name, ":")
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		qualifier = q
	}
	return function, qualifier, true
}
