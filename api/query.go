package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// The query API: provisioning logs (paged, or streamed as NDJSON and CSV), one event and
// its trace, identities, cycles, statistics, job history and audit. Every endpoint reads
// the store; none needs the admin token.

// Page sizes: the default and the cap of each listing.
const (
	DefaultLogsLimit       = 100
	MaxLogsLimit           = 1000
	DefaultIdentityLimit   = 20
	MaxIdentityLimit       = 100
	DefaultCyclesLimit     = 50
	MaxCyclesLimit         = 1000
	DefaultHistoryLimit    = 100
	MaxHistoryLimit        = 1000
	DefaultTopErrorsLimit  = 10
	MaxTopErrorsLimit      = 100
	MaxStatsBuckets        = 10000
	DefaultStatsWindow     = 24 * time.Hour
	DefaultStatsInterval   = time.Hour
	streamChunk            = 1000
	maxIdentityScanEvents  = 20000
	identityScanChunkLimit = 1000
)

// Query-parameter enums.
var (
	actionNames   = enumNames(provisioning.Actions)
	statusNames   = enumNames(provisioning.Results)
	identityTypes = []string{"User", "Group"}
	logFormats    = []string{"json", "ndjson", "csv"}
	csvTables     = []string{"events", "steps", "modifiedProperties"}
)

func enumNames[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// queryRoutes registers the query API.
func (s *Server) queryRoutes() {
	s.handle("GET /api/v1/openapi.json", RoleReader, s.openAPI)
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /api/v1/provisioningLogs", s.listLogs},
		{"GET /api/v1/provisioningLogs/{id}", s.getEvent},
		{"GET /api/v1/provisioningLogs/{id}/trace", s.getTrace},
		{"GET /api/v1/identities", s.searchIdentities},
		{"GET /api/v1/identities/{id}/history", s.identityHistory},
		{"GET /api/v1/jobs/{id}/cycles", s.listCycles},
		{"GET /api/v1/jobs/{id}/cycles/{cycleId}", s.getCycle},
		{"GET /api/v1/jobs/{id}/history", s.jobHistory},
		{"GET /api/v1/audit", s.audit},
		{"GET /api/v1/stats/events", s.eventStats},
		{"GET /api/v1/stats/topErrors", s.topErrors},
		{"GET /api/v1/stats/summary", s.summary},
	} {
		s.handle(r.pattern, RoleReader, s.needStore(r.h))
	}
}

// needStore answers 503 for a server built without a store (engine-only tests).
func (s *Server) needStore(h http.HandlerFunc) http.HandlerFunc {
	if s.o.Store != nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "NotReady", "this server has no store to query")
	}
}

// eventFilterParams are the filters of GET /api/v1/provisioningLogs.
var eventFilterParams = []string{"jobId", "cycleId", "changeId", "identity", "identityMatch", "identityType",
	"action", "status", "errorCode", "from", "to", "since", "order"}

// readEventFilters reads the event filters.
func readEventFilters(p *params, now time.Time) (provisioning.EventQuery, time.Duration) {
	w := p.window(now)
	q := provisioning.EventQuery{
		JobID:          p.str("jobId"),
		CycleID:        p.str("cycleId"),
		ChangeID:       p.str("changeId"),
		Identity:       p.str("identity"),
		IdentityPrefix: p.enum("identityMatch", "exact", "prefix") == "prefix",
		IdentityType:   p.enum("identityType", identityTypes...),
		Action:         provisioning.Action(p.enum("action", actionNames...)),
		Status:         provisioning.Result(p.enum("status", statusNames...)),
		ErrorCode:      p.str("errorCode"),
		From:           w.From,
		To:             w.To,
		Ascending:      p.enum("order", "desc", "asc") == "asc",
	}
	return q, w.Since
}

func (s *Server) listLogs(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, append(eventFilterParams, "limit", "cursor", "format", "table")...)
	q, since := readEventFilters(p, s.now())
	format := p.enum("format", logFormats...)
	table := p.enum("table", csvTables...)
	key := queryKey{Scope: "logs", Query: q, Since: since}
	if format == "ndjson" || format == "csv" {
		limit := p.atMost("limit")
		switch {
		case p.err != nil:
		case p.has("cursor"):
			p.fail("cursor: only for format=json pages; format=%s streams every matching event", format)
		case table != "" && format != "csv":
			p.fail("table: only with format=csv")
		}
		if p.err != nil {
			WriteErr(w, p.err)
			return
		}
		if limit > 0 {
			setLimitHeader(w, limit)
		}
		if table == "" {
			table = "events"
		}
		s.streamEvents(w, r, q, limit, format, table)
		return
	}
	limit := p.limit("limit", DefaultLogsLimit, MaxLogsLimit)
	cursor := p.str("cursor")
	if table != "" {
		p.fail("table: only with format=csv")
	}
	if p.err != nil {
		WriteErr(w, p.err)
		return
	}
	page, err := s.eventPage(r.Context(), key, limit, cursor, nil)
	if err != nil {
		WriteErr(w, err)
		return
	}
	setLimitHeader(w, limit)
	writeJSON(w, http.StatusOK, page)
}

// eventPageBody is a page of events.
type eventPageBody struct {
	Value      []provisioning.Event `json:"value"`
	NextCursor string               `json:"nextCursor,omitempty"`
}

// eventPage reads one page of key's query after cursor. keep, when set, drops events the
// store's filter cannot express; the page is filled from further reads.
func (s *Server) eventPage(ctx context.Context, key queryKey, limit int, cursor string, keep func(provisioning.Event) bool) (eventPageBody, error) {
	q := key.Query
	if cursor != "" {
		pos, err := decodeCursor(key, cursor)
		if err != nil {
			return eventPageBody{}, err
		}
		q.After = &pos
	}
	out := make([]provisioning.Event, 0, min(limit+1, 64))
	for {
		q.Limit = limit + 1
		evs, err := s.o.Store.QueryEvents(ctx, q)
		if err != nil {
			return eventPageBody{}, err
		}
		for _, ev := range evs {
			if keep == nil || keep(ev) {
				out = append(out, ev)
			}
		}
		if len(out) > limit || len(evs) < q.Limit {
			break
		}
		last := evs[len(evs)-1]
		q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
	}
	page := eventPageBody{Value: out}
	if len(out) > limit {
		page.Value = out[:limit]
		last := out[limit-1]
		page.NextCursor = encodeCursor(key, provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID})
	}
	return page, nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	ev, ok := s.readEvent(w, r)
	if ok {
		writeJSON(w, http.StatusOK, ev)
	}
}

// TraceBody is GET /api/v1/provisioningLogs/{id}/trace.
type TraceBody struct {
	EventID string                   `json:"eventId"`
	TraceID string                   `json:"traceId"`
	Spans   []provisioning.TraceSpan `json:"spans"`
}

func (s *Server) getTrace(w http.ResponseWriter, r *http.Request) {
	ev, ok := s.readEvent(w, r)
	if !ok {
		return
	}
	spans := provisioning.OperationTrace(ev, s.service)
	writeJSON(w, http.StatusOK, TraceBody{EventID: ev.ID, TraceID: spans[0].TraceID, Spans: spans})
}

// readEvent reads the event of the request's path, or writes the error.
func (s *Server) readEvent(w http.ResponseWriter, r *http.Request) (provisioning.Event, bool) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return provisioning.Event{}, false
	}
	id := r.PathValue("id")
	ev, err := s.o.Store.GetEvent(r.Context(), id)
	if errors.Is(err, provisioning.ErrNotFound) {
		err = &Error{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("provisioning event %s not found", quote(id))}
	}
	if err != nil {
		WriteErr(w, err)
		return provisioning.Event{}, false
	}
	return ev, true
}

// IdentityBody is one object found by GET /api/v1/identities.
type IdentityBody struct {
	// ID is the source ID (the target ID for an object only known in the target).
	ID           string    `json:"id"`
	TargetID     string    `json:"targetId,omitempty"`
	DisplayName  string    `json:"displayName"`
	IdentityType string    `json:"identityType"`
	JobID        string    `json:"jobId"`
	LastSeen     time.Time `json:"lastSeen"`
}

// searchIdentities finds objects by the prefix of a display name, source ID or target ID
// in the events, newest first, deduplicated by job, type and source ID. It reads at most
// maxIdentityScanEvents events, so a broad prefix answers from the most recent ones.
func (s *Server) searchIdentities(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "query", "jobId", "limit")
	query, jobID := p.str("query"), p.str("jobId")
	limit := p.limit("limit", DefaultIdentityLimit, MaxIdentityLimit)
	if p.err != nil {
		WriteErr(w, p.err)
		return
	}
	q := provisioning.EventQuery{JobID: jobID, Identity: query, IdentityPrefix: query != "", Limit: identityScanChunkLimit}
	found := make([]IdentityBody, 0, limit)
	index := map[string]int{}
	for scanned := 0; len(found) < limit && scanned < maxIdentityScanEvents; {
		evs, err := s.o.Store.QueryEvents(r.Context(), q)
		if err != nil {
			WriteErr(w, err)
			return
		}
		scanned += len(evs)
		for _, ev := range evs {
			typ := ev.SourceIdentity.IdentityType
			if typ == "" {
				typ = ev.TargetIdentity.IdentityType
			}
			id := ev.SourceIdentity.ID
			key := ev.JobID + "\x00" + typ + "\x00s\x00" + id
			if id == "" {
				id = ev.TargetIdentity.ID
				key = ev.JobID + "\x00" + typ + "\x00t\x00" + id
			}
			if id == "" {
				continue
			}
			i, seen := index[key]
			if !seen {
				if len(found) == limit {
					continue
				}
				i = len(found)
				index[key] = i
				found = append(found, IdentityBody{ID: id, IdentityType: typ, JobID: ev.JobID, LastSeen: ev.ActivityDateTime})
			}
			f := &found[i]
			if f.TargetID == "" && ev.TargetIdentity.ID != id {
				f.TargetID = ev.TargetIdentity.ID
			}
			if f.DisplayName == "" {
				f.DisplayName = ev.SourceIdentity.DisplayName
			}
			if f.DisplayName == "" {
				f.DisplayName = ev.TargetIdentity.DisplayName
			}
		}
		if len(evs) < q.Limit {
			break
		}
		last := evs[len(evs)-1]
		q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
	}
	setLimitHeader(w, limit)
	writeJSON(w, http.StatusOK, map[string]any{"value": found})
}

func (s *Server) identityHistory(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "jobId", "limit", "cursor")
	jobID, cursor := p.str("jobId"), p.str("cursor")
	limit := p.limit("limit", DefaultLogsLimit, MaxLogsLimit)
	if p.err != nil {
		WriteErr(w, p.err)
		return
	}
	id := r.PathValue("id")
	if id == "" {
		WriteErr(w, badRequest("id: an identity's source or target ID is required in the path"))
		return
	}
	// The store's identity filter also matches display names; the history is by ID only.
	key := queryKey{Scope: "history\x00" + id, Query: provisioning.EventQuery{JobID: jobID, Identity: id}}
	page, err := s.eventPage(r.Context(), key, limit, cursor, func(ev provisioning.Event) bool {
		return ev.SourceIdentity.ID == id || ev.TargetIdentity.ID == id
	})
	if err != nil {
		WriteErr(w, err)
		return
	}
	setLimitHeader(w, limit)
	writeJSON(w, http.StatusOK, page)
}

// knownJob returns nil when the engine runs the job or the store remembers it (a job
// removed from the configuration keeps its cycles and history), else a JobNotFound.
func (s *Server) knownJob(ctx context.Context, id string) error {
	if s.o.Engine != nil {
		if _, err := s.o.Engine.Job(id); err == nil {
			return nil
		}
	}
	if _, err := s.o.Store.LoadJobState(ctx, id); err == nil {
		return nil
	} else if !errors.Is(err, provisioning.ErrNotFound) {
		return err
	}
	return &Error{Status: http.StatusNotFound, Code: "JobNotFound", Message: fmt.Sprintf("unknown job %s", quote(id))}
}

func (s *Server) listCycles(w http.ResponseWriter, r *http.Request) {
	listOfJob(s, w, r, DefaultCyclesLimit, MaxCyclesLimit, s.o.Store.ListCycles)
}

// listOfJob answers a job-scoped list with a limit (cycles, job history): 400 for bad
// parameters, 404 for an unknown job, else {"value": [...]} with the applied limit.
func listOfJob[T any](s *Server, w http.ResponseWriter, r *http.Request, def, most int, list func(ctx context.Context, jobID string, limit int) ([]T, error)) {
	p := newParams(r, "limit")
	limit := p.limit("limit", def, most)
	if p.err != nil {
		WriteErr(w, p.err)
		return
	}
	id := r.PathValue("id")
	if err := s.knownJob(r.Context(), id); err != nil {
		WriteErr(w, err)
		return
	}
	v, err := list(r.Context(), id, limit)
	if err != nil {
		WriteErr(w, err)
		return
	}
	setLimitHeader(w, limit)
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(v)})
}

func (s *Server) getCycle(w http.ResponseWriter, r *http.Request) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	id, cycleID := r.PathValue("id"), r.PathValue("cycleId")
	if err := s.knownJob(r.Context(), id); err != nil {
		WriteErr(w, err)
		return
	}
	c, err := s.o.Store.GetCycle(r.Context(), id, cycleID)
	if errors.Is(err, provisioning.ErrNotFound) {
		err = &Error{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("cycle %s of job %s not found", quote(cycleID), quote(id))}
	}
	if err != nil {
		WriteErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) jobHistory(w http.ResponseWriter, r *http.Request) {
	listOfJob(s, w, r, DefaultHistoryLimit, MaxHistoryLimit, s.o.Store.History)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "jobId", "limit")
	jobID := p.str("jobId")
	limit := p.limit("limit", DefaultHistoryLimit, MaxHistoryLimit)
	if p.err != nil {
		WriteErr(w, p.err)
		return
	}
	a, err := s.o.Store.Audit(r.Context(), jobID, limit)
	if err != nil {
		WriteErr(w, err)
		return
	}
	setLimitHeader(w, limit)
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(a)})
}

// StatsBody is GET /api/v1/stats/events.
type StatsBody struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Interval is the bucket width as a Go duration ("1h0m0s").
	Interval string                     `json:"interval"`
	Value    []provisioning.StatsBucket `json:"value"`
}

// queryStore returns the store's read side, or a 501 when the store has none.
// askQueryStore answers p's parameter error, or calls ask with the query store and
// answers its error; ok is false when an error was written.
func askQueryStore[T any](s *Server, w http.ResponseWriter, p *params, ask func(provisioning.QueryStore) (T, error)) (v T, ok bool) {
	if p.err != nil {
		WriteErr(w, p.err)
		return v, false
	}
	qs, ok := s.o.Store.(provisioning.QueryStore)
	if !ok {
		WriteErr(w, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "this store does not serve statistics"})
		return v, false
	}
	v, err := ask(qs)
	if err != nil {
		WriteErr(w, err)
		return v, false
	}
	return v, true
}

// statsWindow reads from, to and since with the statistics' defaults: to is now, from is
// a day before to.
func (s *Server) statsWindow(p *params) (from, to time.Time) {
	now := s.now().UTC()
	w := p.window(now)
	from, to = w.From, w.To
	if to.IsZero() {
		to = now
		if !from.IsZero() && from.After(to) {
			p.fail("from: %s is in the future; give to as well", from.Format(time.RFC3339Nano))
		}
	}
	if from.IsZero() {
		from = to.Add(-DefaultStatsWindow)
	}
	return from, to
}

func (s *Server) eventStats(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "jobId", "action", "status", "errorCode", "identityType", "from", "to", "since", "interval", "groupBy")
	q := provisioning.StatsQuery{
		JobID:        p.str("jobId"),
		Action:       provisioning.Action(p.enum("action", actionNames...)),
		Status:       provisioning.Result(p.enum("status", statusNames...)),
		ErrorCode:    p.str("errorCode"),
		IdentityType: p.enum("identityType", identityTypes...),
		Interval:     p.duration("interval"),
		GroupBy:      p.list("groupBy", provisioning.GroupBys...),
	}
	q.From, q.To = s.statsWindow(p)
	if q.Interval == 0 {
		q.Interval = DefaultStatsInterval
	}
	if p.err == nil {
		if q.Interval%time.Minute != 0 {
			p.fail("interval: %s is not a whole number of minutes (like 1m, 15m, 1h, 24h)", q.Interval)
		} else if n := buckets(q.From, q.To, q.Interval); n > MaxStatsBuckets {
			p.fail("interval: %s splits the window from %s to %s into %d buckets; at most %d are served: widen the interval or narrow the window",
				q.Interval, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), n, MaxStatsBuckets)
		}
	}
	b, ok := askQueryStore(s, w, p, func(qs provisioning.QueryStore) ([]provisioning.StatsBucket, error) {
		return qs.EventStats(r.Context(), q)
	})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, StatsBody{From: q.From, To: q.To, Interval: q.Interval.String(), Value: nonNil(b)})
}

// buckets counts the epoch-aligned buckets of width iv that [from, to) touches.
func buckets(from, to time.Time, iv time.Duration) int64 {
	if !to.After(from) {
		return 0
	}
	step := int64(iv)
	first := floorDiv(from.UnixNano(), step)
	last := floorDiv(to.UnixNano()-1, step)
	return last - first + 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (s *Server) topErrors(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "jobId", "from", "to", "since", "limit")
	q := provisioning.TopErrorsQuery{JobID: p.str("jobId"), Limit: p.limit("limit", DefaultTopErrorsLimit, MaxTopErrorsLimit)}
	q.From, q.To = s.statsWindow(p)
	top, ok := askQueryStore(s, w, p, func(qs provisioning.QueryStore) ([]provisioning.TopError, error) { return qs.TopErrors(r.Context(), q) })
	if !ok {
		return
	}
	setLimitHeader(w, q.Limit)
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(top)})
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	p := newParams(r, "jobId", "from", "to", "since")
	q := provisioning.SummaryQuery{JobID: p.str("jobId")}
	q.From, q.To = s.statsWindow(p)
	sum, ok := askQueryStore(s, w, p, func(qs provisioning.QueryStore) (provisioning.Summary, error) { return qs.Summary(r.Context(), q) })
	if !ok {
		return
	}
	if sum.ByStatus == nil {
		sum.ByStatus = map[provisioning.Result]int64{}
	}
	if sum.ByAction == nil {
		sum.ByAction = map[provisioning.Action]int64{}
	}
	if sum.ByIdentityType == nil {
		sum.ByIdentityType = map[string]map[provisioning.Result]int64{}
	}
	writeJSON(w, http.StatusOK, sum)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
