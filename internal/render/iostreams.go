// Package render owns everything dlq writes for people and programs: the
// standard streams and their terminal detection, colour rules, tables, JSON
// and NDJSON encoding, and sanitising untrusted text before it reaches a
// terminal. Domain packages never print; they hand plain values to render.
package render

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-isatty"
	"github.com/muesli/termenv"
	"golang.org/x/term"
)

// IOStreams are the three standard streams with what dlq knows about them.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdoutTTY bool
	stderrTTY bool
	color     bool
	width     int
}

// Env looks up environment variables; os.LookupEnv in production.
type Env func(string) (string, bool)

// System returns the process's streams, detecting terminals and colour
// support from the environment.
func System() *IOStreams {
	ios := systemWith(os.LookupEnv, isTerminal(os.Stdout), isTerminal(os.Stderr), func() int {
		w, _, err := term.GetSize(int(os.Stdout.Fd()))
		if err != nil {
			return 0
		}
		return w
	})
	ios.In, ios.Out, ios.ErrOut = os.Stdin, os.Stdout, os.Stderr
	return ios
}

// systemWith decides what System detects. DLQ_FORCE_TTY (any value but
// "", "0" or "false") renders stdout for a terminal even when it is piped,
// as gh's GH_FORCE_TTY does: a number is the width, else COLUMNS, else 80.
func systemWith(env Env, outTTY, errTTY bool, termWidth func() int) *IOStreams {
	ios := &IOStreams{stdoutTTY: outTTY, stderrTTY: errTTY, width: 80}
	if outTTY {
		if w := termWidth(); w > 0 {
			ios.width = w
		}
	}
	if v, ok := env("DLQ_FORCE_TTY"); ok && v != "" && v != "0" && !strings.EqualFold(v, "false") {
		ios.stdoutTTY = true
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			ios.width = n
		} else if c, ok := env("COLUMNS"); ok {
			if n, err := strconv.Atoi(c); err == nil && n > 0 {
				ios.width = n
			}
		}
	}
	ios.color = ColorEnabled(ios.stdoutTTY, env)
	return ios
}

// Test returns streams backed by buffers: stdin, stdout and stderr.
// Neither stream is a terminal until SetStdoutTTY says so.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, width: 120}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// ColorEnabled applies the colour rules: on only when stdout is a terminal
// and neither NO_COLOR nor CLICOLOR=0 is set, or whenever CLICOLOR_FORCE is
// set to something other than 0.
func ColorEnabled(stdoutTTY bool, env Env) bool {
	if v, ok := env("CLICOLOR_FORCE"); ok && v != "" && v != "0" {
		return true
	}
	if v, ok := env("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, ok := env("CLICOLOR"); ok && v == "0" {
		return false
	}
	return stdoutTTY
}

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether stderr is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStdoutTTY overrides terminal detection for stdout (tests).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }

// SetStderrTTY overrides terminal detection for stderr (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// ColorEnabled reports whether output may carry colour.
func (s *IOStreams) ColorEnabled() bool { return s.color }

// SetColorEnabled overrides colour detection (tests, --no-color).
func (s *IOStreams) SetColorEnabled(v bool) { s.color = v }

// TerminalWidth is the width of the terminal, 80 when unknown.
func (s *IOStreams) TerminalWidth() int { return s.width }

// SetTerminalWidth overrides the detected width (tests).
func (s *IOStreams) SetTerminalWidth(w int) { s.width = w }

// Styles returns the lipgloss styles for stdout, plain when colour is off.
func (s *IOStreams) Styles() Styles {
	r := lipgloss.NewRenderer(s.Out)
	if s.color {
		// A fixed 16-colour profile keeps output stable across terminals and
		// golden files; nothing here needs more.
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return newStyles(r)
}
