package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/migrate"
	"github.com/provisiond/provisiond/store/storetest"
)

// qRollupFromEvents recomputes the rollup from the events table, as migration 0002 does.
const qRollupFromEvents = `SELECT CASE WHEN time >= 0 THEN time / 60000000000 ELSE (time + 1) / 60000000000 - 1 END,
	job_id, coalesce(identity_type, ''), action, status, coalesce(error_code, ''), count(*)
	FROM events GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`

const qRollup = `SELECT minute, job_id, identity_type, action, status, error_code, count FROM event_stats
	ORDER BY 1, 2, 3, 4, 5, 6`

func rollupRows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("rollup rows: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m, n int64
		var job, typ, action, status, code string
		if err := rows.Scan(&m, &job, &typ, &action, &status, &code, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d|%s|%s|%s|%s|%s=%d", m, job, typ, action, status, code, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRollup checks that the database at s's path has the rollup its events make: the
// same rows with the same counts, and no row at zero. It opens its own connection, so
// it may run after s is closed.
func checkRollup(t *testing.T, s *Store) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+escapePath(s.Path())+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, want := rollupRows(t, db, qRollup), rollupRows(t, db, qRollupFromEvents)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("event_stats (%d rows) differs from the events' counts (%d rows):\n got %.2000v\nwant %.2000v", len(got), len(want), got, want)
	}
}

// TestRollupBackfill opens a database written before migration 0002 (the rollup is
// dropped and the migration forgotten): Open backfills the rollup from the events.
func TestRollupBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	var evs []provisioning.Event
	for i := range 3000 {
		e := storetest.SampleEvent(r, []string{"j1", "j2"}[i%2], "c", fmt.Sprint("e", i), i%100,
			storetest.Base.Add(time.Duration(r.Int64N(int64(6*time.Hour)))-time.Hour))
		e.Action = provisioning.Actions[i%len(provisioning.Actions)]
		if i%7 == 0 {
			e.SourceIdentity.IdentityType = ""
			e.TargetIdentity.IdentityType = ""
		}
		evs = append(evs, e)
	}
	// Times around the epoch and the zero time: the minute rounds down, without overflow.
	for i, tm := range []time.Time{{}, time.Unix(-1, 0), time.Unix(-60, 0), time.Unix(-61, 0), time.Unix(0, 0), time.Unix(59, 999999000)} {
		evs = append(evs, provisioning.Event{ID: fmt.Sprint("edge-", i), ActivityDateTime: tm, JobID: "j1", Action: provisioning.ActionOther, Status: provisioning.ResultSkipped})
	}
	if err := s.Commit(ctx, provisioning.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, s)
	before := rollupRows(t, s.reader, qRollup)
	q := provisioning.StatsQuery{From: storetest.Base.Add(-2 * time.Hour), To: storetest.Base.Add(6 * time.Hour), Interval: 5 * time.Minute,
		GroupBy: []string{provisioning.GroupByJobID, provisioning.GroupByAction, provisioning.GroupByIdentityType, provisioning.GroupByErrorCode}}
	statsBefore, err := s.EventStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	// Back to schema version 1 as far as the rollup goes (0003 only rebuilds indexes and
	// runs again as well).
	if _, err := s.writer.Exec(`DROP TABLE event_stats; DROP INDEX events_action_time; DELETE FROM schema_migrations WHERE version >= 2`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ms, err := migrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(ms))
	}
	checkRollup(t, s)
	if after := rollupRows(t, s.reader, qRollup); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("backfilled rollup differs from the one Commit maintained:\n got %.1000v\nwant %.1000v", after, before)
	}
	statsAfter, err := s.EventStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(statsAfter) != fmt.Sprint(statsBefore) || len(statsAfter) == 0 {
		t.Errorf("EventStats after the backfill differs")
	}
	// The zero-time and pre-epoch events are in the minutes the Go side computes.
	var n int
	if err := s.reader.QueryRow(`SELECT count(*) FROM event_stats WHERE minute IN (?, -1, -2, 0)`,
		(codec.Nanos(time.Time{})+1)/60000000000-1).Scan(&n); err != nil || n != 4 {
		t.Errorf("rollup rows of the edge minutes: %d, %v; want 4", n, err)
	}
}

// TestPruneRollup prunes in batches while committers add events, and checks the rollup
// against the events after every step.
func TestPruneRollup(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	r := rand.New(rand.NewPCG(8, 8))
	batch := func(b int) []provisioning.Event {
		var evs []provisioning.Event
		for i := range 200 {
			e := storetest.SampleEvent(r, "j", "c", fmt.Sprintf("e%d-%d", b, i), i, storetest.Base.Add(time.Duration(r.Int64N(int64(2*time.Hour)))))
			if i%5 == 0 {
				e.Status = provisioning.ResultFailure
				e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: fmt.Sprint("E", i%3)}
			}
			evs = append(evs, e)
		}
		return evs
	}
	for b := range 10 {
		if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: batch(b)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error)
	go func() {
		defer close(done)
		for b := 10; b < 20; b++ {
			if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: batch(b)}); err != nil {
				done <- err
				return
			}
		}
	}()
	for i := range 6 {
		if _, err := s.PruneEvents(ctx, storetest.Base.Add(time.Duration(i)*20*time.Minute+17*time.Second), 33); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkRollup(t, s)
	var zero int
	if err := s.reader.QueryRow(`SELECT count(*) FROM event_stats WHERE count <= 0`).Scan(&zero); err != nil || zero != 0 {
		t.Errorf("%d rollup rows at zero (%v)", zero, err)
	}
	if _, err := s.PruneEvents(ctx, storetest.Base.Add(24*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.reader.QueryRow(`SELECT count(*) FROM event_stats`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("after pruning every event: %d rollup rows (%v)", rows, err)
	}
}

// TestStatsQueryPlans pins how the statistics queries read: the rollup by a range of its
// primary key, the latest event of an error code through events_error_time.
func TestStatsQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, c := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"stats window", `SELECT minute, sum(count) FROM event_stats WHERE minute >= ? AND minute < ? AND job_id = ? GROUP BY 1`,
			[]any{1, 2, "j"}, "SEARCH event_stats USING PRIMARY KEY (minute>? AND minute<?)"},
		{"latest error", qLatestError, []any{"E", 0, 1, "j", "j"}, "SEARCH events USING INDEX events_error_time (error_code=? AND time>? AND time<?)"},
		{"subtract", qStatsSub, []any{1, 1, "j", "User", "create", "failure", "E"},
			"SEARCH event_stats USING PRIMARY KEY (minute=? AND job_id=? AND identity_type=? AND action=? AND status=? AND error_code=?)"},
		{"delete zero", qStatsDelZero, []any{1, 2}, "SEARCH event_stats USING PRIMARY KEY (minute>? AND minute<?)"},
	} {
		plan := explain(t, s, c.query, c.args...)
		if !strings.Contains(plan, c.want) {
			t.Errorf("%s: plan lacks %q:\n%s", c.name, c.want, plan)
		}
		t.Logf("%s:\n%s", c.name, plan)
	}
}
