package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
	"github.com/provisiond/provisiond/provisioning"
)

// The scale test: the query side on a store of PROVISIOND_BENCH_EVENTS engine-shaped
// events (the goals are for 10,000,000: one identity's history and a filtered page
// at p95 < 20 ms, statistics over 24 hours < 200 ms, and the export throughput). Without
// the variable it is skipped. PROVISIOND_BENCH_DB names the database file to use, so that
// the events are generated once: a file holding exactly the wanted number of events is
// reused as is; an empty or missing one is filled (10 million events take about 15
// minutes and 30 GB).
//
//	PROVISIOND_BENCH_EVENTS=10000000 PROVISIOND_BENCH_DB=/var/tmp/scale.db \
//	    go test -run TestScale -v -timeout 3h ./store/sqlite/

// scaleSpan is the time the events cover, ending at scaleEnd.
const scaleSpan = 30 * 24 * time.Hour

var scaleEnd = time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)

// scaleJobs run one after the other, a cycle every scaleSlot: each job every 40 minutes.
var scaleJobs = []struct{ id, source, target, verb string }{
	{"workday-to-salesforce", "Workday", "Salesforce", "PATCH"},
	{"workday-to-zendesk", "Workday", "Zendesk", "PUT"},
	{"workday-to-slack", "Workday", "Slack", "PATCH"},
	{"workday-to-github", "Workday", "GitHub", "PATCH"},
}

const scaleSlot = 10 * time.Minute

// scaleAttrs are the source attributes of the import step's details (an HR export with the
// attributes the jobs map; hrgen has a few more).
var scaleAttrs = []string{"id", "userName", "displayName", "department", "jobTitle", "manager"}

// scaleErrors are the error codes of failed events, the first ones the most frequent, with
// the HTTP status the target answered (0: the engine's own error).
var scaleErrors = []struct {
	code   string
	status int
	reason string
}{
	{provisioning.CodeEntryConflict, 409, "a user with userName '%s' already exists"},
	{provisioning.CodeTooManyRequests, 429, "rate limit exceeded, retry after 30 s"},
	{provisioning.CodeInvalidAnchor, 404, "the target object of '%s' no longer exists"},
	{provisioning.CodeMandatoryFieldsMissing, 0, "User '%s' has no value for the required target attribute(s) emails[type eq \"work\"].value"},
	{provisioning.CodeUnprocessableEntity, 400, "attribute 'title' of '%s': value too long"},
	{provisioning.CodeTimeout, 0, "request timed out after 30 s"},
	{provisioning.CodeInternalServerError, 500, "internal server error"},
	{provisioning.CodeInsufficientRights, 403, "the token may not modify '%s'"},
	{provisioning.CodeDuplicateTargetEntries, 0, "2 target objects match userName eq '%s'"},
	{provisioning.CodePreconditionFailed, 412, "the ETag of '%s' changed"},
	{provisioning.CodeConnectionFailed, 0, "dial tcp: connection refused"},
	{provisioning.CodeUnresolvedReference, 0, "the manager of '%s' is not provisioned yet"},
}

// scaleGen generates the scale test's events: 100,000 users and 500 groups (hrgen, with
// real display names) provisioned by four jobs over 30 days, each cycle's events a burst
// of 25 ms apart, every event shaped as the engine writes it with telemetry off (six
// steps, the import step's details holding the source attributes, the export step's
// connector call, modified properties, UUIDv7 ids; ~2.5 KB of JSON). About 10 % are not
// successes: failures with a dozen error codes, skips and warnings.
type scaleGen struct {
	total int
	users []map[string]any
	names []string // users' display names
	slots int
}

func newScaleGen(total int) *scaleGen {
	d := hrgen.Generate(hrgen.Options{Seed: 2025, Users: 100_000, Groups: 500})
	g := &scaleGen{total: total, users: d.Users, slots: int(scaleSpan / scaleSlot)}
	for _, u := range d.Users {
		n, _ := u["displayName"].(string)
		g.names = append(g.names, n)
	}
	return g
}

// slotOf is the cycle slot of event i and the index of i in it.
func (g *scaleGen) slotOf(i int) (slot, k int) {
	slot = int(int64(i) * int64(g.slots) / int64(g.total))
	first := int((int64(slot)*int64(g.total) + int64(g.slots) - 1) / int64(g.slots))
	return slot, i - first
}

func (g *scaleGen) cycleID(slot int) string {
	return fmt.Sprintf("5c0e%04x-%04x-4000-8000-%012x", slot%len(scaleJobs), slot/len(scaleJobs), slot)
}

func (g *scaleGen) timeOf(i int) time.Time {
	slot, k := g.slotOf(i)
	return scaleEnd.Add(-scaleSpan + time.Duration(slot)*scaleSlot + time.Duration(k)*25*time.Millisecond)
}

// uuid7 is a UUIDv7-shaped id for time t, unique by n.
func uuid7(r *rand.Rand, t time.Time, n int) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7%03x-%04x-%012x", ms>>16, ms&0xffff, n&0xfff, 0x8000|r.IntN(0x4000), uint64(n)<<20|uint64(r.IntN(1<<20)))
}

func (g *scaleGen) event(r *rand.Rand, i int) provisioning.Event {
	slot, _ := g.slotOf(i)
	job := scaleJobs[slot%len(scaleJobs)]
	t := g.timeOf(i)
	ui := r.IntN(len(g.users))
	u := g.users[ui]
	typ := connectors.TypeUser
	id, _ := u["id"].(string)
	name := g.names[ui]
	if r.IntN(40) == 0 {
		typ = connectors.TypeGroup
		id = fmt.Sprintf("G%04d", 1+ui%500)
		name = fmt.Sprintf("Team %d", 1+ui%500)
	}
	targetID := fmt.Sprintf("%08x-%04x-4%03x-9%03x-%012x", ui*2654435761&0xffffffff, ui&0xffff, ui&0xfff, (ui>>12)&0xfff, uint64(ui)*0x9e3779b97f4a7c15>>16)

	action := provisioning.ActionUpdate
	switch x := r.IntN(100); {
	case x < 15:
		action = provisioning.ActionCreate
	case x < 20:
		action = provisioning.ActionDisable
	case x < 23:
		action = provisioning.ActionDelete
	case x < 28:
		action = provisioning.ActionOther
	case x < 29:
		action = provisioning.ActionStagedDelete
	}
	status := provisioning.ResultSuccess
	var errInfo *provisioning.ErrorInformation
	var httpStatus = map[provisioning.Action]int{provisioning.ActionCreate: 201, provisioning.ActionDelete: 204}[action]
	if httpStatus == 0 {
		httpStatus = 200
	}
	switch x := r.IntN(100); {
	case x < 6:
		status = provisioning.ResultFailure
		e := scaleErrors[min(r.IntN(len(scaleErrors)), r.IntN(len(scaleErrors)))] // skewed to the first
		reason := e.reason
		if strings.Contains(reason, "%s") {
			reason = fmt.Sprintf(reason, name)
		}
		errInfo = &provisioning.ErrorInformation{ErrorCode: e.code, ErrorCategory: "failure", Reason: reason,
			RecommendedAction: provisioning.RecommendedAction(e.code)}
		if e.status != 0 {
			errInfo.ErrorCategory = "nonServiceFailure"
			errInfo.Reason = fmt.Sprintf("%s /scim/v2/Users/%s failed with HTTP %d: %s", job.verb, targetID, e.status, reason)
			errInfo.AdditionalDetails = fmt.Sprintf(`response: {"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"%s"}`, e.status, reason)
			httpStatus = e.status
		}
	case x < 8:
		status = provisioning.ResultSkipped
		action = provisioning.ActionOther
	case x < 10:
		status = provisioning.ResultWarning
	}

	kind := map[provisioning.Action]string{provisioning.ActionCreate: "Add", provisioning.ActionDelete: "Delete"}[action]
	if kind == "" {
		kind = "Update"
	}
	details := make(map[string]string, len(scaleAttrs))
	for _, k := range scaleAttrs {
		switch x := u[k].(type) {
		case nil:
		case string:
			details[k] = x
		case bool:
			details[k] = strconv.FormatBool(x)
		default:
			details[k] = fmt.Sprint(x)
		}
	}
	start := t.Add(-time.Duration(40+r.IntN(200)) * time.Millisecond)
	step := func(typ provisioning.StepType, name, desc string, d map[string]string) provisioning.Step {
		s := provisioning.Step{Name: name, ProvisioningStepType: typ, Status: provisioning.ResultSuccess, Description: desc, Details: d,
			Start: start, DurationInMilliseconds: float64(r.IntN(4000)) / 1000}
		start = start.Add(time.Duration(s.DurationInMilliseconds * float64(time.Millisecond)))
		return s
	}
	steps := []provisioning.Step{
		step(provisioning.StepImport, "EntryImport"+kind, fmt.Sprintf("Received %s '%s' change of type (%s) from %s", typ, name, kind, job.source), details),
		step(provisioning.StepScoping, "EntrySynchronizationScoping", fmt.Sprintf("%s '%s' is in scope (Employees: employeeType EQUALS Employee)", typ, name),
			map[string]string{"ScopingFilter": "Employees", "IsActive": "true", "IsEffectivelyEntitledForProvisioning": "true"}),
		step(provisioning.StepMatching, "EntryMatch", fmt.Sprintf("%s '%s' is linked to target object %s (connector data store)", typ, name, targetID),
			map[string]string{"MatchedBy": "ConnectorDataStore", "TargetId": targetID}),
		step(provisioning.StepProcessing, "EntrySynchronization"+kind, fmt.Sprintf("%s '%s' will be updated: 2 attribute(s) changed", typ, name),
			map[string]string{"ChangedAttributes": "2"}),
		step(provisioning.StepReferenceResolution, "EntryReferenceResolution", "Resolved manager", map[string]string{"manager": fmt.Sprint(u["manager"])}),
	}
	export := step(provisioning.StepExport, exportName(action), fmt.Sprintf("%s '%s' was exported to %s", typ, name, job.target), nil)
	export.Status = status
	export.Calls = []connectors.Call{{Method: job.verb, Target: "/scim/v2/" + string(typ) + "s/" + targetID, Status: httpStatus,
		Start: export.Start, DurationInMilliseconds: export.DurationInMilliseconds}}
	steps = append(steps, export)
	mods := []provisioning.ModifiedProperty{
		{DisplayName: "title", OldValue: "Engineer", NewValue: fmt.Sprint(u["jobTitle"])},
		{DisplayName: "department", OldValue: "Sales", NewValue: fmt.Sprint(u["department"])},
	}
	return provisioning.Event{
		ID:                     uuid7(r, t, i),
		ActivityDateTime:       t,
		JobID:                  job.id,
		CycleID:                g.cycleID(slot),
		ChangeID:               uuid7(r, t, i),
		Action:                 action,
		Status:                 status,
		ErrorInformation:       errInfo,
		ProvisioningSteps:      steps,
		ModifiedProperties:     mods,
		SourceIdentity:         provisioning.Identity{ID: id, DisplayName: name, IdentityType: string(typ)},
		TargetIdentity:         provisioning.Identity{ID: targetID, DisplayName: name, IdentityType: string(typ)},
		SourceSystem:           job.source,
		TargetSystem:           job.target,
		InitiatedBy:            provisioning.Initiator{ID: "provisiond", DisplayName: "provisiond provisioning service", InitiatorType: "system"},
		DurationInMilliseconds: int64(r.IntN(800)),
	}
}

func exportName(a provisioning.Action) string {
	switch a {
	case provisioning.ActionCreate:
		return "EntryExportAdd"
	case provisioning.ActionDelete:
		return "EntryExportDelete"
	case provisioning.ActionDisable:
		return "EntryExportDisable"
	}
	return "EntryExportUpdate"
}

// scaleStore opens the scale test's store, generating its events if it has none.
func scaleStore(t *testing.T, total int) (*Store, *scaleGen) {
	path := os.Getenv("PROVISIOND_BENCH_DB")
	if path == "" {
		path = t.TempDir() + "/scale.db"
	}
	ctx := context.Background()
	opened := time.Now()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Logf("opened %s in %v (with any schema upgrade)", path, time.Since(opened).Round(time.Millisecond))
	g := newScaleGen(total)
	var have int64
	if err := s.reader.QueryRowContext(ctx, qEventCount).Scan(&have); err != nil {
		t.Fatal(err)
	}
	switch {
	case have == int64(total):
		t.Logf("reusing %s: %d events", path, have)
		return s, g
	case have != 0:
		t.Fatalf("%s holds %d events, want %d: remove it or choose another PROVISIOND_BENCH_DB", path, have, total)
	}
	start := time.Now()
	if err := bulkLoadEvents(s, total, g.event); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("generated %d events (%d MB) in %v", total, st.Size()>>20, time.Since(start).Round(time.Second))
	return s, g
}

// latencies collects the durations of one kind of query.
type latencies struct {
	name string
	d    []time.Duration
	rows int
	cpu  time.Duration // process CPU time (all threads) spent in the queries
}

func (l *latencies) time(t *testing.T, f func() (int, error)) {
	t.Helper()
	c0, start := processCPU(), time.Now()
	n, err := f()
	l.d = append(l.d, time.Since(start))
	l.cpu += processCPU() - c0
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	l.rows += n
}

func (l *latencies) pct(p int) time.Duration {
	d := slices.Clone(l.d)
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

func (l *latencies) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	return fmt.Sprintf("%-44s n=%d  p50 %7s ms  p95 %7s ms  max %8s ms  cpu/query %7s ms  rows/query %d", l.name, len(l.d),
		ms(l.pct(50)), ms(l.pct(95)), ms(l.pct(100)), ms(l.cpu/time.Duration(max(1, len(l.d)))), l.rows/max(1, len(l.d)))
}

// TestScale measures the query side on a large store (see the comment on scaleSpan).
func TestScale(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("PROVISIOND_BENCH_EVENTS"))
	if total <= 0 {
		t.Skip("set PROVISIOND_BENCH_EVENTS (e.g. 10000000) to run the scale test")
	}
	s, g := scaleStore(t, total)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const n = 200
	dayAgo := scaleEnd.Add(-24 * time.Hour)
	randomDay := func() (time.Time, time.Time) { // a 24-hour window within the data
		from := scaleEnd.Add(-scaleSpan).Add(time.Duration(r.Int64N(int64(scaleSpan - 24*time.Hour)))).Truncate(time.Second)
		return from, from.Add(24 * time.Hour)
	}
	events := func(q provisioning.EventQuery) func() (int, error) {
		return func() (int, error) {
			evs, err := s.QueryEvents(ctx, q)
			return len(evs), err
		}
	}
	user := func() int { return r.IntN(len(g.users)) }
	codes := make([]string, len(scaleErrors))
	for i, e := range scaleErrors {
		codes[i] = e.code
	}
	var all []*latencies
	run := func(name string, q func() func() (int, error)) {
		l := &latencies{name: name}
		for range n {
			l.time(t, q())
		}
		all = append(all, l)
		t.Log(l)
	}

	run("identity: exact source id", func() func() (int, error) {
		id, _ := g.users[user()]["id"].(string)
		return events(provisioning.EventQuery{Identity: id})
	})
	run("identity: display name, other case", func() func() (int, error) {
		return events(provisioning.EventQuery{Identity: strings.ToUpper(g.names[user()])})
	})
	run("identity: display name prefix (3-8 chars)", func() func() (int, error) {
		rs := []rune(strings.ToLower(g.names[user()]))
		return events(provisioning.EventQuery{Identity: string(rs[:min(len(rs), 3+r.IntN(6))]), IdentityPrefix: true})
	})
	run("page: job + status failure", func() func() (int, error) {
		return events(provisioning.EventQuery{JobID: scaleJobs[r.IntN(len(scaleJobs))].id, Status: provisioning.ResultFailure})
	})
	run("page: job + status failure, 2nd page (After)", func() func() (int, error) {
		q := provisioning.EventQuery{JobID: scaleJobs[r.IntN(len(scaleJobs))].id, Status: provisioning.ResultFailure}
		first, err := s.QueryEvents(ctx, q)
		if err != nil || len(first) == 0 {
			return func() (int, error) { return 0, fmt.Errorf("first page: %d events, %v", len(first), err) }
		}
		last := first[len(first)-1]
		q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
		return events(q)
	})
	run("page: error code", func() func() (int, error) {
		return events(provisioning.EventQuery{ErrorCode: codes[r.IntN(len(codes))]})
	})
	run("page: cycle", func() func() (int, error) {
		return events(provisioning.EventQuery{CycleID: g.cycleID(r.IntN(g.slots))})
	})
	run("page: action + 6 h window", func() func() (int, error) {
		from, _ := randomDay()
		return events(provisioning.EventQuery{Action: []provisioning.Action{provisioning.ActionCreate, provisioning.ActionDelete,
			provisioning.ActionDisable}[r.IntN(3)], From: from, To: from.Add(6 * time.Hour)})
	})
	stats := func(groupBy string, last bool) func() func() (int, error) {
		return func() func() (int, error) {
			from, to := randomDay()
			if last {
				from, to = dayAgo, scaleEnd
			}
			return func() (int, error) {
				b, err := s.EventStats(ctx, provisioning.StatsQuery{From: from, To: to, Interval: 5 * time.Minute, GroupBy: []string{groupBy}})
				return len(b), err
			}
		}
	}
	run("stats 24 h / 5 min by action", stats(provisioning.GroupByAction, false))
	run("stats 24 h / 5 min by errorCode", stats(provisioning.GroupByErrorCode, false))
	run("stats last 24 h / 5 min by action", stats(provisioning.GroupByAction, true))
	run("stats 30 d / 1 h by status (whole store)", func() func() (int, error) {
		return func() (int, error) {
			b, err := s.EventStats(ctx, provisioning.StatsQuery{From: scaleEnd.Add(-scaleSpan), To: scaleEnd, Interval: time.Hour,
				GroupBy: []string{provisioning.GroupByStatus}})
			return len(b), err
		}
	})
	run("top errors 24 h", func() func() (int, error) {
		from, to := randomDay()
		return func() (int, error) {
			te, err := s.TopErrors(ctx, provisioning.TopErrorsQuery{From: from, To: to})
			return len(te), err
		}
	})
	run("summary 24 h", func() func() (int, error) {
		from, to := randomDay()
		return func() (int, error) {
			sum, err := s.Summary(ctx, provisioning.SummaryQuery{From: from, To: to})
			return int(min(sum.Total, 1)), err
		}
	})
	run("summary, whole store", func() func() (int, error) {
		return func() (int, error) {
			sum, err := s.Summary(ctx, provisioning.SummaryQuery{})
			if err == nil && sum.Total != int64(total) {
				err = fmt.Errorf("summary counts %d events, the store holds %d", sum.Total, total)
			}
			return 1, err
		}
	})

	// Export: a day of events, ascending pages of 1000 continued with After.
	from, to := randomDay()
	q := provisioning.EventQuery{From: from, To: to, Ascending: true, Limit: 1000}
	pages := &latencies{name: "export: page of 1000 (ascending, After)"}
	var exported int
	start := time.Now()
	for {
		var page []provisioning.Event
		pages.time(t, func() (int, error) {
			var err error
			page, err = s.QueryEvents(ctx, q)
			return len(page), err
		})
		exported += len(page)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
	}
	took := time.Since(start)
	all = append(all, pages)
	t.Log(pages)
	t.Logf("export: %d events of 24 h in %v: %.0f events/s", exported, took.Round(time.Millisecond), float64(exported)/took.Seconds())

	// Retention: prune the oldest 10,000 events (batches of retention.Batch, each a
	// transaction the engine's commits would wait for), then commit them again so that the store can be
	// reused. The generator makes them again identical (bulkLoadEvents seeds each chunk of
	// 10,000 events by its index).
	const pruned, pruneBatch = 10_000, 500 // retention.Batch
	cut := g.timeOf(pruned)
	start = time.Now()
	deleted, err := s.PruneEvents(ctx, cut, pruneBatch)
	pruneTook := time.Since(start)
	if err != nil || deleted != pruned {
		t.Fatalf("PruneEvents before %v: %d events, %v; want %d", cut, deleted, err, pruned)
	}
	r0 := rand.New(rand.NewPCG(0, 42))
	evs := make([]provisioning.Event, pruned)
	for i := range evs {
		evs[i] = g.event(r0, i)
	}
	if err := s.Commit(ctx, provisioning.Batch{Events: evs}); err != nil {
		t.Fatalf("commit the pruned events again: %v", err)
	}
	pruneLine := fmt.Sprintf("prune: %d events in batches of %d in %v: %.1f ms per batch, %.0f events/s", pruned, pruneBatch,
		pruneTook.Round(time.Millisecond), float64(pruneTook)/1e6/(pruned/pruneBatch), pruned/pruneTook.Seconds())
	t.Log(pruneLine)

	fmt.Fprintf(os.Stderr, "\nscale test: %d events\n", total)
	for _, l := range all {
		fmt.Fprintln(os.Stderr, l)
	}
	fmt.Fprintf(os.Stderr, "export: %d events in %v: %.0f events/s\n", exported, took.Round(time.Millisecond), float64(exported)/took.Seconds())
	fmt.Fprintln(os.Stderr, pruneLine)
}
