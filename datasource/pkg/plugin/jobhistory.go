package plugin

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

// The query types the bundled dashboards need beyond the job's current state: how each
// job's status changed (statusChanges, statusTimeline) and what an event changed on the
// target (properties).

// Query types of the job history and the modified properties.
const (
	// TypeStatusChanges is the table of the jobs' status changes and quarantines.
	TypeStatusChanges = "statusChanges"
	// TypeStatusTimeline is each job's status code over time (for a state timeline).
	TypeStatusTimeline = "statusTimeline"
	// TypeProperties is the modified properties of an event, or of an identity's events.
	TypeProperties = "properties"
)

// maxHistory is the most status changes the API returns per job.
const maxHistory = 1000

// AllJobs are the jobId values that mean every job, as "": Grafana's All value of a job
// variable ("$__all" when it has no custom all value) and the bundled dashboards' "*".
var AllJobs = []string{"*", "$__all"}

// StatusCodeValue is a status code's number in statusTimeline frames (its index in
// provisioning.StatusCodes: NotConfigured 0, NotRun 1, Active 2, Paused 3, Quarantine 4),
// or -1 for an unknown code.
func StatusCodeValue(c provisioning.StatusCode) float64 {
	return float64(slices.Index(provisioning.StatusCodes, c))
}

// statusMappings map statusTimeline values back to the codes' names.
func statusMappings() data.ValueMappings {
	m := data.ValueMapper{}
	for i, c := range provisioning.StatusCodes {
		m[strconv.Itoa(i)] = data.ValueMappingResult{Text: string(c), Index: i}
	}
	return data.ValueMappings{m}
}

// jobHistories are the status changes of the jobs (newest first per job).
func (d *Datasource) jobHistories(ctx context.Context, jobs []client.Job, limit int) (map[string][]provisioning.StatusChange, error) {
	out := make(map[string][]provisioning.StatusChange, len(jobs))
	for _, j := range jobs {
		h, err := d.api.JobHistory(ctx, j.ID, limit)
		if err != nil {
			return nil, err
		}
		out[j.ID] = h
	}
	return out, nil
}

func (d *Datasource) queryStatusChanges(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.jobs(ctx, q.JobID)
	if err != nil {
		return backend.DataResponse{}, err
	}
	hist, err := d.jobHistories(ctx, jobs, q.Limit)
	if err != nil {
		return backend.DataResponse{}, err
	}
	from, to := d.timeRange(dq)
	var all []provisioning.StatusChange
	for _, j := range jobs {
		for _, c := range hist[j.ID] {
			if !c.Time.Before(from) && c.Time.Before(to) {
				all = append(all, c)
			}
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		if q.Order == "asc" {
			return all[a].Time.Before(all[b].Time)
		}
		return all[a].Time.After(all[b].Time)
	})
	if len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return frames(statusChangesFrame(all)), nil
}

func (d *Datasource) queryStatusTimeline(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	jobs, err := d.jobs(ctx, q.JobID)
	if err != nil {
		return backend.DataResponse{}, err
	}
	hist, err := d.jobHistories(ctx, jobs, maxHistory)
	if err != nil {
		return backend.DataResponse{}, err
	}
	from, to := d.timeRange(dq)
	return backend.DataResponse{Frames: statusTimelineFrames(jobs, hist, from, to, d.now())}, nil
}

func (d *Datasource) queryProperties(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	if q.EventID != "" {
		ev, err := d.api.Event(ctx, q.EventID)
		if err != nil {
			return backend.DataResponse{}, err
		}
		return frames(propertiesFrame([]provisioning.Event{ev})), nil
	}
	events, err := d.historyInRange(ctx, q, dq)
	if err != nil {
		return backend.DataResponse{}, err
	}
	return frames(propertiesFrame(events)), nil
}

// identityString is "Display Name (id)", the id alone, or "".
func identityString(id *provisioning.Identity) string {
	switch {
	case id == nil || (id.ID == "" && id.DisplayName == ""):
		return ""
	case id.DisplayName == "":
		return id.ID
	case id.ID == "":
		return id.DisplayName
	}
	return fmt.Sprintf("%s (%s)", id.DisplayName, id.ID)
}

// statusChangesFrame is the status changes table: when a job's code or quarantine reason
// changed, why, and for quarantines the error, the recommended action and the exact
// failing request and object.
func statusChangesFrame(changes []provisioning.StatusChange) *data.Frame {
	n := len(changes)
	times := make([]time.Time, n)
	cols := map[string][]string{}
	names := []string{"jobId", "oldCode", "newCode", "reason", "message", "errorCode", "recommendedAction",
		"failingRequest", "failingObject", "cycleId"}
	for _, c := range names {
		cols[c] = make([]string, n)
	}
	series := make([]int64, n)
	for i, c := range changes {
		times[i] = c.Time.UTC()
		row := map[string]string{"jobId": c.JobID, "oldCode": string(c.OldCode), "newCode": string(c.NewCode),
			"reason": string(c.Reason), "message": c.Message, "cycleId": c.CycleID}
		if q := c.Quarantine; q != nil {
			row["errorCode"], row["recommendedAction"] = q.Error.Code, q.Error.RecommendedAction
			row["failingRequest"], row["failingObject"] = q.FailingRequest, identityString(q.FailingObject)
			series[i] = q.SeriesCount
		}
		for k, v := range row {
			cols[k][i] = v
		}
	}
	fields := []*data.Field{data.NewField("time", nil, times)}
	for _, c := range names {
		fields = append(fields, data.NewField(c, nil, cols[c]))
	}
	fields = append(fields, data.NewField("seriesCount", nil, series))
	f := data.NewFrame("statusChanges", fields...)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}

// statusTimelineFrames are the jobs' status codes over [from, to) as timeseries-multi
// series (field "state", labels job, values StatusCodeValue with value mappings to the
// codes): the code in force at from, one point per change in the range, and the code at
// the end (to, or now when earlier). hist is each job's history, newest first.
func statusTimelineFrames(jobs []client.Job, hist map[string][]provisioning.StatusChange, from, to, now time.Time) data.Frames {
	end := to
	if now.Before(end) {
		end = now
	}
	if !end.After(from) {
		return emptyDataplane(data.FrameTypeTimeSeriesMulti)
	}
	var out data.Frames
	for _, j := range jobs {
		changes := slices.Clone(hist[j.ID])
		sort.SliceStable(changes, func(a, b int) bool { return changes[a].Time.Before(changes[b].Time) })
		// The code at from: the last change up to it, else the oldest change's old code,
		// else (no history) the current code.
		code := j.Status.Code
		if len(changes) > 0 {
			code = changes[0].OldCode
		}
		for _, c := range changes {
			if !c.Time.After(from) {
				code = c.NewCode
			}
		}
		times, values := []time.Time{from.UTC()}, []float64{StatusCodeValue(code)}
		for _, c := range changes {
			if c.Time.After(from) && c.Time.Before(end) {
				code = c.NewCode
				times, values = append(times, c.Time.UTC()), append(values, StatusCodeValue(code))
			}
		}
		times, values = append(times, end.UTC()), append(values, StatusCodeValue(code))
		v := data.NewField("state", data.Labels{"job": j.ID}, values)
		v.Config = &data.FieldConfig{DisplayNameFromDS: j.ID, Mappings: statusMappings()}
		out = append(out, dataplane(data.NewFrame("state", data.NewField("time", nil, times), v), data.FrameTypeTimeSeriesMulti))
	}
	if len(out) == 0 {
		return emptyDataplane(data.FrameTypeTimeSeriesMulti)
	}
	return out
}

// secretProperty matches property names whose values are never shown (as in telemetry).
var secretProperty = regexp.MustCompile(`(?i)password|secret|token|credential`)

// propertiesFrame is the modified properties of events, one row per property: the
// event's time, id, job, action, status and identity, and the property's old and new
// value (values of password, secret, token or credential properties are "[redacted]").
func propertiesFrame(events []provisioning.Event) *data.Frame {
	var times []time.Time
	cols := map[string][]string{}
	names := []string{"eventId", "jobId", "action", "status", "identity", "property", "oldValue", "newValue"}
	for _, ev := range events {
		for _, p := range ev.ModifiedProperties {
			oldV, newV := p.OldValue, p.NewValue
			if secretProperty.MatchString(p.DisplayName) {
				oldV, newV = "[redacted]", "[redacted]"
			}
			id := ev.SourceIdentity
			if id.ID == "" && id.DisplayName == "" {
				id = ev.TargetIdentity
			}
			row := []string{ev.ID, ev.JobID, string(ev.Action), string(ev.Status), identityString(&id), p.DisplayName, oldV, newV}
			for i, c := range names {
				cols[c] = append(cols[c], row[i])
			}
			times = append(times, ev.ActivityDateTime.UTC())
		}
	}
	fields := []*data.Field{data.NewField("time", nil, nonNil(times))}
	for _, c := range names {
		fields = append(fields, data.NewField(c, nil, nonNil(cols[c])))
	}
	f := data.NewFrame("properties", fields...)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}
