package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

func newStatusCmd() *cobra.Command {
	var (
		cf     clientFlags
		jobID  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "status [--job ID]",
		Short: "Show the status of every job, or one job in detail (a running daemon's API)",
		Long: `Show the status of the daemon's jobs: without --job, a table of every job (status,
progress of the running or last cycle, ETA, users and groups in scope, escrows, last
cycle, steady state); with --job, one job in detail, including a quarantine's reason, the
exact failing request and object, the recommended action and the next run.`,
		Example: `  provisiond status
  provisiond status --job demo
  provisiond status --job demo -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := oneOf("-o", output, "table", "json")
			if err != nil {
				return err
			}
			c, err := cf.connect(cmd, readAccess)
			if err != nil {
				return err
			}
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			out := cmd.OutOrStdout()
			now := time.Now()
			if jobID != "" {
				j, err := c.Job(ctx, jobID)
				if err != nil {
					return c.fail(err, "job "+jobID)
				}
				if format == "json" {
					return writeJSON(out, j)
				}
				return writeJobDetail(out, j, now)
			}
			jobs, err := c.Jobs(ctx)
			if err != nil {
				return c.fail(err, "jobs")
			}
			if format == "json" {
				if jobs == nil {
					jobs = []client.Job{}
				}
				return writeJSON(out, jobs)
			}
			return writeJobsTable(out, jobs, now, termWidth(out))
		},
	}
	cmd.Flags().StringVar(&jobID, "job", "", "show this job in detail")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cf.register(cmd)
	return cmd
}

// writeJobsTable writes the one-line-per-job table of status.
func writeJobsTable(w io.Writer, jobs []client.Job, now time.Time, width int) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	t := table{
		header: []string{"JOB", "STATUS", "PROGRESS", "ETA", "IN SCOPE U/G", "ESCROWS", "LAST CYCLE", "STEADY STATE SINCE"},
		right:  map[int]bool{2: true, 4: true, 5: true},
		shrink: []int{6, 0},
	}
	var notes []string
	for _, j := range jobs {
		st := j.Status
		t.rows = append(t.rows, []string{j.ID, string(st.Code), progressCell(st.Progress), etaCell(st, now),
			inScope(st), fmt.Sprint(st.EscrowCount), lastCycleCell(st.LastExecution, now), agoPtr(st.SteadyStateFirstAchievedTime, now)})
		if q := st.Quarantine; q != nil {
			notes = append(notes, fmt.Sprintf("%s is quarantined (%s: %s); see provisiond status --job %s", j.ID, q.Reason, orDash(q.Error.Code), j.ID))
		}
	}
	if err := t.render(w, width); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

func progressCell(p *provisioning.Progress) string {
	if p == nil {
		return "—"
	}
	return percent(p.CompletedUnits, p.TotalUnits)
}

// etaCell is the estimated completion of a running cycle.
func etaCell(st provisioning.Status, now time.Time) string {
	if st.LastExecution == nil || st.LastExecution.State != provisioning.CycleRunning || st.Progress == nil ||
		st.Progress.EstimatedCompletionTime == nil {
		return "—"
	}
	return ago(*st.Progress.EstimatedCompletionTime, now)
}

// inScope is "users/groups" synchronized.
func inScope(st provisioning.Status) string {
	return fmt.Sprintf("%d/%d", st.SynchronizedEntryCountByType["User"], st.SynchronizedEntryCountByType["Group"])
}

// lastCycleCell is "incremental Succeeded 3m12s ago".
func lastCycleCell(c *provisioning.Cycle, now time.Time) string {
	if c == nil {
		return "—"
	}
	if c.TimeEnded == nil {
		return fmt.Sprintf("%s %s (began %s)", c.Type, c.State, ago(c.TimeBegan, now))
	}
	return fmt.Sprintf("%s %s %s", c.Type, c.State, ago(*c.TimeEnded, now))
}

// cycleLines describes a cycle in two lines: its type, state, ID and times; its counts
// and error.
func cycleLines(c *provisioning.Cycle, now time.Time) (when, counts string) {
	if c == nil {
		return "—", ""
	}
	when = fmt.Sprintf("%s %s %s, began %s", c.Type, c.State, c.CycleID, clock(c.TimeBegan))
	if c.TimeEnded != nil {
		when += fmt.Sprintf(", ended %s (took %s)", ago(*c.TimeEnded, now), span(c.TimeEnded.Sub(c.TimeBegan)))
	}
	counts = fmt.Sprintf("imported %d, in scope %d, exported %d/%d, escrowed %d, failed %d", c.CountImported, c.CountEntitled,
		c.CountExported, c.CountExports, c.CountEscrowed, c.CountFailed)
	if c.Error != nil {
		counts += fmt.Sprintf("; error %s: %s", c.Error.Code, c.Error.Message)
	}
	return when, counts
}

// writeJobDetail writes status --job.
func writeJobDetail(w io.Writer, j client.Job, now time.Time) error {
	st := j.Status
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kv := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	kv("Job", "%s (%s)", j.ID, orDash(j.Name))
	kv("Systems", "%s → %s", orDash(j.SourceSystem), orDash(j.TargetSystem))
	code := string(st.Code)
	if j.Schedule.Paused && st.Code != provisioning.StatusPaused {
		code += " (paused by an admin)"
	}
	kv("Status", "%s", code)
	if p := st.Progress; p != nil {
		line := fmt.Sprintf("%d/%d %s", p.CompletedUnits, p.TotalUnits, orDash(p.Units))
		if p.TotalUnits > 0 {
			line += fmt.Sprintf(" (%d%%)", p.CompletedUnits*100/p.TotalUnits)
		}
		if p.ObjectsPerSecond > 0 {
			line += fmt.Sprintf(", %.0f objects/s", p.ObjectsPerSecond)
		}
		if eta := etaCell(st, now); eta != "—" {
			line += ", done " + eta
		}
		kv("Progress", "%s (cycle %s)", line, p.CycleID)
	}
	kv("In scope", "%d users, %d groups", st.SynchronizedEntryCountByType["User"], st.SynchronizedEntryCountByType["Group"])
	pruned := ""
	if st.EscrowsPruned {
		pruned = " (pruned during the initial cycle)"
	}
	kv("Escrows", "%d%s; staged deletes %d", st.EscrowCount, pruned, st.StagedDeleteCount)
	cycle := func(k string, c *provisioning.Cycle) {
		when, counts := cycleLines(c, now)
		kv(k, "%s", when)
		if counts != "" {
			kv("", "%s", counts)
		}
	}
	cycle("Last cycle", st.LastExecution)
	if st.LastSuccessfulExecution != nil && (st.LastExecution == nil || st.LastSuccessfulExecution.CycleID != st.LastExecution.CycleID) {
		cycle("Last success", st.LastSuccessfulExecution)
	}
	if c := st.LastSuccessfulExecutionWithExports; c != nil && c.TimeEnded != nil {
		kv("Last exports", "%s (cycle %s)", ago(*c.TimeEnded, now), c.CycleID)
	}
	if st.SteadyStateFirstAchievedTime != nil {
		kv("Steady state", "first %s (%s), last %s (%s)", clockPtr(st.SteadyStateFirstAchievedTime), agoPtr(st.SteadyStateFirstAchievedTime, now),
			clockPtr(st.SteadyStateLastAchievedTime), agoPtr(st.SteadyStateLastAchievedTime, now))
	} else {
		kv("Steady state", "not reached yet")
	}
	if st.CountSuccessiveCompleteFailures > 0 {
		kv("Failures", "%d successive complete failures", st.CountSuccessiveCompleteFailures)
	}
	switch {
	case st.NextRun != nil:
		kv("Next run", "%s (%s)", clock(*st.NextRun), ago(*st.NextRun, now))
	case st.Code == provisioning.StatusPaused:
		kv("Next run", "none while paused (provisiond start --job %s)", j.ID)
	}
	kv("Interval", "%s", time.Duration(j.Schedule.Interval))
	if e := st.LastError; e != nil && st.Quarantine == nil {
		kv("Last error", "%s: %s", e.Code, e.Message)
		if e.RecommendedAction != "" {
			kv("Recommended", "%s", e.RecommendedAction)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	q := st.Quarantine
	if q == nil {
		return nil
	}
	fmt.Fprintln(w, "\nQuarantine")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kv("  Reason", "%s", q.Reason)
	kv("  Since", "%s (%s); series began %s, %d re-evaluations", clock(q.CurrentBegan), ago(q.CurrentBegan, now), clock(q.SeriesBegan), q.SeriesCount)
	kv("  Next attempt", "%s (%s)", clock(q.NextAttempt), ago(q.NextAttempt, now))
	actionable := "no"
	if q.Error.TenantActionable {
		actionable = "yes"
	}
	kv("  Error", "%s: %s", orDash(q.Error.Code), orDash(q.Error.Message))
	kv("  Yours to fix", "%s", actionable)
	kv("  Failing request", "%s", orDash(q.FailingRequest))
	if o := q.FailingObject; o != nil {
		kv("  Failing object", "%s", identityCell(*o))
	} else {
		kv("  Failing object", "—")
	}
	kv("  Recommended", "%s", orDash(q.Error.RecommendedAction))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nWhen fixed: provisiond start --job %s (or restart --job %s --scope QuarantineState)\n", j.ID, j.ID)
	return err
}

// identityCell is "Ada Lovelace (E000042)", with the type when it is not a user.
func identityCell(id provisioning.Identity) string {
	s := id.DisplayName
	switch {
	case s == "" && id.ID == "":
		return "—"
	case s == "" || s == id.ID:
		s = id.ID
	case id.ID != "":
		s += " (" + id.ID + ")"
	}
	if id.IdentityType != "" && !strings.EqualFold(id.IdentityType, "User") {
		s = id.IdentityType + " " + s
	}
	return s
}
