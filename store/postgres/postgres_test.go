package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/migrate"
	"github.com/provisiond/provisiond/store/postgres/pgtest"
	"github.com/provisiond/provisiond/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openTemp opens a store on a new, empty database (skipping without PostgreSQL).
func openTemp(t testing.TB) *Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) provisioning.Store { return openTemp(t) })
}

func TestQueryStoreContract(t *testing.T) {
	storetest.RunQueryStore(t, func(t *testing.T) provisioning.QueryStore { return openTemp(t) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
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
	s, err = Open(ctx, dsn)
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) || rows != len(ms) {
		t.Errorf("schema version %d (%v), %d schema_migrations rows; want %d", v, err, rows, len(ms))
	}
	// Events' JSON is compressed with lz4 where the server has it.
	if _, err := s.pool.Exec(ctx, `CREATE TEMP TABLE lz4_probe (x text COMPRESSION lz4)`); err == nil {
		var method string
		if err := s.pool.QueryRow(ctx, `SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'event'`).Scan(&method); err != nil || method != "l" {
			t.Errorf("events.event compression %q (%v), want lz4", method, err)
		}
	}
}

// TestConcurrentMigrations opens the store from several goroutines at once on a fresh
// database: the advisory lock lets exactly one migrate, and every Open succeeds.
func TestConcurrentMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	s := openTemp2(t, dsn)
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d schema_migrations rows (%v), want 1", rows, err)
	}
}

func openTemp2(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := openTemp2(t, dsn)
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, dsn)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenErrorsHideTheDSN(t *testing.T) {
	pgtest.Skip(t)
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://provisiond:s3cr3t-pw@127.0.0.1:1/provisiond?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=provisiond password=s3cr3t-pw dbname=x sslmode=disable connect_timeout=2",
		"postgres://provisiond:s3cr3t-pw@[::1/provisiond",        // unparsable
		"host=127.0.0.1 password=s3cr3t-pw sslmode=bogus-mode-x", // invalid setting
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
	if _, err := Open(ctx, " "); err == nil {
		t.Errorf("Open of an empty DSN succeeded")
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a", "b"},
		{"ab", "ac"},
		{"a\x7f", "a\u0080"},
		{"é", "ê"},
		{"x\uD7FF", "x\uE000"}, // past the surrogates
		{"x\U0010FFFF", "y"},
		{"\U0010FFFF\U0010FFFF", ""},
		{"", ""},
	} {
		if got := prefixEnd(c.in); got != c.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUnstorableText: values PostgreSQL text cannot hold (NUL, invalid UTF-8) match
// nothing in reads and are refused whole by Commit.
func TestUnstorableText(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	ev := provisioning.Event{ID: "e1", JobID: "j", Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess,
		SourceIdentity: provisioning.Identity{ID: "u1", DisplayName: "bad\x00name"}}
	st := provisioning.JobState{JobID: "j"}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", State: &st, Events: []provisioning.Event{ev}}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("Commit of a NUL display name: %v, want ErrInvalidBatch", err)
	}
	if _, err := s.LoadJobState(ctx, "j"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("the refused batch's state is stored: %v", err)
	}
	ev.SourceIdentity.DisplayName = "ok"
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: []provisioning.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []provisioning.EventQuery{{JobID: "j\x00"}, {Identity: "u\xff", IdentityPrefix: true}, {After: &provisioning.EventPosition{ID: "\x00"}}} {
		if got, err := s.QueryEvents(ctx, q); err != nil || len(got) != 0 {
			t.Errorf("QueryEvents(%+v) = %d events, %v", q, len(got), err)
		}
	}
	if _, err := s.GetEvent(ctx, "e\x00"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("GetEvent with NUL: %v", err)
	}
	if got, err := s.GetLinks(ctx, "j", "User", []string{"a\x00", "b"}); err != nil || len(got) != 0 {
		t.Errorf("GetLinks with NUL: %v, %v", got, err)
	}
}

// TestPruneOneAtATime: while one replica prunes (holds the advisory lock), PruneEvents
// elsewhere returns at once without deleting.
func TestPruneOneAtATime(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var evs []provisioning.Event
	for i := range 30 {
		evs = append(evs, provisioning.Event{ID: fmt.Sprint("e", i), JobID: "j", ActivityDateTime: storetest.Base.Add(time.Duration(i) * time.Minute),
			Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess})
	}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j", Events: evs}); err != nil {
		t.Fatal(err)
	}
	other, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, pruneLock); err != nil {
		t.Fatal(err)
	}
	cut := storetest.Base.Add(10 * time.Minute)
	if n, err := s.PruneEvents(ctx, cut, 3); err != nil || n != 0 {
		t.Errorf("PruneEvents while another prunes: %d, %v; want 0", n, err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, pruneLock); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneEvents(ctx, cut, 3); err != nil || n != 10 {
		t.Errorf("PruneEvents: %d, %v; want 10", n, err)
	}
	// The lock is released after a run: the next run prunes too.
	if n, err := s.PruneEvents(ctx, cut.Add(5*time.Minute), 0); err != nil || n != 5 {
		t.Errorf("second PruneEvents: %d, %v; want 5", n, err)
	}
}
