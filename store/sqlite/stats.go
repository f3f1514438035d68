package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/stats"
)

var _ provisioning.QueryStore = (*Store)(nil)

// The statistics (EventStats, TopErrors' counts, Summary) read the event_stats rollup: one
// row per minute and (job, identity type, action, status, error code), maintained by Commit
// and PruneEvents in the transactions that write the events. Reading it costs the number
// of distinct keys in the window, not the number of events: a day is at most 1,440 minutes
// times the keys active in each. The price is minute granularity: a window [From, To)
// counts the whole minutes it touches (From rounded down, To rounded up).

// window appends the rollup conditions of a job and an optional window to where and args.
func window(where []string, args []any, jobID string, from, to time.Time) ([]string, []any) {
	if !from.IsZero() {
		where, args = append(where, "minute >= ?"), append(args, stats.Minute(codec.Nanos(from)))
	}
	if !to.IsZero() {
		where, args = append(where, "minute < ?"), append(args, stats.MinuteCeil(codec.Nanos(to)))
	}
	if jobID != "" {
		where, args = append(where, "job_id = ?"), append(args, jobID)
	}
	return where, args
}

func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// EventStats counts the events q selects in buckets of q.Interval (buckets start at
// multiples of the interval since the Unix epoch, UTC), split by q.GroupBy, from the
// rollup: the window has minute granularity (From rounded down, To rounded up to a whole
// minute), and a bucket at an edge of the window counts only the window's minutes. Buckets
// come ordered by time, then by their labels (byte-wise, in the order of q.GroupBy).
// Invalid queries return an error wrapping provisioning.ErrInvalidRequest.
func (s *Store) EventStats(ctx context.Context, q provisioning.StatsQuery) ([]provisioning.StatsBucket, error) {
	if err := stats.ValidateStats(q); err != nil {
		return nil, err
	}
	k := strconv.FormatInt(int64(q.Interval/time.Minute), 10)
	sel := []string{"minute - ((minute % " + k + ") + " + k + ") % " + k} // floor to the interval
	order := []string{"1"}
	for i, g := range q.GroupBy {
		sel = append(sel, stats.Columns[g])
		order = append(order, strconv.Itoa(i+2))
	}
	where, args := window(nil, nil, q.JobID, q.From, q.To)
	for _, f := range []struct{ col, v string }{
		{"action", string(q.Action)}, {"status", string(q.Status)},
		{"error_code", q.ErrorCode}, {"identity_type", q.IdentityType},
	} {
		if f.v != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.v)
		}
	}
	query := "SELECT " + strings.Join(sel, ", ") + ", sum(count) FROM event_stats" + whereClause(where) +
		" GROUP BY " + strings.Join(order, ", ") + " ORDER BY " + strings.Join(order, ", ")
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "event stats")
	}
	defer rows.Close()
	out, err := stats.ReadBuckets(rows, q.GroupBy)
	return out, wrap(err, "event stats")
}

// Summary counts the events of a job (all jobs for "") in an optional window, from the
// rollup (minute granularity, as EventStats). Events without an identity type count under
// "" in ByIdentityType. The maps are never nil.
func (s *Store) Summary(ctx context.Context, q provisioning.SummaryQuery) (provisioning.Summary, error) {
	sum := stats.NewSummary()
	if err := stats.ValidateWindow("summary", q.From, q.To); err != nil {
		return sum, err
	}
	where, args := window(nil, nil, q.JobID, q.From, q.To)
	rows, err := s.reader.QueryContext(ctx, `SELECT action, status, identity_type, sum(count) FROM event_stats`+
		whereClause(where)+` GROUP BY 1, 2, 3`, args...)
	if err != nil {
		return sum, wrap(err, "summary")
	}
	defer rows.Close()
	for rows.Next() {
		var action, status, typ string
		var n int64
		if err := rows.Scan(&action, &status, &typ, &n); err != nil {
			return stats.NewSummary(), wrap(err, "summary")
		}
		stats.AddToSummary(&sum, action, status, typ, n)
	}
	if err := rows.Err(); err != nil {
		return stats.NewSummary(), wrap(err, "summary")
	}
	return sum, nil
}

// qLatestError is the latest failed event with an error code, found through
// events_error_time (the other filters are written with "+" to keep their indexes out).
const qLatestError = `SELECT event FROM events WHERE error_code = ? AND time >= ? AND time < ?
	AND +status = 'failure' AND (? = '' OR +job_id = ?) ORDER BY time DESC, id DESC LIMIT 1`

// TopErrors returns the error codes of failed events in an optional window, most frequent
// first (ties: the most recently seen first, then by code), at most q.Limit (<= 0: 10).
// The counts come from the rollup (minute granularity, as EventStats); LastSeen and Sample
// are the latest failed event with the code in the same (widened) window, read in the same
// snapshot. Failed events without an error code are not counted.
func (s *Store) TopErrors(ctx context.Context, q provisioning.TopErrorsQuery) ([]provisioning.TopError, error) {
	if err := stats.ValidateWindow("top errors", q.From, q.To); err != nil {
		return nil, err
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, wrap(err, "top errors")
	}
	defer tx.Rollback()
	where, args := window([]string{"status = 'failure'", "error_code != ''"}, nil, q.JobID, q.From, q.To)
	rows, err := tx.QueryContext(ctx, `SELECT error_code, sum(count) FROM event_stats`+whereClause(where)+` GROUP BY 1`, args...)
	if err != nil {
		return nil, wrap(err, "top errors")
	}
	counts := map[string]int64{}
	for rows.Next() {
		var code string
		var n int64
		if err := rows.Scan(&code, &n); err != nil {
			rows.Close()
			return nil, wrap(err, "top errors")
		}
		counts[code] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, wrap(err, "top errors")
	}

	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		lo = stats.MinuteStart(stats.Minute(codec.Nanos(q.From)))
	}
	if !q.To.IsZero() {
		hi = stats.MinuteStart(stats.MinuteCeil(codec.Nanos(q.To)))
	}
	var out []provisioning.TopError
	for _, code := range stats.Contenders(counts, q.Limit) {
		var js []byte
		err := tx.QueryRowContext(ctx, qLatestError, code, lo, hi, q.JobID, q.JobID).Scan(&js)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not in the events table: cannot happen in one snapshot
		}
		if err != nil {
			return nil, wrap(err, "top errors: latest %q", code)
		}
		var ev provisioning.Event
		if err := codec.Unmarshal(js, &ev); err != nil {
			return nil, fmt.Errorf("store/sqlite: top errors: decode event: %w", err)
		}
		te := provisioning.TopError{ErrorCode: code, Count: counts[code], LastSeen: ev.ActivityDateTime, Sample: ev}
		if ev.ErrorInformation != nil {
			te.ErrorCategory = ev.ErrorInformation.ErrorCategory
		}
		out = append(out, te)
	}
	return stats.Rank(out, q.Limit), nil
}
