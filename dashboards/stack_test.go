package dashboards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/datasource/pkg/plugin"
)

// The panels' and rules' queries run through the datasource's QueryData against a real
// provisiond stack (api/apitest: HR exports → embedded SCIM servers → SQLite → engine →
// API), as Grafana sends them: panel queries after the frontend interpolated the
// dashboard's variables, rule queries as stored.

func init() {
	// The SDK's middlewares log every request at debug level; keep test output readable.
	log.DefaultLogger = log.NewNullLogger()
	backend.Logger = log.DefaultLogger
}

// testUID is the datasource uid the stack's datasource instance has.
const testUID = "provisiond"

// newDatasource is the datasource as Grafana's instance manager builds it for a stack.
func newDatasource(t testing.TB, s *apitest.Stack) backend.QueryDataHandler {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"apiUrl": s.URL, "timeoutSeconds": 30})
	inst, err := plugin.NewInstance(context.Background(), backend.DataSourceInstanceSettings{ID: 1, UID: testUID,
		Name: "provisiond", JSONData: raw, DecryptedSecureJSONData: map[string]string{"apiToken": apitest.ReaderToken}})
	if err != nil {
		t.Fatal(err)
	}
	d := inst.(*plugin.Datasource)
	t.Cleanup(d.Dispose)
	return d
}

// templateVar matches ${name}, ${name:format}, $name and [[name]].
var templateVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]`)

// interpolate applies variable values to every string of a query model, as the
// frontend's applyTemplateVariables does (unknown variables stay as they are).
func interpolate(v any, vars map[string]string) any {
	switch x := v.(type) {
	case string:
		return templateVar.ReplaceAllStringFunc(x, func(m string) string {
			sm := templateVar.FindStringSubmatch(m)
			if val, ok := vars[sm[1]+sm[2]+sm[3]]; ok {
				return val
			}
			return m
		})
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = interpolate(e, vars)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "refId" {
				out[k] = e
				continue
			}
			out[k] = interpolate(e, vars)
		}
		return out
	}
	return v
}

// runnable says whether the frontend sends a query (its filterQuery: userPath and
// properties need an identity or an event id, history an identity).
func runnable(model map[string]any) bool {
	blank := func(k string) bool { s, _ := model[k].(string); return strings.TrimSpace(s) == "" }
	switch model["queryType"] {
	case plugin.TypeUserPath, plugin.TypeProperties:
		return !blank("identity") || !blank("eventId")
	case plugin.TypeHistory:
		return !blank("identity")
	}
	return true
}

// panelQuery is a panel's query as Grafana's query service hands it to the plugin.
func panelQuery(refID string, model map[string]any, now time.Time) backend.DataQuery {
	raw, _ := json.Marshal(model)
	qt, _ := model["queryType"].(string)
	return backend.DataQuery{RefID: refID, QueryType: qt, JSON: raw, Interval: time.Minute, MaxDataPoints: 1000,
		TimeRange: backend.TimeRange{From: now.Add(-24 * time.Hour), To: now}}
}

func queryData(t *testing.T, d backend.QueryDataHandler, headers map[string]string, qs ...backend.DataQuery) *backend.QueryDataResponse {
	t.Helper()
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{Headers: headers,
		PluginContext: backend.PluginContext{PluginID: plugin.ID}, Queries: qs})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// variableValues runs a dashboard's query variables through QueryData (checking their
// frames) and returns the first option's value of each.
func variableValues(t *testing.T, d backend.QueryDataHandler, b board, vars map[string]string) {
	t.Helper()
	now := time.Now()
	for _, v := range b.raw.Templating.List {
		if v.Type != "query" {
			continue
		}
		model := interpolate(v.Query, vars).(map[string]any)
		r := queryData(t, d, nil, panelQuery("var", model, now)).Responses["var"]
		if r.Error != nil || len(r.Frames) != 1 {
			t.Fatalf("%s: variable %s: %v (%d frames)", b.file, v.Name, r.Error, len(r.Frames))
		}
		if err := framecheck.Variable(r.Frames[0]); err != nil {
			t.Fatalf("%s: variable %s: %v", b.file, v.Name, err)
		}
		if r.Frames[0].Rows() == 0 {
			t.Fatalf("%s: variable %s has no options with %v", b.file, v.Name, vars)
		}
		if _, set := vars[v.Name]; !set {
			vars[v.Name] = r.Frames[0].Fields[1].At(0).(string)
		}
	}
}

// fieldNames are the names a panel's transformations and overrides can refer to: field
// names, names the datasource displays, and the names organize renames fields to.
func fieldNames(frames data.Frames, p rawPanel) map[string]bool {
	names := map[string]bool{}
	for _, f := range frames {
		for _, fld := range f.Fields {
			names[fld.Name] = true
			if fld.Config != nil && fld.Config.DisplayNameFromDS != "" {
				names[fld.Config.DisplayNameFromDS] = true
			}
		}
	}
	for _, tr := range p.Transformations {
		if tr.ID != "organize" {
			continue
		}
		var o struct {
			RenameByName map[string]string `json:"renameByName"`
		}
		_ = json.Unmarshal(tr.Options, &o)
		for from, to := range o.RenameByName {
			delete(names, from)
			names[to] = true
		}
	}
	return names
}

// checkFieldRefs checks that a table panel's transformations and overrides name fields
// its frames have (a typo hides a column or leaves it unformatted).
func checkFieldRefs(t *testing.T, where string, frames data.Frames, p rawPanel) {
	t.Helper()
	if p.Type != "table" {
		return // series panels name series that exist only with data
	}
	all := map[string]bool{}
	for _, f := range frames {
		for _, fld := range f.Fields {
			all[fld.Name] = true
		}
	}
	for _, tr := range p.Transformations {
		var o struct {
			ExcludeByName map[string]bool `json:"excludeByName"`
			IndexByName   map[string]int  `json:"indexByName"`
			RenameByName  map[string]string
			Include       struct{ Names []string } `json:"include"`
			Filters       []struct {
				FieldName string `json:"fieldName"`
			} `json:"filters"`
		}
		if err := json.Unmarshal(tr.Options, &o); err != nil {
			t.Fatalf("%s: transformation %s: %v", where, tr.ID, err)
		}
		var refs []string
		for k := range o.ExcludeByName {
			refs = append(refs, k)
		}
		for k := range o.IndexByName {
			refs = append(refs, k)
		}
		for k := range o.RenameByName {
			refs = append(refs, k)
		}
		refs = append(refs, o.Include.Names...)
		for _, f := range o.Filters {
			refs = append(refs, f.FieldName)
		}
		for _, r := range refs {
			if !all[r] {
				t.Errorf("%s: transformation %s names field %q, which the frames lack", where, tr.ID, r)
			}
		}
	}
	names := fieldNames(frames, p)
	for _, o := range p.FieldConfig.Overrides {
		if name, ok := o.Matcher.Options.(string); ok && o.Matcher.ID == "byName" && !names[name] {
			t.Errorf("%s: override for %q matches no field", where, name)
		}
	}
}

// TestPanelQueries runs every panel's queries of the provisiond dashboards through
// QueryData, with the variables as a user sets them, and checks that each panel gets
// the frames its type needs (framecheck.ForPanel: logs → log lines, traces → a trace,
// time series and state timelines → time series, stat/bar gauge/pie → numbers, table →
// any frames).
func TestPanelQueries(t *testing.T) {
	s := apitest.Start(t, apitest.Options{})
	s.Churn(t, "demo")
	s.Quarantine(t, "sales")
	d := newDatasource(t, s)
	now := time.Now()

	// A failed event of an identity: the troubleshooting dashboard's subject.
	resp := queryData(t, d, nil, panelQuery("A", map[string]any{"queryType": "events", "status": "failure",
		"format": "table", "jobId": "demo", "limit": 1}, now))
	ev := resp.Responses["A"].Frames[0]
	if ev.Rows() != 1 {
		t.Fatal("no failed event in the demo data")
	}
	col := func(name string) string {
		f, _ := ev.FieldByName(name)
		return f.At(0).(string)
	}
	scenarios := []struct {
		name string
		vars map[string]string
	}{
		{"every job, the identity's latest event", map[string]string{"job": "*", "search": col("sourceId"), "event": ""}},
		{"one job, one identity, a chosen event", map[string]string{"job": "demo", "search": col("sourceId"),
			"identity": col("sourceId"), "event": col("id")}},
		{"a quarantined job", map[string]string{"job": "sales", "search": "E0000", "event": ""}},
	}
	// rows counts each panel's rows over the scenarios: every panel must show data in one
	// of them, but Throttling (the demo target never throttles).
	rows := map[string]int{}
	defer func() {
		for where, n := range rows {
			if n == 0 && !strings.HasSuffix(where, `"Throttling"`) {
				t.Errorf("%s shows no data in any scenario", where)
			}
		}
	}()
	for _, b := range loadBoards(t) {
		if datasourceType(b.file) != plugin.ID {
			continue
		}
		for _, sc := range scenarios {
			t.Run(b.file+"/"+sc.name, func(t *testing.T) {
				vars := map[string]string{"datasource": testUID}
				for k, v := range sc.vars {
					vars[k] = v
				}
				variableValues(t, d, b, vars)
				for _, p := range b.raw.Panels {
					if len(p.Targets) == 0 {
						continue
					}
					where := fmt.Sprintf("%s panel %d %q", b.file, p.ID, p.Title)
					var qs []backend.DataQuery
					for _, tg := range p.Targets {
						model := interpolate(tg.Model, vars).(map[string]any)
						if !runnable(model) {
							t.Fatalf("%s: query %s would not run with %v", where, tg.RefID, vars)
						}
						if leftover := templateVar.FindString(fmt.Sprint(model)); leftover != "" {
							t.Fatalf("%s: query %s still holds %s", where, tg.RefID, leftover)
						}
						qs = append(qs, panelQuery(tg.RefID, model, now))
					}
					resp := queryData(t, d, nil, qs...)
					var frames data.Frames
					for _, q := range qs {
						r := resp.Responses[q.RefID]
						if r.Error != nil {
							t.Fatalf("%s: query %s: %v (%s)", where, q.RefID, r.Error, q.JSON)
						}
						frames = append(frames, r.Frames...)
					}
					if err := framecheck.ForPanel(p.Type, frames); err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					rows[where] += 0
					for _, f := range frames {
						rows[where] += f.Rows()
					}
					checkFieldRefs(t, where, frames, p)
				}
			})
		}
	}
}

// TestTroubleshootingFindsTheIdentity checks the troubleshooting flow end to end: the
// identity variable searched by display name, source id and target id finds the
// identity, and the panels then show its events, trace and history.
func TestTroubleshootingFindsTheIdentity(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Jobs: []string{"demo"}, Users: 60, Groups: 4})
	d := newDatasource(t, s)
	now := time.Now()
	resp := queryData(t, d, nil, panelQuery("A", map[string]any{"queryType": "events", "format": "table",
		"action": "create", "status": "success", "identityType": "User", "limit": 1}, now))
	ev := resp.Responses["A"].Frames[0]
	get := func(name string) string {
		f, _ := ev.FieldByName(name)
		return f.At(0).(string)
	}
	source, target, name := get("sourceId"), get("targetId"), get("displayName")
	var tb board
	for _, b := range loadBoards(t) {
		if b.file == "troubleshooting.json" {
			tb = b
		}
	}
	for _, search := range []string{source, target, name[:4]} {
		vars := map[string]string{"datasource": testUID, "job": "*", "search": search}
		variableValues(t, d, tb, vars)
		// The identity variable's options include the identity.
		var q map[string]any
		for _, v := range tb.raw.Templating.List {
			if v.Name == "identity" {
				q = interpolate(v.Query, vars).(map[string]any)
			}
		}
		r := queryData(t, d, nil, panelQuery("v", q, now)).Responses["v"]
		values := r.Frames[0].Fields[1]
		found := false
		for i := 0; i < values.Len(); i++ {
			found = found || values.At(i) == source
		}
		if !found {
			t.Fatalf("searching %q: the identity variable lacks %s", search, source)
		}
	}
}
