package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildDLQ builds cmd/dlq into the test's temporary directory.
func BuildDLQ(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dlq")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/dlqops/dlq/cmd/dlq").CombinedOutput(); err != nil {
		t.Fatalf("build dlq: %v\n%s", err, out)
	}
	return bin
}

// RunInTerminal runs bin under script(1), so that stdout is a
// pseudo-terminal sized cols×24 by stty, and returns what the terminal
// received with its CRLFs made newlines. Stderr goes to a file, shown only
// when the run fails. Colour is off for readable failures.
func RunInTerminal(t testing.TB, bin string, cols int, args ...string) string {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script (util-linux) is not installed: the terminal tests need it")
	}
	words := []string{ShellQuote(bin)}
	for _, a := range args {
		words = append(words, ShellQuote(a))
	}
	stderr := filepath.Join(t.TempDir(), "stderr")
	line := fmt.Sprintf("stty cols %d rows 24 && exec %s 2>%s", cols, strings.Join(words, " "), ShellQuote(stderr))
	cmd := exec.Command(script, "-qec", line, "/dev/null")
	// The emulator speaks plain HTTP: a CA bundle from the environment has
	// nothing to verify and only makes the run depend on the machine.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	env = append(env, "NO_COLOR=1", fmt.Sprintf("COLUMNS=%d", cols), "LINES=24", "XDG_CONFIG_HOME="+t.TempDir(), "DLQ_CALL_TIMEOUT="+CallTimeout)
	cmd.Env = env
	out, err := cmd.Output()
	screen := strings.ReplaceAll(string(out), "\r\n", "\n")
	if err != nil {
		errOut, _ := os.ReadFile(stderr)
		t.Fatalf("script %s: %v\n%s%s", line, err, screen, errOut)
	}
	return screen
}

// ShellQuote quotes s for sh.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TableLines returns the table on a screen: from the line starting with
// the first header to the next blank line.
func TableLines(screen, firstHeader string) []string {
	var table []string
	in := false
	for _, line := range strings.Split(screen, "\n") {
		switch {
		case !in && strings.HasPrefix(line, firstHeader+" "):
			in = true
		case in && strings.TrimSpace(line) == "":
			return table
		case in:
			table = append(table, line)
		}
	}
	return table
}

// Golden compares got with the golden file at path, or rewrites the file
// when update (a package's -update flag) is set.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
