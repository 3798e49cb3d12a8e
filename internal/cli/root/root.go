// Package root assembles the dlq command tree and runs it: global flags,
// settings resolution, signal handling, and the translation of a command's
// error into one line on stderr and an exit code.
package root

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	alarmcmd "github.com/dlqops/dlq/internal/cli/alarm"
	"github.com/dlqops/dlq/internal/cli/inspect"
	"github.com/dlqops/dlq/internal/cli/peek"
	replaycmd "github.com/dlqops/dlq/internal/cli/replay"
	"github.com/dlqops/dlq/internal/cli/timeline"
	triagecmd "github.com/dlqops/dlq/internal/cli/triage"
	"github.com/dlqops/dlq/internal/cli/version"
	"github.com/dlqops/dlq/internal/render"
)

// BuildInfo is stamped into the binary by the release build (-X).
type BuildInfo = version.Info

// NewCmdRoot builds the dlq command tree on a Factory.
func NewCmdRoot(f *cli.Factory, info BuildInfo) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq <command> [flags]",
		Short: "Operate dead-letter queues of SQS → Lambda pipelines",
		Long: `dlq is the tool on-call engineers reach for when a dead-letter queue starts
filling: see every DLQ in an account with what feeds it (SQS queues,
EventBridge targets, SNS subscriptions, Lambda functions), its depth and
health (inspect); read its messages without consuming them (peek); group
them by the cause of their first failure (triage); follow a trace through
the pipeline's logs (timeline); move them back to where they failed, in
order, verified (replay); and make sure no DLQ fills without an alarm
(alarm).

Settings come from flags, then DLQ_* environment variables, then the named
context of the config file ($XDG_CONFIG_HOME/dlq/config.yaml); AWS's own
variables (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL) apply below those.`,
		Example: `  # Which DLQs hold messages, and is anything unwatched?
  dlq inspect

  # CI smoke check: fail (exit 3) if any DLQ holds a message
  dlq inspect --prefix orders- --max-depth 0

  # Against a local emulator
  dlq --endpoint-url http://127.0.0.1:5000 --region us-east-1 inspect`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       info.Version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			if s.NoColor {
				f.IOStreams.SetColorEnabled(false)
			}
			cmd.SetContext(f.LimitCommand(cmd.Context(), s))
			// Queues named by ARN or AWS URL carry their region: every
			// command that takes a queue (an argument, --to, --from-dlq)
			// works there, or refuses a conflict with --region.
			refs := append([]string(nil), args...)
			for _, name := range []string{"to", "from-dlq"} {
				if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
					refs = append(refs, fl.Value.String())
				}
			}
			return f.UseQueueRegion(refs...)
		},
	}
	cmd.SetVersionTemplate(fmt.Sprintf("dlq %s\n", info.String()))
	cli.AddGlobalFlags(cmd.PersistentFlags())
	_ = cmd.RegisterFlagCompletionFunc(cli.FlagOutput, cobra.FixedCompletions(render.Formats, cobra.ShellCompDirectiveNoFileComp))
	cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetIn(f.IOStreams.In)

	cmd.AddCommand(
		inspect.NewCmdInspect(f, nil),
		peek.NewCmdPeek(f, nil),
		timeline.NewCmdTimeline(f, nil),
		triagecmd.NewCmdTriage(f, nil),
		replaycmd.NewCmdReplay(f, nil),
		alarmcmd.NewCmdAlarm(f),
		version.NewCmdVersion(f, info, nil),
	)
	// cobra's completion command shows its help and exits 0 for a shell it
	// does not know: a usage error instead.
	cmd.InitDefaultCompletionCmd()
	if c, _, err := cmd.Find([]string{"completion"}); err == nil && c != cmd {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return cli.Usagef("no completion for shell %q: bash, zsh, fish or powershell", args[0])
		}
	}
	return cmd
}

// Main runs dlq with the process's arguments, streams and environment and
// returns the exit code.
func Main(info BuildInfo) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return Run(ctx, render.System(), cli.OSEnv, os.Args[1:], info)
}

// Run executes one dlq invocation and returns its exit code. Errors are
// printed to ios.ErrOut as one line (the full chain with -v).
// extraAPIOptions are added to every AWS client (tests count calls).
func Run(ctx context.Context, ios *render.IOStreams, env render.Env, args []string, info BuildInfo, extraAPIOptions ...func(*middleware.Stack) error) int {
	var root *cobra.Command
	settings := sync.OnceValues(func() (cli.Settings, error) {
		return cli.ResolveSettings(root.PersistentFlags(), env)
	})
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		// Completion descriptions are flag usages, where pflag marks the
		// placeholder name with backticks: shells would show them.
		ios.Out = noBackticks{ios.Out}
	}
	f := cli.NewFactory(ios, settings, extraAPIOptions...)
	f.Env = env
	root = NewCmdRoot(f, info)
	root.SetArgs(args)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return cli.ExitOK
	}
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") {
		// cobra's suggestion spans lines; keep the error on one.
		msg = strings.Replace(strings.TrimSpace(msg), "\n\nDid you mean this?\n", "; did you mean:", 1)
		err = &cli.UsageError{Err: errors.New(strings.Join(strings.Fields(msg), " "))}
	}
	code := cli.ExitCode(ctx, err)
	s, _ := settings()
	var cond *cli.ConditionError
	if d, ok := f.TimedOut(); ok && code != cli.ExitUsage {
		_, _ = fmt.Fprintf(ios.ErrOut, "dlq: timed out after %s (--timeout): %s\n", d, cli.Message(err, s.Verbose, s))
		return cli.ExitError
	}
	switch {
	case code == cli.ExitInterrupted:
		_, _ = fmt.Fprintln(ios.ErrOut, "interrupted")
	case errors.As(err, &cond):
		// The command has already printed its summary.
		if cond.Message != "" {
			_, _ = fmt.Fprintln(ios.ErrOut, cond.Message)
		}
	default:
		_, _ = fmt.Fprintf(ios.ErrOut, "dlq: %s\n", cli.Message(err, s.Verbose, s))
	}
	return code
}

// noBackticks drops backticks from what it writes.
type noBackticks struct{ w io.Writer }

func (n noBackticks) Write(p []byte) (int, error) {
	if _, err := n.w.Write(bytes.ReplaceAll(p, []byte("`"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}
