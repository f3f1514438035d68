package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
)

// Event query limits.
const (
	// DefaultEventLimit is QueryEvents' page size when the query gives none.
	DefaultEventLimit = 100
	// MaxEventLimit caps QueryEvents' page size.
	MaxEventLimit = 10000
)

// GetEvent returns one event by id (provisioning.ErrNotFound when missing).
func (s *Store) GetEvent(ctx context.Context, id string) (provisioning.Event, error) {
	return queryOne[provisioning.Event](ctx, s.reader, fmt.Sprintf("event %q", id),
		`SELECT event FROM events WHERE id = ?`, id)
}

// QueryEvents returns the events q selects, newest first by (activityDateTime, id) unless
// q.Ascending. From and To are inclusive.
func (s *Store) QueryEvents(ctx context.Context, q provisioning.EventQuery) ([]provisioning.Event, error) {
	broad, err := s.broadIdentity(ctx, q)
	if err != nil {
		return nil, wrap(err, "query events")
	}
	query, args := buildEventQuery(q, broad)
	out, err := queryList[provisioning.Event](ctx, s.reader, query, args...)
	if err != nil {
		return nil, wrap(err, "query events")
	}
	return out, nil
}

// identityColumns are the columns an identity filter matches, with whether the filter
// value is lower-cased for them.
var identityColumns = []struct {
	col   string
	lower bool
}{{"source_id", false}, {"target_id", false}, {"source_name_lc", true}, {"target_name_lc", true}}

// broadIdentity reports whether q's identity filter matches so many events that reading
// them all through the identity indexes and sorting them by time (what an identity-driven
// query does) costs more than scanning events in time order until the page is full:
// a type-ahead prefix ("a") or the display name of a group changed every cycle. The
// matches are counted on the identity indexes alone (no table rows), up to the crossover
// point, about sqrt(limit * events / 10) (an index-driven match costs about ten times a
// time-ordered scanned row, which shares its page with its neighbours).
func (s *Store) broadIdentity(ctx context.Context, q provisioning.EventQuery) (bool, error) {
	if q.Identity == "" || q.ChangeID != "" {
		return false, nil
	}
	var events int64
	if err := s.reader.QueryRowContext(ctx, qEventCount).Scan(&events); err != nil {
		return false, err
	}
	limit := int64(eventLimit(q.Limit))
	threshold := max(identityScanMin, int64(math.Sqrt(float64(limit*events/10))))
	lc := codec.Lower(q.Identity)
	var total int64
	for _, c := range identityColumns {
		v := q.Identity
		if c.lower {
			v = lc
		}
		cond, args := c.col+" = ?", []any{v}
		if q.IdentityPrefix {
			cond, args = c.col+" >= ? AND "+c.col+" < ?", []any{v, prefixEnd(v)}
		}
		var n int64
		err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events WHERE `+cond+` LIMIT ?)`,
			append(args, threshold-total)...).Scan(&n)
		if err != nil {
			return false, err
		}
		if total += n; total >= threshold {
			return true, nil
		}
	}
	return false, nil
}

// qEventCount estimates the number of events from the rowids (exact until events are
// pruned). Each min and max is its own subquery: SQLite reads one end of the rowid b-tree
// for a lone min() or max(), but scans the whole table for an expression of both.
const qEventCount = `SELECT coalesce((SELECT max(seq) FROM events) - (SELECT min(seq) FROM events) + 1, 0)`

// identityScanMin: identity filters matching fewer events always use the identity indexes.
var identityScanMin int64 = 500

func eventLimit(limit int) int {
	if limit <= 0 {
		return DefaultEventLimit
	}
	return min(limit, MaxEventLimit)
}

// driver is the index an event query is driven by: the filter expected to select the
// fewest rows. SQLite has no statistics on a fresh database (and stale ones later), so
// the query names its choice: every other filter column is written with a unary "+",
// which keeps the filter but takes its index out of the planner's choices.
type driver int

const (
	byTime     driver = iota // events_time
	byJob                    // events_job_time
	byStatus                 // events_status_time
	byError                  // events_error_time
	byCycle                  // events_cycle_time
	byIdentity               // events_source, events_target, events_*_name (multi-index OR)
	byChange                 // events_change
)

func chooseDriver(q provisioning.EventQuery, broadIdentity bool) driver {
	switch {
	case q.ChangeID != "":
		return byChange
	case q.Identity != "" && !broadIdentity:
		return byIdentity
	case q.CycleID != "":
		return byCycle
	case q.ErrorCode != "":
		return byError
	case q.Status != "" && q.Status != provisioning.ResultSuccess:
		// Warnings, failures and skips are a small share of a job's events.
		return byStatus
	case q.JobID != "":
		return byJob
	case q.Status != "":
		return byStatus
	}
	return byTime
}

// buildEventQuery returns the SQL and arguments of q; broadIdentity (see broadIdentity)
// keeps the identity indexes out of the plan. The SQL text depends only on which filters
// are set, never on their values (those are always arguments).
func buildEventQuery(q provisioning.EventQuery, broadIdentity bool) (string, []any) {
	drv := chooseDriver(q, broadIdentity)
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	// col writes a column so that its index is usable only when d drives the query.
	col := func(name string, d ...driver) string {
		for _, x := range d {
			if x == drv {
				return name
			}
		}
		return "+" + name
	}
	if q.ChangeID != "" {
		add(col("change_id", byChange)+" = ?", q.ChangeID)
	}
	if q.Identity != "" {
		src, tgt := col("source_id", byIdentity), col("target_id", byIdentity)
		srcName, tgtName := col("source_name_lc", byIdentity), col("target_name_lc", byIdentity)
		lc := codec.Lower(q.Identity)
		if q.IdentityPrefix {
			idEnd, lcEnd := prefixEnd(q.Identity), prefixEnd(lc)
			add("(("+src+" >= ? AND "+src+" < ?) OR ("+tgt+" >= ? AND "+tgt+" < ?) OR ("+
				srcName+" >= ? AND "+srcName+" < ?) OR ("+tgtName+" >= ? AND "+tgtName+" < ?))",
				q.Identity, idEnd, q.Identity, idEnd, lc, lcEnd, lc, lcEnd)
		} else {
			add("("+src+" = ? OR "+tgt+" = ? OR "+srcName+" = ? OR "+tgtName+" = ?)",
				q.Identity, q.Identity, lc, lc)
		}
	}
	if q.CycleID != "" {
		add(col("cycle_id", byCycle)+" = ?", q.CycleID)
	}
	if q.ErrorCode != "" {
		add(col("error_code", byError)+" = ?", q.ErrorCode)
	}
	if q.Status != "" {
		add(col("status", byStatus)+" = ?", string(q.Status))
	}
	if q.JobID != "" {
		add(col("job_id", byJob)+" = ?", q.JobID)
	}
	if q.IdentityType != "" {
		add("identity_type = ?", q.IdentityType)
	}
	if q.Action != "" {
		add("action = ?", string(q.Action))
	}
	// time is the second column of the ordered indexes, usable after their equality.
	tm := col("time", byTime, byJob, byStatus, byError, byCycle)
	if !q.From.IsZero() {
		add(tm+" >= ?", codec.Nanos(q.From))
	}
	if !q.To.IsZero() {
		add(tm+" <= ?", codec.Nanos(q.To))
	}
	if a := q.After; a != nil {
		t := codec.Nanos(a.Time)
		if q.Ascending {
			add(tm+" >= ? AND ("+tm+" > ? OR +id > ?)", t, t, a.ID)
		} else {
			add(tm+" <= ? AND ("+tm+" < ? OR +id < ?)", t, t, a.ID)
		}
	}
	var b strings.Builder
	b.WriteString("SELECT event FROM events")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	if q.Ascending {
		b.WriteString(" ORDER BY time, id")
	} else {
		b.WriteString(" ORDER BY time DESC, id DESC")
	}
	b.WriteString(" LIMIT ?")
	args = append(args, eventLimit(q.Limit))
	return b.String(), args
}

// prefixEnd returns the least string above every string with prefix p in SQLite's BINARY
// order, for the range scan p <= x < prefixEnd(p): valid UTF-8 never contains 0xFF.
func prefixEnd(p string) string { return p + "\xff" }

// PruneEvents deletes the events whose activityDateTime is before olderThan, batch
// (<= 0: 1000) at a time, each batch its own short write transaction so that committers
// wait at most one batch. It returns how many events it deleted, also when ctx ends it
// early.
func (s *Store) PruneEvents(ctx context.Context, olderThan time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.StmtContext(ctx, s.stmts.pruneEventsOld).ExecContext(ctx, codec.Nanos(olderThan), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, wrap(err, "prune events")
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
