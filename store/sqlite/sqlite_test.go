package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/migrate"
	"github.com/provisiond/provisiond/store/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "provisiond.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioning.Store { return openTemp(t) })
}

func TestQueryContract(t *testing.T) {
	storetest.RunQueryStore(t, func(t *testing.T) provisioning.QueryStore {
		s := openTemp(t)
		t.Cleanup(func() { checkRollup(t, s) }) // runs before the suite's Close
		return s
	})
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	// A directory that does not exist yet, with characters that mean something in a URI.
	path := filepath.Join(t.TempDir(), "a dir", "x?y#z%41", "store.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at %s: %v", path, err)
	}
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "busy_timeout": "10000", "query_only": "0"} {
		if got := pragma(t, s.writer, name); got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	if got := pragma(t, s.reader, "query_only"); got != "1" {
		t.Errorf("reader PRAGMA query_only = %s, want 1", got)
	}
	if _, err := s.reader.Exec(`DELETE FROM events`); err == nil {
		t.Errorf("a reader connection could write")
	}
	st := provisioning.JobState{JobID: "j", ConfigHash: "h"}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", State: &st}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Reopen: the data is there and no migration runs twice.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, err := s.LoadJobState(ctx, "j"); err != nil || got.ConfigHash != "h" {
		t.Errorf("after reopen: %+v, %v", got, err)
	}
	ms, err := migrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.reader.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) || rows != len(ms) {
		t.Errorf("schema version %d (%v), %d schema_migrations rows; want %d", v, err, rows, len(ms))
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db"} {
		if s, err := Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	// A directory cannot be created under a regular file.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), filepath.Join(f, "db", "x.db")); err == nil {
		s.Close()
		t.Errorf("Open under a regular file succeeded")
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Open of a database at schema 999: err = %v, want ErrSchemaTooNew naming the version", err)
	}
}

// TestMigrationIsAtomic opens a database on which the first migration cannot apply: Open
// fails and leaves no trace of the partial migration.
func TestMigrationIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conflict.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// A table the migration creates after several others.
	if _, err := db.Exec(`CREATE TABLE escrows (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatalf("Open succeeded on a conflicting schema")
	} else if !strings.Contains(err.Error(), "0001_init.sql") {
		t.Errorf("error does not name the migration: %v", err)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if strings.Join(tables, ",") != "escrows" {
		t.Errorf("after a failed migration the tables are %v, want only the pre-existing escrows", tables)
	}
}

func TestPruneEvents(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 1))
	base := storetest.Base
	const n = 2500
	var evs []provisioning.Event
	for i := range n {
		e := storetest.SampleEvent(r, "j", "c", fmt.Sprintf("e%05d", i), i, base.Add(time.Duration(r.IntN(n))*time.Second))
		evs = append(evs, e)
	}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: evs}); err != nil {
		t.Fatal(err)
	}
	cut := base.Add(1000 * time.Second)
	var older int64
	for _, e := range evs {
		if e.ActivityDateTime.Before(cut) {
			older++
		}
	}
	got, err := s.PruneEvents(ctx, cut, 64)
	if err != nil || got != older {
		t.Fatalf("PruneEvents = %d, %v; want %d", got, err, older)
	}
	left, err := s.QueryEvents(ctx, provisioning.EventQuery{Limit: 10000, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(left)) != n-older || left[0].ActivityDateTime.Before(cut) {
		t.Errorf("after pruning: %d events, the oldest at %v; want %d from %v", len(left), left[0].ActivityDateTime, n-older, cut)
	}
	checkRollup(t, s)
	// The indexes agree with the table.
	var bad string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&bad); err != nil || bad != "ok" {
		t.Errorf("integrity_check: %s %v", bad, err)
	}
	if got, err := s.PruneEvents(ctx, cut, 0); err != nil || got != 0 {
		t.Errorf("second PruneEvents = %d, %v", got, err)
	}
	// Cancelled: stops with what it did.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PruneEvents(cctx, base.Add(time.Hour*24), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("PruneEvents with a cancelled context: %v", err)
	}
}

// TestStoredJSON checks that what the store writes is plain JSON other tools can read.
func TestStoredJSON(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	l := storetest.SampleLink("j", connectors.TypeUser, "u<1>", storetest.Base)
	r := rand.New(rand.NewPCG(2, 2))
	ev := storetest.SampleEvent(r, "j", "c", "e1", 1, storetest.Base)
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Links: []provisioning.Link{l}, Events: []provisioning.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	var userName, step string
	if err := s.reader.QueryRow(`SELECT exported ->> '$.userName' FROM links`).Scan(&userName); err != nil || userName != "u<1>@contoso.example" {
		t.Errorf("links.exported userName = %q, %v", userName, err)
	}
	if err := s.reader.QueryRow(`SELECT event ->> '$.provisioningSteps[5].provisioningStepType' FROM events`).Scan(&step); err != nil || step != "export" {
		t.Errorf("events.event step type = %q, %v", step, err)
	}
}

// TestWALBounded commits continuously while a reader reads continuously, and checks that
// the WAL stays bounded: without the background checkpointer's RESTART checkpoints, the
// WAL never restarts under such a load (every moment some reader uses it).
func TestWALBounded(t *testing.T) {
	defer func(a, l, r int, i time.Duration) {
		walAutoCheckpoint, journalSizeLimit, walRestartFrames, checkpointInterval = a, l, r, i
	}(walAutoCheckpoint, journalSizeLimit, walRestartFrames, checkpointInterval)
	// Restart at 1 MiB (of 8 KiB pages): every few batches.
	walAutoCheckpoint, journalSizeLimit, walRestartFrames, checkpointInterval = 256, 1<<20, 128, 50*time.Millisecond
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	done := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		defer close(readerErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.QueryEvents(ctx, provisioning.EventQuery{JobID: "j", Limit: 200}); err != nil {
				readerErr <- err
				return
			}
		}
	}()
	r := rand.New(rand.NewPCG(4, 4))
	var maxWAL int64
	for b := range 60 {
		var evs []provisioning.Event
		for i := range 100 {
			evs = append(evs, storetest.SampleEvent(r, "j", "c", fmt.Sprintf("e%d-%d", b, i), b*100+i, storetest.Base))
		}
		if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: evs}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(s.Path() + "-wal"); err == nil {
			maxWAL = max(maxWAL, st.Size())
		}
		time.Sleep(checkpointInterval / 4) // the checkpointer runs while the reader reads
	}
	close(done)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	// 60 batches of ~400 KB of WAL frames each: unbounded, the WAL reaches ~24 MB.
	if maxWAL > 8<<20 {
		t.Errorf("WAL grew to %d MB", maxWAL>>20)
	}
	if s.ckpt.runs.Load() == 0 || s.ckpt.restarts.Load() == 0 {
		t.Errorf("background checkpoints: %d, of which restarts: %d", s.ckpt.runs.Load(), s.ckpt.restarts.Load())
	}
	t.Logf("largest WAL %d KB, %d background checkpoints, %d restarts", maxWAL>>10, s.ckpt.runs.Load(), s.ckpt.restarts.Load())
}

// TestCommitAbortsWholeBatch makes the last statement of a full batch fail the way a plain
// statement does (it aborts, the transaction stays open; a trigger raises the error), and
// checks that nothing of the batch remains: Commit must roll back, not commit what ran.
func TestCommitAbortsWholeBatch(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	if _, err := s.writer.Exec(`CREATE TRIGGER boom BEFORE INSERT ON audit WHEN NEW.actor = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	st := provisioning.JobState{JobID: "j", ConfigHash: "h"}
	c := provisioning.Cycle{JobID: "j", CycleID: "c", TimeBegan: storetest.Base}
	b := provisioning.Batch{JobID: "j", State: &st, Cycle: &c,
		Events:  []provisioning.Event{storetest.SampleEvent(r, "j", "c", "e1", 1, storetest.Base)},
		Links:   []provisioning.Link{storetest.SampleLink("j", connectors.TypeUser, "u1", storetest.Base)},
		History: []provisioning.StatusChange{{JobID: "j", Time: storetest.Base}},
		Audit:   []provisioning.AuditEntry{{ID: "a1", Time: storetest.Base, Actor: "boom", JobID: "j"}},
	}
	if err := s.Commit(ctx, b); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Commit = %v, want the trigger's error", err)
	}
	var n int
	if err := s.reader.QueryRow(`SELECT (SELECT count(*) FROM job_state) + (SELECT count(*) FROM cycles) +
		(SELECT count(*) FROM events) + (SELECT count(*) FROM links) + (SELECT count(*) FROM job_history) +
		(SELECT count(*) FROM audit)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows of the failed batch were committed", n)
	}
	b.Audit[0].Actor = "admin"
	if err := s.Commit(ctx, b); err != nil {
		t.Fatalf("the same batch without the failing row: %v", err)
	}
}

// TestWriteCancelled: a transaction whose context ends while it runs fails with an error
// that is the context's, whatever statement noticed it (database/sql rolls the
// transaction back and the next statement reports "transaction has already been
// committed or rolled back").
func TestWriteCancelled(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context, cancel func(), tx *sql.Tx) error
	}{
		{"statement after the cancellation", func(ctx context.Context, cancel func(), tx *sql.Tx) error {
			cancel()
			time.Sleep(20 * time.Millisecond) // database/sql rolls back on its own goroutine
			_, err := tx.ExecContext(context.Background(), `DELETE FROM events WHERE time < 0`)
			return err
		}},
		{"commit after the cancellation", func(ctx context.Context, cancel func(), tx *sql.Tx) error {
			cancel()
			time.Sleep(20 * time.Millisecond)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := s.write(ctx, func(tx *sql.Tx) error { return tc.fn(ctx, cancel, tx) })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("write = %v, want an error that Is context.Canceled", err)
			}
		})
	}
	// Without a cancellation errors are as they were.
	want := errors.New("boom")
	if err := s.write(context.Background(), func(*sql.Tx) error { return want }); err != want {
		t.Errorf("write = %v, want %v as is", err, want)
	}
}
