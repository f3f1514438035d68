package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/paging"
)

// sqlLimit maps the interface's limit (<= 0: no limit) to SQLite's (-1: no limit).
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return -1
	}
	return int64(limit)
}

// queryJSON runs a query whose only column is a record's JSON and decodes each row with dec.
func queryJSON(ctx context.Context, db *sql.DB, dec func([]byte) error, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var js []byte
	for rows.Next() {
		if err := rows.Scan(&js); err != nil {
			return err
		}
		if err := dec(js); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryList decodes every row of a single-JSON-column query into a []T.
func queryList[T any](ctx context.Context, db *sql.DB, query string, args ...any) ([]T, error) {
	var rows [][]byte
	err := queryJSON(ctx, db, func(js []byte) error {
		rows = append(rows, js) // Scan made a copy
		return nil
	}, query, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return decodeAll[T](rows)
}

// minDecodePerWorker: below this many records per goroutine, decoding in parallel costs
// more than it saves.
const minDecodePerWorker = 16

// decodeAll decodes JSON records on up to GOMAXPROCS goroutines: decoding is most of the
// cost of a page of events (a 2.5 KB event takes ~40 µs, a page of 100 several ms) and
// needs no lock, unlike reading the rows.
func decodeAll[T any](rows [][]byte) ([]T, error) {
	out := make([]T, len(rows))
	decode := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if err := codec.Unmarshal(rows[i], &out[i]); err != nil {
				return fmt.Errorf("decode %T: %w", out[i], err)
			}
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(rows)/minDecodePerWorker, 8)
	if workers <= 1 {
		return out, decode(0, len(rows))
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = decode(w*len(rows)/workers, (w+1)*len(rows)/workers) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// queryOne decodes the single-JSON-column row of a query; what names it in ErrNotFound.
func queryOne[T any](ctx context.Context, db *sql.DB, what string, query string, args ...any) (T, error) {
	var v T
	var js []byte
	if err := db.QueryRowContext(ctx, query, args...).Scan(&js); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return v, fmt.Errorf("store/sqlite: %s: %w", what, provisioning.ErrNotFound)
		}
		return v, fmt.Errorf("store/sqlite: %s: %w", what, err)
	}
	if err := codec.Unmarshal(js, &v); err != nil {
		return v, fmt.Errorf("store/sqlite: decode %s: %w", what, err)
	}
	return v, nil
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store/sqlite: "+format+": %w", append(args, err)...)
}

// LoadJobState returns a job's state (provisioning.ErrNotFound for a job never committed).
func (s *Store) LoadJobState(ctx context.Context, jobID string) (provisioning.JobState, error) {
	return queryOne[provisioning.JobState](ctx, s.reader, fmt.Sprintf("state of job %q", jobID),
		`SELECT state FROM job_state WHERE job_id = ?`, jobID)
}

// ListJobStates returns every job's state, by job id.
func (s *Store) ListJobStates(ctx context.Context) ([]provisioning.JobState, error) {
	out, err := queryList[provisioning.JobState](ctx, s.reader, `SELECT state FROM job_state ORDER BY job_id`)
	return out, wrap(err, "list job states")
}

// Link queries.
const (
	linkSelect      = `SELECT source_id, target_id, display_name, hash, exported, members, disabled, updated FROM links `
	qGetLinks       = linkSelect + `WHERE job_id = ? AND type = ? AND source_id IN (SELECT value FROM json_each(?))`
	qLinksByTarget  = linkSelect + `WHERE job_id = ? AND type = ? AND target_id = ? ORDER BY source_id`
	qLinkTargets    = `SELECT source_id, target_id, disabled FROM links WHERE job_id = ? AND type = ? AND source_id IN (SELECT value FROM json_each(?))`
	qScanFirst      = linkSelect + `WHERE job_id = ? AND type = ? ORDER BY source_id LIMIT ?`
	qScanNext       = linkSelect + `WHERE job_id = ? AND type = ? AND source_id > ? ORDER BY source_id LIMIT ?`
	qScanNamesFirst = `SELECT source_id, display_name FROM links WHERE job_id = ? AND type = ? ORDER BY source_id LIMIT ?`
	qScanNamesNext  = `SELECT source_id, display_name FROM links WHERE job_id = ? AND type = ? AND source_id > ? ORDER BY source_id LIMIT ?`
)

// getLinksChunk is how many source IDs one GetLinks query looks up (passed as one JSON
// array parameter and joined through json_each, so the statement text never changes).
const getLinksChunk = 1000

// GetLinks returns the links of the given source IDs; missing ones are absent.
func (s *Store) GetLinks(ctx context.Context, jobID string, typ connectors.ObjectType, sourceIDs []string) (map[string]provisioning.Link, error) {
	out := make(map[string]provisioning.Link, len(sourceIDs))
	err := inChunks(sourceIDs, func(ids string) error {
		return s.queryLinks(ctx, jobID, typ, func(l provisioning.Link) error {
			out[l.SourceID] = l
			return nil
		}, qGetLinks, jobID, string(typ), ids)
	})
	if err != nil {
		return nil, wrap(err, "get links of job %q", jobID)
	}
	return out, nil
}

// LinkTargets returns the target IDs and disabled flags of the links of the given source
// IDs; missing ones are absent.
func (s *Store) LinkTargets(ctx context.Context, jobID string, typ connectors.ObjectType, sourceIDs []string) (map[string]provisioning.LinkTarget, error) {
	out := make(map[string]provisioning.LinkTarget, len(sourceIDs))
	if err := inChunks(sourceIDs, func(ids string) error { return s.queryLinkTargets(ctx, out, jobID, typ, ids) }); err != nil {
		return nil, wrap(err, "get link targets of job %q", jobID)
	}
	return out, nil
}

// inChunks calls query with the source IDs getLinksChunk at a time, as a JSON array.
func inChunks(sourceIDs []string, query func(ids string) error) error {
	for len(sourceIDs) > 0 {
		n := min(len(sourceIDs), getLinksChunk)
		ids, err := codec.Marshal(sourceIDs[:n])
		if err != nil {
			return err
		}
		sourceIDs = sourceIDs[n:]
		if err := query(ids); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) queryLinkTargets(ctx context.Context, out map[string]provisioning.LinkTarget, jobID string, typ connectors.ObjectType, ids string) error {
	rows, err := s.reader.QueryContext(ctx, qLinkTargets, jobID, string(typ), ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t provisioning.LinkTarget
		if err := rows.Scan(&id, &t.TargetID, &t.Disabled); err != nil {
			return err
		}
		out[id] = t
	}
	return rows.Err()
}

// LinksByTarget returns the links of a job and type to one target object.
func (s *Store) LinksByTarget(ctx context.Context, jobID string, typ connectors.ObjectType, targetID string) ([]provisioning.Link, error) {
	var out []provisioning.Link
	err := s.queryLinks(ctx, jobID, typ, func(l provisioning.Link) error {
		out = append(out, l)
		return nil
	}, qLinksByTarget, jobID, string(typ), targetID)
	if err != nil {
		return nil, wrap(err, "links of job %q to target object %q", jobID, targetID)
	}
	return out, nil
}

func (s *Store) queryLinks(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(provisioning.Link) error, query string, args ...any) error {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		l := provisioning.Link{JobID: jobID, Type: typ}
		var exported, members []byte
		var disabled, updated int64
		if err := rows.Scan(&l.SourceID, &l.TargetID, &l.DisplayName, &l.Hash, &exported, &members, &disabled, &updated); err != nil {
			return err
		}
		if exported != nil {
			if err := codec.Unmarshal(exported, &l.Exported); err != nil {
				return fmt.Errorf("decode link %s exported: %w", l.SourceID, err)
			}
		}
		if members != nil {
			if err := codec.Unmarshal(members, &l.Members); err != nil {
				return fmt.Errorf("decode link %s members: %w", l.SourceID, err)
			}
		}
		l.Disabled = disabled != 0
		l.Updated = codec.Time(updated)
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanLinksChunk is how many links ScanLinks reads per query. Each chunk is its own short
// read transaction, so a scan of a large store never holds back WAL checkpoints.
const scanLinksChunk = 1000

// ScanLinks calls fn for every link of a job and type, in source ID order (byte-wise). The
// scan reads in chunks: links committed during the scan are seen if their source ID sorts
// after the chunk being read. fn is not called while a query is open, so it may use the
// store. An error from fn stops the scan and is returned as is.
func (s *Store) ScanLinks(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(provisioning.Link) error) error {
	err := paging.Scan(ctx, scanLinksChunk, func(l provisioning.Link) string { return l.SourceID },
		func(out []provisioning.Link, first bool, after string) ([]provisioning.Link, error) {
			collect := func(l provisioning.Link) error {
				out = append(out, l)
				return nil
			}
			var err error
			if first {
				err = s.queryLinks(ctx, jobID, typ, collect, qScanFirst, jobID, string(typ), scanLinksChunk)
			} else {
				err = s.queryLinks(ctx, jobID, typ, collect, qScanNext, jobID, string(typ), after, scanLinksChunk)
			}
			return out, wrap(err, "scan links of job %q", jobID)
		}, fn)
	return err
}

// ScanLinkNames calls fn with the source ID and display name of every link of a job and
// type, in source ID order, chunked like ScanLinks but without decoding the rest.
func (s *Store) ScanLinkNames(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(sourceID, displayName string) error) error {
	type name struct{ id, name string }
	return paging.Scan(ctx, scanLinksChunk, func(n name) string { return n.id },
		func(out []name, first bool, after string) ([]name, error) {
			var rows *sql.Rows
			var err error
			if first {
				rows, err = s.reader.QueryContext(ctx, qScanNamesFirst, jobID, string(typ), scanLinksChunk)
			} else {
				rows, err = s.reader.QueryContext(ctx, qScanNamesNext, jobID, string(typ), after, scanLinksChunk)
			}
			if err != nil {
				return nil, wrap(err, "scan links of job %q", jobID)
			}
			defer rows.Close()
			for rows.Next() {
				var n name
				if err := rows.Scan(&n.id, &n.name); err != nil {
					return nil, wrap(err, "scan links of job %q", jobID)
				}
				out = append(out, n)
			}
			return out, wrap(rows.Err(), "scan links of job %q", jobID)
		}, func(n name) error { return fn(n.id, n.name) })
}

// CountLinks counts a job's links by object type.
func (s *Store) CountLinks(ctx context.Context, jobID string) (map[connectors.ObjectType]int64, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT type, count(*) FROM links WHERE job_id = ? GROUP BY type`, jobID)
	if err != nil {
		return nil, wrap(err, "count links of job %q", jobID)
	}
	defer rows.Close()
	out := map[connectors.ObjectType]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, wrap(err, "count links of job %q", jobID)
		}
		out[connectors.ObjectType(t)] = n
	}
	return out, wrap(rows.Err(), "count links of job %q", jobID)
}

func (s *Store) count(ctx context.Context, query, what, jobID string) (int64, error) {
	var n int64
	err := s.reader.QueryRowContext(ctx, query, jobID).Scan(&n)
	return n, wrap(err, "count %s of job %q", what, jobID)
}

const qDueEscrows = `SELECT escrow FROM escrows WHERE job_id = ? AND next_attempt <= ?
	AND (next_attempt, type, source_id) > (?, ?, ?) ORDER BY next_attempt, type, source_id LIMIT ?`

// DueEscrows returns up to limit (<= 0: all) escrows with NextAttempt <= now, the earliest
// NextAttempt first.
func (s *Store) DueEscrows(ctx context.Context, jobID string, now time.Time, after *provisioning.Cursor, limit int) ([]provisioning.Escrow, error) {
	t, typ, id, _ := cursorArgs(after)
	out, err := queryList[provisioning.Escrow](ctx, s.reader, qDueEscrows, jobID, codec.Nanos(now), t, typ, id, sqlLimit(limit))
	return out, wrap(err, "due escrows of job %q", jobID)
}

// CountEscrows counts a job's escrows.
func (s *Store) CountEscrows(ctx context.Context, jobID string) (int64, error) {
	return s.count(ctx, `SELECT count(*) FROM escrows WHERE job_id = ?`, "escrows", jobID)
}

// PendingRefs returns up to limit (<= 0: all) pending references of a job, oldest Created
// first.
func (s *Store) PendingRefs(ctx context.Context, jobID string, after *provisioning.Cursor, limit int) ([]provisioning.PendingRef, error) {
	t, typ, id, attr := cursorArgs(after)
	rows, err := s.reader.QueryContext(ctx, `SELECT type, source_id, attribute, ref_source_id, created FROM pending_refs
		WHERE job_id = ? AND (created, type, source_id, attribute) > (?, ?, ?, ?)
		ORDER BY created, type, source_id, attribute LIMIT ?`, jobID, t, typ, id, attr, sqlLimit(limit))
	if err != nil {
		return nil, wrap(err, "pending references of job %q", jobID)
	}
	defer rows.Close()
	var out []provisioning.PendingRef
	for rows.Next() {
		r := provisioning.PendingRef{JobID: jobID}
		var typ string
		var created int64
		if err := rows.Scan(&typ, &r.SourceID, &r.Attribute, &r.RefSourceID, &created); err != nil {
			return nil, wrap(err, "pending references of job %q", jobID)
		}
		r.Type = connectors.ObjectType(typ)
		r.Created = codec.Time(created)
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "pending references of job %q", jobID)
}

// StagedOps returns up to limit (<= 0: all) staged operations of a job, oldest Created first.
func (s *Store) StagedOps(ctx context.Context, jobID string, after *provisioning.Cursor, limit int) ([]provisioning.StagedOp, error) {
	t, typ, id, _ := cursorArgs(after)
	out, err := queryList[provisioning.StagedOp](ctx, s.reader,
		`SELECT op FROM staged_ops WHERE job_id = ? AND (created, type, source_id) > (?, ?, ?)
		ORDER BY created, type, source_id LIMIT ?`, jobID, t, typ, id, sqlLimit(limit))
	return out, wrap(err, "staged operations of job %q", jobID)
}

// CountStaged counts a job's staged operations.
func (s *Store) CountStaged(ctx context.Context, jobID string) (int64, error) {
	return s.count(ctx, `SELECT count(*) FROM staged_ops WHERE job_id = ?`, "staged operations", jobID)
}

// GetCycle returns one cycle of a job (provisioning.ErrNotFound when missing).
func (s *Store) GetCycle(ctx context.Context, jobID, cycleID string) (provisioning.Cycle, error) {
	return queryOne[provisioning.Cycle](ctx, s.reader, fmt.Sprintf("cycle %q of job %q", cycleID, jobID),
		`SELECT cycle FROM cycles WHERE job_id = ? AND cycle_id = ?`, jobID, cycleID)
}

// ListCycles returns up to limit (<= 0: all) cycles of a job, the latest TimeBegan first.
func (s *Store) ListCycles(ctx context.Context, jobID string, limit int) ([]provisioning.Cycle, error) {
	out, err := queryList[provisioning.Cycle](ctx, s.reader,
		`SELECT cycle FROM cycles WHERE job_id = ? ORDER BY began DESC, cycle_id DESC LIMIT ?`, jobID, sqlLimit(limit))
	return out, wrap(err, "list cycles of job %q", jobID)
}

const qHistory = `SELECT change FROM job_history WHERE job_id = ? ORDER BY time DESC, seq DESC LIMIT ?`

// History returns up to limit (<= 0: all) status changes of a job, newest first (of equal
// times, the last committed first).
func (s *Store) History(ctx context.Context, jobID string, limit int) ([]provisioning.StatusChange, error) {
	out, err := queryList[provisioning.StatusChange](ctx, s.reader, qHistory, jobID, sqlLimit(limit))
	return out, wrap(err, "history of job %q", jobID)
}

// Audit returns up to limit (<= 0: all) audit entries of a job (jobID "": of every job and
// of none), newest first (of equal times, the last committed first).
func (s *Store) Audit(ctx context.Context, jobID string, limit int) ([]provisioning.AuditEntry, error) {
	var out []provisioning.AuditEntry
	var err error
	if jobID == "" {
		out, err = queryList[provisioning.AuditEntry](ctx, s.reader,
			`SELECT entry FROM audit ORDER BY time DESC, seq DESC LIMIT ?`, sqlLimit(limit))
	} else {
		out, err = queryList[provisioning.AuditEntry](ctx, s.reader,
			`SELECT entry FROM audit WHERE job_id = ? ORDER BY time DESC, seq DESC LIMIT ?`, jobID, sqlLimit(limit))
	}
	return out, wrap(err, "audit of job %q", jobID)
}

// cursorArgs turns a cursor into query arguments; nil starts before every record (times
// are nanoseconds since 1970, and no record has a time before the minimum int64).
func cursorArgs(c *provisioning.Cursor) (t int64, typ, id, attr string) {
	if c == nil {
		return math.MinInt64, "", "", ""
	}
	return codec.Nanos(c.Time), string(c.Type), c.SourceID, c.Attribute
}
