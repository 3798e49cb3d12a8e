package render

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain text":             "plain text",
		"red \x1b[31mALERT":      `red \x1b[31mALERT`,
		"bell\a":                 `bell\x07`,
		"tab\there":              `tab\there`,
		"line\nbreak\r":          `line\nbreak\r`,
		"bad \xff\xfe utf8":      `bad \xff\xfe utf8`,
		"c1 \u009b31m":           `c1 \u009b31m`,
		"bidi \u202eevil":        `bidi \u202eevil`,
		"émoji ✓ 日本":             "émoji ✓ 日本",
		"del\x7f":                `del\x7f`,
		"osc \x1b]52;c;AAAA\x07": `osc \x1b]52;c;AAAA\x07`,
	}
	for in, want := range tests {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeLines("a\n\x1b[2Jb"); got != "a\n\\x1b[2Jb" {
		t.Errorf("SanitizeLines kept or lost the wrong things: %q", got)
	}
}

func TestColorEnabled(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) Env {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		tty  bool
		env  Env
		want bool
	}{
		{true, env(), true},
		{false, env(), false},
		{true, env("NO_COLOR", "1"), false},
		{true, env("CLICOLOR", "0"), false},
		{false, env("CLICOLOR_FORCE", "1"), true},
		{true, env("NO_COLOR", "1", "CLICOLOR_FORCE", "1"), true},
		{true, env("CLICOLOR_FORCE", "0"), true},
	}
	for i, tt := range tests {
		if got := ColorEnabled(tt.tty, tt.env); got != tt.want {
			t.Errorf("case %d: ColorEnabled = %v, want %v", i, got, tt.want)
		}
	}
}

func TestTablePipedIsTabSeparatedAndSanitised(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	var out bytes.Buffer
	tb := NewTable(ios, "A", "B")
	tb.AddRow("x\ty", "\x1b[31mred")
	tb.AddRow("only")
	tb.StyleColumn(1, func(s string) string { return "<" + s + ">" })
	if err := tb.Render(&out); err != nil {
		t.Fatal(err)
	}
	want := "x\\ty\t\\x1b[31mred\nonly\t\n"
	if out.String() != want {
		t.Errorf("piped table = %q, want %q", out.String(), want)
	}
}

func TestTableOnTerminalAligns(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	ios.SetStdoutTTY(true)
	var out bytes.Buffer
	tb := NewTable(ios, "NAME", "N")
	tb.AddRow("a-long-name", "1")
	tb.AddRow("b", "22")
	if err := tb.Render(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines = %q", lines)
	}
	col := strings.Index(lines[0], "N ")
	if col < 0 {
		col = strings.LastIndex(lines[0], "N")
	}
	if strings.Index(lines[1], "1") != col || strings.Index(lines[2], "22") != col {
		t.Errorf("columns not aligned:\n%s", out.String())
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Format{"": FormatTable, "table": FormatTable, "json": FormatJSON, "ndjson": FormatNDJSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}

func TestWriteNDJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteNDJSON(&b, []map[string]string{{"a": "<1>"}, {"a": "\x1b"}}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\"a\":\"<1>\"}\n{\"a\":\"\\u001b\"}\n" {
		t.Errorf("ndjson = %q", b.String())
	}
}

func TestHumanSeconds(t *testing.T) {
	t.Parallel()
	for sec, want := range map[int64]string{0: "0s", 90: "1m30s", 345600: "4d", 1209600: "14d", 5400: "1h30m", 86400 + 3600: "1d1h"} {
		if got := HumanSeconds(sec); got != want {
			t.Errorf("HumanSeconds(%d) = %q, want %q", sec, got, want)
		}
	}
}

func TestForceTTYRendersForATerminalWhenPiped(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) Env {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	noTerm := func() int { return 0 }
	for _, tt := range []struct {
		env   map[string]string
		tty   bool
		width int
		color bool
	}{
		{nil, false, 80, false},
		{map[string]string{"DLQ_FORCE_TTY": "1"}, true, 80, true},
		{map[string]string{"DLQ_FORCE_TTY": "1", "COLUMNS": "132"}, true, 132, true},
		{map[string]string{"DLQ_FORCE_TTY": "100", "NO_COLOR": "1"}, true, 100, false},
		{map[string]string{"DLQ_FORCE_TTY": "0"}, false, 80, false},
		{map[string]string{"DLQ_FORCE_TTY": "false"}, false, 80, false},
	} {
		ios := systemWith(env(tt.env), false, false, noTerm)
		if ios.IsStdoutTTY() != tt.tty || ios.TerminalWidth() != tt.width || ios.ColorEnabled() != tt.color {
			t.Errorf("%v: tty %v width %d color %v, want %v %d %v", tt.env, ios.IsStdoutTTY(), ios.TerminalWidth(), ios.ColorEnabled(), tt.tty, tt.width, tt.color)
		}
	}
}

func TestElapsedAndMillis(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "0ms", 312 * time.Millisecond: "312ms", 1234 * time.Millisecond: "1.234s", 125 * time.Second: "2m5s"} {
		if got := Elapsed(d); got != want {
			t.Errorf("Elapsed(%v) = %q, want %q", d, got, want)
		}
	}
	ms := func(f float64) *float64 { return &f }
	for _, tc := range []struct {
		in   *float64
		want string
	}{{nil, ""}, {ms(87), "87ms"}, {ms(0.5), "0.5ms"}, {ms(1500), "1.5s"}} {
		if got := Millis(tc.in); got != tc.want {
			t.Errorf("Millis(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
