package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
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
			return Usagef("%s takes %s (%s), got %d", cmd.CommandPath(), render.Count(n, "argument"), what, len(args))
		}
		return nil
	}
}

// FlagErrorFunc turns flag parsing errors into UsageErrors.
func FlagErrorFunc(cmd *cobra.Command, err error) error {
	return &UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
}

// QueueSelection applies what every command that takes "these queues, or
// all of them under a prefix" shares: the context's queuePrefix unless
// --prefix was given, and queue arguments that parse as names, URLs or
// ARNs (a UsageError otherwise).
func QueueSelection(cmd *cobra.Command, s Settings, args []string, prefix *string) error {
	if f := cmd.Flags().Lookup("prefix"); f != nil && !f.Changed {
		*prefix = s.QueuePrefix
	}
	for _, a := range args {
		if _, err := queue.ParseRef(a); err != nil {
			return &UsageError{Err: err}
		}
	}
	return nil
}
