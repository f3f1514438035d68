package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

// maxPage is the page size logs asks for (the largest the API serves; a variable so the
// tests can make it small).
var maxPage = 1000

// logsOptions are the flags of logs.
type logsOptions struct {
	cf                                   clientFlags
	job, cycle, change, identity, idType string
	action, status, errorCode, from, to  string
	since                                time.Duration
	prefix, all, asc                     bool
	limit                                int
	output, csvTable                     string
}

func newLogsCmd() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [flags]",
		Short: "Query the provisioning logs (one event per object operation) of a running daemon",
		Long: `Query the provisioning logs: one event per object operation, newest first, filtered by
job, cycle, identity (display name, source ID or target ID; exact, or a prefix with
--prefix), object type, action, status, error code and time. The table shows the 50 newest
by default; --limit N shows more, --all streams every matching event. -o json, ndjson and
csv are for scripts and spreadsheets (csv is the server's export: every matching event,
one of three tables joined on changeId). "provisiond logs show EVENT_ID" prints one event
in full.`,
		Example: `  provisiond logs --identity alice --since 1h
  provisiond logs --job demo --status failure --limit 200
  provisiond logs --identity E0000 --prefix --action create -o json
  provisiond logs --job demo --since 24h -o csv --table steps > steps.csv
  provisiond logs --job demo --all -o ndjson | jq .errorInformation.errorCode`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLogs(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.job, "job", "", "only events of this job")
	f.StringVar(&o.cycle, "cycle", "", "only events of this cycle (ID)")
	f.StringVar(&o.change, "change", "", "only events of this change ID")
	f.StringVar(&o.identity, "identity", "", "only events of this object: display name, source ID or target ID (exact; see --prefix)")
	f.BoolVar(&o.prefix, "prefix", false, "--identity matches as a prefix")
	f.StringVar(&o.idType, "type", "", "only this object type: User or Group")
	f.StringVar(&o.action, "action", "", "only this action: create, update, delete, disable, stagedDelete, other")
	f.StringVar(&o.status, "status", "", "only this status: success, warning, failure, skipped")
	f.StringVar(&o.errorCode, "error-code", "", "only events with this error code (EntryConflict, …)")
	f.DurationVar(&o.since, "since", 0, "only events of the last duration (1h, 30m, 72h)")
	f.StringVar(&o.from, "from", "", "only events at or after this time (RFC 3339: 2026-11-24T09:00:00Z)")
	f.StringVar(&o.to, "to", "", "only events before this time (RFC 3339)")
	f.IntVar(&o.limit, "limit", 50, "show at most this many events")
	f.BoolVar(&o.all, "all", false, "stream every matching event (no limit)")
	f.BoolVar(&o.asc, "asc", false, "oldest first")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json, ndjson or csv")
	f.StringVar(&o.csvTable, "table", "", "with -o csv: events (default), steps or modifiedProperties")
	o.cf.register(cmd)
	cmd.AddCommand(newLogsShowCmd())
	return cmd
}

// query builds the API query from the flags.
func (o logsOptions) query(cmd *cobra.Command, now time.Time) (client.LogsQuery, error) {
	q := client.LogsQuery{JobID: o.job, CycleID: o.cycle, ChangeID: o.change, Identity: o.identity,
		IdentityPrefix: o.prefix, ErrorCode: o.errorCode, Ascending: o.asc}
	var err error
	if o.prefix && o.identity == "" {
		return q, usagef("--prefix needs --identity")
	}
	if o.idType != "" {
		if q.IdentityType, err = oneOf("--type", o.idType, "User", "Group"); err != nil {
			return q, err
		}
	}
	if o.action != "" {
		if q.Action, err = oneOf("--action", o.action, names(provisioning.Actions)...); err != nil {
			return q, err
		}
	}
	if o.status != "" {
		if q.Status, err = oneOf("--status", o.status, names(provisioning.Results)...); err != nil {
			return q, err
		}
	}
	if o.since < 0 {
		return q, usagef("--since must be positive (got %s)", o.since)
	}
	if o.since > 0 {
		if o.from != "" {
			return q, usagef("--since and --from both set a start: use one")
		}
		q.From = now.Add(-o.since)
	}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--from", o.from, &q.From}, {"--to", o.to, &q.To}} {
		if t.v == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.v); err != nil {
			return q, usagef("%s %q: want an RFC 3339 time such as 2026-11-24T09:00:00Z", t.flag, t.v)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, usagef("the start (%s) is not before --to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if o.limit < 1 {
		return q, usagef("--limit must be at least 1 (got %d)", o.limit)
	}
	if o.csvTable != "" && o.output != "csv" {
		return q, usagef("--table applies to -o csv only")
	}
	if o.output == "csv" && cmd.Flags().Changed("limit") {
		return q, usagef("-o csv exports every matching event; narrow it with --since, --from/--to and the filters instead of --limit")
	}
	return q, nil
}

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func runLogs(cmd *cobra.Command, o logsOptions) error {
	var err error
	if o.output, err = oneOf("-o", o.output, "table", "json", "ndjson", "csv"); err != nil {
		return err
	}
	if o.csvTable != "" {
		if o.csvTable, err = oneOf("--table", o.csvTable, "events", "steps", "modifiedProperties"); err != nil {
			return err
		}
	}
	q, err := o.query(cmd, time.Now())
	if err != nil {
		return err
	}
	c, err := o.cf.connect(cmd, readAccess)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	ctx := cmd.Context()
	what := "provisioning logs"
	switch {
	case o.output == "csv":
		bw := bufio.NewWriter(out)
		if err := c.ExportLogs(ctx, q, o.csvTable, bw); err != nil {
			return c.fail(err, what)
		}
		return bw.Flush()
	case o.all && o.output == "ndjson":
		bw := bufio.NewWriter(out)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		if err := c.StreamLogs(ctx, q, func(ev provisioning.Event) error { return enc.Encode(ev) }); err != nil {
			return c.fail(err, what)
		}
		return bw.Flush()
	case o.all && o.output == "json":
		return streamJSONArray(out, func(emit func(provisioning.Event) error) error {
			return c.fail(c.StreamLogs(ctx, q, emit), what)
		})
	}
	var events []provisioning.Event
	more := false
	if o.all {
		err = c.StreamLogs(ctx, q, func(ev provisioning.Event) error { events = append(events, ev); return nil })
	} else {
		tctx, cancel := c.ctx(ctx)
		events, more, err = fetchLogs(tctx, c, q, o.limit)
		cancel()
	}
	if err != nil {
		return c.fail(err, what)
	}
	switch o.output {
	case "json":
		if events == nil {
			events = []provisioning.Event{}
		}
		err = writeJSON(out, events)
	case "ndjson":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		for _, ev := range events {
			if err = enc.Encode(ev); err != nil {
				break
			}
		}
	default:
		err = writeLogsTable(out, events, termWidth(out))
	}
	if err != nil {
		return err
	}
	if more {
		order := "newest"
		if o.asc {
			order = "oldest"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "showing the %d %s matching events; more match: raise --limit or use --all\n", len(events), order)
	}
	return nil
}

// fetchLogs reads pages until limit events; more reports that further events match (it
// asks for one event more than it shows, so an exact fit is not reported as more).
func fetchLogs(ctx context.Context, c *conn, q client.LogsQuery, limit int) ([]provisioning.Event, bool, error) {
	var events []provisioning.Event
	for {
		q.Limit = min(limit-len(events)+1, maxPage)
		p, err := c.Logs(ctx, q)
		if err != nil {
			return nil, false, err
		}
		events = append(events, p.Value...)
		switch {
		case len(events) > limit:
			return events[:limit], true, nil
		case p.NextCursor == "" || len(p.Value) == 0:
			return events, false, nil
		case len(events) == limit:
			return events, true, nil // a full page of maxPage ended exactly at the limit
		}
		q.Cursor = p.NextCursor
	}
}

// streamJSONArray writes the events emit receives as one JSON array, as they come.
func streamJSONArray(w io.Writer, each func(emit func(provisioning.Event) error) error) error {
	bw := bufio.NewWriter(w)
	n := 0
	if _, err := bw.WriteString("["); err != nil {
		return err
	}
	err := each(func(ev provisioning.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		sep := ",\n  "
		if n == 0 {
			sep = "\n  "
		}
		n++
		bw.WriteString(sep)
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		bw.Flush()
		return err
	}
	if n > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// writeLogsTable writes events one per line.
func writeLogsTable(w io.Writer, events []provisioning.Event, width int) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no matching events")
		return err
	}
	t := table{
		header: []string{"TIME", "JOB", "ACTION", "STATUS", "IDENTITY", "TARGET ID", "ERROR CODE", "EVENT ID"},
		shrink: []int{4, 5, 1}, // never the event ID: logs show needs it whole
	}
	for _, ev := range events {
		code := ""
		if ev.ErrorInformation != nil {
			code = ev.ErrorInformation.ErrorCode
		}
		t.rows = append(t.rows, []string{clock(ev.ActivityDateTime), ev.JobID, string(ev.Action), string(ev.Status),
			identityCell(ev.SourceIdentity), orDash(ev.TargetIdentity.ID), orDash(code), ev.ID})
	}
	return t.render(w, width)
}

func newLogsShowCmd() *cobra.Command {
	var (
		cf     clientFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "show EVENT_ID",
		Short: "Print one provisioning event in full: steps, modified properties, error, trace",
		Long: `Print one provisioning event in full: who and what, each step (import, scoping, matching,
processing, referenceResolution, export) with its status, duration, description, details
and the requests it made, the modified properties (old → new), the error information with
the recommended action, and the trace ID to find the operation in your tracing backend.`,
		Example: `  provisiond logs show 0d4c8f5e-…
  provisiond logs show 0d4c8f5e-… -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
				return usagef("%s needs one EVENT_ID (the EVENT ID column of provisiond logs)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := oneOf("-o", output, "text", "json")
			if err != nil {
				return err
			}
			c, err := cf.connect(cmd, readAccess)
			if err != nil {
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			ev, err := c.Event(ctx, args[0])
			if err != nil {
				return c.fail(err, "event "+args[0])
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), ev)
			}
			return writeEvent(cmd.OutOrStdout(), ev, "")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cf.register(cmd)
	return cmd
}
