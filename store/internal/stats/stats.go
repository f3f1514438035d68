// Package stats holds what every provisioning.QueryStore implementation shares, so that the
// SQLite and PostgreSQL stores validate and answer statistics queries alike:
//
//   - Validation of provisioning.StatsQuery (errors wrap provisioning.ErrInvalidRequest).
//   - Minute arithmetic: the stores keep a per-minute rollup of event counts, so the
//     windows of EventStats, TopErrors and Summary have minute granularity. A window
//     [From, To) counts the whole minutes it touches: From is rounded down and To up to a
//     whole minute (UTC, since the Unix epoch).
//   - The rollup's key (Key) and the aggregation of a batch's events into it.
//   - Assembling a provisioning.Summary and ranking top errors.
package stats

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// MinuteNanos is one minute in nanoseconds.
const MinuteNanos = int64(time.Minute)

// FloorDiv is a / b rounded towards minus infinity (b > 0), without overflow.
func FloorDiv(a, b int64) int64 {
	if a >= 0 {
		return a / b
	}
	return (a+1)/b - 1
}

// CeilDiv is a / b rounded towards plus infinity (b > 0), without overflow.
func CeilDiv(a, b int64) int64 {
	if a <= 0 {
		return a / b
	}
	return (a-1)/b + 1
}

// Minute is the Unix minute (floor) of n nanoseconds since the epoch.
func Minute(n int64) int64 { return FloorDiv(n, MinuteNanos) }

// MinuteCeil is n nanoseconds rounded up to a whole Unix minute.
func MinuteCeil(n int64) int64 { return CeilDiv(n, MinuteNanos) }

// MinuteStart is the first nanosecond of Unix minute m, saturated to the int64 range.
func MinuteStart(m int64) int64 {
	switch {
	case m > math.MaxInt64/MinuteNanos:
		return math.MaxInt64
	case m < math.MinInt64/MinuteNanos:
		return math.MinInt64
	}
	return m * MinuteNanos
}

// MinuteTime is the start of Unix minute m as a UTC time.
func MinuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

// Columns maps each group-by dimension (provisioning.GroupBys) to the rollup column
// holding it. Absent values (an event without an error code or identity type) are "".
var Columns = map[string]string{
	provisioning.GroupByAction:       "action",
	provisioning.GroupByStatus:       "status",
	provisioning.GroupByErrorCode:    "error_code",
	provisioning.GroupByJobID:        "job_id",
	provisioning.GroupByIdentityType: "identity_type",
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", provisioning.ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// ValidateStats checks q: From and To set with From before To, Interval a whole number of
// minutes (at least one), GroupBy dimensions known and not repeated.
func ValidateStats(q provisioning.StatsQuery) error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return invalid("stats: from and to are required")
	case !q.From.Before(q.To):
		return invalid("stats: from (%s) must be before to (%s)", q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	case q.Interval < time.Minute || q.Interval%time.Minute != 0:
		return invalid("stats: interval %v: want a whole number of minutes, at least 1m", q.Interval)
	}
	seen := map[string]bool{}
	for _, g := range q.GroupBy {
		if _, ok := Columns[g]; !ok {
			return invalid("stats: unknown groupBy %q: want %s", g, strings.Join(provisioning.GroupBys, ", "))
		}
		if seen[g] {
			return invalid("stats: groupBy %q given twice", g)
		}
		seen[g] = true
	}
	return nil
}

// ValidateWindow checks an optional window (TopErrors, Summary): when both ends are set,
// From must be before To.
func ValidateWindow(what string, from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return invalid("%s: from (%s) must be before to (%s)", what, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Key is one row of the rollup: the events of one minute with the same job, identity
// type, action, status and error code ("" for none).
type Key struct {
	Minute       int64
	JobID        string
	IdentityType string
	Action       string
	Status       string
	ErrorCode    string
}

// Compare orders keys by minute, then by the other fields (the rollup's primary key order).
func (k Key) Compare(o Key) int {
	return cmp.Or(cmp.Compare(k.Minute, o.Minute), strings.Compare(k.JobID, o.JobID),
		strings.Compare(k.IdentityType, o.IdentityType), strings.Compare(k.Action, o.Action),
		strings.Compare(k.Status, o.Status), strings.Compare(k.ErrorCode, o.ErrorCode))
}

// Count is a rollup key with its count.
type Count struct {
	Key
	N int64
}

// Counter aggregates events into rollup counts.
type Counter map[Key]int64

// Add counts one event.
func (c Counter) Add(k Key) { c[k]++ }

// Sorted returns the counts in key order (the order to write them in: neighbouring keys
// share rollup pages).
func (c Counter) Sorted() []Count {
	out := make([]Count, 0, len(c))
	for k, n := range c {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return a.Key.Compare(b.Key) })
	return out
}

// NewSummary returns an empty summary (maps allocated, SuccessRate 1).
func NewSummary() provisioning.Summary {
	return provisioning.Summary{
		ByStatus:       map[provisioning.Result]int64{},
		ByAction:       map[provisioning.Action]int64{},
		ByIdentityType: map[string]map[provisioning.Result]int64{},
		SuccessRate:    1,
	}
}

// AddToSummary counts n events of an action, status and identity type.
func AddToSummary(s *provisioning.Summary, action, status, identityType string, n int64) {
	if n == 0 {
		return
	}
	s.Total += n
	s.ByStatus[provisioning.Result(status)] += n
	s.ByAction[provisioning.Action(action)] += n
	m := s.ByIdentityType[identityType]
	if m == nil {
		m = map[provisioning.Result]int64{}
		s.ByIdentityType[identityType] = m
	}
	m[provisioning.Result(status)] += n
	s.SuccessRate = SuccessRate(s.ByStatus)
}

// SuccessRate is success / (success + warning + failure); 1 when nothing was tried.
func SuccessRate(byStatus map[provisioning.Result]int64) float64 {
	ok := byStatus[provisioning.ResultSuccess]
	tried := ok + byStatus[provisioning.ResultWarning] + byStatus[provisioning.ResultFailure]
	if tried == 0 {
		return 1
	}
	return float64(ok) / float64(tried)
}

// TopErrorsLimit is the number of error codes TopErrors returns for a limit <= 0.
const TopErrorsLimit = 10

// CompareTopErrors orders top errors: the highest count first, then the latest LastSeen,
// then by error code.
func CompareTopErrors(a, b provisioning.TopError) int {
	return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastSeen.Compare(a.LastSeen), strings.Compare(a.ErrorCode, b.ErrorCode))
}

// Contenders returns the codes (of counts, by error code) that can rank among the first
// limit: every code counted at least as often as the limit-th most frequent. Only these
// need their latest occurrence looked up (ties are broken by it).
func Contenders(counts map[string]int64, limit int) []string {
	if limit <= 0 {
		limit = TopErrorsLimit
	}
	ns := make([]int64, 0, len(counts))
	for _, n := range counts {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, func(a, b int64) int { return cmp.Compare(b, a) })
	var floor int64
	if len(ns) > limit {
		floor = ns[limit-1]
	}
	var out []string
	for code, n := range counts {
		if n >= floor && n > 0 {
			out = append(out, code)
		}
	}
	slices.Sort(out)
	return out
}

// Rank sorts top errors (CompareTopErrors) and keeps the first limit (<= 0: TopErrorsLimit).
func Rank(errs []provisioning.TopError, limit int) []provisioning.TopError {
	if limit <= 0 {
		limit = TopErrorsLimit
	}
	slices.SortFunc(errs, CompareTopErrors)
	if len(errs) > limit {
		errs = errs[:limit]
	}
	return errs
}

// Rows is what ReadBuckets reads: *sql.Rows and pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadBuckets reads the rows of a rollup query selecting (minute bucket, the groupBy
// columns in order, count) into buckets, skipping zero counts.
func ReadBuckets(rows Rows, groupBy []string) ([]provisioning.StatsBucket, error) {
	var out []provisioning.StatsBucket
	labels := make([]string, len(groupBy))
	dest := make([]any, 0, len(groupBy)+2)
	var bucket, count int64
	dest = append(dest, &bucket)
	for i := range labels {
		dest = append(dest, &labels[i])
	}
	dest = append(dest, &count)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if count == 0 {
			continue
		}
		b := provisioning.StatsBucket{Time: MinuteTime(bucket), Count: count}
		if len(labels) > 0 {
			b.Labels = make(map[string]string, len(labels))
			for i, g := range groupBy {
				b.Labels[g] = labels[i]
			}
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
