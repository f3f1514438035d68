package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/stats"
)

// The statistics (EventStats, TopErrors' counts, Summary) read the event_stats rollup: one
// row per minute and (job, identity type, action, status, error code), maintained by Commit
// and PruneEvents in the transactions that write the events (store/internal/stats, the
// same as the SQLite store). Reading it costs the number of distinct keys in the window,
// not the number of events. The price is minute granularity: a window [From, To) counts
// the whole minutes it touches (From rounded down, To rounded up).

// sqlArgs collects the arguments of a query and names their placeholders.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// window appends the rollup conditions of a job and an optional window to where.
func window(where []string, args *sqlArgs, jobID string, from, to time.Time) []string {
	if !from.IsZero() {
		where = append(where, "minute >= "+args.add(stats.Minute(codec.Nanos(from))))
	}
	if !to.IsZero() {
		where = append(where, "minute < "+args.add(stats.MinuteCeil(codec.Nanos(to))))
	}
	if jobID != "" {
		where = append(where, "job_id = "+args.add(jobID))
	}
	return where
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
	for _, v := range []string{q.JobID, string(q.Action), string(q.Status), q.ErrorCode, q.IdentityType} {
		if !storable(v) {
			return nil, nil
		}
	}
	k := strconv.FormatInt(int64(q.Interval/time.Minute), 10)
	sel := []string{"minute - ((minute % " + k + ") + " + k + ") % " + k} // floor to the interval
	order := []string{"1"}
	for i, g := range q.GroupBy {
		sel = append(sel, stats.Columns[g])
		order = append(order, strconv.Itoa(i+2))
	}
	var args sqlArgs
	where := window(nil, &args, q.JobID, q.From, q.To)
	for _, f := range []struct{ col, v string }{
		{"action", string(q.Action)}, {"status", string(q.Status)},
		{"error_code", q.ErrorCode}, {"identity_type", q.IdentityType},
	} {
		if f.v != "" {
			where = append(where, f.col+" = "+args.add(f.v))
		}
	}
	query := "SELECT " + strings.Join(sel, ", ") + ", sum(count)::bigint FROM event_stats" + whereClause(where) +
		" GROUP BY " + strings.Join(order, ", ") + " ORDER BY " + strings.Join(order, ", ")
	rows, err := s.pool.Query(ctx, query, args...)
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
	if !storable(q.JobID) {
		return sum, nil
	}
	var args sqlArgs
	where := window(nil, &args, q.JobID, q.From, q.To)
	rows, err := s.pool.Query(ctx, `SELECT action, status, identity_type, sum(count)::bigint FROM event_stats`+
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

// qLatestErrors finds, for each error code of $1, the latest failed event with that code
// in [$2, $3) (of job $4 unless it is ”), through events_error_time.
const qLatestErrors = `SELECT c.code, e.event FROM unnest($1::text[]) AS c(code)
	CROSS JOIN LATERAL (SELECT event FROM events WHERE error_code = c.code AND time >= $2 AND time < $3
		AND status = 'failure' AND ($4 = '' OR job_id = $4) ORDER BY time DESC, id DESC LIMIT 1) AS e`

// TopErrors returns the error codes of failed events in an optional window, most frequent
// first (ties: the most recently seen first, then by code), at most q.Limit (<= 0: 10).
// The counts come from the rollup (minute granularity, as EventStats); LastSeen and Sample
// are the latest failed event with the code in the same (widened) window, read in the same
// snapshot (a read-only repeatable-read transaction). Failed events without an error code
// are not counted.
func (s *Store) TopErrors(ctx context.Context, q provisioning.TopErrorsQuery) ([]provisioning.TopError, error) {
	if err := stats.ValidateWindow("top errors", q.From, q.To); err != nil {
		return nil, err
	}
	if !storable(q.JobID) {
		return nil, nil
	}
	var out []provisioning.TopError
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var args sqlArgs
		where := window([]string{"status = 'failure'", "error_code <> ''"}, &args, q.JobID, q.From, q.To)
		rows, err := tx.Query(ctx, `SELECT error_code, sum(count)::bigint FROM event_stats`+whereClause(where)+` GROUP BY 1`, args...)
		if err != nil {
			return err
		}
		counts := map[string]int64{}
		for rows.Next() {
			var code string
			var n int64
			if err := rows.Scan(&code, &n); err != nil {
				rows.Close()
				return err
			}
			if n > 0 {
				counts[code] = n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		codes := stats.Contenders(counts, q.Limit)
		if len(codes) == 0 {
			return nil
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if !q.From.IsZero() {
			lo = stats.MinuteStart(stats.Minute(codec.Nanos(q.From)))
		}
		if !q.To.IsZero() {
			hi = stats.MinuteStart(stats.MinuteCeil(codec.Nanos(q.To)))
		}
		rows, err = tx.Query(ctx, qLatestErrors, codes, lo, hi, q.JobID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var code string
			var js []byte
			if err := rows.Scan(&code, &js); err != nil {
				return err
			}
			var ev provisioning.Event
			if err := codec.Unmarshal(js, &ev); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			te := provisioning.TopError{ErrorCode: code, Count: counts[code], LastSeen: ev.ActivityDateTime, Sample: ev}
			if ev.ErrorInformation != nil {
				te.ErrorCategory = ev.ErrorInformation.ErrorCategory
			}
			out = append(out, te)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "top errors")
	}
	return stats.Rank(out, q.Limit), nil
}

// minuteSQL is the Unix minute of a nanosecond column (a floor division that does not
// overflow for the zero time and rounds negative times down).
const minuteSQL = `CASE WHEN time >= 0 THEN time / 60000000000 ELSE (time + 1) / 60000000000 - 1 END`

// qPruneEvents deletes one batch of the oldest events and subtracts them from the rollup
// (the deleted rows themselves are counted, so the rollup stays exact); it returns how
// many events it deleted and the range of minutes whose counts it changed.
const qPruneEvents = `WITH del AS (
	DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < $1 ORDER BY time LIMIT $2)
	RETURNING time, job_id, identity_type, action, status, error_code
), agg AS (
	SELECT ` + minuteSQL + ` AS minute, job_id, coalesce(identity_type, '') AS identity_type, action, status,
		coalesce(error_code, '') AS error_code, count(*) AS n
	FROM del GROUP BY 1, 2, 3, 4, 5, 6
), upd AS (
	UPDATE event_stats s SET count = s.count - agg.n FROM agg
	WHERE s.minute = agg.minute AND s.job_id = agg.job_id AND s.identity_type = agg.identity_type
		AND s.action = agg.action AND s.status = agg.status AND s.error_code = agg.error_code
	RETURNING s.minute
)
SELECT coalesce((SELECT sum(n) FROM agg), 0)::bigint, (SELECT min(minute) FROM upd), (SELECT max(minute) FROM upd)`

// qPruneStats deletes the rollup rows of a minute range whose count reached zero.
const qPruneStats = `DELETE FROM event_stats WHERE minute >= $1 AND minute <= $2 AND count <= 0`

// pruneLock is the key of the advisory lock one pruning run holds ("prunevts").
const pruneLock int64 = 0x7072756e65767473

// PruneEvents deletes the events whose activityDateTime is before olderThan, batch
// (<= 0: 1000) at a time, each batch its own short transaction so that committers wait
// at most one batch. Each batch also subtracts its events from the statistics rollup
// (exactly: the deleted rows themselves are counted), deleting the rollup rows that reach
// zero. Replicas sharing the database prune one at a time: while one runs (it holds an
// advisory lock), PruneEvents elsewhere returns 0 at once. It returns how many events it
// deleted, also when ctx ends it early.
func (s *Store) PruneEvents(ctx context.Context, olderThan time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, wrap(err, "prune events")
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, pruneLock).Scan(&locked); err != nil {
		return 0, wrap(err, "prune events")
	}
	if !locked {
		return 0, nil // another replica is pruning
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, pruneLock); err != nil {
			conn.Conn().Close(context.Background()) // closing the session releases the lock
		}
	}()
	var total int64
	for {
		var n int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var lo, hi *int64
			if err := tx.QueryRow(ctx, qPruneEvents, codec.Nanos(olderThan), batch).Scan(&n, &lo, &hi); err != nil {
				return err
			}
			if lo == nil {
				return nil
			}
			_, err := tx.Exec(ctx, qPruneStats, *lo, *hi)
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
