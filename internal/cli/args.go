package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// NoArgs is cobra.NoArgs returning a UsageError (exit 2).
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unexpected argument %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// ExactArgs is cobra.ExactArgs returning a UsageError (exit 2).
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s takes %d argument%s (%s), got %d", cmd.CommandPath(), n, map[bool]string{true: "", false: "s"}[n == 1], what, len(args))
		}
		return nil
	}
}

// FlagErrorFunc turns flag parsing errors into UsageErrors.
func FlagErrorFunc(cmd *cobra.Command, err error) error {
	return &UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
}
