// Command gendocs writes dlq's command reference: Markdown pages into
// docs/cli and man pages into a directory of the caller's choice (the
// release build packs them into archives and the Homebrew formula).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/cli/root"
	"github.com/dlqops/dlq/internal/render"
)

func main() {
	md := flag.String("markdown", "docs/cli", "directory for Markdown pages (empty: none)")
	man := flag.String("man", "", "directory for man pages (empty: none)")
	flag.Parse()
	if err := run(*md, *man); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}

func run(mdDir, manDir string) error {
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
	return nil
}
