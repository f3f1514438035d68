package plugin

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/provisiond/provisiond/provisioning"
)

// Query types (the queryType of a query; datasource/src/types.ts has the same list).
const (
	TypeStatus      = "status"
	TypeQuarantine  = "quarantine"
	TypeProgress    = "progress"
	TypeEventCounts = "eventCounts"
	TypeEvents      = "events"
	TypeTopErrors   = "topErrors"
	TypeCycles      = "cycles"
	TypeUserPath    = "userPath"
	TypeHistory     = "history"
	TypeJobs        = "jobs"
	TypeIdentities  = "identities"
)

// QueryTypes lists every query type.
var QueryTypes = []string{TypeStatus, TypeQuarantine, TypeProgress, TypeEventCounts, TypeEvents, TypeTopErrors,
	TypeCycles, TypeUserPath, TypeHistory, TypeJobs, TypeIdentities, TypeStatusChanges, TypeStatusTimeline, TypeProperties}

// Metrics of the quarantine query (its metric field); each is one number per job.
const (
	// MetricQuarantined is 1 while the job is quarantined, else 0 (labels job, reason).
	MetricQuarantined = "quarantined"
	// MetricCredentialFailure is 1 while the job is quarantined, or its last cycle failed,
	// because the target refused its credentials (Unauthorized, InsufficientRights).
	MetricCredentialFailure = "credentialFailure"
	// MetricHeldDeletes counts the deletes and disables the deletion breaker holds (the
	// staged ones while the job is quarantined with TooManyDeletes; else 0).
	MetricHeldDeletes = "heldDeletes"
	// MetricEscrows counts the objects waiting for a retry.
	MetricEscrows = "escrows"
	// MetricSinceLastSuccessSeconds is the time since the last successful cycle ended
	// (since the first cycle began when none succeeded; 0 before the first cycle).
	MetricSinceLastSuccessSeconds = "sinceLastSuccessSeconds"
	// MetricIntervalsSinceLastSuccess is MetricSinceLastSuccessSeconds in schedule intervals.
	MetricIntervalsSinceLastSuccess = "intervalsSinceLastSuccess"
	// MetricSuccessiveFailures counts the cycles that failed completely in a row.
	MetricSuccessiveFailures = "successiveFailures"
	// MetricProgressPercent is the progress of the running (or last) cycle in percent.
	MetricProgressPercent = "progressPercent"
)

// Metrics lists the quarantine query's metrics.
var Metrics = []string{MetricQuarantined, MetricCredentialFailure, MetricHeldDeletes, MetricEscrows,
	MetricSinceLastSuccessSeconds, MetricIntervalsSinceLastSuccess, MetricSuccessiveFailures, MetricProgressPercent}

// Query is one query's model, decoded from the JSON Grafana sends (panels after the
// frontend interpolated template variables, alert rules as stored). Unknown fields are
// ignored; every field is optional except where a query type needs it.
type Query struct {
	QueryType string
	// JobID selects one job ("" every job).
	JobID string
	// Identity is a display name, source ID or target ID (IdentityPrefix: a prefix).
	Identity       string
	IdentityPrefix bool
	EventID        string
	CycleID        string
	Action         string
	Status         string
	ErrorCode      string
	IdentityType   string
	// GroupBy splits eventCounts (provisioning.GroupBys).
	GroupBy []string
	// Interval is eventCounts' bucket width (0: derived from the panel's interval).
	Interval time.Duration
	// Format of events and history: "logs" (default) or "table".
	Format string
	// Limit caps the rows (0: the query type's default).
	Limit int
	// Order is "desc" (newest first, the default) or "asc".
	Order string
	// Search is the search text of jobs and identities (JSON "query").
	Search string
	// Metric is the quarantine query's number (Metrics; default "quarantined").
	Metric string
}

// FieldError is an invalid query field; its message names the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("query field %q: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// limits of each query type: the default and the cap of its limit field.
var limits = map[string][2]int{
	TypeEvents:     {100, 5000},
	TypeHistory:    {100, 5000},
	TypeTopErrors:  {10, 100},
	TypeCycles:     {50, 1000},
	TypeProgress:   {50, 1000},
	TypeIdentities: {100, 1000},
	TypeJobs:       {1000, 10000},
	// statusChanges: changes per job (the API's history limit); properties: events.
	TypeStatusChanges: {100, maxHistory},
	TypeProperties:    {100, 5000},
}

// ParseQuery decodes and validates a query. The query type is the DataQuery's, or the
// JSON's queryType when Grafana did not set it, or "status" when neither names one.
func ParseQuery(dq backend.DataQuery) (Query, error) {
	var q Query
	raw := map[string]json.RawMessage{}
	if len(dq.JSON) > 0 {
		if err := json.Unmarshal(dq.JSON, &raw); err != nil {
			return q, fmt.Errorf("the query is not a JSON object: %w", err)
		}
	}
	strs := []struct {
		key string
		dst *string
	}{
		{"queryType", &q.QueryType}, {"jobId", &q.JobID}, {"identity", &q.Identity}, {"eventId", &q.EventID},
		{"cycleId", &q.CycleID}, {"action", &q.Action}, {"status", &q.Status}, {"errorCode", &q.ErrorCode},
		{"identityType", &q.IdentityType}, {"format", &q.Format}, {"order", &q.Order}, {"query", &q.Search},
		{"metric", &q.Metric},
	}
	for _, s := range strs {
		if v, ok := raw[s.key]; ok {
			str, err := stringValue(v)
			if err != nil {
				return q, fieldErr(s.key, "%v", err)
			}
			*s.dst = str
		}
	}
	if dq.QueryType != "" {
		q.QueryType = dq.QueryType
	}
	if q.QueryType == "" {
		q.QueryType = TypeStatus
	}
	if slices.Contains(AllJobs, q.JobID) {
		q.JobID = ""
	}
	if !slices.Contains(QueryTypes, q.QueryType) {
		return q, fieldErr("queryType", "unknown query type %q; want one of %s", q.QueryType, strings.Join(QueryTypes, ", "))
	}
	if v, ok := raw["identityPrefix"]; ok {
		b, err := boolValue(v)
		if err != nil {
			return q, fieldErr("identityPrefix", "%v", err)
		}
		q.IdentityPrefix = b
	}
	if v, ok := raw["groupBy"]; ok {
		g, err := stringList(v)
		if err != nil {
			return q, fieldErr("groupBy", "%v", err)
		}
		q.GroupBy = g
	}
	if v, ok := raw["interval"]; ok {
		s, err := stringValue(v)
		if err != nil {
			return q, fieldErr("interval", "%v", err)
		}
		if s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				return q, fieldErr("interval", "want a Go duration such as 5m or 1h, got %q", s)
			}
			if d < time.Minute || d%time.Minute != 0 {
				return q, fieldErr("interval", "want whole minutes, at least 1m, got %q", s)
			}
			q.Interval = d
		}
	}
	if v, ok := raw["limit"]; ok {
		f, set, err := numberValue(v)
		if err != nil {
			return q, fieldErr("limit", "%v", err)
		}
		if set {
			max := limits[q.QueryType][1]
			if max == 0 {
				max = 10000
			}
			if f != math.Trunc(f) || f < 1 || f > float64(max) {
				return q, fieldErr("limit", "want a whole number from 1 to %d, got %v", max, f)
			}
			q.Limit = int(f)
		}
	}
	if q.Limit == 0 {
		q.Limit = limits[q.QueryType][0]
	}
	return q, q.validate()
}

// validate checks the enumerations and what each query type needs.
func (q *Query) validate() error {
	if q.Action != "" && !slices.Contains(provisioning.Actions, provisioning.Action(q.Action)) {
		return fieldErr("action", "unknown action %q; want one of %s", q.Action, joinAny(provisioning.Actions))
	}
	if q.Status != "" && !slices.Contains(provisioning.Results, provisioning.Result(q.Status)) {
		return fieldErr("status", "unknown status %q; want one of %s", q.Status, joinAny(provisioning.Results))
	}
	if q.IdentityType != "" {
		switch strings.ToLower(q.IdentityType) {
		case "user":
			q.IdentityType = "User"
		case "group":
			q.IdentityType = "Group"
		default:
			return fieldErr("identityType", "unknown identity type %q; want User or Group", q.IdentityType)
		}
	}
	seen := map[string]bool{}
	groupBy := q.GroupBy[:0]
	for _, g := range q.GroupBy {
		if !slices.Contains(provisioning.GroupBys, g) {
			return fieldErr("groupBy", "cannot group by %q; want any of %s", g, strings.Join(provisioning.GroupBys, ", "))
		}
		if !seen[g] {
			seen[g] = true
			groupBy = append(groupBy, g)
		}
	}
	q.GroupBy = groupBy
	switch q.Format {
	case "":
		q.Format = "logs"
	case "logs", "table":
	default:
		return fieldErr("format", "want logs or table, got %q", q.Format)
	}
	switch q.Order {
	case "":
		q.Order = "desc"
	case "asc", "desc":
	default:
		return fieldErr("order", "want desc or asc, got %q", q.Order)
	}
	if q.QueryType == TypeQuarantine {
		if q.Metric == "" {
			q.Metric = MetricQuarantined
		}
		if !slices.Contains(Metrics, q.Metric) {
			return fieldErr("metric", "unknown metric %q; want one of %s", q.Metric, strings.Join(Metrics, ", "))
		}
	}
	switch q.QueryType {
	case TypeUserPath:
		if q.EventID == "" && q.Identity == "" {
			return fieldErr("eventId", "a userPath query needs an eventId or an identity")
		}
	case TypeHistory:
		if q.Identity == "" {
			return fieldErr("identity", "a history query needs an identity (source or target ID)")
		}
	case TypeProperties:
		if q.EventID == "" && q.Identity == "" {
			return fieldErr("eventId", "a properties query needs an eventId or an identity (source or target ID)")
		}
	}
	return nil
}

// stringList decodes an array of strings, or one string holding a comma-separated list
// (a multi-value template variable interpolated as "a,b" or "{a,b}").
func stringList(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var parts []string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(x), "{"), "}")
		parts = strings.Split(s, ",")
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want an array of strings, got an element that is %s", jsonKind(e))
			}
			parts = append(parts, strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"), ",")...)
		}
	default:
		return nil, fmt.Errorf("want an array of strings, got %s", jsonKind(v))
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func joinAny[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// maxBuckets caps the buckets of one eventCounts series.
const maxBuckets = 10000

// bucketInterval is the eventCounts bucket width: the query's interval, else the panel's
// (DataQuery.Interval, widened so that the range holds at most MaxDataPoints buckets),
// rounded up to whole minutes, at least one minute, and never more than maxBuckets
// buckets over the range.
func bucketInterval(q Query, dq backend.DataQuery) time.Duration {
	span := dq.TimeRange.To.Sub(dq.TimeRange.From)
	d := q.Interval
	if d == 0 {
		d = dq.Interval
		if dq.MaxDataPoints > 0 && span > 0 {
			if per := span / time.Duration(dq.MaxDataPoints); per > d {
				d = per
			}
		}
	}
	if span > 0 && span/maxBuckets > d {
		d = span / maxBuckets
	}
	if d < time.Minute {
		d = time.Minute
	}
	if r := d % time.Minute; r != 0 {
		d += time.Minute - r
	}
	return d
}
