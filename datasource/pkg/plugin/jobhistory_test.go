package plugin

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/provisioning"
)

func TestStatusTimelineFrames(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	change := func(min int, old, cur provisioning.StatusCode) provisioning.StatusChange {
		return provisioning.StatusChange{JobID: "a", Time: at(min), OldCode: old, NewCode: cur}
	}
	const (
		notRun = provisioning.StatusNotRun
		active = provisioning.StatusActive
		quar   = provisioning.StatusQuarantine
		paused = provisioning.StatusPaused
	)
	tests := []struct {
		name    string
		current provisioning.StatusCode
		hist    []provisioning.StatusChange // newest first, as the API answers
		from    time.Time
		to, now time.Time
		times   []int // minutes after t0
		codes   []provisioning.StatusCode
	}{
		{name: "no history: the current code over the range", current: active, from: at(0), to: at(60), now: at(90),
			times: []int{0, 60}, codes: []provisioning.StatusCode{active, active}},
		{name: "changes in the range", current: quar, from: at(0), to: at(60), now: at(90),
			hist:  []provisioning.StatusChange{change(30, active, quar), change(10, notRun, active)},
			times: []int{0, 10, 30, 60}, codes: []provisioning.StatusCode{notRun, active, quar, quar}},
		{name: "a change before the range sets the first code", current: paused, from: at(20), to: at(60), now: at(90),
			hist:  []provisioning.StatusChange{change(40, quar, paused), change(10, active, quar)},
			times: []int{20, 40, 60}, codes: []provisioning.StatusCode{quar, paused, paused}},
		{name: "a change at from", current: quar, from: at(10), to: at(60), now: at(90),
			hist:  []provisioning.StatusChange{change(10, active, quar)},
			times: []int{10, 60}, codes: []provisioning.StatusCode{quar, quar}},
		{name: "the range ends now, not in the future", current: quar, from: at(0), to: at(60), now: at(45),
			hist:  []provisioning.StatusChange{change(50, active, quar), change(30, notRun, active)},
			times: []int{0, 30, 45}, codes: []provisioning.StatusCode{notRun, active, active}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := []client.Job{{Job: provisioning.Job{ID: "a"}, Status: provisioning.Status{Code: tt.current}}}
			frames := statusTimelineFrames(jobs, map[string][]provisioning.StatusChange{"a": tt.hist}, tt.from, tt.to, tt.now)
			r, err := framecheck.Alertable(frames)
			if err != nil || r.Kind != data.KindTimeSeries || len(r.Series) != 1 {
				t.Fatalf("%+v %v", r, err)
			}
			if err := framecheck.ForPanel("state-timeline", frames); err != nil {
				t.Fatal(err)
			}
			f := frames[0]
			var gotTimes []int
			var gotCodes []provisioning.StatusCode
			for i := 0; i < f.Rows(); i++ {
				gotTimes = append(gotTimes, int(f.Fields[0].At(i).(time.Time).Sub(t0)/time.Minute))
				gotCodes = append(gotCodes, provisioning.StatusCodes[int(f.Fields[1].At(i).(float64))])
			}
			if !slices.Equal(gotTimes, tt.times) || !slices.Equal(gotCodes, tt.codes) {
				t.Fatalf("points at %v: %v, want at %v: %v", gotTimes, gotCodes, tt.times, tt.codes)
			}
			if f.Fields[1].Labels["job"] != "a" || f.Fields[1].Config.Mappings == nil {
				t.Fatalf("field %s %+v", f.Fields[1].Labels, f.Fields[1].Config)
			}
		})
	}
	if r, _ := framecheck.Alertable(statusTimelineFrames(nil, nil, t0, t0.Add(time.Hour), t0)); !r.NoData {
		t.Fatal("no jobs: want the typed no-data frame")
	}
}

func TestPropertiesFrame(t *testing.T) {
	ev := provisioning.Event{ID: "e1", JobID: "demo", Action: provisioning.ActionUpdate, Status: provisioning.ResultSuccess,
		ActivityDateTime: t0, SourceIdentity: provisioning.Identity{ID: "E1", DisplayName: "Alice"},
		ModifiedProperties: []provisioning.ModifiedProperty{
			{DisplayName: "department", OldValue: "Eng", NewValue: "Research"},
			{DisplayName: "urn:x:initialPassword", OldValue: "", NewValue: "hunter2"},
			{DisplayName: "apiToken", OldValue: "a", NewValue: "b"},
		}}
	f := propertiesFrame([]provisioning.Event{ev, {ID: "e2"}})
	if err := framecheck.ForPanel("table", data.Frames{f}); err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 3 {
		t.Fatalf("%d rows, want one per property", f.Rows())
	}
	raw, _ := json.Marshal(f)
	for _, secret := range []string{"hunter2", `"a"`, `"b"`} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the frame shows a secret value %s", secret)
		}
	}
	get := func(name string, row int) string {
		fld, _ := f.FieldByName(name)
		return fld.At(row).(string)
	}
	if get("identity", 0) != "Alice (E1)" || get("property", 0) != "department" || get("newValue", 0) != "Research" ||
		get("newValue", 1) != "[redacted]" || get("oldValue", 2) != "[redacted]" {
		t.Fatalf("rows: %s", raw)
	}
	if empty := propertiesFrame(nil); len(empty.Fields) != 9 || empty.Rows() != 0 {
		t.Fatalf("no events: %d fields, %d rows", len(empty.Fields), empty.Rows())
	}
}

func TestAllJobsValues(t *testing.T) {
	for _, v := range append([]string{""}, AllJobs...) {
		q, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(fmt.Sprintf(`{"queryType":"status","jobId":%q}`, v))})
		if err != nil || q.JobID != "" {
			t.Fatalf("jobId %q: %q %v", v, q.JobID, err)
		}
	}
	if _, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(`{"queryType":"properties"}`)}); err == nil {
		t.Fatal("a properties query without eventId or identity parsed")
	}
}

// TestJobHistoryQueries runs statusChanges, statusTimeline, properties and the status
// table's quarantine columns against a stack whose job sales is quarantined by a revoked
// SCIM token.
func TestJobHistoryQueries(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 60, Groups: 4})
	s.Churn(t, "demo")
	st := s.Quarantine(t, "sales")
	d := newDatasource(t, s.URL, apitest.ReaderToken)
	now := time.Now()

	// statusChanges: sales' quarantine with its exact cause.
	f := mustFrames(t, query(t, d, dataQuery("A", `{"queryType":"statusChanges","jobId":"*"}`, now)))[0]
	if err := framecheck.ForPanel("table", data.Frames{f}); err != nil {
		t.Fatal(err)
	}
	col := func(f *data.Frame, name string, row int) any {
		fld, _ := f.FieldByName(name)
		if fld == nil {
			t.Fatalf("frame %s has no field %s", f.Name, name)
		}
		v, _ := fld.ConcreteAt(row)
		return v
	}
	found := false
	for i := 0; i < f.Rows(); i++ {
		if col(f, "jobId", i) == "sales" && col(f, "newCode", i) == string(provisioning.StatusQuarantine) {
			found = true
			if col(f, "reason", i) != string(st.Quarantine.Reason) || col(f, "errorCode", i) != st.Quarantine.Error.Code ||
				col(f, "failingRequest", i) != st.Quarantine.FailingRequest || col(f, "recommendedAction", i) == "" {
				t.Fatalf("quarantine row %d: reason %v, error %v, request %v, action %v", i, col(f, "reason", i),
					col(f, "errorCode", i), col(f, "failingRequest", i), col(f, "recommendedAction", i))
			}
		}
		if i > 0 && col(f, "time", i).(time.Time).After(col(f, "time", i-1).(time.Time)) {
			t.Fatal("status changes are not newest first")
		}
	}
	if !found {
		t.Fatal("no status change of sales into Quarantine")
	}

	// statusTimeline: sales ends in Quarantine, demo in Active.
	frames := mustFrames(t, query(t, d, dataQuery("A", `{"queryType":"statusTimeline"}`, now)))
	if err := framecheck.ForPanel("state-timeline", frames); err != nil {
		t.Fatal(err)
	}
	last := map[string]float64{}
	for _, f := range frames {
		v := f.Fields[1]
		last[v.Labels["job"]] = v.At(v.Len() - 1).(float64)
	}
	if last["sales"] != StatusCodeValue(provisioning.StatusQuarantine) || last["demo"] != StatusCodeValue(provisioning.StatusActive) {
		t.Fatalf("last states %v", last)
	}

	// The status table names the failing request and object of the quarantine.
	f = mustFrames(t, query(t, d, dataQuery("A", `{"queryType":"status","jobId":"sales"}`, now)))[0]
	if col(f, "failingRequest", 0) != st.Quarantine.FailingRequest || col(f, "quarantineMessage", 0) != st.Quarantine.Error.Message ||
		col(f, "recommendedAction", 0) != st.Quarantine.Error.RecommendedAction || col(f, "quarantineSince", 0) == nil {
		t.Fatalf("status of sales: %v %v %v", col(f, "failingRequest", 0), col(f, "quarantineMessage", 0), col(f, "recommendedAction", 0))
	}

	// properties: an updated identity's changes, by identity and by event.
	c, _ := client.New(s.URL, apitest.ReaderToken)
	p, err := c.Logs(t.Context(), client.LogsQuery{JobID: "demo", Action: string(provisioning.ActionUpdate),
		Status: string(provisioning.ResultSuccess), Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var ev *provisioning.Event
	for i := range p.Value {
		if len(p.Value[i].ModifiedProperties) > 0 {
			ev = &p.Value[i]
			break
		}
	}
	if ev == nil {
		t.Fatal("no update with modified properties after the churn")
	}
	for _, raw := range []string{
		fmt.Sprintf(`{"queryType":"properties","eventId":%q}`, ev.ID),
		fmt.Sprintf(`{"queryType":"properties","identity":%q,"jobId":"demo"}`, ev.SourceIdentity.ID),
	} {
		f := mustFrames(t, query(t, d, dataQuery("A", raw, now)))[0]
		if err := framecheck.ForPanel("table", data.Frames{f}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := 0; i < f.Rows(); i++ {
			if col(f, "eventId", i) == ev.ID {
				n++
			}
		}
		if n != len(ev.ModifiedProperties) {
			t.Fatalf("%s: %d rows of event %s, want %d", raw, n, ev.ID, len(ev.ModifiedProperties))
		}
	}
}

// TestHeldDeletes checks that heldDeletes counts the breaker's holds only, not
// deprovisions staged for a retry after a failure.
func TestHeldDeletes(t *testing.T) {
	job := func(staged int64, reason provisioning.QuarantineReason) client.Job {
		st := provisioning.Status{Code: provisioning.StatusActive, StagedDeleteCount: staged}
		if reason != "" {
			st.Code, st.Quarantine = provisioning.StatusQuarantine, &provisioning.Quarantine{Reason: reason}
		}
		return client.Job{Job: provisioning.Job{ID: "a"}, Status: st}
	}
	tests := []struct {
		name string
		job  client.Job
		want float64
	}{
		{"held by the breaker", job(520, provisioning.ReasonTooManyDeletes), 520},
		{"staged for a retry", job(9, ""), 0},
		{"quarantined for another reason", job(9, provisioning.ReasonQuarantineException), 0},
	}
	for _, tt := range tests {
		if got := metricValue(MetricHeldDeletes, tt.job, t0); got != tt.want {
			t.Errorf("%s: heldDeletes %v, want %v", tt.name, got, tt.want)
		}
	}
}
