package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
)

// Event query limits (the same as the SQLite store's).
const (
	// DefaultEventLimit is QueryEvents' page size when the query gives none.
	DefaultEventLimit = 100
	// MaxEventLimit caps QueryEvents' page size.
	MaxEventLimit = 10000
)

func eventLimit(limit int) int {
	if limit <= 0 {
		return DefaultEventLimit
	}
	return min(limit, MaxEventLimit)
}

// GetEvent returns one event by id (provisioning.ErrNotFound when missing).
func (s *Store) GetEvent(ctx context.Context, id string) (provisioning.Event, error) {
	what := fmt.Sprintf("event %q", id)
	if !storable(id) {
		return provisioning.Event{}, notFound(what)
	}
	return queryOne[provisioning.Event](ctx, s, what, `SELECT event FROM events WHERE id = $1`, id)
}

// QueryEvents returns the events q selects, newest first by (activityDateTime, id) unless
// q.Ascending. From and To are inclusive.
func (s *Store) QueryEvents(ctx context.Context, q provisioning.EventQuery) ([]provisioning.Event, error) {
	query, args, ok := buildEventQuery(q)
	if !ok {
		return nil, nil
	}
	out, err := queryList[provisioning.Event](ctx, s, query, args...)
	return out, wrap(err, "query events")
}

// buildEventQuery returns the SQL and arguments of q. The SQL text depends only on which
// filters are set, never on their values (those are always arguments); the server plans
// each execution with its values (plan_cache_mode force_custom_plan), choosing between the
// identity indexes and a time-ordered scan on its statistics. ok is false when a filter
// value is text PostgreSQL cannot hold (NUL, invalid UTF-8): no stored event matches it.
func buildEventQuery(q provisioning.EventQuery) (query string, args []any, ok bool) {
	var where []string
	add := func(cond string, a ...any) {
		for i := range a {
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)+1), 1)
			args = append(args, a[i])
		}
		where = append(where, cond)
	}
	for _, v := range []string{q.JobID, q.CycleID, q.ChangeID, q.Identity, q.IdentityType, string(q.Action), string(q.Status), q.ErrorCode} {
		if !storable(v) {
			return "", nil, false
		}
	}
	if q.After != nil && !storable(q.After.ID) {
		return "", nil, false
	}
	// An exact identity is matched by a union of one time-ordered branch per identity
	// column (see below): its two values are the first arguments.
	exact := q.Identity != "" && !q.IdentityPrefix
	if exact {
		args = append(args, q.Identity, codec.Lower(q.Identity))
	}
	if q.ChangeID != "" {
		add("change_id = ?", q.ChangeID)
	}
	if q.Identity != "" && q.IdentityPrefix {
		// Each prefix is written as a range (not a LIKE pattern): a b-tree range scan the
		// planner sees whatever the value, with no wildcard characters.
		lc := codec.Lower(q.Identity)
		idEnd, lcEnd := prefixEnd(q.Identity), prefixEnd(lc)
		c1, a1 := rangeCond("source_id", q.Identity, idEnd)
		c2, a2 := rangeCond("target_id", q.Identity, idEnd)
		c3, a3 := rangeCond("source_name_lc", lc, lcEnd)
		c4, a4 := rangeCond("target_name_lc", lc, lcEnd)
		add("("+c1+" OR "+c2+" OR "+c3+" OR "+c4+")", append(append(append(a1, a2...), a3...), a4...)...)
	}
	if q.CycleID != "" {
		add("cycle_id = ?", q.CycleID)
	}
	if q.ErrorCode != "" {
		add("error_code = ?", q.ErrorCode)
	}
	if q.Status != "" {
		add("status = ?", string(q.Status))
	}
	if q.JobID != "" {
		add("job_id = ?", q.JobID)
	}
	if q.IdentityType != "" {
		add("identity_type = ?", q.IdentityType)
	}
	if q.Action != "" {
		add("action = ?", string(q.Action))
	}
	if !q.From.IsZero() {
		add("time >= ?", codec.Nanos(q.From))
	}
	if !q.To.IsZero() {
		add("time <= ?", codec.Nanos(q.To))
	}
	if a := q.After; a != nil {
		t := codec.Nanos(a.Time)
		// time's bound alone is what an index range uses; the row comparison breaks ties.
		if q.Ascending {
			add("time >= ? AND (time, id) > (?, ?)", t, t, a.ID)
		} else {
			add("time <= ? AND (time, id) < (?, ?)", t, t, a.ID)
		}
	}
	order, outer := " ORDER BY time, id", " ORDER BY k.time, k.id"
	if !q.Ascending {
		order, outer = " ORDER BY time DESC, id DESC", " ORDER BY k.time DESC, k.id DESC"
	}
	limit := " LIMIT $" + strconv.Itoa(len(args)+1)
	args = append(args, eventLimit(q.Limit))
	// keys selects the page's (id, time), in order, from the rows matching the conditions.
	keys := func(conds ...string) string {
		conds = append(conds, where...)
		q := "SELECT id, time FROM events"
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		return q + order + limit
	}
	var page string
	if exact {
		// An identity's history, however long (a user updated every cycle of several
		// jobs), is read newest (or oldest) first from each identity index (column, time),
		// each branch stopping at the page size; the union's first page is the answer.
		branches := []string{
			keys("source_id = $1"), keys("target_id = $1"),
			keys("source_name_lc = $2"), keys("target_name_lc = $2"),
		}
		page = "SELECT id, time FROM ((" + strings.Join(branches, ") UNION (") + ")) AS u" + order + limit
	} else {
		page = keys()
	}
	// The page is chosen on (time, id) alone, and only its events' JSON is read: a plan
	// that sorts its matches (an identity prefix matching thousands of events) then sorts
	// keys, not whole events, which is several times faster.
	return "SELECT e.event FROM (" + page + ") AS k JOIN events e ON e.id = k.id" + outer, args, true
}

// rangeCond is the condition "col starts with p" as a range, lo <= col < hi (no upper
// bound when hi is "").
func rangeCond(col, lo, hi string) (string, []any) {
	if hi == "" {
		return "(" + col + " >= ?)", []any{lo}
	}
	return "(" + col + " >= ? AND " + col + " < ?)", []any{lo, hi}
}

// prefixEnd returns the least valid UTF-8 string above every string with prefix p in
// byte-wise (COLLATE "C") order: p with its last code point incremented (skipping the
// surrogates), after dropping trailing U+10FFFF; "" when there is none (p is all
// U+10FFFF). Byte-wise order of UTF-8 is code point order, so the strings with prefix p
// are exactly those in [p, prefixEnd(p)).
func prefixEnd(p string) string {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF:
			r = 0xE000
		default:
			r++
		}
		return p + string(r)
	}
	return ""
}
