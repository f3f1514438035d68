// Package storetest is the contract every provisioning.Store implementation must meet, as a
// test suite: store/sqlite runs it, and so will store/postgres.
//
// Beyond what the interface documents, the suite fixes these behaviours:
//
//   - Commit is all or nothing: a failing batch (an event id already stored or repeated in
//     the batch, a record of another job than Batch.JobID, a cancelled context) leaves no
//     trace. A record with an empty JobID takes the batch's.
//   - Times come back in UTC with at least microsecond precision.
//   - connectors.Attributes values come back as their plain types: integers int64, other
//     numbers float64, non-empty string arrays []string, other arrays []any.
//   - A limit <= 0 means no limit (QueryEvents: the default of 100; at most 10,000).
//   - Orders: ScanLinks by source ID byte-wise; DueEscrows by NextAttempt; PendingRefs and
//     StagedOps by Created; ListCycles by TimeBegan, newest first; History and Audit by
//     time, newest first, of equal times the last committed first; ties otherwise by key.
//   - QueryEvents: From and To are inclusive; Identity matches the source ID, the target
//     ID (exact, case-sensitive) or either display name (case-insensitive, Unicode lower
//     case); with IdentityPrefix, the same by prefix, with no wildcard characters.
//     IdentityType is the source identity's type (the target's when the source has none).
//
// RunQueryStore is the contract of provisioning.QueryStore (statistics, top errors,
// summary, pruning); what it fixes beyond the interface is listed at the top of stats.go.
// ModelQuery, ModelStats, ModelTopErrors and ModelSummary are the reference semantics the
// suites compare with, usable by other tests (the API's).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

type subtest struct {
	name string
	fn   func(t *testing.T, s provisioning.Store)
}

// Run runs the contract suite. open returns a new, empty store for one subtest; Run closes
// it when the subtest ends. The subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) provisioning.Store) {
	run(t, open, []subtest{
		{"JobState", testJobState},
		{"Cycles", testCycles},
		{"Links", testLinks},
		{"GetLinksMany", testGetLinksMany},
		{"ScanLinks", testScanLinks},
		{"CountAndClearLinks", testCountAndClearLinks},
		{"Escrows", testEscrows},
		{"PendingRefs", testPendingRefs},
		{"Staged", testStaged},
		{"EventRoundTrip", testEventRoundTrip},
		{"QueryEventsFilters", testQueryEventsFilters},
		{"QueryEventsPagination", testQueryEventsPagination},
		{"QueryEventsLimit", testQueryEventsLimit},
		{"Injection", testInjection},
		{"HistoryAndAudit", testHistoryAndAudit},
		{"NotFound", testNotFound},
		{"Atomicity", testAtomicity},
		{"CancelledContext", testCancelledContext},
		{"CancelDuringCommit", testCancelDuringCommit},
		{"BatchJobID", testBatchJobID},
		{"TimesUTC", testTimesUTC},
		{"ConcurrentReadersAndWriters", testConcurrency},
	})
}

// RunEventQueries runs the part of the suite that checks QueryEvents' results (filters,
// orders, pagination, injection), for stores that choose between query plans.
func RunEventQueries(t *testing.T, open func(t *testing.T) provisioning.Store) {
	run(t, open, []subtest{
		{"QueryEventsFilters", testQueryEventsFilters},
		{"QueryEventsPagination", testQueryEventsPagination},
		{"Injection", testInjection},
	})
}

func run(t *testing.T, open func(t *testing.T) provisioning.Store, tests []subtest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func commit(t *testing.T, s provisioning.Store, b provisioning.Batch) {
	t.Helper()
	if err := s.Commit(context.Background(), b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

var ctx = context.Background()

func testJobState(t *testing.T, s provisioning.Store) {
	if _, err := s.LoadJobState(ctx, "j1"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("LoadJobState of an unknown job: err = %v, want ErrNotFound", err)
	}
	if got := must[[]provisioning.JobState](t, "ListJobStates")(s.ListJobStates(ctx)); len(got) != 0 {
		t.Fatalf("ListJobStates of an empty store = %v", got)
	}
	commit(t, s, provisioning.Batch{}) // empty batches are fine
	st := fullState("j1", at(0))
	commit(t, s, provisioning.Batch{JobID: "j1", State: &st})
	equal(t, "LoadJobState", must[provisioning.JobState](t, "LoadJobState")(s.LoadJobState(ctx, "j1")), st)

	// Replace, with fewer fields set: nothing of the old state may linger.
	st2 := provisioning.JobState{JobID: "j1", Status: provisioning.Status{Code: provisioning.StatusActive}, ConfigHash: "cfg-2", Updated: at(time.Hour)}
	commit(t, s, provisioning.Batch{JobID: "j1", State: &st2})
	equal(t, "LoadJobState after replace", must[provisioning.JobState](t, "LoadJobState")(s.LoadJobState(ctx, "j1")), st2)

	st3 := fullState("j0", at(2*time.Hour))
	commit(t, s, provisioning.Batch{JobID: "j0", State: &st3})
	all := must[[]provisioning.JobState](t, "ListJobStates")(s.ListJobStates(ctx))
	sort.Slice(all, func(i, j int) bool { return all[i].JobID < all[j].JobID })
	equal(t, "ListJobStates", all, []provisioning.JobState{st3, st2})
}

func testCycles(t *testing.T, s provisioning.Store) {
	c1 := fullCycle("j1", "c1", at(0))
	c2 := fullCycle("j1", "c2", at(time.Hour))
	c3 := fullCycle("j1", "c3", at(2*time.Hour))
	other := fullCycle("j2", "c9", at(3*time.Hour))
	for _, c := range []provisioning.Cycle{c2, c3, c1, other} {
		commit(t, s, provisioning.Batch{JobID: c.JobID, Cycle: &c})
	}
	equal(t, "GetCycle", must[provisioning.Cycle](t, "GetCycle")(s.GetCycle(ctx, "j1", "c2")), c2)
	// Replace c2 by its id: the finished cycle.
	ended := at(90 * time.Minute)
	c2.TimeEnded = &ended
	c2.State = provisioning.CycleFailed
	c2.Error = &provisioning.SynchronizationErr{Code: "Unauthorized", Message: "401 Unauthorized", TenantActionable: true}
	c2.CountExported = 99
	commit(t, s, provisioning.Batch{JobID: "j1", Cycle: &c2})
	equal(t, "GetCycle after replace", must[provisioning.Cycle](t, "GetCycle")(s.GetCycle(ctx, "j1", "c2")), c2)

	equal(t, "ListCycles", must[[]provisioning.Cycle](t, "ListCycles")(s.ListCycles(ctx, "j1", 0)), []provisioning.Cycle{c3, c2, c1})
	equal(t, "ListCycles limit 2", must[[]provisioning.Cycle](t, "ListCycles")(s.ListCycles(ctx, "j1", 2)), []provisioning.Cycle{c3, c2})
	equal(t, "ListCycles other job", must[[]provisioning.Cycle](t, "ListCycles")(s.ListCycles(ctx, "j2", 10)), []provisioning.Cycle{other})
	if got := must[[]provisioning.Cycle](t, "ListCycles")(s.ListCycles(ctx, "nojob", 10)); len(got) != 0 {
		t.Errorf("ListCycles of an unknown job = %v", got)
	}
	if _, err := s.GetCycle(ctx, "j2", "c1"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetCycle of another job's cycle: err = %v, want ErrNotFound", err)
	}
}

func testLinks(t *testing.T, s provisioning.Store) {
	u1 := fullLink("j1", connectors.TypeUser, "u1", at(0))
	u2 := SampleLink("j1", connectors.TypeUser, "u2", at(time.Second))
	bare := provisioning.Link{JobID: "j1", Type: connectors.TypeUser, SourceID: "bare", TargetID: "t-bare", Updated: at(0)}
	g1 := fullLink("j1", connectors.TypeGroup, "u1", at(2*time.Second)) // same source id, other type
	g1.TargetID = "group-target"
	o1 := SampleLink("j2", connectors.TypeUser, "u1", at(0)) // same source id, other job
	o1.TargetID = "other-job-target"
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{u1, u2, bare, g1}})
	commit(t, s, provisioning.Batch{JobID: "j2", Links: []provisioning.Link{o1}})

	got := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"u1", "u2", "bare", "missing"}))
	equal(t, "GetLinks users", got, map[string]provisioning.Link{"u1": u1, "u2": u2, "bare": bare})
	got = must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeGroup, []string{"u1", "u2"}))
	equal(t, "GetLinks groups", got, map[string]provisioning.Link{"u1": g1})
	got = must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j2", connectors.TypeUser, []string{"u1"}))
	equal(t, "GetLinks other job", got, map[string]provisioning.Link{"u1": o1})
	if got := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, nil)); len(got) != 0 {
		t.Errorf("GetLinks of no ids = %v", got)
	}

	// LinkTargets: the same lookup, target id and disabled flag only (u1 is disabled).
	targets := must[map[string]provisioning.LinkTarget](t, "LinkTargets")(s.LinkTargets(ctx, "j1", connectors.TypeUser, []string{"u1", "u2", "bare", "missing"}))
	equal(t, "LinkTargets users", targets, map[string]provisioning.LinkTarget{"u1": {TargetID: u1.TargetID, Disabled: true},
		"u2": {TargetID: u2.TargetID}, "bare": {TargetID: "t-bare"}})
	targets = must[map[string]provisioning.LinkTarget](t, "LinkTargets")(s.LinkTargets(ctx, "j1", connectors.TypeGroup, []string{"u1", "u2"}))
	equal(t, "LinkTargets groups", targets, map[string]provisioning.LinkTarget{"u1": {TargetID: "group-target", Disabled: true}})
	targets = must[map[string]provisioning.LinkTarget](t, "LinkTargets")(s.LinkTargets(ctx, "j2", connectors.TypeUser, []string{"u1"}))
	equal(t, "LinkTargets other job", targets, map[string]provisioning.LinkTarget{"u1": {TargetID: "other-job-target"}})
	if got := must[map[string]provisioning.LinkTarget](t, "LinkTargets")(s.LinkTargets(ctx, "j1", connectors.TypeUser, nil)); len(got) != 0 {
		t.Errorf("LinkTargets of no ids = %v", got)
	}

	// LinksByTarget: by job, type and target id; two links claiming one target both show.
	equal(t, "LinksByTarget", must[[]provisioning.Link](t, "LinksByTarget")(s.LinksByTarget(ctx, "j1", connectors.TypeUser, u1.TargetID)), []provisioning.Link{u1})
	equal(t, "LinksByTarget group", must[[]provisioning.Link](t, "LinksByTarget")(s.LinksByTarget(ctx, "j1", connectors.TypeGroup, "group-target")), []provisioning.Link{g1})
	if got := must[[]provisioning.Link](t, "LinksByTarget")(s.LinksByTarget(ctx, "j1", connectors.TypeUser, "group-target")); len(got) != 0 {
		t.Errorf("LinksByTarget of another type's target = %v", got)
	}
	if got := must[[]provisioning.Link](t, "LinksByTarget")(s.LinksByTarget(ctx, "j1", connectors.TypeUser, "other-job-target")); len(got) != 0 {
		t.Errorf("LinksByTarget of another job's target = %v", got)
	}
	twin := provisioning.Link{JobID: "j1", Type: connectors.TypeUser, SourceID: "twin", TargetID: "t-bare", Updated: at(0)}
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{twin}})
	equal(t, "LinksByTarget twins", must[[]provisioning.Link](t, "LinksByTarget")(s.LinksByTarget(ctx, "j1", connectors.TypeUser, "t-bare")), []provisioning.Link{bare, twin})
	commit(t, s, provisioning.Batch{JobID: "j1", LinkDeletes: []provisioning.LinkKey{{JobID: "j1", Type: connectors.TypeUser, SourceID: "twin"}}})

	// Replace u1 (fewer fields) and delete u2 in one batch; a delete of a missing link is fine.
	u1b := provisioning.Link{JobID: "j1", Type: connectors.TypeUser, SourceID: "u1", TargetID: "new-target", Hash: "h2", Updated: at(time.Minute)}
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{u1b}, LinkDeletes: []provisioning.LinkKey{
		{JobID: "j1", Type: connectors.TypeUser, SourceID: "u2"},
		{JobID: "j1", Type: connectors.TypeUser, SourceID: "never-existed"},
	}})
	got = must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"u1", "u2", "bare"}))
	equal(t, "GetLinks after replace and delete", got, map[string]provisioning.Link{"u1": u1b, "bare": bare})
	got = must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeGroup, []string{"u1"}))
	equal(t, "GetLinks group untouched", got, map[string]provisioning.Link{"u1": g1})

	// A link inserted and deleted in the same batch is gone (deletes apply after inserts).
	u3 := SampleLink("j1", connectors.TypeUser, "u3", at(0))
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{u3}, LinkDeletes: []provisioning.LinkKey{{JobID: "j1", Type: connectors.TypeUser, SourceID: "u3"}}})
	if got := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"u3"})); len(got) != 0 {
		t.Errorf("link inserted and deleted in one batch: GetLinks = %v", got)
	}
	// The same key twice in a batch: the last one wins.
	a, b := SampleLink("j1", connectors.TypeUser, "dup", at(0)), SampleLink("j1", connectors.TypeUser, "dup", at(time.Hour))
	b.TargetID = "second"
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{a, b}})
	got = must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"dup"}))
	equal(t, "GetLinks of a key written twice", got, map[string]provisioning.Link{"dup": b})
}

func testGetLinksMany(t *testing.T, s provisioning.Store) {
	var links []provisioning.Link
	for i := range 1500 {
		links = append(links, SampleLink("j1", connectors.TypeUser, fmt.Sprintf("s%05d", i), at(time.Duration(i)*time.Millisecond)))
	}
	commit(t, s, provisioning.Batch{JobID: "j1", Links: links})
	// Noise: the same ids for another type and another job.
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{SampleLink("j1", connectors.TypeGroup, "s00001", at(0))}})
	commit(t, s, provisioning.Batch{JobID: "j2", Links: []provisioning.Link{SampleLink("j2", connectors.TypeUser, "s00002", at(0))}})

	r := rand.New(rand.NewPCG(1, 2))
	var ids []string
	want := map[string]provisioning.Link{}
	for _, i := range r.Perm(1500)[:1100] {
		ids = append(ids, links[i].SourceID)
		want[links[i].SourceID] = links[i]
	}
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("missing-%d", i))
	}
	ids = append(ids, ids[:50]...) // duplicates
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	got := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, ids))
	if len(got) != len(want) {
		t.Fatalf("GetLinks of %d ids (%d stored): got %d links", len(ids), len(want), len(got))
	}
	for id, w := range want {
		if !equal(t, "GetLinks["+id+"]", got[id], w) {
			break
		}
	}
	// LinkTargets pages through the same chunks.
	targets := must[map[string]provisioning.LinkTarget](t, "LinkTargets")(s.LinkTargets(ctx, "j1", connectors.TypeUser, ids))
	if len(targets) != len(want) {
		t.Fatalf("LinkTargets of %d ids (%d stored): got %d", len(ids), len(want), len(targets))
	}
	for id, w := range want {
		if !equal(t, "LinkTargets["+id+"]", targets[id], provisioning.LinkTarget{TargetID: w.TargetID, Disabled: w.Disabled}) {
			break
		}
	}
}

func testScanLinks(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(3, 4))
	want := map[string]provisioning.Link{}
	var batch []provisioning.Link
	special := []string{"a", "B", "b", "ä", "a-1", "a_1", "a%", "Z", "zz", "日本", "a\u0301", "~"}
	for i := range 2600 + len(special) {
		id := fmt.Sprintf("%x", r.Uint32())
		if i < len(special) {
			id = special[i]
		}
		l := SampleLink("j1", connectors.TypeUser, id, at(time.Duration(i)*time.Microsecond))
		want[id] = l
		batch = append(batch, l)
		if len(batch) == 500 {
			commit(t, s, provisioning.Batch{JobID: "j1", Links: batch})
			batch = nil
		}
	}
	commit(t, s, provisioning.Batch{JobID: "j1", Links: batch})
	commit(t, s, provisioning.Batch{JobID: "j1", Links: []provisioning.Link{SampleLink("j1", connectors.TypeGroup, "g1", at(0))}})
	commit(t, s, provisioning.Batch{JobID: "j2", Links: []provisioning.Link{SampleLink("j2", connectors.TypeUser, "x", at(0))}})

	var got []provisioning.Link
	if err := s.ScanLinks(ctx, "j1", connectors.TypeUser, func(l provisioning.Link) error {
		got = append(got, l)
		return nil
	}); err != nil {
		t.Fatalf("ScanLinks: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ScanLinks returned %d links, want %d", len(got), len(want))
	}
	if !slices.IsSortedFunc(got, func(a, b provisioning.Link) int { return strings.Compare(a.SourceID, b.SourceID) }) {
		t.Errorf("ScanLinks is not in byte-wise source ID order")
	}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l.SourceID] {
			t.Fatalf("ScanLinks returned %q twice", l.SourceID)
		}
		seen[l.SourceID] = true
		if !equal(t, "ScanLinks link "+l.SourceID, l, want[l.SourceID]) {
			break
		}
	}

	// An error from fn stops the scan and comes back.
	stop := errors.New("stop")
	n := 0
	err := s.ScanLinks(ctx, "j1", connectors.TypeUser, func(provisioning.Link) error {
		n++
		if n == 1200 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1200 {
		t.Errorf("ScanLinks with fn failing at 1200: err = %v after %d calls", err, n)
	}
	// ScanLinkNames: the same links in the same order, source ID and display name only.
	var names []string
	if err := s.ScanLinkNames(ctx, "j1", connectors.TypeUser, func(id, name string) error {
		names = append(names, id+"|"+name)
		return nil
	}); err != nil {
		t.Fatalf("ScanLinkNames: %v", err)
	}
	var wantNames []string
	for _, l := range got {
		wantNames = append(wantNames, l.SourceID+"|"+l.DisplayName)
	}
	equal(t, "ScanLinkNames", names, wantNames)
	n = 0
	err = s.ScanLinkNames(ctx, "j1", connectors.TypeUser, func(string, string) error {
		if n++; n == 1001 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1001 {
		t.Errorf("ScanLinkNames with fn failing at 1001: err = %v after %d calls", err, n)
	}
	if err := s.ScanLinkNames(ctx, "nojob", connectors.TypeUser, func(string, string) error {
		return errors.New("called for an unknown job")
	}); err != nil {
		t.Errorf("ScanLinkNames of an unknown job: %v", err)
	}
	// fn may use the store (the scan holds no transaction open while it runs).
	n = 0
	err = s.ScanLinks(ctx, "j1", connectors.TypeGroup, func(l provisioning.Link) error {
		n++
		return s.Commit(ctx, provisioning.Batch{JobID: "j1", LinkDeletes: []provisioning.LinkKey{{JobID: "j1", Type: l.Type, SourceID: l.SourceID}}})
	})
	if err != nil || n != 1 {
		t.Errorf("ScanLinks committing from fn: err = %v, %d calls", err, n)
	}
	if err := s.ScanLinks(ctx, "nojob", connectors.TypeUser, func(provisioning.Link) error {
		return errors.New("called for an unknown job")
	}); err != nil {
		t.Errorf("ScanLinks of an unknown job: %v", err)
	}
}

func testCountAndClearLinks(t *testing.T, s provisioning.Store) {
	var links []provisioning.Link
	for i := range 30 {
		links = append(links, SampleLink("j1", connectors.TypeUser, fmt.Sprint("u", i), at(0)))
	}
	for i := range 7 {
		links = append(links, SampleLink("j1", connectors.TypeGroup, fmt.Sprint("g", i), at(0)))
	}
	commit(t, s, provisioning.Batch{JobID: "j1", Links: links})
	commit(t, s, provisioning.Batch{JobID: "j2", Links: []provisioning.Link{SampleLink("j2", connectors.TypeUser, "u0", at(0))}})
	equal(t, "CountLinks", must[map[connectors.ObjectType]int64](t, "CountLinks")(s.CountLinks(ctx, "j1")),
		map[connectors.ObjectType]int64{connectors.TypeUser: 30, connectors.TypeGroup: 7})
	if err := s.ClearLinks(ctx, "j1"); err != nil {
		t.Fatalf("ClearLinks: %v", err)
	}
	if got := must[map[connectors.ObjectType]int64](t, "CountLinks")(s.CountLinks(ctx, "j1")); len(got) != 0 {
		t.Errorf("CountLinks after ClearLinks = %v", got)
	}
	equal(t, "CountLinks of the other job", must[map[connectors.ObjectType]int64](t, "CountLinks")(s.CountLinks(ctx, "j2")),
		map[connectors.ObjectType]int64{connectors.TypeUser: 1})
}

func testEscrows(t *testing.T, s provisioning.Store) {
	now := at(0)
	e1 := fullEscrow("j1", connectors.TypeUser, "u1", now.Add(-3*time.Hour))
	e2 := fullEscrow("j1", connectors.TypeUser, "u2", now.Add(-time.Hour))
	e3 := fullEscrow("j1", connectors.TypeUser, "u3", now) // due exactly now
	e4 := fullEscrow("j1", connectors.TypeUser, "u4", now.Add(time.Microsecond))
	e5 := fullEscrow("j1", connectors.TypeGroup, "g1", now.Add(-2*time.Hour))
	other := fullEscrow("j2", connectors.TypeUser, "u1", now.Add(-5*time.Hour))
	commit(t, s, provisioning.Batch{JobID: "j1", Escrows: []provisioning.Escrow{e4, e3, e2, e1, e5}})
	commit(t, s, provisioning.Batch{JobID: "j2", Escrows: []provisioning.Escrow{other}})

	equal(t, "DueEscrows", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now, nil, 0)), []provisioning.Escrow{e1, e5, e2, e3})
	equal(t, "DueEscrows limit 2", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now, nil, 2)), []provisioning.Escrow{e1, e5})
	equal(t, "DueEscrows after cursor", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now,
		&provisioning.Cursor{Time: e5.NextAttempt, Type: e5.Type, SourceID: e5.SourceID}, 0)), []provisioning.Escrow{e2, e3})
	equal(t, "DueEscrows far ahead", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now.Add(100*365*24*time.Hour), nil, 10)), []provisioning.Escrow{e1, e5, e2, e3, e4})
	if got := must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now.Add(-4*time.Hour), nil, 10)); len(got) != 0 {
		t.Errorf("DueEscrows before any is due = %v", got)
	}
	if n := must[int64](t, "CountEscrows")(s.CountEscrows(ctx, "j1")); n != 5 {
		t.Errorf("CountEscrows = %d, want 5", n)
	}

	// Retry failed again (replace with a later NextAttempt), another succeeded (delete).
	e1.Attempts, e1.NextAttempt = 3, now.Add(time.Hour)
	commit(t, s, provisioning.Batch{JobID: "j1", Escrows: []provisioning.Escrow{e1}, EscrowDeletes: []provisioning.LinkKey{{JobID: "j1", Type: connectors.TypeGroup, SourceID: "g1"}}})
	equal(t, "DueEscrows after replace and delete", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", now, nil, 0)), []provisioning.Escrow{e2, e3})
	if n := must[int64](t, "CountEscrows")(s.CountEscrows(ctx, "j1")); n != 4 {
		t.Errorf("CountEscrows = %d, want 4", n)
	}
	if err := s.ClearEscrows(ctx, "j1"); err != nil {
		t.Fatalf("ClearEscrows: %v", err)
	}
	if n := must[int64](t, "CountEscrows")(s.CountEscrows(ctx, "j1")); n != 0 {
		t.Errorf("CountEscrows after ClearEscrows = %d", n)
	}
	equal(t, "DueEscrows other job", must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j2", now, nil, 0)), []provisioning.Escrow{other})
}

func testPendingRefs(t *testing.T, s provisioning.Store) {
	ref := func(job, src, attr, target string, d time.Duration) provisioning.PendingRef {
		return provisioning.PendingRef{JobID: job, Type: connectors.TypeUser, SourceID: src, Attribute: attr, RefSourceID: target, Created: at(d)}
	}
	const mgr = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
	r1 := ref("j1", "u1", mgr, "boss", 2*time.Second)
	r2 := ref("j1", "u1", "sponsor", "boss2", 3*time.Second)
	r3 := ref("j1", "u2", mgr, "boss", 0)
	r4 := ref("j1", "u3", mgr, "boss", time.Second)
	g := provisioning.PendingRef{JobID: "j1", Type: connectors.TypeGroup, SourceID: "g1", Attribute: "members", RefSourceID: "u9", Created: at(time.Second / 2)}
	other := ref("j2", "u1", mgr, "x", 0)
	commit(t, s, provisioning.Batch{JobID: "j1", PendingRefs: []provisioning.PendingRef{r1, r2, r3, r4, g}})
	commit(t, s, provisioning.Batch{JobID: "j2", PendingRefs: []provisioning.PendingRef{other}})

	equal(t, "PendingRefs", must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j1", nil, 0)), []provisioning.PendingRef{r3, g, r4, r1, r2})
	equal(t, "PendingRefs limit 3", must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j1", nil, 3)), []provisioning.PendingRef{r3, g, r4})
	var paged []provisioning.PendingRef
	var after *provisioning.Cursor
	for {
		page := must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j1", after, 2))
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		l := page[len(page)-1]
		after = &provisioning.Cursor{Time: l.Created, Type: l.Type, SourceID: l.SourceID, Attribute: l.Attribute}
	}
	equal(t, "PendingRefs paged by cursor", paged, []provisioning.PendingRef{r3, g, r4, r1, r2})

	// Delete one attribute of u1 (the other stays), replace r4's target, delete a missing one.
	r4.RefSourceID = "newboss"
	commit(t, s, provisioning.Batch{JobID: "j1", PendingRefs: []provisioning.PendingRef{r4}, PendingRefDeletes: []provisioning.PendingRefKey{
		{JobID: "j1", Type: connectors.TypeUser, SourceID: "u1", Attribute: mgr},
		{JobID: "j1", Type: connectors.TypeUser, SourceID: "nobody", Attribute: mgr},
	}})
	equal(t, "PendingRefs after delete", must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j1", nil, 0)), []provisioning.PendingRef{r3, g, r4, r2})
	equal(t, "PendingRefs other job", must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j2", nil, 0)), []provisioning.PendingRef{other})
}

func testStaged(t *testing.T, s provisioning.Store) {
	a := fullStaged("j1", "a", at(2*time.Second))
	b := fullStaged("j1", "b", at(0))
	c := fullStaged("j1", "c", at(time.Second))
	c.Action = provisioning.ActionDisable
	other := fullStaged("j2", "a", at(0))
	commit(t, s, provisioning.Batch{JobID: "j1", Staged: []provisioning.StagedOp{a, b, c}})
	commit(t, s, provisioning.Batch{JobID: "j2", Staged: []provisioning.StagedOp{other}})

	equal(t, "StagedOps", must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1", nil, 0)), []provisioning.StagedOp{b, c, a})
	equal(t, "StagedOps limit 1", must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1", nil, 1)), []provisioning.StagedOp{b})
	first := must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1", nil, 1))[0]
	equal(t, "StagedOps after cursor", must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1",
		&provisioning.Cursor{Time: first.Created, Type: first.Type, SourceID: first.SourceID}, 0)), []provisioning.StagedOp{c, a})
	if n := must[int64](t, "CountStaged")(s.CountStaged(ctx, "j1")); n != 3 {
		t.Errorf("CountStaged = %d, want 3", n)
	}
	commit(t, s, provisioning.Batch{JobID: "j1", StagedDeletes: []provisioning.LinkKey{{JobID: "j1", Type: connectors.TypeUser, SourceID: "b"}}})
	equal(t, "StagedOps after delete", must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1", nil, 0)), []provisioning.StagedOp{c, a})
	if err := s.ClearStaged(ctx, "j1"); err != nil {
		t.Fatalf("ClearStaged: %v", err)
	}
	if n := must[int64](t, "CountStaged")(s.CountStaged(ctx, "j1")); n != 0 {
		t.Errorf("CountStaged after ClearStaged = %d", n)
	}
	equal(t, "StagedOps other job", must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j2", nil, 0)), []provisioning.StagedOp{other})
}

func testEventRoundTrip(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(5, 6))
	e1 := SampleEvent(r, "j1", "c1", "ev-1", 1, at(0))
	e1.Status = provisioning.ResultFailure
	e1.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "EntryConflict", ErrorCategory: "NonServiceFailure", Reason: "409 <conflict> & \"quotes\"", AdditionalDetails: "d", RecommendedAction: "a"}
	e1.ProvisioningSteps[2].Details = map[string]string{"Matched": "0", "Ω": "ü\u2028"}
	// A minimal event: nil slices, no identities.
	e2 := provisioning.Event{ID: "ev-2", ActivityDateTime: at(time.Second), JobID: "j1", Action: provisioning.ActionOther, Status: provisioning.ResultSkipped}
	commit(t, s, provisioning.Batch{JobID: "j1", Events: []provisioning.Event{e1, e2}})
	equal(t, "GetEvent", must[provisioning.Event](t, "GetEvent")(s.GetEvent(ctx, "ev-1")), e1)
	equal(t, "GetEvent minimal", must[provisioning.Event](t, "GetEvent")(s.GetEvent(ctx, "ev-2")), e2)
	equal(t, "QueryEvents", must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{JobID: "j1"})), []provisioning.Event{e2, e1})
}

func testNotFound(t *testing.T, s provisioning.Store) {
	if _, err := s.LoadJobState(ctx, "nope"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("LoadJobState: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetCycle(ctx, "nope", "nope"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetCycle: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetEvent(ctx, "nope"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetEvent: err = %v, want ErrNotFound", err)
	}
	// Other reads of missing things are empty, not errors.
	if got, err := s.GetLinks(ctx, "nope", connectors.TypeUser, []string{"x"}); err != nil || len(got) != 0 {
		t.Errorf("GetLinks = %v, %v", got, err)
	}
	if got, err := s.QueryEvents(ctx, provisioning.EventQuery{JobID: "nope"}); err != nil || len(got) != 0 {
		t.Errorf("QueryEvents = %v, %v", got, err)
	}
	if n, err := s.CountEscrows(ctx, "nope"); err != nil || n != 0 {
		t.Errorf("CountEscrows = %v, %v", n, err)
	}
	if got, err := s.History(ctx, "nope", 10); err != nil || len(got) != 0 {
		t.Errorf("History = %v, %v", got, err)
	}
}

func testHistoryAndAudit(t *testing.T, s provisioning.Store) {
	q := fullState("j1", at(0)).Status.Quarantine
	h1 := provisioning.StatusChange{JobID: "j1", Time: at(0), OldCode: provisioning.StatusNotRun, NewCode: provisioning.StatusActive, CycleID: "c1"}
	h2 := provisioning.StatusChange{JobID: "j1", Time: at(time.Hour), OldCode: provisioning.StatusActive, NewCode: provisioning.StatusQuarantine,
		Reason: provisioning.ReasonBaseEscrowThreshold, Message: "5000 escrows", CycleID: "c2", Quarantine: q}
	h3 := provisioning.StatusChange{JobID: "j1", Time: at(time.Hour), OldCode: provisioning.StatusQuarantine, NewCode: provisioning.StatusPaused, Message: "same time, later"}
	h0 := provisioning.StatusChange{JobID: "j1", Time: at(-time.Hour), OldCode: provisioning.StatusNotConfigured, NewCode: provisioning.StatusNotRun, Message: "older, committed last"}
	other := provisioning.StatusChange{JobID: "j2", Time: at(2 * time.Hour), OldCode: provisioning.StatusActive, NewCode: provisioning.StatusPaused}
	commit(t, s, provisioning.Batch{JobID: "j1", History: []provisioning.StatusChange{h1, h2}})
	commit(t, s, provisioning.Batch{JobID: "j1", History: []provisioning.StatusChange{h3}})
	commit(t, s, provisioning.Batch{JobID: "j1", History: []provisioning.StatusChange{h0}})
	commit(t, s, provisioning.Batch{JobID: "j2", History: []provisioning.StatusChange{other}})
	equal(t, "History", must[[]provisioning.StatusChange](t, "History")(s.History(ctx, "j1", 0)), []provisioning.StatusChange{h3, h2, h1, h0})
	equal(t, "History limit 2", must[[]provisioning.StatusChange](t, "History")(s.History(ctx, "j1", 2)), []provisioning.StatusChange{h3, h2})

	a1 := provisioning.AuditEntry{ID: "a1", Time: at(0), Actor: "admin@contoso", Action: "pause", JobID: "j1", Result: "ok", TraceID: "abc"}
	a2 := provisioning.AuditEntry{ID: "a2", Time: at(time.Minute), Actor: "admin@contoso", Action: "restart", JobID: "j1", Details: map[string]string{"scope": "Escrows,Watermark"}, Result: "ok"}
	a3 := provisioning.AuditEntry{ID: "a3", Time: at(time.Minute), Actor: "ops", Action: "token.rotate", Result: "ok"} // no job
	a4 := provisioning.AuditEntry{ID: "a4", Time: at(30 * time.Second), Actor: "ops", Action: "start", JobID: "j2", Result: "denied"}
	commit(t, s, provisioning.Batch{JobID: "j1", Audit: []provisioning.AuditEntry{a1, a2}})
	commit(t, s, provisioning.Batch{Audit: []provisioning.AuditEntry{a3}})
	commit(t, s, provisioning.Batch{JobID: "j2", Audit: []provisioning.AuditEntry{a4}})
	equal(t, "Audit all", must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "", 0)), []provisioning.AuditEntry{a3, a2, a4, a1})
	equal(t, "Audit all limit 2", must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "", 2)), []provisioning.AuditEntry{a3, a2})
	equal(t, "Audit j1", must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "j1", 0)), []provisioning.AuditEntry{a2, a1})
	equal(t, "Audit j2", must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "j2", 10)), []provisioning.AuditEntry{a4})
}

// snapshot reads everything of job j that a batch can write.
type snapshot struct {
	State     *provisioning.JobState
	Cycles    []provisioning.Cycle
	Links     []provisioning.Link
	Escrows   []provisioning.Escrow
	Refs      []provisioning.PendingRef
	Staged    []provisioning.StagedOp
	Events    []provisioning.Event
	History   []provisioning.StatusChange
	Audit     []provisioning.AuditEntry
	AllAudits int
}

func takeSnapshot(t *testing.T, s provisioning.Store, j string) snapshot {
	t.Helper()
	var sn snapshot
	st, err := s.LoadJobState(ctx, j)
	switch {
	case err == nil:
		sn.State = &st
	case !errors.Is(err, provisioning.ErrNotFound):
		t.Fatalf("LoadJobState: %v", err)
	}
	sn.Cycles = must[[]provisioning.Cycle](t, "ListCycles")(s.ListCycles(ctx, j, 0))
	for _, typ := range []connectors.ObjectType{connectors.TypeUser, connectors.TypeGroup} {
		if err := s.ScanLinks(ctx, j, typ, func(l provisioning.Link) error { sn.Links = append(sn.Links, l); return nil }); err != nil {
			t.Fatalf("ScanLinks: %v", err)
		}
	}
	sn.Escrows = must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, j, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), nil, 0))
	sn.Refs = must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, j, nil, 0))
	sn.Staged = must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, j, nil, 0))
	sn.Events = must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{JobID: j, Limit: 10000}))
	sn.History = must[[]provisioning.StatusChange](t, "History")(s.History(ctx, j, 0))
	sn.Audit = must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, j, 0))
	sn.AllAudits = len(must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "", 0)))
	// Empty and nil are the same here.
	sn.Cycles, sn.Links, sn.Escrows, sn.Refs = orNil(sn.Cycles), orNil(sn.Links), orNil(sn.Escrows), orNil(sn.Refs)
	sn.Staged, sn.Events, sn.History, sn.Audit = orNil(sn.Staged), orNil(sn.Events), orNil(sn.History), orNil(sn.Audit)
	return sn
}

func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// fullBatch touches every part of the store for job j: it replaces or deletes what
// seedBatch wrote and adds new records.
func fullBatch(j string, n int, t time.Time) provisioning.Batch {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	st := fullState(j, t)
	st.Checkpoint.Position = int64(n)
	c := fullCycle(j, fmt.Sprint("cycle-", n), t)
	b := provisioning.Batch{JobID: j, State: &st, Cycle: &c}
	for i := range 20 {
		id := fmt.Sprintf("b%d-u%d", n, i)
		b.Links = append(b.Links, SampleLink(j, connectors.TypeUser, id, t))
		b.Escrows = append(b.Escrows, fullEscrow(j, connectors.TypeUser, id, t))
		b.PendingRefs = append(b.PendingRefs, provisioning.PendingRef{JobID: j, Type: connectors.TypeUser, SourceID: id, Attribute: "manager", RefSourceID: "m", Created: t})
		b.Staged = append(b.Staged, fullStaged(j, id, t))
		b.Events = append(b.Events, SampleEvent(r, j, c.CycleID, fmt.Sprintf("%s-ev-%d-%d", j, n, i), i, t))
	}
	prev := fmt.Sprintf("b%d-u0", n-1)
	b.LinkDeletes = []provisioning.LinkKey{{JobID: j, Type: connectors.TypeUser, SourceID: prev}}
	b.EscrowDeletes = []provisioning.LinkKey{{JobID: j, Type: connectors.TypeUser, SourceID: prev}}
	b.PendingRefDeletes = []provisioning.PendingRefKey{{JobID: j, Type: connectors.TypeUser, SourceID: prev, Attribute: "manager"}}
	b.StagedDeletes = []provisioning.LinkKey{{JobID: j, Type: connectors.TypeUser, SourceID: prev}}
	b.History = []provisioning.StatusChange{{JobID: j, Time: t, OldCode: provisioning.StatusActive, NewCode: provisioning.StatusQuarantine}}
	b.Audit = []provisioning.AuditEntry{{ID: fmt.Sprint(j, "-audit-", n), Time: t, Actor: "a", Action: "x", JobID: j, Result: "ok"}}
	return b
}

func testAtomicity(t *testing.T, s provisioning.Store) {
	commit(t, s, fullBatch("j1", 1, at(0)))
	before := takeSnapshot(t, s, "j1")
	if len(before.Events) != 20 || len(before.Links) != 20 || before.State == nil {
		t.Fatalf("seed batch not stored: %d events, %d links", len(before.Events), len(before.Links))
	}
	cases := []struct {
		name   string
		break_ func(b *provisioning.Batch)
	}{
		{"event id already stored", func(b *provisioning.Batch) {
			b.Events = append(b.Events, provisioning.Event{ID: before.Events[0].ID, JobID: "j1", ActivityDateTime: at(0), Action: provisioning.ActionOther, Status: provisioning.ResultSuccess})
		}},
		{"event id twice in the batch", func(b *provisioning.Batch) {
			b.Events = append(b.Events, b.Events[len(b.Events)-1])
		}},
		{"record of another job", func(b *provisioning.Batch) {
			b.History = append(b.History, provisioning.StatusChange{JobID: "other", Time: at(0)})
		}},
	}
	for _, tc := range cases {
		b := fullBatch("j1", 2, at(time.Hour))
		tc.break_(&b)
		if err := s.Commit(ctx, b); err == nil {
			t.Errorf("%s: Commit succeeded, want an error", tc.name)
			continue
		}
		equal(t, tc.name+": store after a failed commit", takeSnapshot(t, s, "j1"), before)
	}
	// The store still works after failed commits.
	commit(t, s, fullBatch("j1", 2, at(time.Hour)))
	after := takeSnapshot(t, s, "j1")
	if len(after.Events) != 40 || len(after.Links) != 39 || after.State.Checkpoint.Position != 2 ||
		len(after.Escrows) != 39 || len(after.Refs) != 39 || len(after.Staged) != 39 || len(after.History) != 2 || len(after.Audit) != 2 {
		t.Errorf("second batch: %d events, %d links, %d escrows, %d refs, %d staged, %d history, %d audit",
			len(after.Events), len(after.Links), len(after.Escrows), len(after.Refs), len(after.Staged), len(after.History), len(after.Audit))
	}
}

func testCancelledContext(t *testing.T, s provisioning.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Commit(cctx, fullBatch("j1", 1, at(0))); err == nil {
		t.Fatalf("Commit with a cancelled context succeeded")
	}
	equal(t, "store after a cancelled commit", takeSnapshot(t, s, "j1"), snapshot{})
}

// testCancelDuringCommit cancels large commits at random moments: each is either wholly
// there or wholly absent, and an error means absent.
func testCancelDuringCommit(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(8, 9))
	const n = 600
	var events []provisioning.Event
	for i := range n {
		events = append(events, SampleEvent(r, "", "c", fmt.Sprint("e", i), i, at(time.Duration(i)*time.Millisecond)))
	}
	// Calibrate: how long does an uncancelled commit of this size take here?
	start := time.Now()
	commit(t, s, provisioning.Batch{JobID: "calibrate", Events: slices.Clone(events)})
	took := time.Since(start)
	var ok, failed int
	for trial := range 12 {
		job := fmt.Sprint("job-", trial)
		evs := slices.Clone(events)
		for i := range evs {
			evs[i].ID = job + "-" + evs[i].ID
		}
		st := provisioning.JobState{JobID: job, Checkpoint: &provisioning.Checkpoint{Position: n}}
		links := []provisioning.Link{SampleLink(job, connectors.TypeUser, "u", at(0))}
		cctx, cancel := context.WithCancel(ctx)
		// Cancel anywhere from before the commit starts to after it normally ends.
		delay := time.Duration(r.Int64N(int64(took) * 3 / 2))
		timer := time.AfterFunc(delay, cancel)
		err := s.Commit(cctx, provisioning.Batch{JobID: job, State: &st, Links: links, Events: evs})
		timer.Stop()
		cancel()
		got := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{JobID: job, Limit: 10000}))
		_, serr := s.LoadJobState(ctx, job)
		switch {
		case err != nil && (len(got) != 0 || serr == nil):
			t.Errorf("trial %d: Commit failed (%v) but %d events (state err %v) are stored", trial, err, len(got), serr)
		case err == nil && (len(got) != n || serr != nil):
			t.Errorf("trial %d: Commit succeeded but %d events (state err %v) are stored", trial, len(got), serr)
		case err == nil:
			ok++
		default:
			failed++
		}
	}
	t.Logf("commit of %d events takes %v; %d commits completed, %d cancelled", n, took, ok, failed)
}

func testBatchJobID(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(10, 11))
	ev := SampleEvent(r, "", "c1", "e1", 1, at(0))
	link := SampleLink("", connectors.TypeUser, "u1", at(0))
	st := provisioning.JobState{Status: provisioning.Status{Code: provisioning.StatusActive}, Updated: at(0)}
	commit(t, s, provisioning.Batch{JobID: "j1", State: &st, Events: []provisioning.Event{ev}, Links: []provisioning.Link{link}})
	if got := must[provisioning.JobState](t, "LoadJobState")(s.LoadJobState(ctx, "j1")); got.JobID != "j1" {
		t.Errorf("state JobID = %q, want the batch's j1", got.JobID)
	}
	if got := must[provisioning.Event](t, "GetEvent")(s.GetEvent(ctx, "e1")); got.JobID != "j1" {
		t.Errorf("event JobID = %q, want the batch's j1", got.JobID)
	}
	if got := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"u1"})); got["u1"].JobID != "j1" {
		t.Errorf("link not stored under the batch's job: %v", got)
	}
	if ev.JobID != "" || link.JobID != "" || st.JobID != "" {
		t.Errorf("Commit modified the caller's records")
	}
	ev2 := SampleEvent(r, "j2", "c1", "e2", 2, at(0))
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j1", Events: []provisioning.Event{ev2}}); err == nil {
		t.Errorf("Commit of a batch of j1 holding an event of j2 succeeded")
	}
	if _, err := s.GetEvent(ctx, "e2"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetEvent of the rejected event: %v", err)
	}
}

func testTimesUTC(t *testing.T, s provisioning.Store) {
	zone := time.FixedZone("IST", 5*3600+1800)
	lt := time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)
	near := func(what string, got time.Time) {
		t.Helper()
		if got.Location() != time.UTC {
			t.Errorf("%s: location %v, want UTC", what, got.Location())
		}
		if d := got.Sub(lt); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("%s = %v, want %v (within 1µs)", what, got, lt.UTC())
		}
	}
	r := rand.New(rand.NewPCG(12, 13))
	ev := SampleEvent(r, "j1", "c1", "e1", 1, lt)
	ev.ProvisioningSteps[0].Start = lt
	st := provisioning.JobState{JobID: "j1", Updated: lt, Status: provisioning.Status{NextRun: &lt}}
	c := provisioning.Cycle{JobID: "j1", CycleID: "c1", TimeBegan: lt, TimeEnded: &lt}
	esc := fullEscrow("j1", connectors.TypeUser, "u1", lt)
	ref := provisioning.PendingRef{JobID: "j1", Type: connectors.TypeUser, SourceID: "u1", Attribute: "m", Created: lt}
	stg := fullStaged("j1", "u1", lt)
	commit(t, s, provisioning.Batch{JobID: "j1", State: &st, Cycle: &c, Events: []provisioning.Event{ev},
		Links: []provisioning.Link{SampleLink("j1", connectors.TypeUser, "u1", lt)}, Escrows: []provisioning.Escrow{esc},
		PendingRefs: []provisioning.PendingRef{ref}, Staged: []provisioning.StagedOp{stg},
		History: []provisioning.StatusChange{{JobID: "j1", Time: lt}}, Audit: []provisioning.AuditEntry{{ID: "a", Time: lt, JobID: "j1"}}})

	gotEv := must[provisioning.Event](t, "GetEvent")(s.GetEvent(ctx, "e1"))
	near("event activityDateTime", gotEv.ActivityDateTime)
	near("step start", gotEv.ProvisioningSteps[0].Start)
	gotSt := must[provisioning.JobState](t, "LoadJobState")(s.LoadJobState(ctx, "j1"))
	near("state updated", gotSt.Updated)
	near("state nextRun", *gotSt.Status.NextRun)
	gotC := must[provisioning.Cycle](t, "GetCycle")(s.GetCycle(ctx, "j1", "c1"))
	near("cycle timeBegan", gotC.TimeBegan)
	near("cycle timeEnded", *gotC.TimeEnded)
	links := must[map[string]provisioning.Link](t, "GetLinks")(s.GetLinks(ctx, "j1", connectors.TypeUser, []string{"u1"}))
	near("link updated", links["u1"].Updated)
	escs := must[[]provisioning.Escrow](t, "DueEscrows")(s.DueEscrows(ctx, "j1", lt, nil, 0))
	if len(escs) != 1 {
		t.Fatalf("DueEscrows at the escrow's own NextAttempt: %d escrows", len(escs))
	}
	near("escrow nextAttempt", escs[0].NextAttempt)
	refs := must[[]provisioning.PendingRef](t, "PendingRefs")(s.PendingRefs(ctx, "j1", nil, 0))
	near("pending ref created", refs[0].Created)
	stgs := must[[]provisioning.StagedOp](t, "StagedOps")(s.StagedOps(ctx, "j1", nil, 0))
	near("staged created", stgs[0].Created)
	near("history time", must[[]provisioning.StatusChange](t, "History")(s.History(ctx, "j1", 0))[0].Time)
	near("audit time", must[[]provisioning.AuditEntry](t, "Audit")(s.Audit(ctx, "j1", 0))[0].Time)
	// A position at the event's own time (given in another zone) finds it from both sides.
	pos := &provisioning.EventPosition{Time: lt, ID: "e0"}
	if got := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{After: pos, Ascending: true})); len(got) != 1 {
		t.Errorf("QueryEvents after (t, e0) ascending: %d events, want 1", len(got))
	}
	if got := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{From: lt, To: lt})); len(got) != 1 {
		t.Errorf("QueryEvents From = To = the event's time: %d events, want 1", len(got))
	}
}

// testConcurrency runs readers against several committing writers and checks that readers
// only ever see whole batches.
func testConcurrency(t *testing.T, s provisioning.Store) {
	const (
		batches = 12
		per     = 40
	)
	jobs := []string{"cj0", "cj1", "cj2"}
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	var writers sync.WaitGroup
	for wi, job := range jobs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(wi), 99))
			for b := range batches {
				var evs []provisioning.Event
				var links []provisioning.Link
				for i := range per {
					n := b*per + i
					evs = append(evs, SampleEvent(r, job, "c", fmt.Sprintf("%s-%d", job, n), n, at(time.Duration(n)*time.Millisecond)))
					links = append(links, SampleLink(job, connectors.TypeUser, fmt.Sprintf("u%06d", n), at(0)))
				}
				st := provisioning.JobState{JobID: job, Checkpoint: &provisioning.Checkpoint{Position: int64((b + 1) * per)}}
				if err := s.Commit(ctx, provisioning.Batch{JobID: job, State: &st, Events: evs, Links: links}); err != nil {
					report(fmt.Errorf("writer %s: %w", job, err))
					return
				}
			}
		}()
	}
	for ri := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := jobs[ri%len(jobs)]
			for {
				select {
				case <-done:
					return
				default:
				}
				var pos int64
				st, err := s.LoadJobState(ctx, job)
				switch {
				case err == nil:
					pos = st.Checkpoint.Position
				case !errors.Is(err, provisioning.ErrNotFound):
					report(err)
					return
				}
				evs, err := s.QueryEvents(ctx, provisioning.EventQuery{JobID: job, Limit: 10000})
				if err != nil {
					report(err)
					return
				}
				if len(evs)%per != 0 || int64(len(evs)) < pos {
					report(fmt.Errorf("reader saw %d events of %s after a checkpoint at %d (batches of %d)", len(evs), job, pos, per))
					return
				}
				counts, err := s.CountLinks(ctx, job)
				if err != nil {
					report(err)
					return
				}
				if n := counts[connectors.TypeUser]; n%per != 0 || n < pos {
					report(fmt.Errorf("reader saw %d links of %s after a checkpoint at %d", n, job, pos))
					return
				}
				if pos > 0 {
					id := fmt.Sprintf("u%06d", pos-1)
					if got, err := s.GetLinks(ctx, job, connectors.TypeUser, []string{id}); err != nil || len(got) != 1 {
						report(fmt.Errorf("GetLinks(%s) after checkpoint %d: %v, %v", id, pos, got, err))
						return
					}
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, job := range jobs {
		evs := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{JobID: job, Limit: 10000}))
		if len(evs) != batches*per {
			t.Errorf("%s: %d events, want %d", job, len(evs), batches*per)
		}
	}
}
