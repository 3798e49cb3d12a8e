package testenv

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dlqops/dlq/internal/emulator"
)

// rieReadyWithin bounds the wait for the runtime emulator's HTTP server: a
// limit for a process that never comes up, not a measure of speed.
const rieReadyWithin = 60 * time.Second

// RIE is an aws-lambda-rie (the Lambda runtime interface emulator) a test
// started with one function's bootstrap.
type RIE struct {
	// InvokeURL is the emulator's only route,
	// /2015-03-31/functions/function/invocations: each POST runs the
	// function once, synchronously, and answers with its payload.
	InvokeURL string
	// Logs holds the emulator's and the function's output, for failure
	// messages and for assertions on what the function logged.
	Logs *SyncBuffer
}

// StartRIE runs bootstrap (see BuildLambda) under aws-lambda-rie on free
// loopback ports and stops it, with every process it started, when the test
// ends. The function sees test credentials, Region and AWS_ENDPOINT_URL
// pointing at the emulator, then env, which overrides any of them. Without
// aws-lambda-rie (on PATH or in the repository's .tools/bin, where make tools
// installs it) the test is skipped, or fails under CI=true.
func StartRIE(t testing.TB, bootstrap string, env map[string]string) *RIE {
	t.Helper()
	bin := findRIE(t)
	vars := map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": Region}
	if _, ok := env["AWS_ENDPOINT_URL"]; !ok {
		vars["AWS_ENDPOINT_URL"] = Endpoint(t)
	}
	for k, v := range env {
		vars[k] = v
	}
	addr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		cmd.Env = append(cmd.Env, k+"="+vars[k]) // exec keeps the last value of a key
	}
	r := &RIE{InvokeURL: "http://" + addr + "/2015-03-31/functions/function/invocations", Logs: &SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = r.Logs, r.Logs
	// Its own process group: the emulator starts the bootstrap as a child,
	// which must not outlive the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	if err := waitRIE("http://"+addr+"/", exited); err != nil {
		t.Fatalf("aws-lambda-rie: %v\n%s", err, r.Logs.String())
	}
	return r
}

// waitRIE waits until the emulator's HTTP server answers. It asks for a path
// the emulator does not route (a 404 is an answer): its one route, whatever
// the method, would run the function.
func waitRIE(probe string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(rieReadyWithin)
	for {
		resp, err := client.Get(probe)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for the emulator: no answer within %s: %w", rieReadyWithin, err)
		}
		select {
		case <-exited:
			return errors.New("wait for the emulator: it exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// findRIE finds aws-lambda-rie on PATH, then in the .tools/bin of the module
// the test runs in.
func findRIE(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("aws-lambda-rie not found on PATH or in .tools/bin (make tools installs it); required under CI=true")
	}
	t.Skip("aws-lambda-rie not found: run make tools")
	return ""
}

// moduleRoot is the nearest directory at or above the working directory
// (a test's package directory) that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// lambdaBuild is one package's bootstrap, built once per test binary.
type lambdaBuild struct {
	once sync.Once
	path string
	err  error
}

// lambdaBuilds caches builds by package across the tests of one binary: a
// link of the SDK takes seconds on a busy machine.
var lambdaBuilds sync.Map // package → *lambdaBuild

// BuildLambda builds the Lambda in pkgDir (a directory relative to the test's
// package, or an import path) as a provided.al2023 bootstrap: -tags
// lambda.norpc, CGO_ENABLED=0. Each package is built once per test binary.
func BuildLambda(t testing.TB, pkgDir string) string {
	t.Helper()
	key := pkgDir
	if strings.HasPrefix(pkgDir, ".") || filepath.IsAbs(pkgDir) {
		abs, err := filepath.Abs(pkgDir)
		if err != nil {
			t.Fatalf("build lambda %s: %v", pkgDir, err)
		}
		key = abs
	}
	v, _ := lambdaBuilds.LoadOrStore(key, &lambdaBuild{})
	b := v.(*lambdaBuild)
	b.once.Do(func() { b.path, b.err = buildBootstrap(key) })
	if b.err != nil {
		t.Fatalf("build lambda %s: %v", pkgDir, b.err)
	}
	return b.path
}

func buildBootstrap(pkg string) (string, error) {
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bootstrap, nil
}

// buildDir is a new directory for one bootstrap. Under go test it is inside
// the go command's work directory, beside the test binary, which go test
// removes when it ends: the build outlives any one test (no t.TempDir) and
// still leaves nothing behind. A test binary run by hand leaves it in the
// system's temporary directory.
func buildDir() (string, error) {
	parent := ""
	if exe, err := os.Executable(); err == nil && strings.HasPrefix(filepath.Base(filepath.Dir(filepath.Dir(exe))), "go-build") {
		parent = filepath.Dir(exe)
	}
	dir, err := os.MkdirTemp(parent, "lambda-")
	if err != nil {
		return "", fmt.Errorf("make build directory: %w", err)
	}
	return dir, nil
}
