package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/provisioning"
)

// requireJob checks --job.
func requireJob(cmd *cobra.Command, job string) error {
	if strings.TrimSpace(job) == "" {
		return usagef("%s needs --job ID (provisiond status lists the jobs)", cmd.CommandPath())
	}
	return nil
}

func newCyclesCmd() *cobra.Command {
	var (
		cf     clientFlags
		job    string
		limit  int
		output string
	)
	cmd := &cobra.Command{
		Use:   "cycles --job ID [--limit N]",
		Short: "List a job's cycles, newest first (a running daemon's API)",
		Long: `List a job's cycles (initial, incremental and on-demand runs), newest first, with their
state, duration and counts. The CYCLE column is what "provisiond logs --cycle" takes.`,
		Example: `  provisiond cycles --job demo
  provisiond cycles --job demo --limit 100 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := oneOf("-o", output, "table", "json")
			if err != nil {
				return err
			}
			if err := requireJob(cmd, job); err != nil {
				return err
			}
			if limit < 1 {
				return usagef("--limit must be at least 1 (got %d)", limit)
			}
			c, err := cf.connect(cmd, readAccess)
			if err != nil {
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			cycles, err := c.Cycles(ctx, job, limit)
			if err != nil {
				return c.fail(err, "job "+job)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if cycles == nil {
					cycles = []provisioning.Cycle{}
				}
				return writeJSON(out, cycles)
			}
			return writeCyclesTable(out, cycles, time.Now(), termWidth(out))
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "the job (required)")
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many cycles")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cf.register(cmd)
	return cmd
}

// writeCyclesTable writes cycles one per line.
func writeCyclesTable(w io.Writer, cycles []provisioning.Cycle, now time.Time, width int) error {
	if len(cycles) == 0 {
		_, err := fmt.Fprintln(w, "no cycles yet")
		return err
	}
	t := table{
		header: []string{"CYCLE", "TYPE", "STATE", "BEGAN", "DURATION", "IMPORTED", "EXPORTED", "ESCROWED", "FAILED"},
		right:  map[int]bool{4: true, 5: true, 6: true, 7: true, 8: true},
	}
	for _, c := range cycles {
		d := "running " + coarse(now.Sub(c.TimeBegan))
		if c.TimeEnded != nil {
			d = span(c.TimeEnded.Sub(c.TimeBegan))
		}
		t.rows = append(t.rows, []string{c.CycleID, string(c.Type), string(c.State), clock(c.TimeBegan), d,
			fmt.Sprint(c.CountImported), fmt.Sprintf("%d/%d", c.CountExported, c.CountExports), fmt.Sprint(c.CountEscrowed), fmt.Sprint(c.CountFailed)})
	}
	return t.render(w, width)
}

// jobAction is one of restart, pause, start and sync: an admin action on a job, and what
// to say about it.
type jobAction struct {
	use, short, long, example string
	// scope: the command takes --scope (restart).
	scope bool
	// do performs the action.
	do func(ctx context.Context, c *conn, job, scope string) error
	// done says what happened, given the status before and after.
	done func(job, scope string, before, after provisioning.Status) string
}

func (a jobAction) command() *cobra.Command {
	var (
		cf    clientFlags
		job   string
		scope string
	)
	cmd := &cobra.Command{
		Use:     a.use,
		Short:   a.short,
		Long:    a.long,
		Example: a.example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireJob(cmd, job); err != nil {
				return err
			}
			if a.scope {
				if _, err := provisioning.ParseResetScope(scope); err != nil {
					return usagef("--scope: %v", strings.TrimPrefix(err.Error(), provisioning.ErrInvalidRequest.Error()+": "))
				}
			}
			c, err := cf.connect(cmd, adminAccess)
			if err != nil {
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			what := "job " + job
			before, err := c.Status(ctx, job)
			if err != nil {
				return c.fail(err, what)
			}
			if err := a.do(ctx, c, job, scope); err != nil {
				return c.fail(err, what)
			}
			after, err := c.Status(ctx, job)
			if err != nil {
				// The action succeeded; only the follow-up read did not.
				fmt.Fprintf(cmd.ErrOrStderr(), "provisiond: %s done, but reading its status failed: %v\n", strings.Fields(a.use)[0], c.fail(err, what))
				after = before
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), a.done(job, scope, before, after))
			return err
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "the job (required)")
	if a.scope {
		cmd.Flags().StringVar(&scope, "scope", "", "reset scope, comma-separated: Escrows, Watermark, QuarantineState, ConnectorDataStore, ForceDeletes, Full (empty: QuarantineState,Watermark,Escrows)")
	}
	cf.register(cmd)
	return cmd
}

// transition is "Quarantine → Active", or "Active" when the code did not change.
func transition(before, after provisioning.Status) string {
	if before.Code == after.Code {
		return string(after.Code)
	}
	return fmt.Sprintf("%s → %s", before.Code, after.Code)
}

func newRestartCmd() *cobra.Command {
	return jobAction{
		use:   "restart --job ID [--scope Escrows,Watermark,...]",
		short: "Restart a job, resetting what --scope names (admin token)",
		long: `Restart a job (Graph's restart): a running cycle stops after its current batch, then what
--scope names is reset:

  Escrows             drop every escrow (no more retries)
  Watermark           the next cycle is initial (a full read); held deletes are re-evaluated
  QuarantineState     lift the quarantine
  ConnectorDataStore  forget every source↔target link (the next cycle re-matches)
  ForceDeletes        apply the deletes and disables the deletion breaker holds
  Full                Escrows, Watermark, QuarantineState and ConnectorDataStore

Without --scope: QuarantineState, Watermark, Escrows (the portal's "Restart provisioning").`,
		example: `  provisiond restart --job demo
  provisiond restart --job demo --scope Escrows,Watermark
  provisiond restart --job demo --scope ForceDeletes`,
		scope: true,
		do: func(ctx context.Context, c *conn, job, scope string) error {
			return c.Restart(ctx, job, scope)
		},
		done: func(job, scope string, before, after provisioning.Status) string {
			rs, _ := provisioning.ParseResetScope(scope)
			var effects []string
			if rs.Escrows {
				effects = append(effects, fmt.Sprintf("escrows dropped (%d before)", before.EscrowCount))
			}
			if rs.Watermark || rs.ConnectorDataStore {
				effects = append(effects, "the next cycle is initial (a full read)")
			}
			if rs.QuarantineState {
				if before.Quarantine != nil {
					effects = append(effects, "quarantine lifted ("+string(before.Quarantine.Reason)+")")
				} else {
					effects = append(effects, "no quarantine to lift")
				}
			}
			if rs.ConnectorDataStore {
				effects = append(effects, "source↔target links forgotten (the next cycle re-matches)")
			}
			if rs.ForceDeletes {
				effects = append(effects, fmt.Sprintf("%d held deletes and disables apply in the next cycle", before.StagedDeleteCount))
			}
			s := fmt.Sprintf("Restarted job %s (scope %s): %s.\nStatus: %s", job, rs, strings.Join(effects, "; "), transition(before, after))
			if after.NextRun != nil {
				s += fmt.Sprintf("; next run %s (provisiond sync --job %s runs it now)", ago(*after.NextRun, time.Now()), job)
			}
			return s + "."
		},
	}.command()
}

func newPauseCmd() *cobra.Command {
	return jobAction{
		use:   "pause --job ID",
		short: "Pause a job after its current batch (admin token)",
		long: `Pause a job: a running cycle stops after its current batch; the job's state and
checkpoint are kept, and "provisiond start" resumes where it stopped.`,
		example: `  provisiond pause --job demo`,
		do: func(ctx context.Context, c *conn, job, _ string) error {
			return c.Pause(ctx, job)
		},
		done: func(job, _ string, before, after provisioning.Status) string {
			return fmt.Sprintf("Paused job %s: no cycle runs until provisiond start --job %s.\nStatus: %s.", job, job, transition(before, after))
		},
	}.command()
}

func newStartCmd() *cobra.Command {
	return jobAction{
		use:   "start --job ID",
		short: "Start (resume) a paused or quarantined job and run a cycle (admin token)",
		long: `Start a job (Graph's start): resume a paused job, or clear a quarantine, and run a cycle.
A paused job resumes from its checkpoint.`,
		example: `  provisiond start --job demo`,
		do: func(ctx context.Context, c *conn, job, _ string) error {
			return c.Start(ctx, job)
		},
		done: func(job, _ string, before, after provisioning.Status) string {
			s := fmt.Sprintf("Started job %s", job)
			if before.Quarantine != nil {
				s += fmt.Sprintf(" (quarantine %s cleared)", before.Quarantine.Reason)
			}
			return s + fmt.Sprintf(": a cycle runs now.\nStatus: %s; follow it with provisiond status --job %s.", transition(before, after), job)
		},
	}.command()
}

func newSyncCmd() *cobra.Command {
	return jobAction{
		use:   "sync --job ID",
		short: "Run a job's cycle now instead of waiting for the interval (admin token)",
		long: `Run a cycle of a job now (syncNow) instead of waiting for its interval; the cycle runs in
the daemon, in the background. A paused job must be started first.`,
		example: `  provisiond sync --job demo`,
		do: func(ctx context.Context, c *conn, job, _ string) error {
			return c.SyncNow(ctx, job)
		},
		done: func(job, _ string, before, after provisioning.Status) string {
			return fmt.Sprintf("Cycle of job %s requested: it runs now, in the daemon.\nStatus: %s; follow it with provisiond status --job %s.", job, transition(before, after), job)
		},
	}.command()
}

func newProvisionCmd() *cobra.Command {
	var (
		cf               clientFlags
		job, user, group string
		output           string
	)
	cmd := &cobra.Command{
		Use:   "provision --job ID (--user SOURCE_ID | --group SOURCE_ID)",
		Short: "Provision one user, or one group with all its members, now (admin token)",
		Long: `Provision one user, or one group with all its members, now (provision on demand), and
print what happened to each object: every step as it ran (import, scoping, matching,
processing, referenceResolution, export) with its status, duration, description and
details, the requests made to the target, the modified properties and the result. For a
group, the members come first. Exits with code 6 when the provisioning failed.`,
		Example: `  provisiond provision --job demo --user E000042
  provisiond provision --job demo --group G0003 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := oneOf("-o", output, "text", "json")
			if err != nil {
				return err
			}
			if err := requireJob(cmd, job); err != nil {
				return err
			}
			objectType, id := "User", user
			switch {
			case (user == "") == (group == ""):
				return usagef("%s needs exactly one of --user SOURCE_ID and --group SOURCE_ID", cmd.CommandPath())
			case group != "":
				objectType, id = "Group", group
			}
			c, err := cf.connect(cmd, adminAccess)
			if err != nil {
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			what := fmt.Sprintf("%s %s on job %s", objectType, id, job)
			res, err := c.ProvisionOnDemand(ctx, job, objectType, id)
			if err != nil {
				return c.fail(err, what)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				err = writeJSON(out, res)
			} else {
				err = writeOnDemand(out, res, objectType, id, job)
			}
			if err != nil {
				return err
			}
			if res.Result == provisioning.ResultFailure {
				return &exitError{code: codeProvisionFailed, err: fmt.Errorf("provisioning %s failed: %s", what, failureCause(res.Events))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "the job (required)")
	cmd.Flags().StringVar(&user, "user", "", "the user's source ID")
	cmd.Flags().StringVar(&group, "group", "", "the group's source ID (its members are provisioned first)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cf.register(cmd)
	return cmd
}

// writeOnDemand prints a provision-on-demand result: each event in full, then a summary.
func writeOnDemand(w io.Writer, res provisioning.OnDemandResult, objectType, id, job string) error {
	ew := &errWriter{w: w}
	for i, ev := range res.Events {
		if i > 0 {
			fmt.Fprintln(ew)
		}
		fmt.Fprintf(ew, "── %d/%d  %s: %s %s\n", i+1, len(res.Events), typed(ev.SourceIdentity), ev.Action, ev.Status)
		if err := writeEvent(ew, ev, ""); err != nil {
			return err
		}
	}
	counts := map[provisioning.Result]int{}
	for _, ev := range res.Events {
		counts[ev.Status]++
	}
	var parts []string
	for _, r := range provisioning.Results {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	c := res.Cycle
	d := ""
	if c.TimeEnded != nil {
		d = " in " + span(c.TimeEnded.Sub(c.TimeBegan))
	}
	if len(res.Events) > 0 {
		fmt.Fprintln(ew)
	}
	fmt.Fprintf(ew, "Result: %s — %s %s on job %s: %s (%s)%s; on-demand cycle %s %s\n", res.Result, objectType, id, job,
		plural(len(res.Events), "event"), orDash(strings.Join(parts, ", ")), d, c.CycleID, c.State)
	return ew.err
}

// plural is "1 event", "3 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// failureCause names the first failure among events ("EntryConflict: …").
func failureCause(events []provisioning.Event) string {
	for _, ev := range events {
		if ev.Status != provisioning.ResultFailure {
			continue
		}
		who := identityCell(ev.SourceIdentity)
		if e := ev.ErrorInformation; e != nil {
			return fmt.Sprintf("%s: %s: %s", who, e.ErrorCode, e.Reason)
		}
		return who + ": failure"
	}
	return "failure"
}
