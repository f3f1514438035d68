package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/storetest"
)

// explain returns SQLite's query plan of query, one step per line.
func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.reader.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, "\n")
}

// TestQueryPlans pins the index each kind of event query uses: on a database with
// millions of events, a query that falls back to the wrong index or a table scan turns a
// millisecond lookup into seconds. SQLite plans without statistics here, as on a fresh
// database, which is why the queries name their driving index (see chooseDriver).
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	tm := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	after := &provisioning.EventPosition{Time: tm, ID: "x"}
	cases := []struct {
		name string
		q    provisioning.EventQuery
		want []string // substrings of the plan, in order
	}{
		{"all, newest first", provisioning.EventQuery{}, []string{"SCAN events USING INDEX events_time"}},
		{"time range", provisioning.EventQuery{From: tm, To: tm}, []string{"SEARCH events USING INDEX events_time (time>? AND time<?)"}},
		{"job", provisioning.EventQuery{JobID: "j"}, []string{"SEARCH events USING INDEX events_job_time (job_id=?)"}},
		{"job, next page", provisioning.EventQuery{JobID: "j", After: after}, []string{"SEARCH events USING INDEX events_job_time (job_id=? AND time<?)"}},
		{"job, ascending page", provisioning.EventQuery{JobID: "j", After: after, Ascending: true}, []string{"SEARCH events USING INDEX events_job_time (job_id=? AND time>?)"}},
		{"job and success", provisioning.EventQuery{JobID: "j", Status: provisioning.ResultSuccess}, []string{"events_job_time (job_id=?)"}},
		{"job and failures", provisioning.EventQuery{JobID: "j", Status: provisioning.ResultFailure, From: tm}, []string{"events_status_time (status=? AND time>?)"}},
		{"cycle", provisioning.EventQuery{JobID: "j", CycleID: "c", Status: provisioning.ResultFailure}, []string{"events_cycle_time (cycle_id=?)"}},
		{"error code", provisioning.EventQuery{JobID: "j", ErrorCode: "E", Status: provisioning.ResultFailure, From: tm}, []string{"events_error_time (error_code=? AND time>?)"}},
		{"change", provisioning.EventQuery{JobID: "j", ChangeID: "ch", Identity: "alice", CycleID: "c"}, []string{"events_change (change_id=?)"}},
		{"action", provisioning.EventQuery{Action: provisioning.ActionDelete, From: tm, To: tm}, []string{"SEARCH events USING INDEX events_action_time (action=? AND time>? AND time<?)"}},
		{"job and deletes", provisioning.EventQuery{JobID: "j", Action: provisioning.ActionDelete, After: after}, []string{"events_action_time (action=? AND time<?)"}},
		{"job and updates", provisioning.EventQuery{JobID: "j", Action: provisioning.ActionUpdate}, []string{"events_job_time (job_id=?)"}},
		{"failed deletes", provisioning.EventQuery{Action: provisioning.ActionDelete, Status: provisioning.ResultFailure}, []string{"events_status_time (status=?)"}},
		// An exact identity: each identity index newest first, the page's rows fetched by rowid.
		{"identity", provisioning.EventQuery{JobID: "j", Identity: "alice", CycleID: "c", Status: provisioning.ResultFailure, From: tm},
			[]string{"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)", "events_source (source_id=? AND time>?)", "events_target (target_id=? AND time>?)",
				"events_source_name (source_name_lc=? AND time>?)", "events_target_name (target_name_lc=? AND time>?)"}},
		{"identity, next page", provisioning.EventQuery{Identity: "Alice Smith", After: after},
			[]string{"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)", "events_source (source_id=? AND time<?)", "events_target (target_id=? AND time<?)",
				"events_source_name (source_name_lc=? AND time<?)", "events_target_name (target_name_lc=? AND time<?)"}},
		{"identity, ascending", provisioning.EventQuery{Identity: "alice", Ascending: true, Action: provisioning.ActionCreate},
			[]string{"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)", "events_source (source_id=?)", "events_target (target_id=?)",
				"events_source_name (source_name_lc=?)", "events_target_name (target_name_lc=?)"}},
		{"broad identity", provisioning.EventQuery{Identity: "a", IdentityPrefix: true}, []string{"SCAN events USING INDEX events_time"}},
		{"broad identity in a job", provisioning.EventQuery{Identity: "a", IdentityPrefix: true, JobID: "j", After: after},
			[]string{"SEARCH events USING INDEX events_job_time (job_id=? AND time<?)"}},
		// A prefix: per identity index, the time of the page's last match (a sort of index
		// entries), then the matches from it on; with only time filters, on the indexes alone.
		{"identity prefix", provisioning.EventQuery{Identity: "ali", IdentityPrefix: true},
			[]string{"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)",
				"SEARCH events USING COVERING INDEX events_source (source_id>? AND source_id<?)", "SCALAR SUBQUERY",
				"SEARCH events USING COVERING INDEX events_source (source_id>? AND source_id<?)", "USE TEMP B-TREE FOR ORDER BY",
				"events_target (target_id>? AND target_id<?)", "events_source_name (source_name_lc>? AND source_name_lc<?)",
				"events_target_name (target_name_lc>? AND target_name_lc<?)"}},
		{"identity prefix, next page", provisioning.EventQuery{Identity: "ali", IdentityPrefix: true, After: after, Ascending: true},
			[]string{"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)", "events_source (source_id>? AND source_id<?)", "SCALAR SUBQUERY",
				"events_target (target_id>? AND target_id<?)", "events_source_name (source_name_lc>? AND source_name_lc<?)",
				"events_target_name (target_name_lc>? AND target_name_lc<?)"}},
		{"identity prefix in a job", provisioning.EventQuery{Identity: "ali", IdentityPrefix: true, JobID: "j"},
			[]string{"events_source (source_id>? AND source_id<?)", "events_target (target_id>? AND target_id<?)",
				"events_source_name (source_name_lc>? AND source_name_lc<?)", "events_target_name (target_name_lc>? AND target_name_lc<?)"}},
	}
	for _, c := range cases {
		query, args := buildEventQuery(c.q, false)
		if strings.HasPrefix(c.name, "broad") {
			query, args = buildEventQuery(c.q, true)
		}
		plan := explain(t, s, query, args...)
		rest := plan
		for _, w := range c.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("%s: plan lacks %q:\n%s\nquery: %s", c.name, w, plan, query)
				break
			}
			rest = rest[i+len(w):]
		}
		if strings.HasPrefix(c.name, "broad") && strings.Contains(plan, "MULTI-INDEX") {
			t.Errorf("%s: uses the identity indexes:\n%s", c.name, plan)
		}
		// An identity's page sorts at most its branches' rows: never a walk of events_time.
		if strings.HasPrefix(c.name, "identity") && strings.Contains(plan, "events_time") {
			t.Errorf("%s: walks events_time:\n%s", c.name, plan)
		}
		if strings.Contains(plan, "SCAN events\n") || strings.HasSuffix(plan, "SCAN events") {
			t.Errorf("%s: full table scan:\n%s", c.name, plan)
		}
		t.Logf("%s:\n%s", c.name, plan)
	}

	others := []struct {
		name, query string
		args        []any
		want        string
	}{
		{"GetLinks", qGetLinks, []any{"j", "User", `["a","b"]`},
			"SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=? AND source_id=?)\nLIST SUBQUERY"},
		{"LinkTargets", qLinkTargets, []any{"j", "User", `["a","b"]`},
			"SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=? AND source_id=?)\nLIST SUBQUERY"},
		{"ScanLinkNames first", qScanNamesFirst, []any{"j", "User", 10}, "SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=?)"},
		{"ScanLinkNames next", qScanNamesNext, []any{"j", "User", "a", 10}, "SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=? AND source_id>?)"},
		{"ScanLinks first", qScanFirst, []any{"j", "User", 10}, "SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=?)"},
		{"ScanLinks next", qScanNext, []any{"j", "User", "a", 10}, "SEARCH links USING INDEX sqlite_autoindex_links_1 (job_id=? AND type=? AND source_id>?)"},
		{"DueEscrows", qDueEscrows, []any{"j", codec.Nanos(tm), int64(0), "User", "a", 10}, "SEARCH escrows USING INDEX escrows_due (job_id=? AND next_attempt"},
		{"History", qHistory, []any{"j", 10}, "SEARCH job_history USING INDEX job_history_job_time (job_id=?)"},
		{"event count", qEventCount, nil, "SEARCH events\nSCALAR SUBQUERY 2\nSEARCH events"},
		{"Prune", qPruneEvents, []any{codec.Nanos(tm), 10}, "SEARCH events USING COVERING INDEX events_time (time<?)"},
	}
	for _, c := range others {
		plan := explain(t, s, c.query, c.args...)
		if !strings.Contains(plan, c.want) {
			t.Errorf("%s: plan lacks %q:\n%s", c.name, c.want, plan)
		}
		t.Logf("%s:\n%s", c.name, plan)
	}
}

// TestBroadIdentity checks when an identity filter counts as broad: by the number of
// events it matches (in any identity column, exact or by prefix), against
// sqrt(limit * events / 10) and at least identityScanMin.
func TestBroadIdentity(t *testing.T) {
	defer func(m int64) { identityScanMin = m }(identityScanMin)
	identityScanMin = 10
	s := openTemp(t)
	defer s.Close()
	var evs []provisioning.Event
	for i := range 1000 {
		name := "Rare Person"
		if i%2 == 0 {
			name = "Common Group" // 500 events
		}
		evs = append(evs, provisioning.Event{ID: fmt.Sprint("e", i), JobID: "j", ActivityDateTime: time.Unix(int64(i), 0),
			Action: provisioning.ActionUpdate, Status: provisioning.ResultSuccess,
			SourceIdentity: provisioning.Identity{ID: fmt.Sprintf("u%04d", i), DisplayName: name}})
	}
	if err := s.Commit(context.Background(), provisioning.Batch{JobID: "j", Events: evs}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    provisioning.EventQuery
		want bool
	}{
		// Only identity and time filters: threshold sqrt(10*limit*1000), 1000 for the
		// default limit; other filters: sqrt(limit*1000/10), 100 for the default limit.
		{provisioning.EventQuery{Identity: "u0001"}, false},
		{provisioning.EventQuery{Identity: "common group"}, false},                                      // exact: never broad (read newest first)
		{provisioning.EventQuery{Identity: "common", IdentityPrefix: true}, false},                      // 500 by name, any case, < 1000
		{provisioning.EventQuery{Identity: "common", IdentityPrefix: true, JobID: "j"}, true},           // 500 >= 100
		{provisioning.EventQuery{Identity: "Rare", IdentityPrefix: true, Limit: 10000}, false},          // 500 < 10000
		{provisioning.EventQuery{Identity: "Rare", IdentityPrefix: true, From: time.Unix(0, 0)}, false}, // time filters only
		{provisioning.EventQuery{Identity: "u000", IdentityPrefix: true}, false},                        // 10 ids
		{provisioning.EventQuery{Identity: "u00", IdentityPrefix: true, Status: "success"}, true},       // 100 ids: the threshold
		{provisioning.EventQuery{Identity: "u0", IdentityPrefix: true}, true},                           // 1000 ids
		{provisioning.EventQuery{Identity: "u0", IdentityPrefix: true, Limit: 1}, true},                 // threshold 100
		{provisioning.EventQuery{Identity: "u0", IdentityPrefix: true, ChangeID: "x"}, false},           // the change drives
		{provisioning.EventQuery{Identity: "nobody", IdentityPrefix: true}, false},
	} {
		got, err := s.broadIdentity(context.Background(), c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("broadIdentity(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestContractBroadIdentity runs the event query contract with identity filters switching
// to time-ordered plans as early as possible, so that both plans give the contract's
// results.
func TestContractBroadIdentity(t *testing.T) {
	old := identityScanMin
	t.Cleanup(func() { identityScanMin = old }) // after the parallel subtests
	identityScanMin = 1
	storetest.RunEventQueries(t, func(t *testing.T) provisioning.Store { return openTemp(t) })
}
