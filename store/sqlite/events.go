package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/stats"
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

// broadIdentity reports whether q's identity prefix matches so many events that finding
// the page among them through the identity indexes (what a prefix-driven query does, see
// identityUnion) costs more than scanning events in time order until the page is full: a
// type-ahead prefix ("a"). The matches are counted on the identity indexes alone (no table
// rows), up to the crossover point. When the other filters are only time bounds, the
// prefix query reads the identity indexes alone too (a match costs a small fraction of a
// scanned row, which on a large store is mostly a read from disk): the crossover is about
// sqrt(10 * limit * events), 100,000 matches at 10 million events. Otherwise every match
// costs a random table read, about ten times a time-ordered scanned row (which shares its
// page with its neighbours): sqrt(limit * events / 10). An exact identity is never broad:
// its history is read newest first from each identity index, stopping at the page size.
func (s *Store) broadIdentity(ctx context.Context, q provisioning.EventQuery) (bool, error) {
	if q.Identity == "" || !q.IdentityPrefix || q.ChangeID != "" {
		return false, nil
	}
	var events int64
	if err := s.reader.QueryRowContext(ctx, qEventCount).Scan(&events); err != nil {
		return false, err
	}
	limit := float64(eventLimit(q.Limit))
	cross := math.Sqrt(limit * float64(events) / 10)
	if onlyIdentityAndTime(q) {
		cross = math.Sqrt(10 * limit * float64(events))
	}
	threshold := max(identityScanMin, int64(cross))
	lc := codec.Lower(q.Identity)
	var total int64
	for _, c := range identityColumns {
		v := q.Identity
		if c.lower {
			v = lc
		}
		var n int64
		err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events WHERE `+c.col+` >= ? AND `+c.col+` < ? LIMIT ?)`,
			v, prefixEnd(v), threshold-total).Scan(&n)
		if err != nil {
			return false, err
		}
		if total += n; total >= threshold {
			return true, nil
		}
	}
	return false, nil
}

// onlyIdentityAndTime reports whether q filters on nothing but the identity and time (From,
// To, After): its identity branches then read the identity indexes alone.
func onlyIdentityAndTime(q provisioning.EventQuery) bool {
	return q.JobID == "" && q.CycleID == "" && q.ChangeID == "" && q.Status == "" && q.Action == "" &&
		q.ErrorCode == "" && q.IdentityType == ""
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
	byTime         driver = iota // events_time
	byJob                        // events_job_time
	byStatus                     // events_status_time
	byAction                     // events_action_time
	byError                      // events_error_time
	byCycle                      // events_cycle_time
	byIdentity                   // prefix: events_source, events_target, events_*_name (identityUnion)
	byIdentityTime               // exact: the same indexes, read in time order (identityUnion)
	byChange                     // events_change
)

func chooseDriver(q provisioning.EventQuery, broadIdentity bool) driver {
	switch {
	case q.ChangeID != "":
		return byChange
	case q.Identity != "" && !q.IdentityPrefix:
		return byIdentityTime
	case q.Identity != "" && !broadIdentity:
		return byIdentity
	case q.CycleID != "":
		return byCycle
	case q.ErrorCode != "":
		return byError
	case q.Status != "" && q.Status != provisioning.ResultSuccess:
		// Warnings, failures and skips are a small share of a job's events.
		return byStatus
	case q.Action != "" && q.Action != provisioning.ActionUpdate:
		// So are creates, deletes, disables: most events of a running job are updates.
		return byAction
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
	if q.Identity != "" && drv != byIdentity && drv != byIdentityTime { // else identityUnion matches it
		src, tgt, srcName, tgtName := "+source_id", "+target_id", "+source_name_lc", "+target_name_lc"
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
		add(col("action", byAction)+" = ?", string(q.Action))
	}
	// time is the second column of the ordered indexes, usable after their equality.
	tm := col("time", byTime, byJob, byStatus, byAction, byError, byCycle, byIdentityTime)
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
	order := " ORDER BY time DESC, id DESC"
	if q.Ascending {
		order = " ORDER BY time, id"
	}
	limit := eventLimit(q.Limit)
	if drv == byIdentity || drv == byIdentityTime {
		return identityUnion(q, where, args, order, limit)
	}
	var b strings.Builder
	b.WriteString("SELECT event FROM events")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(order)
	b.WriteString(" LIMIT ?")
	return b.String(), append(args, limit)
}

// identityUnion returns the query of an identity filter: one branch per identity column
// (source and target id, both display names), each selecting the events among which the
// page's are, then the page of those (an event may match several columns: IN keeps it
// once). where and args are the other filters.
//
//   - Exact: a branch reads its column's (column, time) index in the page's order and
//     stops at the page size. A page reads at most 4 * limit events however long the
//     history, and a display name many users share costs no more than an id.
//   - Prefix: a branch's matches span many index keys, so the index gives no time order.
//     It first finds the time of the limit-th match in the page's order (a bounded sort of
//     index entries: with only time filters, no table row is read), then selects the
//     matches from that time on, ties included. Only the page's events are read whole.
func identityUnion(q provisioning.EventQuery, where []string, args []any, order string, limit int) (string, []any) {
	rest := ""
	if len(where) > 0 {
		rest = " AND " + strings.Join(where, " AND ")
	}
	lc := codec.Lower(q.Identity)
	branches := make([]string, len(identityColumns))
	var all []any
	for i, c := range identityColumns {
		v := q.Identity
		if c.lower {
			v = lc
		}
		if !q.IdentityPrefix {
			branches[i] = "SELECT seq FROM (SELECT seq FROM events WHERE " + c.col + " = ?" + rest + order + " LIMIT ?)"
			all = append(append(append(all, v), args...), limit)
			continue
		}
		match := c.col + " >= ? AND " + c.col + " < ?" + rest
		// "+time" everywhere: the (column, time) index must drive, not events_time.
		edge := "+time >= coalesce((SELECT +time FROM events WHERE " + match + " ORDER BY +time DESC LIMIT 1 OFFSET ?), " + strconv.FormatInt(math.MinInt64, 10) + ")"
		if q.Ascending {
			edge = "+time <= coalesce((SELECT +time FROM events WHERE " + match + " ORDER BY +time LIMIT 1 OFFSET ?), " + strconv.FormatInt(math.MaxInt64, 10) + ")"
		}
		branches[i] = "SELECT seq FROM events WHERE " + match + " AND " + edge
		end := prefixEnd(v)
		all = append(append(all, v, end), args...)
		all = append(append(append(all, v, end), args...), limit-1)
	}
	// The outer order is written on expressions ("+time") so that the planner fetches the
	// few rows by rowid and sorts them, rather than walking events_time in order.
	outer := " ORDER BY +time DESC, +id DESC"
	if q.Ascending {
		outer = " ORDER BY +time, +id"
	}
	return "SELECT event FROM events WHERE seq IN (" + strings.Join(branches, " UNION ALL ") + ")" + outer + " LIMIT ?", append(all, limit)
}

// prefixEnd returns the least string above every string with prefix p in SQLite's BINARY
// order, for the range scan p <= x < prefixEnd(p): valid UTF-8 never contains 0xFF.
func prefixEnd(p string) string { return p + "\xff" }

// PruneEvents deletes the events whose activityDateTime is before olderThan, batch
// (<= 0: 1000) at a time, each batch its own short write transaction so that committers
// wait at most one batch. Each batch also subtracts its events from the statistics rollup
// (exactly: the deleted rows themselves are counted), deleting the rollup rows that reach
// zero. It returns how many events it deleted, also when ctx ends it early.
func (s *Store) PruneEvents(ctx context.Context, olderThan time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = s.pruneBatch(ctx, tx, codec.Nanos(olderThan), batch)
			return err
		})
		if err != nil {
			return total, wrap(err, "prune events")
		}
		total += n
		if n > 0 {
			s.ckpt.committed()
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

// pruneBatch deletes up to batch events older than olderThan (nanoseconds) and their
// rollup counts, returning how many it deleted.
func (s *Store) pruneBatch(ctx context.Context, tx *sql.Tx, olderThan int64, batch int) (int64, error) {
	rows, err := tx.StmtContext(ctx, s.stmts.pruneEventsOld).QueryContext(ctx, olderThan, batch)
	if err != nil {
		return 0, err
	}
	var n int64
	c := stats.Counter{}
	for rows.Next() {
		var t int64
		var k stats.Key
		var typ, code sql.NullString
		if err := rows.Scan(&t, &k.JobID, &typ, &k.Action, &k.Status, &code); err != nil {
			rows.Close()
			return 0, err
		}
		k.Minute, k.IdentityType, k.ErrorCode = stats.Minute(t), typ.String, code.String
		c.Add(k)
		n++
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := s.stmts.addStats(ctx, tx, c.Sorted(), true); err != nil {
		return 0, fmt.Errorf("event statistics: %w", err)
	}
	return n, nil
}
