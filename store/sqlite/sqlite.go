// Package sqlite is provisiond's embedded default store: provisioning.Store on a single
// SQLite database file (modernc.org/sqlite, pure Go).
//
// The database runs in WAL mode with synchronous=NORMAL: a committed transaction survives
// the process being killed (it is in the WAL, which the OS holds); only an OS crash or power
// loss can lose the last transactions, never corrupt the file. Writes go through one
// connection, serialised in Go; reads use a pool of read-only connections that WAL lets run
// alongside the writer. The schema is created and upgraded by the numbered SQL files in
// migrations/, embedded in the binary and applied in one transaction at Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is returned by Open when the database was written by a newer provisiond
// (it has migrations this binary does not know).
var ErrSchemaTooNew = errors.New("database schema is newer than this provisiond supports")

// Store is a provisioning.Store on an SQLite file. It is safe for concurrent use.
type Store struct {
	path   string
	writer *sql.DB // exactly one connection
	reader *sql.DB // read-only (query_only) connections
	// wlock serialises write transactions (a one-slot semaphore, so that waiting for it
	// honours the caller's context).
	wlock chan struct{}
	stmts writeStmts
	ckpt  *checkpointer

	closeOnce sync.Once
	closeErr  error
}

var _ provisioning.Store = (*Store)(nil)

// Connection settings (variables so that tests can make them small).
var (
	busyTimeout = 10 * time.Second
	// walAutoCheckpoint is in pages (of pageSize). The background checkpointer copies WAL
	// frames into the database off the commit path; this is the writer's own, in-line
	// checkpoint once the WAL passes ~128 MiB: cheap then (the frames are mostly copied
	// already), it lets the WAL restart from its beginning under continuous writes.
	walAutoCheckpoint = 16384
	// journalSizeLimit truncates the WAL file back to this size after a checkpoint.
	journalSizeLimit = 128 << 20
	// checkpointInterval is how often the background checkpointer runs after commits.
	checkpointInterval = 200 * time.Millisecond
	// walRestartFrames: once the WAL holds this many frames (~64 MiB), the background
	// checkpointer forces it to restart (see checkpointer.run).
	walRestartFrames = 8192
	// restartWait bounds how long a RESTART checkpoint waits for readers (and so how long
	// it holds writers back) at first; each consecutive failure doubles it, up to
	// maxRestartWait, so that even a store with long reads always running gets its WAL
	// restarted, at the price of one longer pause of the writer.
	restartWait    = 100 * time.Millisecond
	maxRestartWait = 5 * time.Second
)

// Open opens (creating it and its directory if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store/sqlite: empty database path")
	}
	if strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("store/sqlite: %q: want a file path", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store/sqlite: create directory: %w", err)
		}
	}
	uri := "file:" + escapePath(path)
	bt := strconv.Itoa(int(busyTimeout / time.Millisecond))

	// journal_mode is set below, after page_size: a database in WAL mode keeps its page size.
	writer, err := sql.Open("sqlite", uri+"?_txlock=immediate"+
		"&_pragma=busy_timeout("+bt+")"+
		"&_pragma=synchronous(NORMAL)"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(walAutoCheckpoint)+")"+
		"&_pragma=journal_size_limit("+strconv.Itoa(journalSizeLimit)+")"+
		"&_pragma=cache_size(-65536)"+ // 64 MiB
		"&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{path: path, writer: writer, wlock: make(chan struct{}, 1)}
	if err := s.setJournal(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}

	reader, err := sql.Open("sqlite", uri+"?_pragma=busy_timeout("+bt+")"+
		"&_pragma=query_only(1)"+
		"&_pragma=cache_size(-16384)"+ // 16 MiB each
		"&_pragma=temp_store(MEMORY)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	s.reader = reader
	if err := reader.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store/sqlite: open reader: %w", err)
	}
	if err := s.stmts.prepare(ctx, writer); err != nil {
		s.Close()
		return nil, err
	}
	if s.ckpt, err = startCheckpointer(ctx, uri+"?_pragma=synchronous(NORMAL)"); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkpointer copies committed WAL frames into the database file from its own connection
// and goroutine (PASSIVE checkpoints never block the writer or readers), so that commits
// do not pay for it: on a two-core machine that is a fifth of a commit's time.
type checkpointer struct {
	db            *sql.DB
	conn          *sql.Conn // the connection the checkpointer's settings are made on
	interval      time.Duration
	restartFrames int
	dirty         chan struct{} // one slot: a commit happened since the last checkpoint
	stop          chan struct{}
	done          chan struct{}
	runs          atomic.Int64 // checkpoints completed
	restarts      atomic.Int64 // of which RESTART checkpoints
}

func startCheckpointer(ctx context.Context, dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store/sqlite: open checkpointer: %w", err)
	}
	c := &checkpointer{db: db, conn: conn, interval: checkpointInterval, restartFrames: walRestartFrames,
		dirty: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	ctx := context.Background()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	wait := restartWait
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		select {
		case <-c.dirty:
		default:
			if wait == restartWait {
				continue // nothing committed since the last run, no restart pending
			}
		}
		// Errors (SQLITE_BUSY while the writer checkpoints in line) only mean that this
		// round is skipped; the frames stay in the WAL, committed, for the next one.
		var busy, frames, copied int
		if err := c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			continue
		}
		c.runs.Add(1)
		if frames < c.restartFrames {
			wait = restartWait
			continue
		}
		// The WAL restarts from its beginning only when a writer finds every frame copied
		// and no reader still using one. Under continuous writes and reads that moment may
		// never come, and the WAL would grow without bound: a RESTART checkpoint makes it
		// come, waiting (busy_timeout) for the readers of older snapshots to finish and
		// holding new writers back meanwhile (the frames left to copy are few: PASSIVE
		// just copied the others). If it cannot within wait, it gives up, and the next
		// tick tries again, waiting twice as long.
		if _, err := c.conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(wait.Milliseconds(), 10)); err != nil {
			continue
		}
		err := c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
		if err == nil && busy == 0 {
			c.restarts.Add(1)
			wait = restartWait
		} else {
			wait = min(2*wait, maxRestartWait)
		}
	}
}

// committed tells the checkpointer that there are new frames.
func (c *checkpointer) committed() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return errors.Join(c.conn.Close(), c.db.Close())
}

// pageSize is the page size of new databases. 8 KiB holds three ~2 KB events per table
// page (4 KiB pages hold one, wasting 40 % of the file) while keeping small the WAL frames
// that each event's random-key index inserts (source and target id, display name, change
// id) dirty: on a large store every event dirties about one page of each of those
// indexes, so 16 KiB pages double the bytes written per event there.
var pageSize = 8192

// setJournal sets the page size of a new database and puts it in WAL mode.
func (s *Store) setJournal(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(pageSize)); err != nil {
		return fmt.Errorf("store/sqlite: set page size: %w", err)
	}
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("store/sqlite: set WAL mode on %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store/sqlite: %s: journal mode is %q, WAL is required", s.path, mode)
	}
	return nil
}

// escapePath makes path safe inside a file: URI (the characters SQLite's URI parser and
// the driver give a meaning to).
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.ckpt != nil {
			errs = append(errs, s.ckpt.close())
		}
		s.stmts.close()
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		// The writer closes last: closing the last connection checkpoints the whole WAL
		// and removes it.
		errs = append(errs, s.writer.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the one writer connection),
// committing if it returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case s.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wlock }()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return cancelled(ctx, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return cancelled(ctx, err)
	}
	return cancelled(ctx, tx.Commit())
}

// cancelled makes err, from a transaction whose context ended, say so: database/sql rolls
// such a transaction back, and the statement running then fails with "transaction has
// already been committed or rolled back" rather than the context's error.
func cancelled(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// migrate applies the migrations the database lacks, all in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS)
	if err != nil {
		return fmt.Errorf("store/sqlite: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER NOT NULL PRIMARY KEY,
			name    TEXT    NOT NULL,
			applied INTEGER NOT NULL
		) STRICT`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("%w: %s is at schema version %d, this binary knows versions up to %d; upgrade provisiond",
				ErrSchemaTooNew, s.path, current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: migrate %s: %w", s.path, err)
	}
	return nil
}

// SchemaVersion is the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.reader.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
