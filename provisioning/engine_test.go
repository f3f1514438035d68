package provisioning_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

// seed puts a small org in the source: a manager listed after her reports (so references
// resolve in the reference phase), an out-of-scope contractor, and a group.
func seed(e *env) {
	e.src.Put(user("E1", "Ada", "Lovelace", "Eng", "E9"))
	e.src.Put(user("E2", "Alan", "Turing", "Eng", "E9"))
	c := user("E3", "Carl", "Contractor", "Eng", "")
	c.Attributes["employeeType"] = "Contractor"
	e.src.Put(c)
	e.src.Put(user("E9", "Grace", "Hopper", "Eng", ""))
	e.src.Put(group("G1", "Engineering", "E1", "E2", "E3", "E9"))
}

func TestInitialCycle(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	c := e.cycle()
	if c.Type != provisioning.CycleInitial || c.State != provisioning.CycleSucceeded {
		t.Fatalf("cycle %s %s, want initial Succeeded; error %+v", c.Type, c.State, c.Error)
	}
	evs := e.obs.take()
	for _, id := range []string{"E1", "E2", "E9"} {
		ev := eventsFor(evs, id)[0]
		if ev.Action != provisioning.ActionCreate || ev.Status == provisioning.ResultFailure {
			t.Errorf("%s: %s/%s, want create", id, ev.Action, ev.Status)
		}
		var types []provisioning.StepType
		for _, s := range ev.ProvisioningSteps {
			types = append(types, s.ProvisioningStepType)
		}
		want := []provisioning.StepType{provisioning.StepImport, provisioning.StepScoping, provisioning.StepMatching, provisioning.StepProcessing, provisioning.StepReferenceResolution, provisioning.StepExport}
		if id == "E9" { // no manager: no reference step
			want = []provisioning.StepType{provisioning.StepImport, provisioning.StepScoping, provisioning.StepMatching, provisioning.StepProcessing, provisioning.StepExport}
		}
		if strings.Join(stepNames(types), ",") != strings.Join(stepNames(want), ",") {
			t.Errorf("%s steps %v, want %v", id, types, want)
		}
	}
	// The contractor is out of scope: skipped, NotEffectivelyEntitled, never created.
	ev := mustOne(t, evs, "E3")
	if ev.Status != provisioning.ResultSkipped {
		t.Errorf("E3 %s, want skipped", ev.Status)
	}
	if s, _ := stepOf(ev, provisioning.StepProcessing); s.Details["SkipReason"] != "NotEffectivelyEntitled" {
		t.Errorf("E3 skip reason %q", s.Details["SkipReason"])
	}
	if _, ok := e.targetUser("carl.contractor@example.com"); ok {
		t.Error("out-of-scope user was created")
	}
	// E1's manager (E9) sorts after E1: pending first, resolved in the reference phase.
	boss, _ := e.targetUser("grace.hopper@example.com")
	ada, _ := e.targetUser("ada.lovelace@example.com")
	if got := ada.Attributes[ent+"manager"]; got != boss.ID {
		t.Errorf("E1 manager = %v, want %s", got, boss.ID)
	}
	if ada.Attributes["preferredLanguage"] != "en-US" || ada.Attributes["displayName"] != "Ada Lovelace" {
		t.Errorf("E1 attributes %v", ada.Attributes)
	}
	// The group has the three in-scope members.
	groups := e.tgt.Objects(connectors.TypeGroup)
	if len(groups) != 1 {
		t.Fatalf("groups %d", len(groups))
	}
	if m := e.tgt.Members(groups[0].ID); len(m) != 3 {
		t.Errorf("members %v, want 3", m)
	}
	if c.CountImported != 5+countRefEvents(evs) && c.CountImported < 5 {
		t.Errorf("countImported %d", c.CountImported)
	}
	if c.CountEntitled != 4 {
		t.Errorf("countEntitled %d, want 4 (3 users + 1 group)", c.CountEntitled)
	}
	st := e.status()
	if st.Code != provisioning.StatusActive || !st.InitialCycleCompleted {
		t.Errorf("status %s initial %v", st.Code, st.InitialCycleCompleted)
	}
	if st.Progress == nil || st.Progress.Units != "objects" || st.Progress.CompletedUnits != c.CountImported || st.Progress.TotalUnits != c.CountImported {
		t.Errorf("progress %+v, want %d of %d objects", st.Progress, c.CountImported, c.CountImported)
	}
	if st.SynchronizedEntryCountByType["User"] != 3 || st.SynchronizedEntryCountByType["Group"] != 1 {
		t.Errorf("synchronizedEntryCountByType %v", st.SynchronizedEntryCountByType)
	}
	// Second cycle: incremental, nothing changed → steady state.
	c2 := e.cycle()
	if c2.Type != provisioning.CycleIncremental || c2.CountExports != 0 {
		t.Errorf("second cycle %s exports %d", c2.Type, c2.CountExports)
	}
	if e.status().SteadyStateLastAchievedTime == nil {
		t.Error("no steady state after an idle cycle")
	}
}

func countRefEvents(evs []provisioning.Event) int64 {
	var n int64
	for _, ev := range evs {
		if ev.ProvisioningSteps[0].ProvisioningStepType == provisioning.StepReferenceResolution {
			n++
		}
	}
	return n
}

func stepNames(t []provisioning.StepType) []string {
	s := make([]string, len(t))
	for i, x := range t {
		s[i] = string(x)
	}
	return s
}

func TestActions(t *testing.T) {
	type tc struct {
		name   string
		job    func(*provisioning.Job)
		change func(e *env)
		id     string
		action provisioning.Action
		status provisioning.Result
		skip   string
		check  func(t *testing.T, e *env, ev provisioning.Event)
	}
	cases := []tc{
		{name: "update only changed attributes", id: "E2",
			change: func(e *env) { u := user("E2", "Alan", "Turing", "Research", "E9"); e.src.Put(u) },
			action: provisioning.ActionUpdate, status: provisioning.ResultSuccess,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				if len(ev.ModifiedProperties) != 1 || ev.ModifiedProperties[0].DisplayName != ent+"department" ||
					ev.ModifiedProperties[0].OldValue != "Eng" || ev.ModifiedProperties[0].NewValue != "Research" {
					t.Errorf("modifiedProperties %+v", ev.ModifiedProperties)
				}
				calls := e.tgt.Calls()
				var upd []memoryCall
				for _, c := range calls {
					if c.Op == "update" {
						upd = append(upd, memoryCall{c.ID, len(c.Mods)})
					}
				}
				if len(upd) != 1 || upd[0].n != 1 {
					t.Errorf("update calls %+v, want one with one modification", upd)
				}
			}},
		{name: "redundant export skipped", id: "E2",
			change: func(e *env) {
				u := user("E2", "Alan", "Turing", "Eng", "E9")
				u.Attributes["unmapped"] = "x"
				e.src.Put(u)
			},
			action: provisioning.ActionOther, status: provisioning.ResultSkipped, skip: "RedundantExport"},
		{name: "out of scope disables", id: "E2",
			change: func(e *env) {
				u := user("E2", "Alan", "Turing", "Eng", "E9")
				u.Attributes["employeeType"] = "Contractor"
				e.src.Put(u)
			},
			action: provisioning.ActionDisable, status: provisioning.ResultSuccess,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				u, _ := e.targetUser("alan.turing@example.com")
				if u.Attributes["active"] != false {
					t.Errorf("active = %v", u.Attributes["active"])
				}
				if l, _ := e.link(connectors.TypeUser, "E2"); !l.Disabled {
					t.Error("link not marked disabled")
				}
			}},
		{name: "skip out-of-scope deletions", id: "E2", job: func(j *provisioning.Job) { j.Settings.SkipOutOfScopeDeletions = true },
			change: func(e *env) {
				u := user("E2", "Alan", "Turing", "Eng", "E9")
				u.Attributes["employeeType"] = "Contractor"
				e.src.Put(u)
			},
			action: provisioning.ActionOther, status: provisioning.ResultSkipped, skip: "SkipOutOfScopeDeletions"},
		{name: "disabled in source disables", id: "E2", job: func(j *provisioning.Job) { j.Settings.SkipOutOfScopeDeletions = true },
			change: func(e *env) {
				u := user("E2", "Alan", "Turing", "Eng", "E9")
				u.Attributes["accountEnabled"] = false
				e.src.Put(u)
			},
			action: provisioning.ActionDisable, status: provisioning.ResultSuccess},
		{name: "hard delete deletes", id: "E2",
			change: func(e *env) { e.src.Delete(connectors.TypeUser, "E2") },
			action: provisioning.ActionDelete, status: provisioning.ResultSuccess,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				if _, ok := e.targetUser("alan.turing@example.com"); ok {
					t.Error("user still in target")
				}
				if _, ok := e.link(connectors.TypeUser, "E2"); ok {
					t.Error("link still there")
				}
			}},
		{name: "new hire created", id: "E5",
			change: func(e *env) { e.src.Put(user("E5", "Katherine", "Johnson", "Eng", "E9")) },
			action: provisioning.ActionCreate, status: provisioning.ResultSuccess,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				u, ok := e.targetUser("katherine.johnson@example.com")
				boss, _ := e.targetUser("grace.hopper@example.com")
				if !ok || u.Attributes[ent+"manager"] != boss.ID {
					t.Errorf("new hire %v (manager want %s)", u.Attributes, boss.ID)
				}
			}},
		{name: "missing required attribute", id: "E6",
			change: func(e *env) { u := user("E6", "No", "Name", "Eng", ""); delete(u.Attributes, "userName"); e.src.Put(u) },
			action: provisioning.ActionOther, status: provisioning.ResultFailure,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				// No matching value at all: ImportSkipped (externalId still matches, so
				// the required-attribute rule answers).
				if c := ev.ErrorInformation.ErrorCode; c != provisioning.CodeMandatoryFieldsMissing && c != provisioning.CodeImportSkipped {
					t.Errorf("error code %s", c)
				}
			}},
		{name: "a second source object with the same matching value is refused", id: "E7",
			change: func(e *env) { e.src.Put(user("E7", "Ada", "Lovelace", "Ops", "")) },
			action: provisioning.ActionOther, status: provisioning.ResultFailure,
			check: func(t *testing.T, e *env, ev provisioning.Event) {
				// Same userName as E1, whose account it matches: never taken over
				// (DuplicateSourceEntries), and nothing is written to the target.
				if ev.ErrorInformation == nil || ev.ErrorInformation.ErrorCode != provisioning.CodeDuplicateSourceEntries {
					t.Errorf("error = %+v", ev.ErrorInformation)
				}
				if s, _ := stepOf(ev, provisioning.StepMatching); s.Details["LinkedSourceId"] != "E1" {
					t.Errorf("matching details %v", s.Details)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := testJob()
			if c.job != nil {
				c.job(&job)
			}
			e := newEnv(t, job)
			seed(e)
			e.cycle()
			e.obs.take()
			e.tgt.ResetCalls()
			c.change(e)
			cy := e.cycle()
			evs := e.obs.take()
			ev := mustOne(t, evs, c.id)
			if ev.Action != c.action || ev.Status != c.status {
				t.Fatalf("%s/%s, want %s/%s; events %v", ev.Action, ev.Status, c.action, c.status, summarize(evs))
			}
			if c.skip != "" {
				found := false
				for _, s := range ev.ProvisioningSteps {
					if s.Details["SkipReason"] == c.skip {
						found = true
					}
				}
				if !found {
					t.Errorf("no step with SkipReason %s: %+v", c.skip, ev.ProvisioningSteps)
				}
			}
			if cy.Type != provisioning.CycleIncremental {
				t.Errorf("cycle type %s", cy.Type)
			}
			if c.check != nil {
				c.check(t, e, ev)
			}
		})
	}
}

type memoryCall struct {
	id string
	n  int
}

func TestReenableAfterDisable(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	e.cycle()
	u := user("E2", "Alan", "Turing", "Eng", "E9")
	u.Attributes["accountEnabled"] = false
	e.src.Put(u)
	e.cycle()
	u.Attributes["accountEnabled"] = true
	e.src.Put(u)
	e.obs.take()
	e.cycle()
	ev := mustOne(t, e.obs.take(), "E2")
	if ev.Action != provisioning.ActionUpdate || ev.Status != provisioning.ResultSuccess {
		t.Fatalf("%s/%s", ev.Action, ev.Status)
	}
	tu, _ := e.targetUser("alan.turing@example.com")
	if tu.Attributes["active"] != true {
		t.Errorf("active = %v after re-enable", tu.Attributes["active"])
	}
}

func TestDuplicateTargetEntries(t *testing.T) {
	e := newEnv(t, testJob())
	// Two target users share the matching value: never pick one.
	e.tgt.Seed(connectors.TypeUser, connectors.Attributes{"userName": "dup@example.com", "externalId": "x"})
	e.tgt.Seed(connectors.TypeUser, connectors.Attributes{"userName": "dup@example.com"})
	u := user("E1", "dup", "x", "Eng", "")
	u.Attributes["userName"] = "dup@example.com"
	e.src.Put(u)
	e.cycle()
	ev := mustOne(t, e.obs.take(), "E1")
	if ev.Status != provisioning.ResultFailure || ev.ErrorInformation.ErrorCode != provisioning.CodeDuplicateTargetEntries {
		t.Fatalf("%s %+v", ev.Status, ev.ErrorInformation)
	}
}

func TestDuplicateSourceEntries(t *testing.T) {
	// Two source users share a matching value. The first gets the target account; the
	// second, in a later cycle and on demand, must not take it over.
	e := newEnv(t, testJob())
	a := user("E1", "Ada", "Lovelace", "Eng", "")
	a.Attributes["userName"] = "shared@example.com"
	e.src.Put(a)
	e.cycle()
	e.obs.take()
	b := user("E2", "Bob", "Shared", "Eng", "")
	b.Attributes["userName"] = "shared@example.com"
	e.src.Put(b)
	e.cycle()
	ev := mustOne(t, e.obs.take(), "E2")
	if ev.Status != provisioning.ResultFailure || ev.ErrorInformation.ErrorCode != provisioning.CodeDuplicateSourceEntries {
		t.Fatalf("cycle: %s %+v", ev.Status, ev.ErrorInformation)
	}
	res, err := e.eng.ProvisionOnDemand(e.ctx, "j1", provisioning.OnDemandRequest{ObjectType: connectors.TypeUser, SourceID: "E2"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != provisioning.ResultFailure || res.Events[0].ErrorInformation.ErrorCode != provisioning.CodeDuplicateSourceEntries {
		t.Fatalf("on demand: %s %+v", res.Result, res.Events[0].ErrorInformation)
	}
	tu, _ := e.targetUser("shared@example.com")
	if tu.Attributes["externalId"] != "E1" {
		t.Errorf("the first user's account was taken over: externalId = %v", tu.Attributes["externalId"])
	}
}

func TestEscrowBackoffAndRetry(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	fail := true
	e.tgt.FailWhen(func(op string, typ connectors.ObjectType, id string, attrs connectors.Attributes) error {
		if fail && op == "create" && attrs["userName"] == "alan.turing@example.com" {
			return errRetryable()
		}
		return nil
	})
	c := e.cycle()
	if c.State != provisioning.CycleEntryLevelErrors || c.CountEscrowed != 1 {
		t.Fatalf("cycle %s escrowed %d", c.State, c.CountEscrowed)
	}
	ev := mustOne(t, e.obs.take(), "E2")
	if ev.Status != provisioning.ResultFailure || ev.ErrorInformation.ErrorCode != "InternalServerError" {
		t.Fatalf("E2 %s %+v", ev.Status, ev.ErrorInformation)
	}
	esc, err := e.store.DueEscrows(e.ctx, "j1", e.clk.Now().Add(24*time.Hour), nil, 10)
	if err != nil || len(esc) != 1 || esc[0].Attempts != 1 {
		t.Fatalf("escrows %+v %v", esc, err)
	}
	if got := esc[0].NextAttempt.Sub(e.clk.Now()); got != time.Hour {
		t.Errorf("first backoff %s, want 1h (escrowRetryBase)", got)
	}
	// Not due yet: the next cycle does not retry.
	e.clk.Advance(30 * time.Minute)
	e.cycle()
	if n := len(eventsFor(e.obs.take(), "E2")); n != 0 {
		t.Errorf("retried before due: %d events", n)
	}
	// Due and failing again: attempt 2, backoff doubles.
	e.clk.Advance(31 * time.Minute)
	e.cycle()
	ev = mustOne(t, e.obs.take(), "E2")
	if s := ev.ProvisioningSteps[0]; s.Details["RetryCount"] != "1" {
		t.Errorf("retry import step details %v", s.Details)
	}
	esc, _ = e.store.DueEscrows(e.ctx, "j1", e.clk.Now().Add(24*time.Hour), nil, 10)
	if len(esc) != 1 || esc[0].Attempts != 2 || esc[0].NextAttempt.Sub(e.clk.Now()) != 2*time.Hour {
		t.Fatalf("after 2nd failure: %+v", esc)
	}
	// Fixed: the retry succeeds and the escrow is gone.
	fail = false
	e.clk.Advance(2 * time.Hour)
	e.cycle()
	ev = mustOne(t, e.obs.take(), "E2")
	if ev.Action != provisioning.ActionCreate || ev.Status != provisioning.ResultSuccess {
		t.Fatalf("retry %s/%s", ev.Action, ev.Status)
	}
	if n, _ := e.store.CountEscrows(e.ctx, "j1"); n != 0 {
		t.Errorf("escrows left: %d", n)
	}
}

func TestQuarantineOnCredentialFailure(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	e.cycle()
	broken := true
	e.tgt.FailWhen(func(op string, _ connectors.ObjectType, _ string, _ connectors.Attributes) error {
		if broken && op == "test" {
			return errUnauthorized()
		}
		return nil
	})
	began := e.clk.Now()
	c := e.cycle()
	if c.State != provisioning.CycleFailed {
		t.Fatalf("cycle %s", c.State)
	}
	st := e.status()
	q := st.Quarantine
	if st.Code != provisioning.StatusQuarantine || q == nil || q.Reason != provisioning.ReasonQuarantineException {
		t.Fatalf("status %s %+v", st.Code, q)
	}
	if q.NextAttempt.Sub(began) != 6*time.Hour || q.SeriesCount != 0 || q.Error.Code != "Unauthorized" || q.FailingRequest != "GET /scim/v2/Users" {
		t.Errorf("quarantine %+v", q)
	}
	// Backoff: still failing at the retries → 12h, then 24h, then 24h.
	for i, want := range []time.Duration{12 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		e.clk.Advance(q.NextAttempt.Sub(e.clk.Now()))
		e.cycle()
		q = e.status().Quarantine
		if q.SeriesCount != int64(i+1) || q.NextAttempt.Sub(e.clk.Now()) != want || !q.SeriesBegan.Equal(began) {
			t.Errorf("retry %d: seriesCount %d next in %s (want %s)", i+1, q.SeriesCount, q.NextAttempt.Sub(e.clk.Now()), want)
		}
	}
	// Fixed: the next attempt succeeds and releases the quarantine.
	broken = false
	e.clk.Advance(24 * time.Hour)
	e.cycle()
	if st := e.status(); st.Code != provisioning.StatusActive || st.Quarantine != nil {
		t.Errorf("after fix: %s %+v", st.Code, st.Quarantine)
	}
	hist, _ := e.store.History(e.ctx, "j1", 10)
	if len(hist) < 3 || hist[0].NewCode != provisioning.StatusActive || hist[1].NewCode != provisioning.StatusQuarantine || hist[1].Reason != provisioning.ReasonQuarantineException {
		t.Errorf("history %+v", hist)
	}
}

func TestQuarantineMaxDurationPauses(t *testing.T) {
	job := testJob()
	job.Settings.QuarantineMaxDuration = provisioning.Duration(30 * time.Hour)
	e := newEnv(t, job)
	seed(e)
	e.tgt.FailWhen(func(op string, _ connectors.ObjectType, _ string, _ connectors.Attributes) error {
		if op == "test" {
			return errUnauthorized()
		}
		return nil
	})
	e.cycle()
	for e.status().Code == provisioning.StatusQuarantine {
		e.clk.Advance(e.status().Quarantine.NextAttempt.Sub(e.clk.Now()))
		e.cycle()
	}
	if st := e.status(); st.Code != provisioning.StatusPaused {
		t.Fatalf("code %s", st.Code)
	}
}

func TestDeletionBreakerAndForceDeletes(t *testing.T) {
	job := testJob()
	job.Settings.DeletionThreshold = 1
	e := newEnv(t, job)
	seed(e)
	e.cycle()
	e.obs.take()
	e.src.Delete(connectors.TypeUser, "E1")
	e.src.Delete(connectors.TypeUser, "E2")
	e.cycle()
	evs := e.obs.take()
	for _, id := range []string{"E1", "E2"} {
		ev := mustOne(t, evs, id)
		if ev.Action != provisioning.ActionStagedDelete {
			t.Errorf("%s %s, want stagedDelete", id, ev.Action)
		}
	}
	if _, ok := e.targetUser("ada.lovelace@example.com"); !ok {
		t.Fatal("a held delete was applied")
	}
	st := e.status()
	if st.Code != provisioning.StatusQuarantine || st.Quarantine.Reason != provisioning.ReasonTooManyDeletes || st.StagedDeleteCount != 2 {
		t.Fatalf("status %s %+v staged %d", st.Code, st.Quarantine, st.StagedDeleteCount)
	}
	// The scheduler waits for an admin: ForceDeletes applies them.
	if err := e.eng.Restart(e.ctx, "j1", provisioning.ResetScope{ForceDeletes: true}, "tester"); err != nil {
		t.Fatal(err)
	}
	e.cycle()
	evs = e.obs.take()
	for _, id := range []string{"E1", "E2"} {
		ev := mustOne(t, evs, id)
		if ev.Action != provisioning.ActionDelete || ev.Status != provisioning.ResultSuccess {
			t.Errorf("%s %s/%s, want delete/success", id, ev.Action, ev.Status)
		}
	}
	if _, ok := e.targetUser("ada.lovelace@example.com"); ok {
		t.Error("forced delete not applied")
	}
	if st := e.status(); st.Code != provisioning.StatusActive || st.StagedDeleteCount != 0 {
		t.Errorf("after force: %s staged %d", st.Code, st.StagedDeleteCount)
	}
}

func TestDeletionBreakerPercent(t *testing.T) {
	job := testJob()
	job.Settings.DeletionThresholdPercent = 30 // 1 of 4 synchronized objects is 25%
	e := newEnv(t, job)
	seed(e)
	e.cycle()
	e.src.Delete(connectors.TypeUser, "E1")
	e.cycle()
	if st := e.status(); st.Code != provisioning.StatusActive {
		t.Fatalf("one delete (25%%) tripped the 30%% breaker: %s", st.Code)
	}
	e.src.Delete(connectors.TypeUser, "E2")
	e.src.Delete(connectors.TypeUser, "E9")
	e.cycle() // 2 of 3 remaining synchronized objects... > 30%
	if st := e.status(); st.Code != provisioning.StatusQuarantine {
		t.Fatalf("code %s", st.Code)
	}
}

func TestRestartScopes(t *testing.T) {
	cases := []struct {
		scope string
		check func(t *testing.T, e *env)
	}{
		{"Escrows", func(t *testing.T, e *env) {
			if n, _ := e.store.CountEscrows(e.ctx, "j1"); n != 0 {
				t.Errorf("escrows %d", n)
			}
		}},
		{"Watermark", func(t *testing.T, e *env) {
			if c := e.cycle(); c.Type != provisioning.CycleInitial {
				t.Errorf("next cycle %s, want initial", c.Type)
			}
			if n, _ := e.store.CountEscrows(e.ctx, "j1"); n != 1 {
				t.Errorf("escrows %d, want 1 (kept)", n)
			}
		}},
		{"QuarantineState", func(t *testing.T, e *env) {
			if st := e.status(); st.Quarantine != nil || st.Code != provisioning.StatusActive {
				t.Errorf("status %s %+v", st.Code, st.Quarantine)
			}
		}},
		{"ConnectorDataStore", func(t *testing.T, e *env) {
			if _, ok := e.link(connectors.TypeUser, "E1"); ok {
				t.Error("link kept")
			}
			e.cycle() // re-matches by userName: no duplicates
			if n := len(e.tgt.Objects(connectors.TypeUser)); n != 3 {
				t.Errorf("target users %d after re-match", n)
			}
			if _, ok := e.link(connectors.TypeUser, "E1"); !ok {
				t.Error("not re-linked")
			}
		}},
		{"", func(t *testing.T, e *env) { // portal restart = QuarantineState, Watermark, Escrows
			if n, _ := e.store.CountEscrows(e.ctx, "j1"); n != 0 {
				t.Errorf("escrows %d", n)
			}
			if st := e.status(); st.Quarantine != nil {
				t.Error("quarantine kept")
			}
			if c := e.cycle(); c.Type != provisioning.CycleInitial {
				t.Errorf("next cycle %s", c.Type)
			}
		}},
		{"Full", func(t *testing.T, e *env) {
			if _, ok := e.link(connectors.TypeUser, "E1"); ok {
				t.Error("link kept")
			}
			if n, _ := e.store.CountEscrows(e.ctx, "j1"); n != 0 {
				t.Errorf("escrows %d", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run("scope="+c.scope, func(t *testing.T) {
			e := newEnv(t, testJob())
			seed(e)
			e.src.Put(user("E4", "Fail", "Ing", "Eng", ""))
			e.tgt.FailWhen(func(op string, _ connectors.ObjectType, _ string, a connectors.Attributes) error {
				if op == "create" && a["userName"] == "fail.ing@example.com" {
					return errRetryable()
				}
				return nil
			})
			e.cycle() // one escrow
			if err := e.eng.Quarantine(e.ctx, "j1", "tester", "maintenance"); err != nil {
				t.Fatal(err)
			}
			scope, err := provisioning.ParseResetScope(c.scope)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.eng.Restart(e.ctx, "j1", scope, "tester"); err != nil {
				t.Fatal(err)
			}
			c.check(t, e)
			audit, _ := e.store.Audit(e.ctx, "j1", 10)
			if len(audit) == 0 || audit[0].Action != "restart" || audit[0].Actor != "tester" {
				t.Errorf("audit %+v", audit)
			}
		})
	}
	if _, err := provisioning.ParseResetScope("Escrows,Bogus"); !errors.Is(err, provisioning.ErrInvalidRequest) || !strings.Contains(err.Error(), `"Bogus"`) {
		t.Errorf("bad scope error %v", err)
	}
}

func TestProvisionOnDemandGroupWithAllMembers(t *testing.T) {
	e := newEnv(t, testJob())
	var members []string
	for i := 0; i < 12; i++ { // more than Entra's five-member cap
		id := "M" + string(rune('a'+i))
		e.src.Put(user(id, "Member", string(rune('A'+i))+"x", "Eng", ""))
		members = append(members, id)
	}
	e.src.Put(group("G9", "Big group", members...))
	res, err := e.eng.ProvisionOnDemand(e.ctx, "j1", provisioning.OnDemandRequest{ObjectType: connectors.TypeGroup, SourceID: "G9"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != provisioning.ResultSuccess || len(res.Events) != 13 {
		t.Fatalf("result %s events %d", res.Result, len(res.Events))
	}
	last := res.Events[12]
	if last.SourceIdentity.ID != "G9" || last.Action != provisioning.ActionCreate || last.InitiatedBy.ID != "alice" {
		t.Errorf("group event %+v", last)
	}
	g := e.tgt.Objects(connectors.TypeGroup)
	if len(g) != 1 || len(e.tgt.Members(g[0].ID)) != 12 {
		t.Fatalf("group members %d", len(e.tgt.Members(g[0].ID)))
	}
	if res.Cycle.Type != provisioning.CycleOnDemand {
		t.Errorf("cycle type %s", res.Cycle.Type)
	}
	if _, err := e.eng.ProvisionOnDemand(e.ctx, "j1", provisioning.OnDemandRequest{ObjectType: connectors.TypeUser, SourceID: "nobody"}, "alice"); !errors.Is(err, provisioning.ErrUnknownObject) {
		t.Errorf("unknown object: %v", err)
	}
}

func TestPauseStopsAfterBatchAndResumes(t *testing.T) {
	job := testJob()
	job.Settings.BatchSize = 5
	job.Settings.Workers = 1
	e := newEnv(t, job)
	for i := 0; i < 40; i++ {
		e.src.Put(user(id5(i), "U", id5(i), "Eng", ""))
	}
	n := 0
	e.tgt.FailWhen(func(op string, _ connectors.ObjectType, _ string, _ connectors.Attributes) error {
		if op == "create" {
			n++
			if n == 12 {
				_ = e.eng.Pause(e.ctx, "j1", "tester")
			}
		}
		return nil
	})
	if _, err := e.eng.RunCycle(e.ctx, "j1"); err == nil {
		t.Fatal("paused cycle returned no error")
	}
	created := len(e.tgt.Objects(connectors.TypeUser))
	if created != 15 {
		t.Errorf("created %d before stopping, want 15 (the batch in flight finished)", created)
	}
	if st := e.status(); st.Code != provisioning.StatusPaused {
		t.Errorf("code %s", st.Code)
	}
	// A restarted daemon resumes the same cycle from its checkpoint.
	e.start()
	if err := e.eng.Start(e.ctx, "j1", "tester"); err != nil {
		t.Fatal(err)
	}
	c := e.cycle()
	if c.Type != provisioning.CycleInitial || len(e.tgt.Objects(connectors.TypeUser)) != 40 {
		t.Fatalf("after resume: %s, %d users", c.Type, len(e.tgt.Objects(connectors.TypeUser)))
	}
	if c.CountImported != 40 {
		t.Errorf("countImported %d over the resumed cycle, want 40", c.CountImported)
	}
}

func id5(i int) string { return "U" + string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestConfigChangeStartsInitialCycle(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	e.cycle()
	e.job.Users.Attributes = append(e.job.Users.Attributes, provisioningMappingTitle())
	e.start()
	if c := e.cycle(); c.Type != provisioning.CycleInitial {
		t.Errorf("cycle after a mapping change: %s", c.Type)
	}
}

// TestResumeAfterSourceChange: the source changes while a cycle is interrupted; the
// resumed cycle notices (the checkpoint's change is not at its position any more) and
// reprocesses the phase, so nothing is skipped and nothing is created twice.
func TestResumeAfterSourceChange(t *testing.T) {
	job := testJob()
	job.Settings.BatchSize = 5
	job.Settings.Workers = 1
	e := newEnv(t, job)
	for i := 10; i < 50; i++ {
		e.src.Put(user(id5(i), "U", id5(i), "Eng", ""))
	}
	n := 0
	e.tgt.FailWhen(func(op string, _ connectors.ObjectType, _ string, _ connectors.Attributes) error {
		if op == "create" {
			if n++; n == 12 {
				_ = e.eng.Pause(e.ctx, "j1", "tester")
			}
		}
		return nil
	})
	if _, err := e.eng.RunCycle(e.ctx, "j1"); err == nil {
		t.Fatal("paused cycle returned no error")
	}
	// New hires whose IDs sort before the checkpoint.
	for i := 0; i < 10; i++ {
		e.src.Put(user(id5(i), "N", id5(i), "Eng", ""))
	}
	e.start()
	if err := e.eng.Start(e.ctx, "j1", "tester"); err != nil {
		t.Fatal(err)
	}
	e.cycle()
	if got := len(e.tgt.Objects(connectors.TypeUser)); got != 50 {
		t.Fatalf("target users %d, want 50", got)
	}
	for i := 0; i < 50; i++ {
		if _, ok := e.link(connectors.TypeUser, id5(i)); !ok {
			t.Errorf("%s not linked", id5(i))
		}
	}
}

// TestManagerInSameChunk: a user whose manager comes earlier in the same chunk waits for
// the manager's processing and gets the manager on create (one event, no pending
// reference); a manager that comes later is set in the reference phase (a second event).
func TestManagerInSameChunk(t *testing.T) {
	type u struct{ id, first, manager string }
	for _, tc := range []struct {
		name    string
		workers int
		users   []u
		// events per user: 1 when the manager was set on create, 2 when in the
		// reference phase.
		events map[string]int
	}{
		{"manager first", 4, []u{{"A0", "Boss", ""}, {"B1", "Bea", "A0"}, {"B2", "Bo", "A0"}},
			map[string]int{"A0": 1, "B1": 1, "B2": 1}},
		{"chain", 4, []u{{"A0", "Boss", ""}, {"B1", "Mid", "A0"}, {"C2", "Low", "B1"}, {"D3", "Lowest", "C2"}},
			map[string]int{"A0": 1, "B1": 1, "C2": 1, "D3": 1}},
		{"one worker", 1, []u{{"A0", "Boss", ""}, {"B1", "Bea", "A0"}}, map[string]int{"A0": 1, "B1": 1}},
		{"manager later", 4, []u{{"A1", "Ann", "Z9"}, {"Z9", "Zed", ""}}, map[string]int{"A1": 2, "Z9": 1}},
		{"cycle of managers", 4, []u{{"A1", "Ann", "B2"}, {"B2", "Ben", "A1"}}, map[string]int{"A1": 2, "B2": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := testJob()
			job.Groups = nil
			job.Settings.Workers, job.Settings.BatchSize = tc.workers, 50
			e := newEnv(t, job)
			for _, x := range tc.users {
				e.src.Put(user(x.id, x.first, "X", "Eng", x.manager))
			}
			if c := e.cycle(); c.State != provisioning.CycleSucceeded {
				t.Fatalf("cycle %s: %+v", c.State, c.Error)
			}
			evs := e.obs.take()
			for _, x := range tc.users {
				if got := len(eventsFor(evs, x.id)); got != tc.events[x.id] {
					t.Errorf("%s: %d events, want %d", x.id, got, tc.events[x.id])
				}
				if x.manager == "" {
					continue
				}
				me, _ := e.targetUser(strings.ToLower(x.first + ".x@example.com"))
				var boss connectors.TargetObject
				for _, y := range tc.users {
					if y.id == x.manager {
						boss, _ = e.targetUser(strings.ToLower(y.first + ".x@example.com"))
					}
				}
				if me.Attributes[ent+"manager"] != boss.ID || boss.ID == "" {
					t.Errorf("%s: manager %v, want %q", x.id, me.Attributes[ent+"manager"], boss.ID)
				}
			}
			if refs, err := e.store.PendingRefs(e.ctx, job.ID, nil, 100); err != nil || len(refs) != 0 {
				t.Errorf("pending references left: %v %v", refs, err)
			}
		})
	}
}
