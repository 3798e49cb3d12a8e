package alarm

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/render"
)

// ListOptions are the flags and dependencies of `dlq alarm list`.
type ListOptions struct {
	deps
	Queues []string
	Prefix string
	Output render.Format
}

// ListEntry is one DLQ and the alarms watching its depth (JSON contract).
type ListEntry struct {
	Queue  string      `json:"queue"`
	Alarms []AlarmInfo `json:"alarms"`
}

// AlarmInfo describes one depth alarm.
type AlarmInfo struct {
	Name                string   `json:"name"`
	State               string   `json:"state"`
	FiresOnFirstMessage bool     `json:"firesOnFirstMessage"`
	Actions             []string `json:"actions"`
}

// NewCmdList builds `dlq alarm list`.
func NewCmdList(f *cli.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "list [QUEUE...]",
		Short: "Show each DLQ with the alarm on its depth, or that it has none",
		Example: `  # Every DLQ and its alarm
  dlq alarm list

  # DLQs without an alarm, as names
  dlq alarm list -o json | jq -r '.[] | select(.alarms == []) | .queue'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Settings()
			if err != nil {
				return err
			}
			opts.Queues, opts.Output = args, s.Output
			if err := cli.QueueSelection(cmd, s, args, &opts.Prefix); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Prefix, "prefix", "", "only queues whose names start with `PREFIX`")
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	t, err := opts.target(ctx, opts.Queues, opts.Prefix)
	if err != nil {
		return err
	}
	t.warnDenied(opts.IO)
	entries := make([]ListEntry, 0, len(t.dlqs))
	missing := 0
	for _, d := range t.dlqs {
		if !d.Exists {
			continue
		}
		e := ListEntry{Queue: d.Name, Alarms: []AlarmInfo{}}
		for _, a := range t.alarms[d.Name] {
			actions := a.Actions
			if actions == nil {
				actions = []string{}
			}
			e.Alarms = append(e.Alarms, AlarmInfo{Name: a.Name, State: a.State, FiresOnFirstMessage: a.FiresOnFirstMessage(), Actions: actions})
		}
		if len(e.Alarms) == 0 {
			missing++
		}
		entries = append(entries, e)
	}
	if opts.Output != render.FormatTable {
		if err := render.WriteData(opts.IO.Out, opts.Output, entries); err != nil {
			return err
		}
	} else {
		t := render.NewTable(opts.IO, "DLQ", "ALARM", "STATE", "FIRES ON FIRST MESSAGE")
		for _, e := range entries {
			if len(e.Alarms) == 0 {
				t.AddRow(e.Queue, "none", "-", "-")
				continue
			}
			for _, a := range e.Alarms {
				t.AddRow(e.Queue, a.Name, a.State, yesNo(a.FiresOnFirstMessage))
			}
		}
		if err := t.Render(opts.IO.Out); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(opts.IO.ErrOut, "%s, %d without an alarm\n", render.Count(len(entries), "DLQ"), missing)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
