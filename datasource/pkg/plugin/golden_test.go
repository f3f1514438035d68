package plugin

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenTime replaces the times of golden frames (times of a stack run vary).
var goldenTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// normaliser makes a stack's answer reproducible: ids (UUIDs, trace and span ids) become
// ID-N numbered by first appearance, loopback ports PORT, times goldenTime (or
// goldenTime plus their offset from base), and the values of volatile fields (durations,
// which of several failed events is the sample) zero or "<volatile>".
type normaliser struct {
	ids      map[string]string
	base     time.Time
	volatile map[string]bool
}

var (
	idPattern   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{32}\b|\b[0-9a-f]{16}\b`)
	portPattern = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// volatileFields vary between runs in every golden file.
var volatileFields = []string{"duration", "startTime"}

func newNormaliser(base time.Time, volatile ...string) *normaliser {
	n := &normaliser{ids: map[string]string{}, base: base, volatile: map[string]bool{}}
	for _, v := range append(volatile, volatileFields...) {
		n.volatile[v] = true
	}
	return n
}

func (n *normaliser) str(s string) string {
	s = idPattern.ReplaceAllStringFunc(s, func(id string) string {
		if p, ok := n.ids[id]; ok {
			return p
		}
		p := fmt.Sprintf("ID-%d", len(n.ids)+1)
		n.ids[id] = p
		return p
	})
	return portPattern.ReplaceAllString(s, "127.0.0.1:PORT")
}

func (n *normaliser) time(t time.Time) time.Time {
	if n.base.IsZero() {
		return goldenTime
	}
	return goldenTime.Add(t.Sub(n.base))
}

// anyValue normalises decoded JSON: strings, and epoch-millisecond "timestamp"s.
func (n *normaliser) anyValue(key string, v any) any {
	switch x := v.(type) {
	case string:
		if n.volatile[key] {
			return "<volatile>"
		}
		return n.str(x)
	case float64:
		if key == "timestamp" {
			return float64(goldenTime.UnixMilli())
		}
	case []any:
		for i := range x {
			x[i] = n.anyValue(key, x[i])
		}
	case map[string]any:
		// Trace tags are {key, value} pairs: the value's key is the pair's.
		// Keys in order, so that ids number the same in every run.
		k, _ := x["key"].(string)
		for _, kk := range slices.Sorted(maps.Keys(x)) {
			if kk == "value" && k != "" {
				x[kk] = n.anyValue(k, x[kk])
			} else {
				x[kk] = n.anyValue(kk, x[kk])
			}
		}
	}
	return v
}

func (n *normaliser) response(r *backend.DataResponse) {
	for _, f := range r.Frames {
		n.frame(f)
	}
	if r.Error != nil {
		r.Error = fmt.Errorf("%s", n.str(r.Error.Error()))
	}
}

func (n *normaliser) frame(f *data.Frame) {
	if f.Meta != nil {
		if m, ok := f.Meta.Custom.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				m[k] = n.anyValue(k, m[k])
			}
		}
	}
	for _, fld := range f.Fields {
		for i := 0; i < fld.Len(); i++ {
			switch v := fld.At(i).(type) {
			case time.Time:
				fld.Set(i, n.time(v))
			case *time.Time:
				if v != nil {
					t := n.time(*v)
					fld.Set(i, &t)
				}
			case string:
				if n.volatile[fld.Name] && v != "" {
					fld.Set(i, "<volatile>")
				} else {
					fld.Set(i, n.str(v))
				}
			case json.RawMessage:
				var x any
				if json.Unmarshal(v, &x) == nil {
					raw, _ := json.Marshal(n.anyValue(fld.Name, x))
					fld.Set(i, json.RawMessage(raw))
				}
			case float64:
				if n.volatile[fld.Name] {
					fld.Set(i, 0.0)
				}
			case *float64:
				if n.volatile[fld.Name] && v != nil {
					z := 0.0
					fld.Set(i, &z)
				}
			case int64:
				if n.volatile[fld.Name] {
					fld.Set(i, int64(0))
				}
			}
		}
	}
}

// sortRows orders a frame's rows by a string field (rows the API orders by a timing-
// dependent tie break).
func sortRows(f *data.Frame, by string) {
	var key *data.Field
	for _, fld := range f.Fields {
		if fld.Name == by {
			key = fld
		}
	}
	idx := make([]int, f.Rows())
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return fmt.Sprint(key.At(idx[a])) < fmt.Sprint(key.At(idx[b])) })
	for j, fld := range f.Fields {
		sorted := data.NewFieldFromFieldType(fld.Type(), fld.Len())
		sorted.Name, sorted.Labels, sorted.Config = fld.Name, fld.Labels, fld.Config
		for i, from := range idx {
			sorted.Set(i, fld.At(from))
		}
		f.Fields[j] = sorted
	}
}

// checkShape applies the frame checks of a query type to its answer.
func checkShape(tb testing.TB, queryType string, q Query, frames data.Frames) {
	tb.Helper()
	var err error
	switch queryType {
	case TypeStatus, TypeTopErrors, TypeCycles, TypeStatusChanges, TypeProperties:
		err = framecheck.ForPanel("table", frames)
	case TypeStatusTimeline:
		var r framecheck.Result
		if r, err = framecheck.Alertable(frames); err == nil && r.Kind != data.KindTimeSeries {
			err = fmt.Errorf("statusTimeline frames are %s, want time series", r.Kind)
		}
		if err == nil {
			err = framecheck.ForPanel("state-timeline", frames)
		}
	case TypeQuarantine:
		var r framecheck.Result
		if r, err = framecheck.Alertable(frames); err == nil && r.Kind != data.KindNumeric {
			err = fmt.Errorf("quarantine frames are %s, want numeric", r.Kind)
		}
		if err == nil {
			err = framecheck.ForPanel("stat", frames)
		}
	case TypeProgress, TypeEventCounts:
		var r framecheck.Result
		if r, err = framecheck.Alertable(frames); err == nil && r.Kind != data.KindTimeSeries {
			err = fmt.Errorf("%s frames are %s, want time series", queryType, r.Kind)
		}
		if err == nil {
			err = framecheck.ForPanel("timeseries", frames)
		}
	case TypeEvents, TypeHistory:
		if q.Format == "table" {
			err = framecheck.ForPanel("table", frames)
		} else {
			err = framecheck.ForPanel("logs", frames)
		}
	case TypeUserPath:
		err = framecheck.ForPanel("traces", frames)
	case TypeJobs, TypeIdentities:
		if len(frames) != 1 {
			err = fmt.Errorf("%d variable frames", len(frames))
		} else {
			err = framecheck.Variable(frames[0])
		}
	}
	if err != nil {
		tb.Fatalf("%s frames: %v", queryType, err)
	}
}

// TestGolden runs every query type against the demo stack and compares the (normalised)
// frames with testdata/golden/<name>.jsonc; go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	s := demoStack(t)
	d := newDatasource(t, s.URL, apitest.ReaderToken)
	now := time.Now()
	const day = 24 * time.Hour
	// eventCounts in day buckets over three days around today (the stack's events fall in
	// one bucket; times are kept as offsets from the range's start).
	days := backend.TimeRange{From: bucketStart(now, day).Add(-day), To: bucketStart(now, day).Add(2 * day)}
	tests := []struct {
		name, query string
		days        bool     // the three-day range, times relative to its start
		sortBy      string   // order rows by this field (timing-dependent API order)
		volatile    []string // fields whose values vary between runs
	}{
		{name: "status", query: `{"queryType":"status"}`, volatile: []string{"nextRun"}},
		{name: "status_job", query: `{"queryType":"status","jobId":"sales"}`},
		{name: "quarantine", query: `{"queryType":"quarantine"}`},
		{name: "quarantine_credential", query: `{"queryType":"quarantine","metric":"credentialFailure","jobId":"sales"}`},
		{name: "quarantine_held_deletes", query: `{"queryType":"quarantine","metric":"heldDeletes"}`},
		{name: "progress", query: `{"queryType":"progress","jobId":"demo"}`},
		// Counts of failures only: the other events' times depend on the workers' timing.
		{name: "event_counts", query: `{"queryType":"eventCounts","status":"failure","groupBy":["jobId","errorCode"],"interval":"1440m"}`, days: true},
		{name: "event_counts_pinned", query: `{"queryType":"eventCounts","jobId":"sales","action":"delete","groupBy":["jobId","action"],"interval":"1440m"}`, days: true},
		{name: "event_counts_total", query: `{"queryType":"eventCounts","jobId":"demo","status":"failure","interval":"1440m"}`, days: true},
		// The identity is demo's CEO, who has no manager (nothing waits on another user).
		{name: "events", query: `{"queryType":"events","jobId":"demo","identity":"CEO"}`},
		{name: "events_table", query: `{"queryType":"events","jobId":"demo","identity":"CEO","format":"table","order":"asc"}`},
		{name: "events_failures", query: `{"queryType":"events","jobId":"demo","status":"failure","errorCode":"MandatoryFieldsMissing"}`, sortBy: "body"},
		{name: "top_errors", query: `{"queryType":"topErrors","jobId":"demo"}`, sortBy: "errorCode",
			volatile: []string{"sampleEventId", "sampleIdentity", "sampleReason"}},
		{name: "cycles", query: `{"queryType":"cycles","jobId":"sales"}`},
		{name: "user_path", query: `{"queryType":"userPath","jobId":"demo","identity":"CEO"}`},
		// History by the CEO's target ID (the source ID names another user in sales).
		{name: "history", query: `{"queryType":"history","identity":"CEO_TARGET"}`},
		{name: "history_table", query: `{"queryType":"history","identity":"CEO_TARGET","format":"table","limit":2}`},
		{name: "jobs", query: `{"queryType":"jobs"}`},
		{name: "identities", query: `{"queryType":"identities","query":"Ma","jobId":"demo"}`, sortBy: "value"},
	}
	ceo, ceoTarget := ceoOf(t, s, "demo")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dq := dataQuery("A", strings.NewReplacer("CEO_TARGET", ceoTarget, "CEO", ceo).Replace(tt.query), now)
			var base time.Time
			if tt.days {
				dq.TimeRange, base = days, days.From
			}
			r := query(t, d, dq)
			q, err := ParseQuery(dq)
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, q.QueryType, q, mustFrames(t, r))
			if tt.sortBy != "" {
				for _, f := range r.Frames {
					sortRows(f, tt.sortBy)
				}
			}
			newNormaliser(base, tt.volatile...).response(&r)
			experimental.CheckGoldenJSONResponse(t, "testdata/golden", tt.name, &r, *update)
		})
	}
}

// ceoOf is the source and target ID of a job's CEO (the generated user without a manager).
func ceoOf(t *testing.T, s *apitest.Stack, jobID string) (string, string) {
	t.Helper()
	for _, u := range s.HR[jobID].Users {
		if _, ok := u["manager"]; !ok {
			id := fmt.Sprint(u["id"])
			c, err := client.New(s.URL, apitest.ReaderToken)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.IdentityHistory(context.Background(), id, jobID, 1, "")
			if err != nil || len(p.Value) == 0 || p.Value[0].TargetIdentity.ID == "" {
				t.Fatalf("history of %s's CEO %s: %v", jobID, id, err)
			}
			return id, p.Value[0].TargetIdentity.ID
		}
	}
	t.Fatalf("job %s has no CEO", jobID)
	return "", ""
}
