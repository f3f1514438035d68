package plugin

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

// defaultRange is the time range of a query that carries none.
const defaultRange = 24 * time.Hour

// timeRange is the query's time range (the last 24 hours when it has none).
func (d *Datasource) timeRange(dq backend.DataQuery) (from, to time.Time) {
	from, to = dq.TimeRange.From.UTC(), dq.TimeRange.To.UTC()
	if to.IsZero() {
		to = d.now().UTC()
	}
	if from.IsZero() || !from.Before(to) {
		from = to.Add(-defaultRange)
	}
	return from, to
}

func frames(f ...*data.Frame) backend.DataResponse { return backend.DataResponse{Frames: f} }

// jobs returns the one job of q.JobID, or every job.
func (d *Datasource) jobs(ctx context.Context, jobID string) ([]client.Job, error) {
	if jobID != "" {
		j, err := d.api.Job(ctx, jobID)
		if err != nil {
			return nil, err
		}
		return []client.Job{j}, nil
	}
	return d.api.Jobs(ctx)
}

func (d *Datasource) queryStatus(ctx context.Context, q Query, _ backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.jobs(ctx, q.JobID)
	if err != nil {
		return backend.DataResponse{}, err
	}
	return frames(statusFrame(jobs)), nil
}

func (d *Datasource) queryQuarantine(ctx context.Context, q Query, _ backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.jobs(ctx, q.JobID)
	if err != nil {
		return backend.DataResponse{}, err
	}
	return backend.DataResponse{Frames: quarantineFrames(q.Metric, jobs, d.now())}, nil
}

func (d *Datasource) queryProgress(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.jobs(ctx, q.JobID)
	if err != nil {
		return backend.DataResponse{}, err
	}
	cycles := make(map[string][]provisioning.Cycle, len(jobs))
	for _, j := range jobs {
		cs, err := d.api.Cycles(ctx, j.ID, q.Limit)
		if err != nil {
			return backend.DataResponse{}, err
		}
		cycles[j.ID] = cs
	}
	from, to := d.timeRange(dq)
	return backend.DataResponse{Frames: progressFrames(jobs, cycles, from, to)}, nil
}

func (d *Datasource) queryEventCounts(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	from, to := d.timeRange(dq)
	interval := bucketInterval(q, dq)
	res, err := d.api.EventStats(ctx, client.StatsQuery{JobID: q.JobID, Action: q.Action, Status: q.Status,
		ErrorCode: q.ErrorCode, IdentityType: q.IdentityType, From: from, To: to, Interval: interval, GroupBy: q.GroupBy})
	if err != nil {
		return backend.DataResponse{}, err
	}
	pinned := map[string]string{provisioning.GroupByJobID: q.JobID, provisioning.GroupByAction: q.Action,
		provisioning.GroupByStatus: q.Status, provisioning.GroupByErrorCode: q.ErrorCode,
		provisioning.GroupByIdentityType: q.IdentityType}
	return backend.DataResponse{Frames: eventCountFrames(res.Value, q.GroupBy, pinned, from, to, interval)}, nil
}

// maxPage is the largest page the API serves.
const maxPage = 1000

func (d *Datasource) queryEvents(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	from, to := d.timeRange(dq)
	lq := client.LogsQuery{JobID: q.JobID, CycleID: q.CycleID, Identity: q.Identity, IdentityPrefix: q.IdentityPrefix,
		IdentityType: q.IdentityType, Action: q.Action, Status: q.Status, ErrorCode: q.ErrorCode, From: from, To: to,
		Ascending: q.Order == "asc"}
	events := make([]provisioning.Event, 0, min(q.Limit, maxPage))
	for len(events) < q.Limit {
		lq.Limit = min(q.Limit-len(events), maxPage)
		page, err := d.api.Logs(ctx, lq)
		if err != nil {
			return backend.DataResponse{}, err
		}
		events = append(events, page.Value...)
		if page.NextCursor == "" || len(page.Value) == 0 {
			break
		}
		lq.Cursor = page.NextCursor
	}
	return d.eventsResponse("events", q, events), nil
}

// eventsResponse is events as a logs frame, or a table with format "table".
func (d *Datasource) eventsResponse(name string, q Query, events []provisioning.Event) backend.DataResponse {
	if q.Format == "table" {
		return frames(eventsTable(name, events, d.uid, d.name))
	}
	return frames(logsFrame(name, events, d.uid, d.name, q.Limit))
}

func (d *Datasource) queryTopErrors(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	from, to := d.timeRange(dq)
	errs, err := d.api.TopErrors(ctx, client.Window{JobID: q.JobID, From: from, To: to, Limit: q.Limit})
	if err != nil {
		return backend.DataResponse{}, err
	}
	return frames(topErrorsFrame(errs, d.uid, d.name)), nil
}

func (d *Datasource) queryCycles(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	ids := []string{q.JobID}
	if q.JobID == "" {
		jobs, err := d.api.Jobs(ctx)
		if err != nil {
			return backend.DataResponse{}, err
		}
		ids = ids[:0]
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
	}
	from, to := d.timeRange(dq)
	var all []provisioning.Cycle
	for _, id := range ids {
		cs, err := d.api.Cycles(ctx, id, q.Limit)
		if err != nil {
			return backend.DataResponse{}, err
		}
		for _, c := range cs {
			if c.TimeBegan.Before(to) && (c.TimeEnded == nil || !c.TimeEnded.Before(from)) {
				all = append(all, c)
			}
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		if q.Order == "asc" {
			return all[a].TimeBegan.Before(all[b].TimeBegan)
		}
		return all[a].TimeBegan.After(all[b].TimeBegan)
	})
	if len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return frames(cyclesFrame(all)), nil
}

func (d *Datasource) queryUserPath(ctx context.Context, q Query, _ backend.DataQuery) (backend.DataResponse, error) {
	id := q.EventID
	if id == "" {
		var err error
		if id, err = d.latestEvent(ctx, q); err != nil {
			return backend.DataResponse{}, err
		}
	}
	t, err := d.api.Trace(ctx, id)
	if err != nil {
		return backend.DataResponse{}, err
	}
	return frames(traceFrame(t)), nil
}

// latestEvent is the id of the latest event of q.Identity: by its history (a source or
// target ID), else by the logs' identity search (a display name, or a prefix).
func (d *Datasource) latestEvent(ctx context.Context, q Query) (string, error) {
	if !q.IdentityPrefix {
		p, err := d.api.IdentityHistory(ctx, q.Identity, q.JobID, 1, "")
		if err != nil && client.StatusOf(err) != 404 {
			return "", err
		}
		if err == nil && len(p.Value) > 0 {
			return p.Value[0].ID, nil
		}
	}
	p, err := d.api.Logs(ctx, client.LogsQuery{JobID: q.JobID, Identity: q.Identity, IdentityPrefix: q.IdentityPrefix, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(p.Value) == 0 {
		scope := "any job"
		if q.JobID != "" {
			scope = "job " + q.JobID
		}
		return "", &FieldError{Field: "identity", Msg: fmt.Sprintf("no provisioning event of identity %q in %s", q.Identity, scope)}
	}
	return p.Value[0].ID, nil
}

func (d *Datasource) queryHistory(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	events, err := d.historyInRange(ctx, q, dq)
	if err != nil {
		return backend.DataResponse{}, err
	}
	return d.eventsResponse("history", q, events), nil
}

// historyInRange returns up to q.Limit events of q.Identity's history inside the query's
// time range, newest first (oldest first for order asc).
func (d *Datasource) historyInRange(ctx context.Context, q Query, dq backend.DataQuery) ([]provisioning.Event, error) {
	from, to := d.timeRange(dq)
	var events []provisioning.Event
	cursor := ""
	// History is newest first: skip events after the range, stop at the first before it.
	for len(events) < q.Limit {
		p, err := d.api.IdentityHistory(ctx, q.Identity, q.JobID, min(q.Limit, maxPage), cursor)
		if err != nil {
			return nil, err
		}
		done := false
		for _, ev := range p.Value {
			if ev.ActivityDateTime.Before(from) {
				done = true
				break
			}
			if ev.ActivityDateTime.Before(to) && len(events) < q.Limit {
				events = append(events, ev)
			}
		}
		if done || p.NextCursor == "" || len(p.Value) == 0 {
			break
		}
		cursor = p.NextCursor
	}
	if q.Order == "asc" {
		slices.Reverse(events)
	}
	return events, nil
}

func (d *Datasource) queryJobs(ctx context.Context, q Query, _ backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.api.Jobs(ctx)
	if err != nil {
		return backend.DataResponse{}, err
	}
	var texts, values []string
	for _, j := range matchJobs(jobs, q.Search) {
		if len(values) == q.Limit {
			break
		}
		texts, values = append(texts, j.Name), append(values, j.ID)
	}
	return frames(variableFrame("jobs", texts, values)), nil
}

// matchJobs are the jobs whose id or name contains search (case-insensitive).
func matchJobs(jobs []client.Job, search string) []client.Job {
	s := strings.ToLower(search)
	var out []client.Job
	for _, j := range jobs {
		if s == "" || strings.Contains(strings.ToLower(j.ID), s) || strings.Contains(strings.ToLower(j.Name), s) {
			out = append(out, j)
		}
	}
	return out
}

func (d *Datasource) queryIdentities(ctx context.Context, q Query, _ backend.DataQuery) (backend.DataResponse, error) {
	ids, err := d.api.SearchIdentities(ctx, q.Search, q.JobID, q.Limit)
	if err != nil {
		return backend.DataResponse{}, err
	}
	// An identity several jobs provision alike is one variable value.
	var texts, values []string
	seen := map[[2]string]bool{}
	for _, id := range ids {
		k := [2]string{identityLabel(id), id.ID}
		if !seen[k] {
			seen[k] = true
			texts, values = append(texts, k[0]), append(values, k[1])
		}
	}
	return frames(variableFrame("identities", texts, values)), nil
}
