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
	"github.com/provisiond/provisiond/store/internal/migrate"
	"github.com/provisiond/provisiond/store/storetest"
)

// TestUpgradeFromV1 opens a database at schema version 1 holding events (written with the
// store's own column encoding): the later migrations backfill the statistics and rebuild
// the identity indexes, and the queries answer as on a new store.
func TestUpgradeFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	ms, err := migrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	var evs []provisioning.Event
	for i := range 500 {
		e := storetest.SampleEvent(r, []string{"j1", "j2"}[i%2], "c", fmt.Sprintf("e%03d", i), i%40, storetest.Base.Add(time.Duration(i)*7*time.Second))
		evs = append(evs, e)
	}
	var args []any
	for i := range evs {
		if args, err = appendEventArgs(args, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT;` +
		ms[0].SQL + `; INSERT INTO schema_migrations VALUES (1, '` + ms[0].Name + `', 0)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	ins := insertSQL("INSERT", "events", eventColumns, nil, 1)
	for row := args; len(row) > 0; row = row[eventCols:] {
		if _, err := tx.Exec(ins, row[:eventCols]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(ms))
	}
	checkRollup(t, s)
	var def string
	if err := s.reader.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'events_source_name'`).Scan(&def); err != nil || !strings.Contains(def, "(source_name_lc, time)") {
		t.Errorf("events_source_name after the upgrade: %q, %v", def, err)
	}
	got, err := s.QueryEvents(ctx, provisioning.EventQuery{Identity: "USER 000007", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := storetest.ModelQuery(evs, provisioning.EventQuery{Identity: "USER 000007", Limit: 1000})
	if len(got) == 0 || fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Errorf("identity query after the upgrade: %v, want %v", ids(got), ids(want))
	}
	sum, err := s.Summary(ctx, provisioning.SummaryQuery{JobID: "j1"})
	if err != nil || sum.Total != 250 {
		t.Errorf("Summary of j1 after the upgrade: %d events, %v; want 250", sum.Total, err)
	}
}

func ids(evs []provisioning.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
