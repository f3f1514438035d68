package provisioning

import (
	"context"
	"time"
)

// QueryStore is the read side the query API serves on top of the engine's Store:
// time-bucketed statistics, top errors, a summary, and retention. Implementations:
// store/sqlite, store/postgres (both pass store/storetest).
type QueryStore interface {
	Store
	// EventStats counts the events q selects in time buckets of q.Interval, split by
	// q.GroupBy. Buckets without events are absent; buckets are ordered by time, then
	// by their labels.
	EventStats(ctx context.Context, q StatsQuery) ([]StatsBucket, error)
	// TopErrors returns the error codes of failed events, most frequent first (ties:
	// most recently seen first), with when each was last seen and its latest event.
	TopErrors(ctx context.Context, q TopErrorsQuery) ([]TopError, error)
	// Summary counts events by status, action and identity type.
	Summary(ctx context.Context, q SummaryQuery) (Summary, error)
	// PruneEvents deletes the events (and the statistics) older than olderThan, batch at
	// a time, each batch its own short transaction so that writers are never blocked for
	// long; it returns how many events it deleted.
	PruneEvents(ctx context.Context, olderThan time.Time, batch int) (int64, error)
}

// Stats group-by dimensions.
const (
	GroupByAction       = "action"
	GroupByStatus       = "status"
	GroupByErrorCode    = "errorCode"
	GroupByJobID        = "jobId"
	GroupByIdentityType = "identityType"
)

// GroupBys lists the dimensions EventStats can group by.
var GroupBys = []string{GroupByAction, GroupByStatus, GroupByErrorCode, GroupByJobID, GroupByIdentityType}

// StatsQuery selects events to count. From is inclusive, To exclusive; both required.
// Statistics are kept per minute, so stores widen the window to whole minutes (From
// rounded down, To rounded up); the same holds for TopErrorsQuery and SummaryQuery.
type StatsQuery struct {
	JobID        string
	Action       Action
	Status       Result
	ErrorCode    string
	IdentityType string
	From, To     time.Time
	// Interval is the bucket width: a whole number of minutes (at least one). Buckets
	// start at multiples of Interval since the Unix epoch (UTC).
	Interval time.Duration
	// GroupBy lists dimensions (GroupBys) to split each bucket by; none counts all.
	GroupBy []string
}

// StatsBucket is the count of one time bucket and one combination of group-by values.
type StatsBucket struct {
	Time time.Time `json:"time"`
	// Labels holds the group-by values (an event without an error code has errorCode "").
	Labels map[string]string `json:"labels,omitempty"`
	Count  int64             `json:"count"`
}

// TopErrorsQuery selects failed events by job and time (From inclusive, To exclusive;
// zero times do not bound).
type TopErrorsQuery struct {
	JobID    string
	From, To time.Time
	// Limit caps the number of error codes (0: 10).
	Limit int
}

// TopError is one error code's count with its latest occurrence.
type TopError struct {
	ErrorCode     string    `json:"errorCode"`
	ErrorCategory string    `json:"errorCategory,omitempty"`
	Count         int64     `json:"count"`
	LastSeen      time.Time `json:"lastSeen"`
	// Sample is the latest event with this code.
	Sample Event `json:"sample"`
}

// SummaryQuery selects events by job and time (From inclusive, To exclusive; zero times
// do not bound).
type SummaryQuery struct {
	JobID    string
	From, To time.Time
}

// Summary counts events.
type Summary struct {
	Total    int64            `json:"total"`
	ByStatus map[Result]int64 `json:"byStatus"`
	ByAction map[Action]int64 `json:"byAction"`
	// ByIdentityType counts events by identity type ("User", "Group") and status.
	ByIdentityType map[string]map[Result]int64 `json:"byIdentityType"`
	// SuccessRate is success / (success + warning + failure): skipped events did not
	// try to change anything. 1 when nothing was tried.
	SuccessRate float64 `json:"successRate"`
}
