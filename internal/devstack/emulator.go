// Package devstack runs the order pipeline's AWS resources on a local
// emulator for `make demo`: it starts moto_server on a free loopback port,
// provisions queues with their dead-letter queues, and produces failed
// messages the way production does, by receiving them past
// maxReceiveCount.
package devstack

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Emulator is a running moto_server.
type Emulator struct {
	Endpoint string
	cmd      *exec.Cmd
}

// ErrNoMoto means moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found on PATH (pip install 'moto[server]==5.2.1')")

// StartMoto starts moto_server on a free loopback port, writing its log to
// logTo (nil discards it), and waits up to a minute until it answers.
func StartMoto(logTo io.Writer) (*Emulator, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	// Its own process group, so Stop also ends the server's children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	e := &Emulator{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	if err := waitReady(e.Endpoint, time.Minute); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop ends the emulator: SIGTERM, then SIGKILL after five seconds.
func (e *Emulator) Stop() {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return
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
