package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/paging"
)

// pgLimit maps the interface's limit (<= 0: no limit) to a LIMIT argument (NULL: none).
func pgLimit(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	n := int64(limit)
	return &n
}

// queryJSON runs a query whose only column is a record's JSON and decodes each row with dec.
func (s *Store) queryJSON(ctx context.Context, dec func([]byte) error, query string, args ...any) error {
	rows, err := s.pool.Query(ctx, query, args...)
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
func queryList[T any](ctx context.Context, s *Store, query string, args ...any) ([]T, error) {
	var out []T
	err := s.queryJSON(ctx, func(js []byte) error {
		var v T
		if err := codec.Unmarshal(js, &v); err != nil {
			return fmt.Errorf("decode %T: %w", v, err)
		}
		out = append(out, v)
		return nil
	}, query, args...)
	return out, err
}

// queryOne decodes the single-JSON-column row of a query; what names it in ErrNotFound.
func queryOne[T any](ctx context.Context, s *Store, what string, query string, args ...any) (T, error) {
	var v T
	var js []byte
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&js); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return v, fmt.Errorf("store/postgres: %s: %w", what, provisioning.ErrNotFound)
		}
		return v, fmt.Errorf("store/postgres: %s: %w", what, err)
	}
	if err := codec.Unmarshal(js, &v); err != nil {
		return v, fmt.Errorf("store/postgres: decode %s: %w", what, err)
	}
	return v, nil
}

// notFound is the ErrNotFound error of a key no stored record can have (text PostgreSQL
// cannot hold).
func notFound(what string) error {
	return fmt.Errorf("store/postgres: %s: %w", what, provisioning.ErrNotFound)
}

// LoadJobState returns a job's state (provisioning.ErrNotFound for a job never committed).
func (s *Store) LoadJobState(ctx context.Context, jobID string) (provisioning.JobState, error) {
	what := fmt.Sprintf("state of job %q", jobID)
	if !storable(jobID) {
		return provisioning.JobState{}, notFound(what)
	}
	return queryOne[provisioning.JobState](ctx, s, what, `SELECT state FROM job_state WHERE job_id = $1`, jobID)
}

// ListJobStates returns every job's state, by job id.
func (s *Store) ListJobStates(ctx context.Context) ([]provisioning.JobState, error) {
	out, err := queryList[provisioning.JobState](ctx, s, `SELECT state FROM job_state ORDER BY job_id`)
	return out, wrap(err, "list job states")
}

// Link queries.
const (
	linkSelect      = `SELECT source_id, target_id, display_name, hash, exported, members, disabled, updated FROM links `
	qGetLinks       = linkSelect + `WHERE job_id = $1 AND type = $2 AND source_id = ANY($3::text[])`
	qScanFirst      = linkSelect + `WHERE job_id = $1 AND type = $2 ORDER BY source_id LIMIT $3`
	qScanNext       = linkSelect + `WHERE job_id = $1 AND type = $2 AND source_id > $3 ORDER BY source_id LIMIT $4`
	qScanNamesFirst = `SELECT source_id, display_name FROM links WHERE job_id = $1 AND type = $2 ORDER BY source_id LIMIT $3`
	qScanNamesNext  = `SELECT source_id, display_name FROM links WHERE job_id = $1 AND type = $2 AND source_id > $3 ORDER BY source_id LIMIT $4`
	// qLinksByTarget reads links_target.
	qLinksByTarget = linkSelect + `WHERE job_id = $1 AND type = $2 AND target_id = $3 ORDER BY source_id`
	qLinkTargets   = `SELECT source_id, target_id, disabled FROM links WHERE job_id = $1 AND type = $2 AND source_id = ANY($3::text[])`
)

// getLinksChunk is how many source IDs one GetLinks query looks up (one array parameter).
const getLinksChunk = 5000

// GetLinks returns the links of the given source IDs; missing ones are absent.
func (s *Store) GetLinks(ctx context.Context, jobID string, typ connectors.ObjectType, sourceIDs []string) (map[string]provisioning.Link, error) {
	out := make(map[string]provisioning.Link, len(sourceIDs))
	if !storable(jobID) || !storable(string(typ)) {
		return out, nil
	}
	err := inChunks(sourceIDs, func(ids []string) error {
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
	if !storable(jobID) || !storable(string(typ)) {
		return out, nil
	}
	if err := inChunks(sourceIDs, func(ids []string) error { return s.queryLinkTargets(ctx, out, jobID, typ, ids) }); err != nil {
		return nil, wrap(err, "get link targets of job %q", jobID)
	}
	return out, nil
}

// inChunks calls query with the storable source IDs, getLinksChunk at a time (a string
// PostgreSQL cannot store cannot name a link).
func inChunks(sourceIDs []string, query func(ids []string) error) error {
	ids := make([]string, 0, min(len(sourceIDs), getLinksChunk))
	for len(sourceIDs) > 0 {
		n := min(len(sourceIDs), getLinksChunk)
		ids = ids[:0]
		for _, id := range sourceIDs[:n] {
			if storable(id) {
				ids = append(ids, id)
			}
		}
		sourceIDs = sourceIDs[n:]
		if err := query(ids); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) queryLinkTargets(ctx context.Context, out map[string]provisioning.LinkTarget, jobID string, typ connectors.ObjectType, ids []string) error {
	rows, err := s.pool.Query(ctx, qLinkTargets, jobID, string(typ), ids)
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

// LinksByTarget returns the links of a job and type to one target object, by source ID.
func (s *Store) LinksByTarget(ctx context.Context, jobID string, typ connectors.ObjectType, targetID string) ([]provisioning.Link, error) {
	if !storable(jobID) || !storable(string(typ)) || !storable(targetID) {
		return nil, nil
	}
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
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		l := provisioning.Link{JobID: jobID, Type: typ}
		var exported, members []byte
		var updated int64
		if err := rows.Scan(&l.SourceID, &l.TargetID, &l.DisplayName, &l.Hash, &exported, &members, &l.Disabled, &updated); err != nil {
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
		l.Updated = codec.Time(updated)
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanLinksChunk is how many links ScanLinks reads per query.
const scanLinksChunk = 1000

// ScanLinks calls fn for every link of a job and type, in source ID order (byte-wise). The
// scan reads in chunks, each its own short query: links committed during the scan are
// seen if their source ID sorts after the chunk being read. fn is not called while a
// query is open, so it may use the store. An error from fn stops the scan and is returned
// as is.
func (s *Store) ScanLinks(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(provisioning.Link) error) error {
	if !storable(jobID) || !storable(string(typ)) {
		return nil
	}
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
	if !storable(jobID) || !storable(string(typ)) {
		return nil
	}
	type name struct{ id, name string }
	return paging.Scan(ctx, scanLinksChunk, func(n name) string { return n.id },
		func(out []name, first bool, after string) ([]name, error) {
			var rows pgx.Rows
			var err error
			if first {
				rows, err = s.pool.Query(ctx, qScanNamesFirst, jobID, string(typ), scanLinksChunk)
			} else {
				rows, err = s.pool.Query(ctx, qScanNamesNext, jobID, string(typ), after, scanLinksChunk)
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
	out := map[connectors.ObjectType]int64{}
	if !storable(jobID) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT type, count(*) FROM links WHERE job_id = $1 GROUP BY type`, jobID)
	if err != nil {
		return nil, wrap(err, "count links of job %q", jobID)
	}
	defer rows.Close()
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
	if !storable(jobID) {
		return 0, nil
	}
	var n int64
	err := s.pool.QueryRow(ctx, query, jobID).Scan(&n)
	return n, wrap(err, "count %s of job %q", what, jobID)
}

const qDueEscrows = `SELECT escrow FROM escrows WHERE job_id = $1 AND next_attempt <= $2
	AND (next_attempt, type, source_id) > ($3, $4, $5) ORDER BY next_attempt, type, source_id LIMIT $6`

// DueEscrows returns up to limit (<= 0: all) escrows with NextAttempt <= now, the earliest
// NextAttempt first.
func (s *Store) DueEscrows(ctx context.Context, jobID string, now time.Time, after *provisioning.Cursor, limit int) ([]provisioning.Escrow, error) {
	t, typ, id, _ := cursorArgs(after)
	if !storable(jobID) || !storable(typ) || !storable(id) {
		return nil, nil
	}
	out, err := queryList[provisioning.Escrow](ctx, s, qDueEscrows, jobID, codec.Nanos(now), t, typ, id, pgLimit(limit))
	return out, wrap(err, "due escrows of job %q", jobID)
}

// CountEscrows counts a job's escrows.
func (s *Store) CountEscrows(ctx context.Context, jobID string) (int64, error) {
	return s.count(ctx, `SELECT count(*) FROM escrows WHERE job_id = $1`, "escrows", jobID)
}

// PendingRefs returns up to limit (<= 0: all) pending references of a job, oldest Created
// first.
func (s *Store) PendingRefs(ctx context.Context, jobID string, after *provisioning.Cursor, limit int) ([]provisioning.PendingRef, error) {
	t, typ, id, attr := cursorArgs(after)
	if !storable(jobID) || !storable(typ) || !storable(id) || !storable(attr) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT type, source_id, attribute, ref_source_id, created FROM pending_refs
		WHERE job_id = $1 AND (created, type, source_id, attribute) > ($2, $3, $4, $5)
		ORDER BY created, type, source_id, attribute LIMIT $6`, jobID, t, typ, id, attr, pgLimit(limit))
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
	if !storable(jobID) || !storable(typ) || !storable(id) {
		return nil, nil
	}
	out, err := queryList[provisioning.StagedOp](ctx, s,
		`SELECT op FROM staged_ops WHERE job_id = $1 AND (created, type, source_id) > ($2, $3, $4)
		ORDER BY created, type, source_id LIMIT $5`, jobID, t, typ, id, pgLimit(limit))
	return out, wrap(err, "staged operations of job %q", jobID)
}

// CountStaged counts a job's staged operations.
func (s *Store) CountStaged(ctx context.Context, jobID string) (int64, error) {
	return s.count(ctx, `SELECT count(*) FROM staged_ops WHERE job_id = $1`, "staged operations", jobID)
}

// GetCycle returns one cycle of a job (provisioning.ErrNotFound when missing).
func (s *Store) GetCycle(ctx context.Context, jobID, cycleID string) (provisioning.Cycle, error) {
	what := fmt.Sprintf("cycle %q of job %q", cycleID, jobID)
	if !storable(jobID) || !storable(cycleID) {
		return provisioning.Cycle{}, notFound(what)
	}
	return queryOne[provisioning.Cycle](ctx, s, what, `SELECT cycle FROM cycles WHERE job_id = $1 AND cycle_id = $2`, jobID, cycleID)
}

// ListCycles returns up to limit (<= 0: all) cycles of a job, the latest TimeBegan first.
func (s *Store) ListCycles(ctx context.Context, jobID string, limit int) ([]provisioning.Cycle, error) {
	if !storable(jobID) {
		return nil, nil
	}
	out, err := queryList[provisioning.Cycle](ctx, s,
		`SELECT cycle FROM cycles WHERE job_id = $1 ORDER BY began DESC, cycle_id DESC LIMIT $2`, jobID, pgLimit(limit))
	return out, wrap(err, "list cycles of job %q", jobID)
}

// History returns up to limit (<= 0: all) status changes of a job, newest first (of equal
// times, the last committed first).
func (s *Store) History(ctx context.Context, jobID string, limit int) ([]provisioning.StatusChange, error) {
	if !storable(jobID) {
		return nil, nil
	}
	out, err := queryList[provisioning.StatusChange](ctx, s,
		`SELECT change FROM job_history WHERE job_id = $1 ORDER BY time DESC, seq DESC LIMIT $2`, jobID, pgLimit(limit))
	return out, wrap(err, "history of job %q", jobID)
}

// Audit returns up to limit (<= 0: all) audit entries of a job (jobID "": of every job and
// of none), newest first (of equal times, the last committed first).
func (s *Store) Audit(ctx context.Context, jobID string, limit int) ([]provisioning.AuditEntry, error) {
	var out []provisioning.AuditEntry
	var err error
	switch {
	case jobID == "":
		out, err = queryList[provisioning.AuditEntry](ctx, s,
			`SELECT entry FROM audit ORDER BY time DESC, seq DESC LIMIT $1`, pgLimit(limit))
	case !storable(jobID):
		return nil, nil
	default:
		out, err = queryList[provisioning.AuditEntry](ctx, s,
			`SELECT entry FROM audit WHERE job_id = $1 ORDER BY time DESC, seq DESC LIMIT $2`, jobID, pgLimit(limit))
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
