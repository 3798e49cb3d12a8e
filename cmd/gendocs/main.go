// Command gendocs writes dlq's command reference: Markdown pages into
// docs/cli and man pages into a directory of the caller's choice (the
// release build packs them into archives and the Homebrew formula).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/cli/root"
	"github.com/dlqops/dlq/internal/orders"
	"github.com/dlqops/dlq/internal/pipeline/saga"
	"github.com/dlqops/dlq/internal/render"
)

func main() {
	md := flag.String("markdown", "docs/cli", "directory for Markdown pages (empty: none)")
	man := flag.String("man", "", "directory for man pages (empty: none)")
	deploy := flag.String("deploy", "docs/deploy/order-saga.yaml", "template whose state machine definition to regenerate (empty: none)")
	completions := flag.String("completions", "", "directory for shell completion scripts (empty: none)")
	flag.Parse()
	if err := run(*md, *man, *completions); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
	if err := writeDefinition(*deploy); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}

func run(mdDir, manDir, compDir string) error {
	ios, _, _, _ := render.Test()
	f := cli.NewFactory(ios, func() (cli.Settings, error) { return cli.Settings{}, nil })
	cmd := root.NewCmdRoot(f, root.BuildInfo{})
	cmd.DisableAutoGenTag = true
	if mdDir != "" {
		if err := os.MkdirAll(mdDir, 0o755); err != nil {
			return err
		}
		if err := doc.GenMarkdownTree(cmd, mdDir); err != nil {
			return fmt.Errorf("generate markdown: %w", err)
		}
	}
	if manDir != "" {
		if err := os.MkdirAll(manDir, 0o755); err != nil {
			return err
		}
		// SOURCE_DATE_EPOCH keeps release builds reproducible.
		date := time.Now()
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err == nil {
				date = time.Unix(sec, 0).UTC()
			}
		}
		header := &doc.GenManHeader{Title: "DLQ", Section: "1", Source: "dlq", Manual: "dlq manual", Date: &date}
		if err := doc.GenManTree(cmd, header, manDir); err != nil {
			return fmt.Errorf("generate man pages: %w", err)
		}
	}
	if compDir != "" {
		// For the Homebrew cask, which installs them from the archive.
		if err := os.MkdirAll(compDir, 0o755); err != nil {
			return err
		}
		for name, gen := range map[string]func(string) error{
			"dlq.bash": func(p string) error { return cmd.GenBashCompletionFileV2(p, true) },
			"_dlq":     cmd.GenZshCompletionFile,
			"dlq.fish": func(p string) error { return cmd.GenFishCompletionFile(p, true) },
		} {
			if err := gen(filepath.Join(compDir, name)); err != nil {
				return fmt.Errorf("generate completions: %w", err)
			}
		}
	}
	return nil
}

const (
	definitionStart = "      Definition:\n"
	definitionEnd   = "      # end of generated definition\n"
)

// writeDefinition puts the order saga's Step Functions export into the SAM
// template, between its markers, so the template and the code cannot drift.
func writeDefinition(path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	asl, err := saga.StateMachine((&orders.Pipeline{}).Definition(orders.Order{}, 1))
	if err != nil {
		return err
	}
	text := string(b)
	start := strings.Index(text, definitionStart)
	end := strings.Index(text, definitionEnd)
	if start < 0 || end < start {
		return fmt.Errorf("%s: definition markers not found", path)
	}
	var block strings.Builder
	for _, line := range strings.Split(string(asl), "\n") {
		block.WriteString("        " + line + "\n")
	}
	out := text[:start+len(definitionStart)] + block.String() + text[end:]
	return os.WriteFile(path, []byte(out), 0o644)
}
