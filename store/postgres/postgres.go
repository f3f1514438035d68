// Package postgres is provisiond's PostgreSQL store: provisioning.QueryStore on a
// PostgreSQL database (github.com/jackc/pgx/v5), for deployments that outgrow one SQLite
// file or run several replicas.
//
// It answers exactly as store/sqlite does (both pass store/storetest) and implements
// provisioning.Leaser, so that several provisiond processes share one database: each job
// is leased to one replica at a time, commits are fenced by the lease, and admin commands
// travel through the database to the replica running the job.
//
// Every Commit is one transaction: its statements go to the server in one pipelined round
// trip (a pgx batch), COMMIT in a second. Rows go in as arrays (INSERT ... SELECT FROM
// unnest), so the statements are the same whatever the batch size and are prepared once
// per connection.
//
// The schema is created and upgraded by the numbered SQL files in migrations/, embedded
// in the binary and applied in one transaction under an advisory lock at Open, so that
// replicas starting together migrate once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is returned by Open when the database was written by a newer provisiond
// (it has migrations this binary does not know).
var ErrSchemaTooNew = errors.New("database schema is newer than this provisiond supports")

// migrationLock is the key of the advisory lock that serialises migrations (any int64
// unlikely to collide with an application's own advisory locks: "provisnd").
const migrationLock int64 = 0x70726f7669736e64

// Store is a provisioning.QueryStore (and provisioning.Leaser) on a PostgreSQL database.
// It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// target names the server and database for messages (never the password).
	target string

	closeOnce sync.Once
}

var (
	_ provisioning.QueryStore = (*Store)(nil)
	_ provisioning.Leaser     = (*Store)(nil)
)

// Open connects to the database dsn names (a PostgreSQL connection string: URL or
// keyword/value form, with pgx's pool_* settings), and brings its schema up to date.
// Errors never contain the DSN (it may hold a password).
func Open(ctx context.Context, dsn string) (*Store, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("store/postgres: empty connection string")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the connection string: do not pass them on.
		return nil, fmt.Errorf("store/postgres: invalid connection string: %s", redactParseError(err))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "provisiond"
	}
	// Event queries are planned with their values (an identity matching three events and a
	// prefix matching millions want different plans); every statement is prepared once
	// per connection all the same.
	if rp["plan_cache_mode"] == "" {
		rp["plan_cache_mode"] = "force_custom_plan"
	}
	s := &Store{target: describe(cfg.ConnConfig)}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: connect to %s: %w", s.target, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("store/postgres: connect to %s: %w", s.target, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// describe names a connection's database and server (never its password).
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d", c.Database, c.Host, c.Port)
}

// redactParseError keeps the reason of a pgconn.ParseConfigError without the connection
// string it quotes.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if pe.Unwrap() != nil {
			return pe.Unwrap().Error()
		}
		return "cannot parse"
	}
	return "cannot parse"
}

// Close closes the connection pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// Pool is the store's connection pool (tests and tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrate applies the migrations the database lacks, all in one transaction, holding a
// transaction-level advisory lock: replicas opening the store at once wait for the first
// to migrate, then find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS)
	if err != nil {
		return fmt.Errorf("store/postgres: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer     NOT NULL PRIMARY KEY,
			name    text        NOT NULL,
			applied timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("%w: %s is at schema version %d, this binary knows versions up to %d; upgrade provisiond",
				ErrSchemaTooNew, s.target, current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store/postgres: migrate %s: %w", s.target, err)
	}
	return nil
}

// SchemaVersion is the schema version of the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Analyze updates the planner's statistics of the event tables (after a bulk load; the
// autovacuum daemon does it on its own otherwise).
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `ANALYZE events; ANALYZE event_stats`)
	return wrap(err, "analyze")
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store/postgres: "+format+": %w", append(args, err)...)
}

// OpenSchema creates the schema (which must not exist) in the database dsn names and opens
// a store in it (its tables are created there, found through search_path): a store
// separate from any other in the database, for benchmarks and tests. drop removes the
// schema and everything in it; call it after closing the store.
func OpenSchema(ctx context.Context, dsn, schema string) (s *Store, drop func(context.Context) error, err error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("store/postgres: invalid connection string: %s", redactParseError(err))
	}
	ident := pgx.Identifier{schema}.Sanitize()
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return nil, nil, fmt.Errorf("store/postgres: create schema %s: %w", ident, err)
	}
	drop = func(ctx context.Context) error { return exec(ctx, "DROP SCHEMA "+ident+" CASCADE") }
	sdsn := dsn
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			_ = drop(ctx)
			return nil, nil, errors.New("store/postgres: invalid connection string URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		sdsn = u.String()
	} else {
		sdsn += " search_path='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(schema) + "'"
	}
	if s, err = Open(ctx, sdsn); err != nil {
		_ = drop(ctx)
		return nil, nil, err
	}
	return s, drop, nil
}
