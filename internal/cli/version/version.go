// Package version implements `dlq version`.
package version

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
)

// Info is what the release build stamps into the binary.
type Info struct {
	Version string
	Commit  string
	Date    string
}

// String is "VERSION (COMMIT, DATE)" with what is known.
func (i Info) String() string {
	v := i.Version
	if v == "" {
		v = "dev"
	}
	extra := ""
	if i.Commit != "" && i.Commit != "none" {
		extra = i.Commit
	}
	if i.Date != "" && !strings.HasPrefix(i.Date, "0001-01-01") {
		if extra != "" {
			extra += ", "
		}
		extra += i.Date
	}
	if extra != "" {
		v += " (" + extra + ")"
	}
	return v
}

// NewCmdVersion builds `dlq version`.
func NewCmdVersion(f *cli.Factory, info Info) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the dlq version",
		Args:    cli.NoArgs,
		Example: "  dlq version",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(f.IOStreams.Out, "dlq %s %s/%s\n", info.String(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
