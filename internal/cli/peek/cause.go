package peek

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dlqops/dlq/internal/cli"
	"github.com/dlqops/dlq/internal/filter"
	"github.com/dlqops/dlq/internal/insights"
	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/triage"
)

// CauseOptions select the messages of one cause `dlq triage` shows
// (--cause), and where the pipeline's logs are to classify them.
type CauseOptions struct {
	ID       string
	Groups   []string
	Prefixes []string
}

// AddCauseFlags declares --cause and, unless the command has them,
// --log-group and --log-group-prefix.
func AddCauseFlags(cmd *cobra.Command, o *CauseOptions) {
	fs := cmd.Flags()
	fs.StringVar(&o.ID, "cause", "", "only the messages of this cause `ID` from dlq triage (at least 4 digits)")
	if fs.Lookup("log-group") == nil {
		fs.StringArrayVar(&o.Groups, "log-group", nil, "with --cause: log group `NAME` where the pipeline logs; repeatable (default: the context's logGroups)")
	}
	if fs.Lookup("log-group-prefix") == nil {
		fs.StringArrayVar(&o.Prefixes, "log-group-prefix", nil, "with --cause: log groups whose names start with `PREFIX`; repeatable")
	}
}

// Defaults fills the log groups from the context when no flag gave any.
func (o *CauseOptions) Defaults(s cli.Settings) {
	if len(o.Groups) == 0 && len(o.Prefixes) == 0 {
		o.Groups, o.Prefixes = s.LogGroups, s.LogGroupPrefix
	}
}

// SelectCause classifies the messages of the queue that flt selects (a
// scan that gives every message back) the way `dlq triage` does, and adds
// to flt the condition that a message belongs to cause o.ID. It returns
// the selected group; a cause that names no group, or several, is a usage
// error. Without o.ID it does nothing.
func SelectCause(ctx context.Context, api SQSAPI, logs func(context.Context) (insights.LogsAPI, error), ref queue.Ref, flt *filter.Filter, o CauseOptions, warn io.Writer) (*triage.Group, error) {
	if o.ID == "" {
		return nil, nil
	}
	_, res, err := Collect(ctx, api, ref, flt, CollectOptions{Warn: warn})
	if err != nil {
		return nil, err
	}
	var src *triage.LogSource
	if len(o.Groups) > 0 || len(o.Prefixes) > 0 {
		l, err := logs(ctx)
		if err != nil {
			return nil, err
		}
		src = &triage.LogSource{API: l, Groups: o.Groups, Prefixes: o.Prefixes}
	}
	sel, err := triage.SelectCause(ctx, triage.Options{Logs: src}, res.Matched, o.ID)
	if err != nil {
		var ce *triage.CauseError
		if errors.As(err, &ce) {
			return nil, &cli.UsageError{Err: err}
		}
		return nil, fmt.Errorf("select cause %s: %w", o.ID, err)
	}
	flt.Also(sel.Match)
	g := sel.Group
	_, _ = fmt.Fprintf(warn, "cause %s: %s at step %s (%s)\n", g.ID, render.Sanitize(g.Error), render.Sanitize(g.Step), render.Count(g.Count, "message"))
	return &g, nil
}
