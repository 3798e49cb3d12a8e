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

// VersionOptions are the dependencies and output format of `dlq version`.
type VersionOptions struct {
	IO     *render.IOStreams
	Info   Info
	Output render.Format
}

// NewCmdVersion builds `dlq version`. runF replaces the run function in
// tests.
func NewCmdVersion(f *cli.Factory, info Info, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IOStreams, Info: info}
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the dlq version",
		Args:    cli.NoArgs,
		Example: "  dlq version\n\n  # For a bug report or a script\n  dlq version -o json",
		RunE: func(*cobra.Command, []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Output = s.Output
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
}

func versionRun(opts *VersionOptions) error {
	info := opts.Info
	v := struct {
		Version string `json:"version"`
		Commit  string `json:"commit"`
		Date    string `json:"date"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
		Go      string `json:"go"`
	}{orDev(info.Version), info.Commit, info.Date, runtime.GOOS, runtime.GOARCH, runtime.Version()}
	switch opts.Output {
	case render.FormatJSON:
		return render.WriteJSON(opts.IO.Out, v)
	case render.FormatNDJSON:
		return render.WriteNDJSON(opts.IO.Out, []any{v})
	}
	_, err := fmt.Fprintf(opts.IO.Out, "dlq %s %s/%s\n", info.String(), runtime.GOOS, runtime.GOARCH)
	return err
}
