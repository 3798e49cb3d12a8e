// Package emulator starts a local AWS emulator (moto_server, with
// DynamoDB's conditional writes made atomic) on a free loopback port: for
// the tests (internal/testenv) and for the demo (internal/devstack).
package emulator

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Emulator is a running moto_server.
type Emulator struct {
	Endpoint string
	cmd      *exec.Cmd
	cleanup  func()
}

// ErrNoMoto means moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found on PATH (pip install 'moto[server]==5.2.1')")

// motoAtomic runs moto's application with DynamoDB requests, and SQS
// requests, served one at a time: moto alone lets two conditional writes
// on one item both win, and two SQS deletes at once lose one another's
// changes.
//
//go:embed moto_atomic.py
var motoAtomic []byte

// StartMoto starts moto_server on a free loopback port, writing its log to
// logTo (nil discards it), and waits up to a minute until it answers. It
// runs moto's application through moto_atomic.py, so that conditional
// writes on one DynamoDB item are atomic as on AWS, with the Python that
// has moto installed; moto_server itself only when that is not possible.
func StartMoto(logTo io.Writer) (*Emulator, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	script, cleanup := writeScript()
	if script != "" {
		cmd = exec.Command("python3", script, "127.0.0.1", fmt.Sprint(port))
	} else {
		cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	}
	// Its own process group, so Stop also ends the server's children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	e := &Emulator{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, cleanup: cleanup}
	if err := waitReady(e.Endpoint, time.Minute); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// writeScript writes moto_atomic.py to a temporary file when python3 has
// moto; it returns "" otherwise.
func writeScript() (path string, cleanup func()) {
	none := func() {}
	if exec.Command("python3", "-c", "import moto.server, werkzeug.serving").Run() != nil {
		return "", none
	}
	f, err := os.CreateTemp("", "moto-atomic-*.py")
	if err != nil {
		return "", none
	}
	_, werr := f.Write(motoAtomic)
	if cerr := f.Close(); werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return "", none
	}
	return f.Name(), func() { _ = os.Remove(f.Name()) }
}

// Stop ends the emulator: SIGTERM, then SIGKILL after five seconds.
func (e *Emulator) Stop() {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return
	}
	if e.cleanup != nil {
		defer e.cleanup()
	}
	pgid := -e.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-done
	}
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(endpoint string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(endpoint + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("moto_server at %s not ready after %s", endpoint, limit)
}
