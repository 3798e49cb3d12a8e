package testenv

import (
	"fmt"

	"github.com/google/shlex"
	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/render"
)

// ExecuteCommand runs a subcommand built with a runF (so nothing runs but
// flag parsing and validation) on shell-style args, with its output in ios.
func ExecuteCommand(cmd *cobra.Command, ios *render.IOStreams, args string) error {
	argv, err := shlex.Split(args)
	if err != nil {
		return fmt.Errorf("split %q: %w", args, err)
	}
	cmd.SetArgs(argv)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	return cmd.Execute()
}
