package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/emulator"
)

// Toxiproxy is a toxiproxy-server a test started, in front of the
// emulator: connections through it can be reset, delayed or cut.
type Toxiproxy struct {
	api    string
	listen string
	client *http.Client
}

// Toxic is one toxiproxy toxic, as its HTTP API takes it.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// StartToxiproxy starts toxiproxy-server (installed into .tools/bin by
// `make tools`) on free loopback ports with one proxy in front of the
// emulator, and stops it when the test ends. Without the binary the test
// is skipped, or fails under CI=true.
func StartToxiproxy(t testing.TB) *Toxiproxy {
	t.Helper()
	upstream := strings.TrimPrefix(Endpoint(t), "http://")
	bin, err := exec.LookPath("toxiproxy-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("toxiproxy-server not on PATH (make tools installs it into .tools/bin)")
		}
		t.Skip("toxiproxy-server not on PATH: run make tools")
	}
	apiPort, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listenPort, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", fmt.Sprint(apiPort))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start toxiproxy-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	tp := &Toxiproxy{api: fmt.Sprintf("http://127.0.0.1:%d", apiPort), listen: fmt.Sprintf("127.0.0.1:%d", listenPort), client: &http.Client{Timeout: 5 * time.Second}}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := tp.client.Get(tp.api + "/version")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("toxiproxy-server did not answer: %v", err)
		}
	}
	tp.post(t, "/proxies", map[string]any{"name": "aws", "listen": tp.listen, "upstream": upstream})
	return tp
}

// Endpoint is the proxy's URL, for --endpoint-url.
func (tp *Toxiproxy) Endpoint() string { return "http://" + tp.listen }

// Add adds a toxic to the proxy.
func (tp *Toxiproxy) Add(t testing.TB, x Toxic) {
	t.Helper()
	tp.post(t, "/proxies/aws/toxics", x)
}

// Remove takes a toxic away.
func (tp *Toxiproxy) Remove(t testing.TB, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, tp.api+"/proxies/aws/toxics/"+name, nil)
	resp, err := tp.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}

func (tp *Toxiproxy) post(t testing.TB, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := tp.client.Post(tp.api+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("toxiproxy %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		t.Fatalf("toxiproxy %s: %s", path, resp.Status)
	}
}
