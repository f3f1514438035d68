package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// ModelQuery is the reference semantics of Store.QueryEvents over a slice of events.
func ModelQuery(all []provisioning.Event, q provisioning.EventQuery) []provisioning.Event {
	var out []provisioning.Event
	for _, e := range all {
		if modelMatches(e, q) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b provisioning.Event) int {
		c := compareEventPos(a.ActivityDateTime, a.ID, b.ActivityDateTime, b.ID)
		if !q.Ascending {
			c = -c
		}
		return c
	})
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func compareEventPos(at time.Time, aid string, bt time.Time, bid string) int {
	if c := at.Compare(bt); c != 0 {
		return c
	}
	return strings.Compare(aid, bid)
}

func modelMatches(e provisioning.Event, q provisioning.EventQuery) bool {
	if q.JobID != "" && e.JobID != q.JobID ||
		q.CycleID != "" && e.CycleID != q.CycleID ||
		q.ChangeID != "" && e.ChangeID != q.ChangeID ||
		q.Action != "" && e.Action != q.Action ||
		q.Status != "" && e.Status != q.Status {
		return false
	}
	if q.ErrorCode != "" && (e.ErrorInformation == nil || e.ErrorInformation.ErrorCode != q.ErrorCode) {
		return false
	}
	if q.IdentityType != "" {
		typ := e.SourceIdentity.IdentityType
		if typ == "" {
			typ = e.TargetIdentity.IdentityType
		}
		if typ != q.IdentityType {
			return false
		}
	}
	if q.Identity != "" {
		id, lc := q.Identity, strings.ToLower(q.Identity)
		match := func(value string, lower bool) bool {
			if value == "" {
				return false
			}
			want := id
			if lower {
				value, want = strings.ToLower(value), lc
			}
			if q.IdentityPrefix {
				return strings.HasPrefix(value, want)
			}
			return value == want
		}
		if !match(e.SourceIdentity.ID, false) && !match(e.TargetIdentity.ID, false) &&
			!match(e.SourceIdentity.DisplayName, true) && !match(e.TargetIdentity.DisplayName, true) {
			return false
		}
	}
	if !q.From.IsZero() && e.ActivityDateTime.Before(q.From) || !q.To.IsZero() && e.ActivityDateTime.After(q.To) {
		return false
	}
	if a := q.After; a != nil {
		c := compareEventPos(e.ActivityDateTime, e.ID, a.Time, a.ID)
		if q.Ascending && c <= 0 || !q.Ascending && c >= 0 {
			return false
		}
	}
	return true
}

type identity struct {
	srcID, srcName, tgtID, tgtName, typ string
}

var queryIdentities = []identity{
	{"alice", "Alice Smith", "sf-001", "Alice Smith", "User"},
	{"alicia", "alicia Keys", "sf-002", "ALICIA KEYS", "User"},
	{"ali", "ALI", "", "", "User"},
	{"bob", "Bob", "sf-003", "Robert", "User"},                  // target name differs
	{"émile", "Émile Zola", "sf-004", "ÉMILE ZOLA", "User"},     // Unicode case folding
	{"grp-eng", "Engineering", "sf-g1", "Engineering", "Group"}, // a group
	{"sf-001", "Confusing", "x-1", "Confusing", "User"},         // source id = another's target id
	{"pct%", "100% Real_Name", "t%", "", "User"},                // wildcard characters
	{"", "", "t-only", "Target Only", "User"},                   // no source identity
}

// queryDataset is the events the filter tests query: two jobs, three cycles, every
// identity above, every action and status, and many events sharing a timestamp.
func queryDataset(r *rand.Rand) []provisioning.Event {
	cycles := []struct{ job, cycle string }{{"jA", "cA1"}, {"jA", "cA2"}, {"jB", "cB1"}}
	codes := map[provisioning.Result][]string{
		provisioning.ResultFailure: {"EntryConflict", "TooManyRequests", "InvalidAnchor"},
		provisioning.ResultWarning: {"InvalidAnchor"},
	}
	perm := r.Perm(160)
	var out []provisioning.Event
	for i := range 160 {
		c := cycles[r.IntN(len(cycles))]
		who := queryIdentities[r.IntN(len(queryIdentities))]
		status := provisioning.Results[r.IntN(len(provisioning.Results))]
		e := provisioning.Event{
			ID:               fmt.Sprintf("ev-%03d", perm[i]), // id order differs from time order
			ActivityDateTime: at(time.Duration(r.IntN(40)) * time.Second),
			JobID:            c.job,
			CycleID:          c.cycle,
			ChangeID:         fmt.Sprintf("ch-%d", i/2), // pairs of events share a change
			Action:           provisioning.Actions[r.IntN(len(provisioning.Actions))],
			Status:           status,
			SourceIdentity:   provisioning.Identity{ID: who.srcID, DisplayName: who.srcName, IdentityType: who.typ},
			TargetIdentity:   provisioning.Identity{ID: who.tgtID, DisplayName: who.tgtName, IdentityType: who.typ},
			SourceSystem:     "HR",
			TargetSystem:     "SaaS",
			TraceID:          fmt.Sprintf("%032x", i),
		}
		if who.srcID == "" {
			e.SourceIdentity.IdentityType = "" // the type then comes from the target identity
		}
		if cs := codes[status]; len(cs) > 0 {
			e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: cs[r.IntN(len(cs))], Reason: "r"}
		}
		out = append(out, e)
	}
	// Events without a cycle or change (on-demand), and at the dataset's time bounds.
	out = append(out,
		provisioning.Event{ID: "od-1", ActivityDateTime: at(-time.Hour), JobID: "jA", Action: provisioning.ActionUpdate, Status: provisioning.ResultSuccess,
			SourceIdentity: provisioning.Identity{ID: "alice", DisplayName: "Alice Smith", IdentityType: "User"}},
		provisioning.Event{ID: "od-2", ActivityDateTime: at(time.Hour), JobID: "jB", Action: provisioning.ActionDelete, Status: provisioning.ResultFailure,
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "Unauthorized"}},
	)
	return out
}

func commitEvents(t *testing.T, s provisioning.Store, events []provisioning.Event, per int) {
	t.Helper()
	for len(events) > 0 {
		n := min(per, len(events))
		if err := s.Commit(ctx, provisioning.Batch{Events: events[:n]}); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		events = events[n:]
	}
}

func ids(evs []provisioning.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func checkQuery(t *testing.T, s provisioning.Store, all []provisioning.Event, name string, q provisioning.EventQuery) []provisioning.Event {
	t.Helper()
	got, err := s.QueryEvents(ctx, q)
	if err != nil {
		t.Fatalf("%s: QueryEvents(%+v): %v", name, q, err)
	}
	want := ModelQuery(all, q)
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s: QueryEvents(%+v)\n got %v\nwant %v", name, q, ids(got), ids(want))
	}
	return got
}

func testQueryEventsFilters(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(20, 21))
	all := queryDataset(r)
	commitEvents(t, s, all, 37)
	byID := map[string]provisioning.Event{}
	for _, e := range all {
		byID[e.ID] = e
	}

	named := []struct {
		name string
		q    provisioning.EventQuery
	}{
		{"all", provisioning.EventQuery{Limit: 1000}},
		{"all ascending", provisioning.EventQuery{Limit: 1000, Ascending: true}},
		{"job", provisioning.EventQuery{JobID: "jA", Limit: 1000}},
		{"cycle", provisioning.EventQuery{CycleID: "cA2", Limit: 1000}},
		{"change", provisioning.EventQuery{ChangeID: "ch-7"}},
		{"source id", provisioning.EventQuery{Identity: "alice", Limit: 1000}},
		{"target id", provisioning.EventQuery{Identity: "sf-003"}},
		{"id that is a source and a target id", provisioning.EventQuery{Identity: "sf-001"}},
		{"ids are case-sensitive", provisioning.EventQuery{Identity: "ALICE"}},
		{"display name any case", provisioning.EventQuery{Identity: "aLiCe sMiTh", Limit: 1000}},
		{"target display name", provisioning.EventQuery{Identity: "robert"}},
		{"unicode display name", provisioning.EventQuery{Identity: "émile zola"}},
		{"not a substring", provisioning.EventQuery{Identity: "Smith"}},
		{"prefix", provisioning.EventQuery{Identity: "ali", IdentityPrefix: true, Limit: 1000}},
		{"prefix of a display name, any case", provisioning.EventQuery{Identity: "ALICIA k", IdentityPrefix: true}},
		{"prefix of a target id", provisioning.EventQuery{Identity: "sf-", IdentityPrefix: true, Limit: 1000}},
		{"prefix with unicode", provisioning.EventQuery{Identity: "ÉMI", IdentityPrefix: true}},
		{"prefix % is literal", provisioning.EventQuery{Identity: "100%", IdentityPrefix: true}},
		{"prefix _ is literal", provisioning.EventQuery{Identity: "100% Real_", IdentityPrefix: true}},
		{"prefix _ matches no other character", provisioning.EventQuery{Identity: "100_", IdentityPrefix: true}},
		{"identity type group", provisioning.EventQuery{IdentityType: "Group"}},
		{"identity type from target", provisioning.EventQuery{Identity: "t-only", IdentityType: "User"}},
		{"action", provisioning.EventQuery{Action: provisioning.ActionDelete, Limit: 1000}},
		{"status", provisioning.EventQuery{Status: provisioning.ResultFailure, Limit: 1000}},
		{"status success of a job", provisioning.EventQuery{JobID: "jB", Status: provisioning.ResultSuccess}},
		{"error code", provisioning.EventQuery{ErrorCode: "InvalidAnchor", Limit: 1000}},
		{"from", provisioning.EventQuery{From: at(20 * time.Second), Limit: 1000}},
		{"to", provisioning.EventQuery{To: at(5 * time.Second), Limit: 1000}},
		{"from and to inclusive", provisioning.EventQuery{From: at(10 * time.Second), To: at(12 * time.Second), Limit: 1000}},
		{"from = to", provisioning.EventQuery{From: at(7 * time.Second), To: at(7 * time.Second)}},
		{"job, status, time", provisioning.EventQuery{JobID: "jA", Status: provisioning.ResultFailure, From: at(3 * time.Second), To: at(30 * time.Second)}},
		{"identity within a job", provisioning.EventQuery{JobID: "jA", Identity: "alice"}},
		{"identity and change", provisioning.EventQuery{Identity: "bob", ChangeID: "ch-3"}},
		{"cycle and error code", provisioning.EventQuery{CycleID: "cA1", ErrorCode: "EntryConflict", Ascending: true}},
		{"everything", provisioning.EventQuery{JobID: "jA", CycleID: "cA1", Identity: "a", IdentityPrefix: true, IdentityType: "User",
			Status: provisioning.ResultFailure, From: at(0), To: at(40 * time.Second), Limit: 3}},
		{"no match", provisioning.EventQuery{JobID: "jZ"}},
		{"limit", provisioning.EventQuery{JobID: "jA", Limit: 5}},
		{"after", provisioning.EventQuery{After: &provisioning.EventPosition{Time: at(20 * time.Second), ID: "ev-080"}}},
		{"after ascending", provisioning.EventQuery{Ascending: true, After: &provisioning.EventPosition{Time: at(20 * time.Second), ID: "ev-080"}}},
	}
	for _, tc := range named {
		got := checkQuery(t, s, all, tc.name, tc.q)
		for _, e := range got { // whole events come back, not just ids
			if !equal(t, tc.name+": event "+e.ID, e, byID[e.ID]) {
				break
			}
		}
	}
	// The dataset exercises what the named cases claim: these match something.
	for _, name := range []string{"change", "target id", "id that is a source and a target id", "display name any case", "target display name",
		"unicode display name", "prefix of a display name, any case", "prefix with unicode", "prefix % is literal", "prefix _ is literal",
		"identity type group", "identity type from target", "error code", "from = to", "everything", "after"} {
		for _, tc := range named {
			if tc.name == name && len(ModelQuery(all, tc.q)) == 0 {
				t.Errorf("dataset: %q matches no event", name)
			}
		}
	}

	// Random combinations of filters.
	values := func(f func(e provisioning.Event) string) []string {
		var v []string
		for _, e := range all {
			if x := f(e); x != "" {
				v = append(v, x)
			}
		}
		return append(v, "nothing-like-it")
	}
	jobs := values(func(e provisioning.Event) string { return e.JobID })
	cycles := values(func(e provisioning.Event) string { return e.CycleID })
	changes := values(func(e provisioning.Event) string { return e.ChangeID })
	codes := values(func(e provisioning.Event) string {
		if e.ErrorInformation == nil {
			return ""
		}
		return e.ErrorInformation.ErrorCode
	})
	var idents []string
	for _, w := range queryIdentities {
		for _, v := range []string{w.srcID, w.srcName, w.tgtID, w.tgtName} {
			if v != "" {
				rs := []rune(v)
				idents = append(idents, v, strings.ToUpper(v), string(rs[:1+r.IntN(len(rs))]))
			}
		}
	}
	pick := func(v []string) string { return v[r.IntN(len(v))] }
	for i := range 400 {
		var q provisioning.EventQuery
		if r.IntN(2) == 0 {
			q.JobID = pick(jobs)
		}
		if r.IntN(5) == 0 {
			q.CycleID = pick(cycles)
		}
		if r.IntN(10) == 0 {
			q.ChangeID = pick(changes)
		}
		if r.IntN(3) == 0 {
			q.Identity = pick(idents)
			q.IdentityPrefix = r.IntN(2) == 0
		}
		if r.IntN(5) == 0 {
			q.IdentityType = []string{"User", "Group"}[r.IntN(2)]
		}
		if r.IntN(4) == 0 {
			q.Action = provisioning.Actions[r.IntN(len(provisioning.Actions))]
		}
		if r.IntN(3) == 0 {
			q.Status = provisioning.Results[r.IntN(len(provisioning.Results))]
		}
		if r.IntN(5) == 0 {
			q.ErrorCode = pick(codes)
		}
		if r.IntN(3) == 0 {
			q.From = at(time.Duration(r.IntN(45)-2) * time.Second)
		}
		if r.IntN(3) == 0 {
			q.To = at(time.Duration(r.IntN(45)-2) * time.Second)
		}
		q.Ascending = r.IntN(2) == 0
		q.Limit = []int{0, 1, 3, 10, 1000}[r.IntN(5)]
		if r.IntN(3) == 0 {
			e := all[r.IntN(len(all))]
			q.After = &provisioning.EventPosition{Time: e.ActivityDateTime, ID: e.ID}
			if r.IntN(3) == 0 {
				q.After.ID = "ev-05" // between ids
			}
		}
		checkQuery(t, s, all, fmt.Sprint("random query ", i), q)
		if t.Failed() {
			return
		}
	}
}

func testQueryEventsPagination(t *testing.T, s provisioning.Store) {
	r := rand.New(rand.NewPCG(30, 31))
	var all []provisioning.Event
	perm := r.Perm(300)
	for i := range 300 {
		who := queryIdentities[i%3] // alice, alicia, ali
		all = append(all, provisioning.Event{
			ID:               fmt.Sprintf("p-%03d", perm[i]),
			ActivityDateTime: at(time.Duration(r.IntN(5)) * time.Minute), // five distinct times
			JobID:            []string{"jA", "jB"}[r.IntN(2)],
			Action:           provisioning.ActionUpdate,
			Status:           provisioning.ResultSuccess,
			SourceIdentity:   provisioning.Identity{ID: who.srcID, DisplayName: who.srcName, IdentityType: "User"},
		})
	}
	commitEvents(t, s, all, 500)
	for _, base := range []provisioning.EventQuery{
		{},
		{JobID: "jA"},
		{Identity: "ALI", IdentityPrefix: true},
		{Identity: "alicia"},
		{From: at(time.Minute), To: at(3 * time.Minute)},
	} {
		for _, asc := range []bool{false, true} {
			q := base
			q.Ascending = asc
			full := q
			full.Limit = 10000
			want := ModelQuery(all, full)
			var got []provisioning.Event
			q.Limit = 7
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatalf("%+v: pagination does not end", base)
				}
				page, err := s.QueryEvents(ctx, q)
				if err != nil {
					t.Fatalf("QueryEvents: %v", err)
				}
				if len(page) > 7 {
					t.Fatalf("page of %d events, limit 7", len(page))
				}
				got = append(got, page...)
				if len(page) < 7 {
					break
				}
				last := page[len(page)-1]
				q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
			}
			if len(want) < 20 {
				t.Fatalf("%+v: only %d events to paginate", base, len(want))
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("pages of %+v ascending=%v:\n got %v\nwant %v", base, asc, ids(got), ids(want))
			}
		}
	}
}

func testQueryEventsLimit(t *testing.T, s provisioning.Store) {
	const n = 10050
	var all []provisioning.Event
	for i := range n {
		all = append(all, provisioning.Event{ID: fmt.Sprintf("l-%05d", i), ActivityDateTime: at(time.Duration(i) * time.Millisecond),
			JobID: "j", Action: provisioning.ActionOther, Status: provisioning.ResultSuccess})
	}
	commitEvents(t, s, all, 2000)
	for _, c := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {5, 5}, {10000, 10000}, {10001, 10000}, {1 << 30, 10000}} {
		got, err := s.QueryEvents(ctx, provisioning.EventQuery{Limit: c.limit})
		if err != nil {
			t.Fatalf("QueryEvents: %v", err)
		}
		if len(got) != c.want {
			t.Errorf("Limit %d: %d events, want %d", c.limit, len(got), c.want)
		}
		if len(got) > 0 && got[0].ID != all[n-1].ID {
			t.Errorf("Limit %d: first event %s, want the newest %s", c.limit, got[0].ID, all[n-1].ID)
		}
	}
}

func testInjection(t *testing.T, s provisioning.Store) {
	const inj = "' OR 1=1 --"
	mk := func(id, src, name string) provisioning.Event {
		return provisioning.Event{ID: id, ActivityDateTime: at(0), JobID: "j", CycleID: "c", ChangeID: "ch", Action: provisioning.ActionCreate,
			Status: provisioning.ResultSuccess, SourceIdentity: provisioning.Identity{ID: src, DisplayName: name, IdentityType: "User"}}
	}
	all := []provisioning.Event{
		mk("e1", inj, "Robert'); DROP TABLE events;--"),
		mk("e2", "plain", "Plain User"),
		mk("e3", "%lead", "x"),
		mk("e4", "a_b", "y"),
		mk("e5", "axb", "z"),
		mk("x' OR 'a'='a", "q", "\" OR \"\"=\""),
	}
	commitEvents(t, s, all, 10)
	for _, q := range []provisioning.EventQuery{
		{Identity: inj},
		{Identity: "robert'); drop table events;--"},
		{Identity: "'", IdentityPrefix: true},
		{Identity: "%", IdentityPrefix: true},
		{Identity: "_", IdentityPrefix: true},
		{Identity: "a_", IdentityPrefix: true},
		{Identity: "\" OR \"\"=\""},
		{JobID: "x' OR '1'='1"},
		{JobID: "j' --"},
		{CycleID: "' OR ''='"},
		{ChangeID: "\"; DELETE FROM events; --"},
		{ErrorCode: "') OR 1=1 --"},
		{IdentityType: "' OR 1=1 --"},
		{Action: provisioning.Action("create' OR '1'='1")},
		{Status: provisioning.Result("x\x00y")},
		{After: &provisioning.EventPosition{Time: at(time.Second), ID: "' OR 1=1 --"}},
	} {
		checkQuery(t, s, all, "injection", q)
	}
	if _, err := s.GetEvent(ctx, "' OR 'a'='a"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetEvent(injection): err = %v, want ErrNotFound", err)
	}
	equal(t, "GetEvent of an id with quotes", must[provisioning.Event](t, "GetEvent")(s.GetEvent(ctx, "x' OR 'a'='a")), all[5])
	if _, err := s.LoadJobState(ctx, "' OR 1=1 --"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("LoadJobState(injection): err = %v, want ErrNotFound", err)
	}
	if got := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{Limit: 100})); len(got) != len(all) {
		t.Errorf("after injection attempts: %d events, want %d", len(got), len(all))
	}
}
