// Package version implements `dlq version`.
package version

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
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

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// NewCmdVersion builds `dlq version`.
func NewCmdVersion(f *cli.Factory, info Info) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the dlq version",
		Args:    cli.NoArgs,
		Example: "  dlq version\n\n  # For a bug report or a script\n  dlq version -o json",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			v := struct {
				Version string `json:"version"`
				Commit  string `json:"commit"`
				Date    string `json:"date"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
				Go      string `json:"go"`
			}{orDev(info.Version), info.Commit, info.Date, runtime.GOOS, runtime.GOARCH, runtime.Version()}
			switch s.Output {
			case render.FormatJSON:
				return render.WriteJSON(f.IOStreams.Out, v)
			case render.FormatNDJSON:
				return render.WriteNDJSON(f.IOStreams.Out, []any{v})
			}
			_, err = fmt.Fprintf(f.IOStreams.Out, "dlq %s %s/%s\n", info.String(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
