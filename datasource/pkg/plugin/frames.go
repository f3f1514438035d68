package plugin

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

// The frame builders are pure: API answers in, frames out (docs/datasource.md lists every
// frame's fields).

// dataplane marks a frame as a dataplane frame of kind t (version 0.1, which server-side
// expressions require to take the dataplane path).
func dataplane(f *data.Frame, t data.FrameType) *data.Frame {
	if f.Meta == nil {
		f.Meta = &data.FrameMeta{}
	}
	f.Meta.Type = t
	f.Meta.TypeVersion = data.FrameTypeVersion{0, 1}
	return f
}

// emptyDataplane is the dataplane "no data" answer of kind t: one frame with its type and
// no fields.
func emptyDataplane(t data.FrameType) data.Frames {
	return data.Frames{dataplane(data.NewFrame(""), t)}
}

func withUnit(f *data.Field, unit string) *data.Field {
	f.Config = &data.FieldConfig{Unit: unit}
	return f
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func cycleEnd(c *provisioning.Cycle) *time.Time {
	if c == nil || c.TimeEnded == nil {
		return nil
	}
	return timePtr(*c.TimeEnded)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// statusFrame is the status table: one row per job.
func statusFrame(jobs []client.Job) *data.Frame {
	var (
		ids, names, codes, lastStates, lastTypes, reasons, qErrors []string
		qMessages, qActions, failingRequests, failingObjects       []string
		qSince, qNext                                              []*time.Time
		progress                                                   []*float64
		completed, total                                           []*int64
		users, groups, escrows, staged, failures                   []int64
		eta, lastEnd, lastSuccess, steadySince, nextRun            []*time.Time
	)
	for _, j := range jobs {
		s := j.Status
		ids, names, codes = append(ids, j.ID), append(names, j.Name), append(codes, string(s.Code))
		var pct *float64
		var done, tot *int64
		var e *time.Time
		if p := s.Progress; p != nil {
			c, t := p.CompletedUnits, p.TotalUnits
			done, tot = &c, &t
			if t > 0 {
				v := 100 * float64(c) / float64(t)
				pct = &v
			}
			if p.EstimatedCompletionTime != nil {
				e = timePtr(*p.EstimatedCompletionTime)
			}
		}
		progress, completed, total, eta = append(progress, pct), append(completed, done), append(total, tot), append(eta, e)
		users = append(users, s.SynchronizedEntryCountByType["User"])
		groups = append(groups, s.SynchronizedEntryCountByType["Group"])
		escrows, staged = append(escrows, s.EscrowCount), append(staged, s.StagedDeleteCount)
		failures = append(failures, s.CountSuccessiveCompleteFailures)
		var state, typ string
		if c := s.LastExecution; c != nil {
			state, typ = string(c.State), string(c.Type)
		}
		lastStates, lastTypes = append(lastStates, state), append(lastTypes, typ)
		lastEnd, lastSuccess = append(lastEnd, cycleEnd(s.LastExecution)), append(lastSuccess, cycleEnd(s.LastSuccessfulExecution))
		var steady, next *time.Time
		if s.SteadyStateFirstAchievedTime != nil {
			steady = timePtr(*s.SteadyStateFirstAchievedTime)
		}
		if s.NextRun != nil {
			next = timePtr(*s.NextRun)
		}
		steadySince, nextRun = append(steadySince, steady), append(nextRun, next)
		var reason, qerr, qmsg, qaction, freq, fobj string
		var since, nextTry *time.Time
		if q := s.Quarantine; q != nil {
			reason = string(q.Reason)
			qerr, qmsg, qaction = q.Error.Code, q.Error.Message, q.Error.RecommendedAction
			freq, fobj = q.FailingRequest, identityString(q.FailingObject)
			since, nextTry = timePtr(q.CurrentBegan), timePtr(q.NextAttempt)
		}
		reasons, qErrors = append(reasons, reason), append(qErrors, qerr)
		qMessages, qActions = append(qMessages, qmsg), append(qActions, qaction)
		failingRequests, failingObjects = append(failingRequests, freq), append(failingObjects, fobj)
		qSince, qNext = append(qSince, since), append(qNext, nextTry)
	}
	f := data.NewFrame("status",
		data.NewField("job", nil, nonNil(ids)),
		data.NewField("name", nil, nonNil(names)),
		data.NewField("code", nil, nonNil(codes)),
		withUnit(data.NewField("progress", nil, nonNil(progress)), "percent"),
		data.NewField("completed", nil, nonNil(completed)),
		data.NewField("total", nil, nonNil(total)),
		withUnit(data.NewField("eta", nil, nonNil(eta)), "dateTimeAsIso"),
		data.NewField("usersInScope", nil, nonNil(users)),
		data.NewField("groupsInScope", nil, nonNil(groups)),
		data.NewField("escrows", nil, nonNil(escrows)),
		data.NewField("stagedDeletes", nil, nonNil(staged)),
		data.NewField("successiveFailures", nil, nonNil(failures)),
		data.NewField("lastCycleState", nil, nonNil(lastStates)),
		data.NewField("lastCycleType", nil, nonNil(lastTypes)),
		withUnit(data.NewField("lastCycleEnd", nil, nonNil(lastEnd)), "dateTimeAsIso"),
		withUnit(data.NewField("lastSuccess", nil, nonNil(lastSuccess)), "dateTimeAsIso"),
		withUnit(data.NewField("steadyStateSince", nil, nonNil(steadySince)), "dateTimeAsIso"),
		withUnit(data.NewField("nextRun", nil, nonNil(nextRun)), "dateTimeAsIso"),
		data.NewField("quarantineReason", nil, nonNil(reasons)),
		data.NewField("quarantineError", nil, nonNil(qErrors)),
		data.NewField("quarantineMessage", nil, nonNil(qMessages)),
		data.NewField("recommendedAction", nil, nonNil(qActions)),
		data.NewField("failingRequest", nil, nonNil(failingRequests)),
		data.NewField("failingObject", nil, nonNil(failingObjects)),
		withUnit(data.NewField("quarantineSince", nil, nonNil(qSince)), "dateTimeAsIso"),
		withUnit(data.NewField("nextAttempt", nil, nonNil(qNext)), "dateTimeAsIso"),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}

// nonNil returns s, or an empty slice for nil (a field of zero rows keeps its type).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// credentialCodes are the error codes of refused credentials.
var credentialCodes = []string{provisioning.CodeUnauthorized, provisioning.CodeInsufficientRights}

// metricValue is a job's value of a quarantine-query metric at now.
func metricValue(metric string, j client.Job, now time.Time) float64 {
	s := j.Status
	switch metric {
	case MetricQuarantined:
		if s.Quarantine != nil || s.Code == provisioning.StatusQuarantine {
			return 1
		}
	case MetricCredentialFailure:
		if q := s.Quarantine; q != nil && slices.Contains(credentialCodes, q.Error.Code) {
			return 1
		}
		if e := s.LastError; e != nil && slices.Contains(credentialCodes, e.Code) {
			return 1
		}
		if c := s.LastExecution; c != nil && c.Error != nil && slices.Contains(credentialCodes, c.Error.Code) {
			return 1
		}
	case MetricHeldDeletes:
		// Only the breaker holds deprovisions, and while it does the job is quarantined
		// with TooManyDeletes; otherwise staged ones are queued for a retry, not held.
		if q := s.Quarantine; q != nil && q.Reason == provisioning.ReasonTooManyDeletes {
			return float64(s.StagedDeleteCount)
		}
	case MetricEscrows:
		return float64(s.EscrowCount)
	case MetricSinceLastSuccessSeconds, MetricIntervalsSinceLastSuccess:
		var since time.Time
		switch {
		case s.LastSuccessfulExecution != nil && s.LastSuccessfulExecution.TimeEnded != nil:
			since = *s.LastSuccessfulExecution.TimeEnded
		case s.LastExecution != nil:
			since = s.LastExecution.TimeBegan
		default:
			return 0
		}
		secs := max(now.Sub(since).Seconds(), 0)
		if metric == MetricSinceLastSuccessSeconds {
			return secs
		}
		iv := time.Duration(j.Schedule.Interval)
		if iv <= 0 {
			iv = provisioning.DefaultInterval
		}
		return secs / iv.Seconds()
	case MetricSuccessiveFailures:
		return float64(s.CountSuccessiveCompleteFailures)
	case MetricProgressPercent:
		if p := s.Progress; p != nil && p.TotalUnits > 0 {
			return 100 * float64(p.CompletedUnits) / float64(p.TotalUnits)
		}
	}
	return 0
}

// metricUnits are the Grafana units of the quarantine query's metrics.
var metricUnits = map[string]string{MetricSinceLastSuccessSeconds: "s", MetricProgressPercent: "percent"}

// quarantineFrames is the alertable numeric-multi answer: one frame per job with one
// number, labelled job (and reason for quarantined and credentialFailure; "" when the job
// is not quarantined).
func quarantineFrames(metric string, jobs []client.Job, now time.Time) data.Frames {
	if len(jobs) == 0 {
		return emptyDataplane(data.FrameTypeNumericMulti)
	}
	frames := make(data.Frames, 0, len(jobs))
	for _, j := range jobs {
		labels := data.Labels{"job": j.ID}
		if metric == MetricQuarantined || metric == MetricCredentialFailure {
			labels["reason"] = ""
			if q := j.Status.Quarantine; q != nil {
				labels["reason"] = string(q.Reason)
			}
		}
		f := data.NewField(metric, labels, []float64{metricValue(metric, j, now)})
		if u := metricUnits[metric]; u != "" {
			withUnit(f, u)
		}
		frames = append(frames, dataplane(data.NewFrame(metric, f), data.FrameTypeNumericMulti))
	}
	return frames
}

// seriesFrame is one timeseries-multi series: a time field and one labelled number field.
func seriesFrame(name string, labels data.Labels, times []time.Time, values []float64, unit, display string) *data.Frame {
	v := data.NewField(name, labels, values)
	if unit != "" || display != "" {
		v.Config = &data.FieldConfig{Unit: unit, DisplayNameFromDS: display}
	}
	return dataplane(data.NewFrame(name, data.NewField("time", nil, times), v), data.FrameTypeTimeSeriesMulti)
}

// progressFrames are the cycles' progress as timeseries-multi series per job: progress
// (percent), completed and total objects. Every cycle contributes a point at its start
// (0 %) and at its end (100 %, its imported objects); the running cycle its current
// completedUnits/totalUnits at the observation time. Only cycles overlapping [from, to).
func progressFrames(jobs []client.Job, cycles map[string][]provisioning.Cycle, from, to time.Time) data.Frames {
	var frames data.Frames
	for _, j := range jobs {
		type point struct {
			t                time.Time
			pct, done, total float64
		}
		var pts []point
		cs := slices.Clone(cycles[j.ID])
		sort.Slice(cs, func(a, b int) bool { return cs[a].TimeBegan.Before(cs[b].TimeBegan) })
		for _, c := range cs {
			if !c.TimeBegan.Before(to) || (c.TimeEnded != nil && c.TimeEnded.Before(from)) {
				continue
			}
			n := float64(c.CountImported)
			if c.TimeEnded == nil {
				pts = append(pts, point{t: c.TimeBegan})
				if p := j.Status.Progress; p != nil && p.CycleID == c.CycleID && p.ProgressObservationDateTime.After(c.TimeBegan) {
					pct := 0.0
					if p.TotalUnits > 0 {
						pct = 100 * float64(p.CompletedUnits) / float64(p.TotalUnits)
					}
					pts = append(pts, point{p.ProgressObservationDateTime, pct, float64(p.CompletedUnits), float64(p.TotalUnits)})
				}
				continue
			}
			pts = append(pts, point{t: c.TimeBegan, total: n}, point{*c.TimeEnded, 100, n, n})
		}
		if len(pts) == 0 {
			continue
		}
		// A job's cycles do not overlap; should clocks disagree, series stay sorted.
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].t.Before(pts[b].t) })
		times := make([]time.Time, len(pts))
		pct, done, total := make([]float64, len(pts)), make([]float64, len(pts)), make([]float64, len(pts))
		for i, p := range pts {
			times[i], pct[i], done[i], total[i] = p.t.UTC(), p.pct, p.done, p.total
		}
		labels := data.Labels{"job": j.ID}
		frames = append(frames,
			seriesFrame("progress", labels, times, pct, "percent", j.ID+" progress"),
			seriesFrame("completed", labels, times, done, "", j.ID+" completed"),
			seriesFrame("total", labels, times, total, "", j.ID+" total"))
	}
	if len(frames) == 0 {
		return emptyDataplane(data.FrameTypeTimeSeriesMulti)
	}
	return frames
}

// bucketStart is the start of the interval bucket holding t (buckets start at multiples
// of the interval since the Unix epoch, as the API's).
func bucketStart(t time.Time, interval time.Duration) time.Time {
	ms, iv := t.UnixMilli(), interval.Milliseconds()
	r := ms % iv
	if r < 0 {
		r += iv
	}
	return time.UnixMilli(ms - r).UTC()
}

// eventCountFrames are the event counts as timeseries-multi series, one per combination of
// groupBy values, every bucket of [from, to) present (0 without events) so that alert
// reducers see 0 rather than no data. Series are those the API returned, plus — when every
// groupBy dimension is pinned by a filter (pinned) — that one series even without events.
func eventCountFrames(buckets []provisioning.StatsBucket, groupBy []string, pinned map[string]string, from, to time.Time, interval time.Duration) data.Frames {
	start := bucketStart(from, interval)
	var times []time.Time
	for t := start; t.Before(to); t = t.Add(interval) {
		times = append(times, t)
	}
	if len(times) == 0 {
		times = []time.Time{start}
	}
	index := make(map[int64]int, len(times))
	for i, t := range times {
		index[t.UnixMilli()] = i
	}
	series := map[string][]float64{}
	labelsOf := map[string]data.Labels{}
	var kb strings.Builder
	add := func(l map[string]string) []float64 {
		kb.Reset()
		for _, g := range groupBy {
			kb.WriteString(l[g])
			kb.WriteByte(0)
		}
		if s, ok := series[kb.String()]; ok {
			return s
		}
		k, labels := kb.String(), make(data.Labels, len(groupBy))
		for _, g := range groupBy {
			labels[g] = l[g]
		}
		series[k], labelsOf[k] = make([]float64, len(times)), labels
		return series[k]
	}
	if len(groupBy) == 0 {
		add(nil)
	} else if all := len(pinned) > 0; all {
		for _, g := range groupBy {
			if pinned[g] == "" {
				all = false
			}
		}
		if all {
			add(pinned)
		}
	}
	for _, b := range buckets {
		i, ok := index[b.Time.UnixMilli()]
		if !ok {
			continue
		}
		add(b.Labels)[i] += float64(b.Count)
	}
	if len(series) == 0 {
		return emptyDataplane(data.FrameTypeTimeSeriesMulti)
	}
	keys := slices.Sorted(maps.Keys(series))
	frames := make(data.Frames, 0, len(keys))
	for _, k := range keys {
		labels := labelsOf[k]
		display := "events"
		if len(groupBy) > 0 {
			vals := make([]string, len(groupBy))
			for i, g := range groupBy {
				vals[i] = labels[g]
				if vals[i] == "" {
					vals[i] = "(none)"
				}
			}
			display = strings.Join(vals, " / ")
		}
		frames = append(frames, seriesFrame("count", labels, times, series[k], "", display))
	}
	return frames
}

// userPathLink is a data link to the userPath query of this datasource; eventID is the
// link's event id expression ("${__value.raw}" on an event id field).
func userPathLink(uid, name, eventID string) data.DataLink {
	return data.DataLink{Title: "Provisioning path", Internal: &data.InternalDataLink{
		DatasourceUID: uid, DatasourceName: name,
		Query: map[string]any{"queryType": TypeUserPath, "eventId": eventID, "refId": "A"},
	}}
}

func linked(f *data.Field, links ...data.DataLink) *data.Field {
	if f.Config == nil {
		f.Config = &data.FieldConfig{}
	}
	f.Config.Links = links
	return f
}

// severity maps an event status to a log level.
func severity(s provisioning.Result) string {
	switch s {
	case provisioning.ResultFailure:
		return "error"
	case provisioning.ResultWarning:
		return "warning"
	}
	return "info"
}

// eventBody is an event's log line: what happened to whom, and why it failed.
func eventBody(ev provisioning.Event) string {
	var b strings.Builder
	typ := ev.SourceIdentity.IdentityType
	if typ == "" {
		typ = "object"
	}
	name := ev.SourceIdentity.DisplayName
	if name == "" {
		name = ev.TargetIdentity.DisplayName
	}
	id := ev.SourceIdentity.ID
	if id == "" {
		id = ev.TargetIdentity.ID
	}
	fmt.Fprintf(&b, "%s %s %q (%s): %s", ev.Action, typ, name, id, ev.Status)
	if ei := ev.ErrorInformation; ei != nil {
		if ei.ErrorCode != "" {
			fmt.Fprintf(&b, " - %s", ei.ErrorCode)
		}
		if ei.Reason != "" {
			fmt.Fprintf(&b, ": %s", ei.Reason)
		}
	}
	return b.String()
}

// eventLabels are an event's log labels (empty values left out).
func eventLabels(ev provisioning.Event) json.RawMessage {
	l := map[string]string{"job": ev.JobID, "cycleId": ev.CycleID, "action": string(ev.Action), "status": string(ev.Status),
		"identityType": ev.SourceIdentity.IdentityType, "sourceId": ev.SourceIdentity.ID, "targetId": ev.TargetIdentity.ID}
	if ei := ev.ErrorInformation; ei != nil {
		l["errorCode"] = ei.ErrorCode
	}
	maps.DeleteFunc(l, func(_, v string) bool { return v == "" })
	raw, _ := json.Marshal(l) // a map of strings always marshals
	return raw
}

// logsFrame is a log-lines frame of events: timestamp, body, severity, id, labels, and
// eventId and traceId linked to the userPath query (uid and name: this datasource).
func logsFrame(name string, events []provisioning.Event, uid, dsName string, limit int) *data.Frame {
	n := len(events)
	ts, bodies, sev, ids, traces := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	labels := make([]json.RawMessage, n)
	for i, ev := range events {
		ts[i], bodies[i], sev[i], ids[i] = ev.ActivityDateTime.UTC(), eventBody(ev), severity(ev.Status), ev.ID
		labels[i], traces[i] = eventLabels(ev), ev.TraceID
	}
	f := data.NewFrame(name,
		data.NewField("timestamp", nil, ts),
		data.NewField("body", nil, bodies),
		data.NewField("severity", nil, sev),
		data.NewField("id", nil, ids),
		data.NewField("labels", nil, labels),
		linked(data.NewField("eventId", nil, ids), userPathLink(uid, dsName, "${__value.raw}")),
		linked(data.NewField("traceId", nil, traces), userPathLink(uid, dsName, "${__data.fields.eventId}")),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeLogLines, TypeVersion: data.FrameTypeVersion{0, 0},
		PreferredVisualization: data.VisTypeLogs, Custom: map[string]any{"limit": limit}}
	return f
}

// eventsTable is a table of events (format: table).
func eventsTable(name string, events []provisioning.Event, uid, dsName string) *data.Frame {
	n := len(events)
	ts := make([]time.Time, n)
	cols := map[string][]string{}
	names := []string{"id", "jobId", "cycleId", "action", "status", "identityType", "sourceId", "displayName",
		"targetId", "errorCode", "errorCategory", "reason", "recommendedAction", "traceId"}
	for _, c := range names {
		cols[c] = make([]string, n)
	}
	durations := make([]int64, n)
	for i, ev := range events {
		ts[i] = ev.ActivityDateTime.UTC()
		row := map[string]string{"id": ev.ID, "jobId": ev.JobID, "cycleId": ev.CycleID, "action": string(ev.Action),
			"status": string(ev.Status), "identityType": ev.SourceIdentity.IdentityType, "sourceId": ev.SourceIdentity.ID,
			"displayName": ev.SourceIdentity.DisplayName, "targetId": ev.TargetIdentity.ID, "traceId": ev.TraceID}
		if ei := ev.ErrorInformation; ei != nil {
			row["errorCode"], row["errorCategory"], row["reason"], row["recommendedAction"] = ei.ErrorCode, ei.ErrorCategory, ei.Reason, ei.RecommendedAction
		}
		for c, v := range row {
			cols[c][i] = v
		}
		durations[i] = ev.DurationInMilliseconds
	}
	fields := []*data.Field{data.NewField("time", nil, ts)}
	for _, c := range names {
		f := data.NewField(c, nil, cols[c])
		switch c {
		case "id":
			linked(f, userPathLink(uid, dsName, "${__value.raw}"))
		case "traceId":
			linked(f, userPathLink(uid, dsName, "${__data.fields.id}"))
		}
		fields = append(fields, f)
	}
	fields = append(fields, withUnit(data.NewField("duration", nil, durations), "ms"))
	f := data.NewFrame(name, fields...)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}

// topErrorsFrame is the top-errors table.
func topErrorsFrame(errs []provisioning.TopError, uid, dsName string) *data.Frame {
	n := len(errs)
	codes, cats, sample, ident, action, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	counts, last := make([]int64, n), make([]time.Time, n)
	for i, e := range errs {
		codes[i], cats[i], counts[i], last[i], sample[i] = e.ErrorCode, e.ErrorCategory, e.Count, e.LastSeen.UTC(), e.Sample.ID
		if id := e.Sample.SourceIdentity; id.ID != "" || id.DisplayName != "" {
			ident[i] = fmt.Sprintf("%s (%s)", id.DisplayName, id.ID)
		}
		if ei := e.Sample.ErrorInformation; ei != nil {
			action[i], reason[i] = ei.RecommendedAction, ei.Reason
			if cats[i] == "" {
				cats[i] = ei.ErrorCategory
			}
		}
	}
	f := data.NewFrame("topErrors",
		data.NewField("errorCode", nil, codes),
		data.NewField("category", nil, cats),
		data.NewField("count", nil, counts),
		withUnit(data.NewField("lastSeen", nil, last), "dateTimeAsIso"),
		linked(data.NewField("sampleEventId", nil, sample), userPathLink(uid, dsName, "${__value.raw}")),
		data.NewField("sampleIdentity", nil, ident),
		data.NewField("sampleReason", nil, reason),
		data.NewField("recommendedAction", nil, action),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}

// cyclesFrame is the cycles table.
func cyclesFrame(cycles []provisioning.Cycle) *data.Frame {
	n := len(cycles)
	ids, jobs, types, states, errCodes, errMsgs, traces := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	began, ended := make([]time.Time, n), make([]*time.Time, n)
	dur := make([]*float64, n)
	counts := map[string][]int64{}
	countNames := []string{"imported", "importedDeltas", "entitled", "exports", "exported", "escrowed", "failed", "skipped", "staged"}
	for _, c := range countNames {
		counts[c] = make([]int64, n)
	}
	for i, c := range cycles {
		ids[i], jobs[i], types[i], states[i], traces[i] = c.CycleID, c.JobID, string(c.Type), string(c.State), c.TraceID
		began[i], ended[i] = c.TimeBegan.UTC(), cycleEnd(&c)
		if c.TimeEnded != nil {
			d := c.TimeEnded.Sub(c.TimeBegan).Seconds()
			dur[i] = &d
		}
		if c.Error != nil {
			errCodes[i], errMsgs[i] = c.Error.Code, c.Error.Message
		}
		for k, v := range map[string]int64{"imported": c.CountImported, "importedDeltas": c.CountImportedDeltas,
			"entitled": c.CountEntitled, "exports": c.CountExports, "exported": c.CountExported, "escrowed": c.CountEscrowed,
			"failed": c.CountFailed, "skipped": c.CountSkipped, "staged": c.CountStaged} {
			counts[k][i] = v
		}
	}
	fields := []*data.Field{
		data.NewField("cycleId", nil, ids),
		data.NewField("jobId", nil, jobs),
		data.NewField("type", nil, types),
		data.NewField("state", nil, states),
		data.NewField("timeBegan", nil, began),
		data.NewField("timeEnded", nil, ended),
		withUnit(data.NewField("duration", nil, dur), "s"),
	}
	for _, c := range countNames {
		fields = append(fields, data.NewField(c, nil, counts[c]))
	}
	fields = append(fields, data.NewField("errorCode", nil, errCodes), data.NewField("errorMessage", nil, errMsgs),
		data.NewField("traceId", nil, traces))
	f := data.NewFrame("cycles", fields...)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, PreferredVisualization: data.VisTypeTable}
	return f
}

// keyValue is a trace view tag.
type keyValue struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// traceLog is a trace view span log (timestamp in epoch milliseconds).
type traceLog struct {
	Timestamp float64    `json:"timestamp"`
	Name      string     `json:"name,omitempty"`
	Fields    []keyValue `json:"fields"`
}

func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with types that always marshal
	}
	return raw
}

// spanStatusCode maps the API's span status to OpenTelemetry's (0 unset, 1 ok, 2 error).
func spanStatusCode(s string) int64 {
	switch s {
	case "ok":
		return 1
	case "error":
		return 2
	}
	return 0
}

// traceFrame is a trace-view frame of an event's operation: one row per span, times in
// epoch milliseconds (grafana/grafana pkg/tsdb/tempo TraceToFrame's fields).
func traceFrame(t client.Trace) *data.Frame {
	n := len(t.Spans)
	traceIDs, spanIDs, parents, ops, services, kinds, msgs, libs, libVersions, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	codes := make([]int64, n)
	starts, durations := make([]float64, n), make([]float64, n)
	serviceTags, logs, refs, tags := make([]json.RawMessage, n), make([]json.RawMessage, n), make([]json.RawMessage, n), make([]json.RawMessage, n)
	job := ""
	if len(t.Spans) > 0 {
		job = t.Spans[0].Attributes["provisioning.job.id"]
	}
	for i, s := range t.Spans {
		traceIDs[i], spanIDs[i], parents[i], ops[i], services[i] = s.TraceID, s.SpanID, s.ParentSpanID, s.Name, s.Service
		kinds[i], codes[i], msgs[i], libs[i] = s.Kind, spanStatusCode(s.Status), s.StatusMessage, "provisiond"
		starts[i] = float64(s.Start.UnixMicro()) / 1000
		durations[i] = s.DurationInMilliseconds
		st := []keyValue{{"service.name", s.Service}}
		if job != "" {
			st = append(st, keyValue{"provisioning.job.id", job})
		}
		serviceTags[i] = mustJSON(st)
		keys := slices.Sorted(maps.Keys(s.Attributes))
		kv := make([]keyValue, 0, len(keys)+1)
		for _, k := range keys {
			kv = append(kv, keyValue{k, s.Attributes[k]})
		}
		kv = append(kv, keyValue{"span.kind", s.Kind})
		tags[i] = mustJSON(kv)
		sl := []traceLog{}
		if s.Status == "error" && s.StatusMessage != "" {
			sl = append(sl, traceLog{Timestamp: starts[i] + durations[i], Name: "error",
				Fields: []keyValue{{"event", "error"}, {"message", s.StatusMessage}}})
		}
		logs[i], refs[i] = mustJSON(sl), json.RawMessage("[]")
	}
	f := data.NewFrame("Trace",
		data.NewField("traceID", nil, traceIDs),
		data.NewField("spanID", nil, spanIDs),
		data.NewField("parentSpanID", nil, parents),
		data.NewField("operationName", nil, ops),
		data.NewField("serviceName", nil, services),
		data.NewField("kind", nil, kinds),
		data.NewField("statusCode", nil, codes),
		data.NewField("statusMessage", nil, msgs),
		data.NewField("instrumentationLibraryName", nil, libs),
		data.NewField("instrumentationLibraryVersion", nil, libVersions),
		data.NewField("traceState", nil, states),
		data.NewField("serviceTags", nil, serviceTags),
		data.NewField("startTime", nil, starts),
		data.NewField("duration", nil, durations),
		data.NewField("logs", nil, logs),
		data.NewField("references", nil, refs),
		data.NewField("tags", nil, tags),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTrace,
		Custom: map[string]any{"eventId": t.EventID, "traceId": t.TraceID}}
	return f
}

// variableFrame is a template variable answer: text and value fields.
func variableFrame(name string, texts, values []string) *data.Frame {
	return data.NewFrame(name, data.NewField("text", nil, nonNil(texts)), data.NewField("value", nil, nonNil(values)))
}

// identityLabel is how identities show in pickers: "Display Name (sourceId)".
func identityLabel(id client.Identity) string {
	if id.DisplayName == "" {
		return id.ID
	}
	return fmt.Sprintf("%s (%s)", id.DisplayName, id.ID)
}
