package dashboards_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/expr"
	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/dashboards"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/datasource/pkg/plugin"
)

// Grafana's file provisioning formats (grafana/grafana pkg/services/provisioning), the
// fields provisiond's files use; decoding rejects any other field.
type (
	alertingFile struct {
		APIVersion int          `yaml:"apiVersion"`
		Groups     []alertGroup `yaml:"groups"`
	}
	alertGroup struct {
		OrgID    int64       `yaml:"orgId"`
		Name     string      `yaml:"name"`
		Folder   string      `yaml:"folder"`
		Interval string      `yaml:"interval"`
		Rules    []alertRule `yaml:"rules"`
	}
	alertRule struct {
		UID          string            `yaml:"uid"`
		Title        string            `yaml:"title"`
		Condition    string            `yaml:"condition"`
		Data         []alertQuery      `yaml:"data"`
		DashboardUID string            `yaml:"dashboardUid"`
		PanelID      int               `yaml:"panelId"`
		NoDataState  string            `yaml:"noDataState"`
		ExecErrState string            `yaml:"execErrState"`
		For          string            `yaml:"for"`
		Labels       map[string]string `yaml:"labels"`
		Annotations  map[string]string `yaml:"annotations"`
		IsPaused     bool              `yaml:"isPaused"`
	}
	alertQuery struct {
		RefID             string `yaml:"refId"`
		RelativeTimeRange *struct {
			From int64 `yaml:"from"`
			To   int64 `yaml:"to"`
		} `yaml:"relativeTimeRange"`
		DatasourceUID string         `yaml:"datasourceUid"`
		Model         map[string]any `yaml:"model"`
	}
	datasourcesFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name           string            `yaml:"name"`
			Type           string            `yaml:"type"`
			UID            string            `yaml:"uid"`
			Access         string            `yaml:"access"`
			OrgID          int64             `yaml:"orgId"`
			IsDefault      bool              `yaml:"isDefault"`
			Editable       bool              `yaml:"editable"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	dashboardsFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int64  `yaml:"orgId"`
			Folder                string `yaml:"folder"`
			FolderUID             string `yaml:"folderUid"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
)

// decodeYAML decodes a provisioning file strictly.
func decodeYAML(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := fs.ReadFile(dashboards.Files, name)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	var f alertingFile
	decodeYAML(t, "provisioning/alerting/provisiond-rules.yaml", &f)
	if f.APIVersion != 1 || len(f.Groups) == 0 {
		t.Fatalf("alerting file: apiVersion %d, %d groups", f.APIVersion, len(f.Groups))
	}
	var rules []alertRule
	for _, g := range f.Groups {
		if g.Name == "" || g.Folder == "" || g.OrgID != 1 {
			t.Errorf("group %+v: want a name, a folder and orgId 1", g.Name)
		}
		if d, err := time.ParseDuration(g.Interval); err != nil || d < time.Minute || d%(10*time.Second) != 0 {
			t.Errorf("group %s: interval %q", g.Name, g.Interval)
		}
		rules = append(rules, g.Rules...)
	}
	return rules
}

// modelJSON is a query or expression model as JSON.
func modelJSON(t *testing.T, m map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var runbookDash = regexp.MustCompile(`/d/([a-z0-9-]+)`)

// TestProvisioningFiles checks the three provisioning files and that their UIDs agree
// with each other, the dashboards and the plugin.
func TestProvisioningFiles(t *testing.T) {
	var ds datasourcesFile
	decodeYAML(t, "provisioning/datasources/provisiond.yaml", &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources file: %+v", ds)
	}
	d := ds.Datasources[0]
	if d.UID != dashboards.DatasourceUID || d.Type != plugin.ID || d.Access != "proxy" {
		t.Errorf("datasource uid %q type %q access %q", d.UID, d.Type, d.Access)
	}
	if u, _ := d.JSONData["apiUrl"].(string); u == "" {
		t.Error("the datasource has no jsonData.apiUrl")
	}
	if tok := d.SecureJSONData["apiToken"]; !regexp.MustCompile(`^\$\{?[A-Z_][A-Z0-9_]*\}?$`).MatchString(tok) {
		t.Errorf("secureJsonData.apiToken %q: want an environment variable reference, never a literal token", tok)
	}
	// The settings are ones the plugin accepts.
	raw, _ := json.Marshal(map[string]any{"apiUrl": "http://provisiond:8080", "timeoutSeconds": d.JSONData["timeoutSeconds"]})
	if _, err := plugin.LoadSettings(backend.DataSourceInstanceSettings{JSONData: raw}); err != nil {
		t.Errorf("jsonData: %v", err)
	}

	var dp dashboardsFile
	decodeYAML(t, "provisioning/dashboards/provisiond.yaml", &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Fatalf("dashboards file: %+v", dp)
	}

	panels := map[string]map[int]rawPanel{}
	for _, b := range loadBoards(t) {
		panels[b.raw.UID] = map[int]rawPanel{}
		for _, p := range b.raw.Panels {
			panels[b.raw.UID][p.ID] = p
		}
	}
	var f alertingFile
	decodeYAML(t, "provisioning/alerting/provisiond-rules.yaml", &f)
	for _, g := range f.Groups {
		if g.Folder != dp.Providers[0].Folder {
			t.Errorf("rules folder %q, dashboards folder %q: keep them together", g.Folder, dp.Providers[0].Folder)
		}
	}
	uids := map[string]bool{}
	for _, r := range loadRules(t) {
		where := "rule " + r.UID
		if r.UID == "" || len(r.UID) > 40 || uids[r.UID] || r.Title == "" {
			t.Errorf("%s: uid must be set, unique and at most 40 characters; title set", where)
		}
		uids[r.UID] = true
		if !slices.Contains([]string{"OK", "NoData", "Alerting", "KeepLast"}, r.NoDataState) ||
			!slices.Contains([]string{"OK", "Error", "Alerting", "KeepLast"}, r.ExecErrState) {
			t.Errorf("%s: noDataState %q execErrState %q", where, r.NoDataState, r.ExecErrState)
		}
		if _, err := time.ParseDuration(r.For); err != nil {
			t.Errorf("%s: for %q: %v", where, r.For, err)
		}
		if !slices.Contains([]string{"critical", "warning"}, r.Labels["severity"]) {
			t.Errorf("%s: severity label %q", where, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", where, a)
			}
		}
		if m := runbookDash.FindStringSubmatch(r.Annotations["runbook_url"]); m == nil || panels[m[1]] == nil {
			t.Errorf("%s: runbook_url %q does not link a bundled dashboard", where, r.Annotations["runbook_url"])
		}
		refs := map[string]bool{}
		var first map[string]any
		for _, q := range r.Data {
			if refs[q.RefID] || q.RefID == "" {
				t.Errorf("%s: refId %q is empty or repeats", where, q.RefID)
			}
			refs[q.RefID] = true
			raw := modelJSON(t, q.Model)
			if q.Model["refId"] != q.RefID {
				t.Errorf("%s: model refId %v, query refId %s", where, q.Model["refId"], q.RefID)
			}
			switch q.DatasourceUID {
			case dashboards.DatasourceUID:
				if q.RelativeTimeRange == nil || q.RelativeTimeRange.From <= q.RelativeTimeRange.To {
					t.Errorf("%s: query %s needs a relativeTimeRange", where, q.RefID)
				}
				if _, err := strictQuery(raw); err != nil {
					t.Errorf("%s: %v", where, err)
				}
				if _, err := plugin.ParseQuery(backend.DataQuery{JSON: raw}); err != nil {
					t.Errorf("%s: query %s: %v", where, q.RefID, err)
				}
				if first == nil {
					first = q.Model
				}
			case "__expr__":
				// Not expr.VariantConfig().StrictDataqueryUnmarshaler: it drops the decoded
				// expression (the SDK's strict decoders return an empty error list as an error).
				e := &expr.Expr{}
				if err := sdkErr(e.UnmarshalJSONStrict(raw)); err != nil {
					t.Errorf("%s: expression %s does not match the SDK's schema: %v", where, q.RefID, err)
				} else if err := sdkErr(e.Validate()); err != nil {
					t.Errorf("%s: expression %s: %v", where, q.RefID, err)
				}
			default:
				t.Errorf("%s: query %s uses datasource %q, not the provisioned %q", where, q.RefID, q.DatasourceUID, dashboards.DatasourceUID)
			}
		}
		if !refs[r.Condition] {
			t.Errorf("%s: condition %q is not a refId", where, r.Condition)
		}
		// The rule shows on a panel of the same query.
		p, ok := panels[r.DashboardUID][r.PanelID]
		if !ok {
			t.Errorf("%s: dashboard %s has no panel %d", where, r.DashboardUID, r.PanelID)
			continue
		}
		match := false
		for _, tg := range p.Targets {
			same := tg.Model["queryType"] == first["queryType"]
			for _, k := range []string{"metric", "errorCode", "status", "action"} {
				if first[k] != nil {
					same = same && sameMeasure(tg.Model[k], first[k])
				}
			}
			match = match || same
		}
		if !match {
			t.Errorf("%s: panel %d %q does not show the rule's query %v", where, r.PanelID, p.Title, first)
		}
	}
}

// sameMeasure says whether a panel's query field value shows what a rule's does (the
// time since the last success in seconds or in intervals is one measure).
func sameMeasure(panel, rule any) bool {
	if panel == rule {
		return true
	}
	since := []any{plugin.MetricSinceLastSuccessSeconds, plugin.MetricIntervalsSinceLastSuccess}
	return slices.Contains(since, panel) && slices.Contains(since, rule)
}

// state is an alert instance's state.
type state string

const (
	normal   state = "Normal"
	alerting state = "Alerting"
)

// evaluate runs a rule's queries through QueryData as Grafana's alerting does (raw model,
// the rule's relative range, the FromAlert header), checks their frames against the
// server-side-expression rules and applies the rule's expressions. It returns the state
// per job (the instance's job or jobId label); with no instances, every job of jobs is in
// the noDataState.
func evaluate(t *testing.T, d backend.QueryDataHandler, r alertRule, now time.Time, jobs []string) map[string]state {
	t.Helper()
	sets := map[string]set{}
	for _, q := range r.Data {
		raw := modelJSON(t, q.Model)
		switch q.DatasourceUID {
		case dashboards.DatasourceUID:
			ms, _ := q.Model["intervalMs"].(float64)
			dq := backend.DataQuery{RefID: q.RefID, JSON: raw, Interval: time.Duration(ms) * time.Millisecond, MaxDataPoints: 43200,
				TimeRange: backend.TimeRange{From: now.Add(-time.Duration(q.RelativeTimeRange.From) * time.Second),
					To: now.Add(-time.Duration(q.RelativeTimeRange.To) * time.Second)}}
			resp := queryData(t, d, map[string]string{backend.FromAlertHeaderName: "true"}, dq).Responses[q.RefID]
			if resp.Error != nil {
				t.Fatalf("rule %s query %s: %v", r.UID, q.RefID, resp.Error)
			}
			s, err := fromFrames(resp.Frames)
			if err != nil {
				t.Fatalf("rule %s query %s: server-side expressions would reject the frames: %v", r.UID, q.RefID, err)
			}
			sets[q.RefID] = s
		case "__expr__":
			sets[q.RefID] = evalExpr(t, r.UID, q.Model, sets)
		}
	}
	out := map[string]state{}
	cond := sets[r.Condition]
	for _, it := range cond.items {
		job := it.labels["job"] + it.labels["jobId"]
		if job == "" {
			t.Fatalf("rule %s: instance %s has no job label", r.UID, it)
		}
		if _, dup := out[job]; dup {
			// Several instances per job (reasons): alerting wins.
			if it.num == 0 || math.IsNaN(it.num) {
				continue
			}
		}
		out[job] = normal
		if it.num != 0 && !math.IsNaN(it.num) {
			out[job] = alerting
		}
	}
	for _, j := range jobs {
		if _, ok := out[j]; !ok {
			if r.NoDataState != "OK" {
				t.Fatalf("rule %s: job %s has no instance and noDataState is %s", r.UID, j, r.NoDataState)
			}
			out[j] = normal
		}
	}
	return out
}

// evalExpr applies one expression model.
func evalExpr(t *testing.T, rule string, m map[string]any, sets map[string]set) set {
	t.Helper()
	raw := modelJSON(t, m)
	var e struct {
		Type       string `json:"type"`
		Expression string `json:"expression"`
		Reducer    string `json:"reducer"`
		Settings   struct {
			Mode string `json:"mode"`
		} `json:"settings"`
		Conditions []struct {
			Evaluator struct {
				Type   string    `json:"type"`
				Params []float64 `json:"params"`
			} `json:"evaluator"`
		} `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	var (
		out set
		err error
	)
	switch e.Type {
	case "reduce":
		out, err = reduce(sets[e.Expression], e.Reducer, e.Settings.Mode)
	case "math":
		out, err = mathExpr(e.Expression, sets)
	case "threshold":
		if len(e.Conditions) != 1 {
			t.Fatalf("rule %s: %d threshold conditions", rule, len(e.Conditions))
		}
		c := e.Conditions[0].Evaluator
		out, err = threshold(sets[e.Expression], c.Type, c.Params)
	default:
		t.Fatalf("rule %s: expression type %q is not evaluated by the test", rule, e.Type)
	}
	if err != nil {
		t.Fatalf("rule %s: %s %s: %v", rule, e.Type, e.Expression, err)
	}
	return out
}

// evaluateAll evaluates every rule and returns the alerting (rule, job) pairs, sorted.
func evaluateAll(t *testing.T, d backend.QueryDataHandler, rules []alertRule, jobs []string) []string {
	t.Helper()
	var firing []string
	now := time.Now()
	for _, r := range rules {
		for job, st := range evaluate(t, d, r, now, jobs) {
			if st == alerting {
				firing = append(firing, r.UID+"/"+job)
			}
		}
	}
	sort.Strings(firing)
	return firing
}

// changeHR edits a job's HR export (its users) and runs a cycle that picks the change up.
func changeHR(t *testing.T, s *apitest.Stack, job string, edit func([]map[string]any) []map[string]any) {
	t.Helper()
	hr := s.HR[job]
	hr.Users = edit(hr.Users)
	if err := hr.WriteJSON(filepath.Join(s.Dir, job, "export.json")); err != nil {
		t.Fatal(err)
	}
	runCycle(t, s, job)
}

// runCycle runs a cycle of a job. A target with injected faults may fail the connection
// test that starts every cycle (an injected 500 or 429, twice in a row with the client's
// retry): such a cycle is run again, up to 40 times.
func runCycle(t *testing.T, s *apitest.Stack, job string) {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_, err := s.Engine.RunCycle(ctx, job)
		cancel()
		if err == nil {
			return
		}
		if try == 40 || !strings.Contains(err.Error(), "connection test") {
			t.Fatalf("cycle of %s: %v", job, err)
		}
	}
}

// removeUsers drops the first n users from the export: the job deletes their accounts.
func removeUsers(n int) func([]map[string]any) []map[string]any {
	return func(u []map[string]any) []map[string]any { return u[n:] }
}

// disableUsers disables the first n users' accounts in the export: the job disables
// their target accounts.
func disableUsers(n int) func([]map[string]any) []map[string]any {
	return func(u []map[string]any) []map[string]any {
		for _, user := range u[:n] {
			user["accountEnabled"] = false
		}
		return u
	}
}

// TestAlertRules evaluates every rule against real stacks: a healthy job and one put
// into quarantine by a revoked SCIM token, a job whose target fails half its requests, a
// job whose HR export loses 60 users, a job whose target throttles every request, and a
// job whose export loses more users than the deletion breaker allows. Each rule must be
// Alerting exactly for the jobs in that condition and Normal for the others.
func TestAlertRules(t *testing.T) {
	rules := loadRules(t)
	// The incident stacks take 12 s or more (throttled requests wait for Retry-After):
	// .ci/dashboards.sh runs them.
	incidents := os.Getenv("PROVISIOND_DASHBOARD_ALERTS") != ""

	t.Run("healthy and quarantined", func(t *testing.T) {
		s := apitest.Start(t, apitest.Options{})
		d := newDatasource(t, s)
		jobs := []string{"demo", "sales"}
		if got := evaluateAll(t, d, rules, jobs); len(got) != 0 {
			t.Fatalf("healthy jobs: alerting %v, want none", got)
		}
		s.Quarantine(t, "sales") // the SCIM server answers 401 to every request
		want := []string{"provisiond-credential-failure/sales", "provisiond-job-quarantined/sales"}
		if got := evaluateAll(t, d, rules, jobs); !slices.Equal(got, want) {
			t.Fatalf("sales quarantined: alerting %v, want %v", got, want)
		}
	})

	t.Run("failures, disables, deletes and throttling", func(t *testing.T) {
		if !incidents {
			t.Skip("set PROVISIOND_DASHBOARD_ALERTS=1 to run the incident stacks")
		}
		jobs := []string{"demo", "flaky", "leavers", "removed", "throttled"}
		s := apitest.Start(t, apitest.Options{Jobs: jobs, Users: 120, Groups: 4, NoInitial: true})
		s.SCIM["flaky"].SetFaults(scimserver.Faults{ErrorRate: 0.5}) // half the requests fail with 500
		for _, j := range jobs {
			runCycle(t, s, j)
		}
		changeHR(t, s, "leavers", disableUsers(80))
		changeHR(t, s, "removed", removeUsers(100))
		// 80 % of the requests are answered 429 and the client retries once: about 64 % of
		// 30 disables fail with TooManyRequests (6 or more fail but with p < 1e-6).
		s.SCIM["throttled"].SetFaults(scimserver.Faults{ThrottleRate: 0.8, RetryAfter: time.Second})
		changeHR(t, s, "throttled", disableUsers(30))
		d := newDatasource(t, s)
		got := evaluateAll(t, d, rules, jobs)
		t.Logf("alerting: %v", got)
		for _, w := range []string{"provisiond-failure-spike/flaky", "provisiond-disable-spike/leavers",
			"provisiond-delete-spike/removed", "provisiond-sustained-throttling/throttled"} {
			if !slices.Contains(got, w) {
				t.Errorf("alerting %v lacks %s", got, w)
			}
		}
		for _, g := range got {
			rule, job, _ := strings.Cut(g, "/")
			switch {
			case job == "demo":
				t.Errorf("the healthy job alerts: %s", g)
			case rule == "provisiond-disable-spike" && job != "leavers", rule == "provisiond-delete-spike" && job != "removed",
				rule == "provisiond-sustained-throttling" && job != "throttled", rule == "provisiond-deletes-held",
				rule == "provisiond-credential-failure", rule == "provisiond-no-successful-cycle":
				t.Errorf("unexpected %s", g)
			}
		}
	})

	t.Run("deletion breaker", func(t *testing.T) {
		if !incidents {
			t.Skip("set PROVISIOND_DASHBOARD_ALERTS=1 to run the incident stacks")
		}
		// The demo job's breaker trips above 500 deletes and disables in one cycle.
		s := apitest.Start(t, apitest.Options{Jobs: []string{"big", "demo"}, Users: 800, Groups: 4})
		changeHR(t, s, "big", removeUsers(790))
		d := newDatasource(t, s)
		got := evaluateAll(t, d, rules, []string{"big", "demo"})
		t.Logf("alerting: %v", got)
		if !slices.Contains(got, "provisiond-deletes-held/big") {
			t.Fatalf("alerting %v lacks provisiond-deletes-held/big", got)
		}
		for _, g := range got {
			if strings.HasSuffix(g, "/demo") || strings.Contains(g, "spike") {
				t.Errorf("unexpected %s (held deletes are not deletes)", g)
			}
		}
	})
}

// TestNoSuccessRuleFires applies the "no successful cycle" rule's expressions to a job 4
// intervals past its last success: the stacks cannot produce that state (their jobs run
// hourly, so it takes hours), so the datasource's answer is built here in its shape.
func TestNoSuccessRuleFires(t *testing.T) {
	var rule alertRule
	for _, r := range loadRules(t) {
		if r.UID == "provisiond-no-successful-cycle" {
			rule = r
		}
	}
	frame := func(job string, v float64) *data.Frame {
		f := data.NewFrame(plugin.MetricIntervalsSinceLastSuccess,
			data.NewField(plugin.MetricIntervalsSinceLastSuccess, data.Labels{"job": job}, []float64{v}))
		f.Meta = &data.FrameMeta{Type: data.FrameTypeNumericMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
		return f
	}
	in, err := fromFrames(data.Frames{frame("stuck", 4), frame("fine", 0.5)})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]set{"A": in}
	for _, q := range rule.Data[1:] {
		sets[q.RefID] = evalExpr(t, rule.UID, q.Model, sets)
	}
	got := map[string]float64{}
	for _, it := range sets[rule.Condition].items {
		got[it.labels["job"]] = it.num
	}
	if got["stuck"] != 1 || got["fine"] != 0 {
		t.Fatalf("condition %v, want stuck 1 and fine 0", got)
	}
	if _, err := framecheck.Alertable(data.Frames{frame("stuck", 4)}); err != nil {
		t.Fatal(err)
	}
}

// TestEvaluator checks the expression evaluator on its own.
func TestEvaluator(t *testing.T) {
	num := func(job string, v float64) item { return item{labels: data.Labels{"jobId": job}, num: v} }
	series := func(job string, v ...float64) item { return item{labels: data.Labels{"jobId": job}, series: v} }
	nan := math.NaN()
	tests := []struct {
		name string
		run  func() (set, error)
		want string
	}{
		{"reduce sum", func() (set, error) { return reduce(set{items: []item{series("a", 1, 2, 3)}}, "sum", "") }, "[jobId=a=6]"},
		{"reduce strict NaN", func() (set, error) { return reduce(set{items: []item{series("a", 1, nan)}}, "sum", "") }, "[jobId=a=NaN]"},
		{"reduce dropNN", func() (set, error) { return reduce(set{items: []item{series("a", 1, nan, 2)}}, "sum", "dropNN") }, "[jobId=a=3]"},
		{"reduce last max mean", func() (set, error) {
			s := set{items: []item{series("a", 4, 9, 2)}}
			l, _ := reduce(s, "last", "")
			m, _ := reduce(s, "max", "")
			a, _ := reduce(s, "mean", "")
			return set{items: append(append(l.items, m.items...), a.items...)}, nil
		}, "[jobId=a=2 jobId=a=9 jobId=a=5]"},
		{"reduce passes numbers", func() (set, error) { return reduce(set{items: []item{num("a", 7)}}, "last", "") }, "[jobId=a=7]"},
		{"math joins by labels and drops the unmatched", func() (set, error) {
			return mathExpr("$B >= 20 && $B / $D > 0.1", map[string]set{
				"B": {items: []item{num("a", 30), num("b", 25), num("c", 1)}},
				"D": {items: []item{num("a", 100), num("b", 1000), num("c", 5), num("d", 50)}},
			})
		}, "[jobId=a=1 jobId=b=0 jobId=c=0]"},
		{"math with a scalar and precedence", func() (set, error) {
			return mathExpr("-$A + 2 * 3 > 1 || !($A == 0)", map[string]set{"A": {items: []item{num("a", 5), num("b", 0)}}})
		}, "[jobId=a=1 jobId=b=1]"},
		{"threshold gt", func() (set, error) {
			return threshold(set{items: []item{num("a", 1), num("b", 0)}}, "gt", []float64{0})
		}, "[jobId=a=1 jobId=b=0]"},
		{"threshold ranges", func() (set, error) {
			w, _ := threshold(set{items: []item{num("a", 5)}}, "within_range", []float64{1, 10})
			o, _ := threshold(set{items: []item{num("a", 5)}}, "outside_range", []float64{1, 10})
			l, _ := threshold(set{items: []item{num("a", 5)}}, "lt", []float64{10})
			return set{items: append(append(w.items, o.items...), l.items...)}, nil
		}, "[jobId=a=1 jobId=a=0 jobId=a=1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			if s := fmt.Sprint(got.items); s != tt.want {
				t.Fatalf("got %s, want %s", s, tt.want)
			}
		})
	}
	if _, err := threshold(set{items: []item{series("a", 1)}}, "gt", []float64{0}); err == nil {
		t.Fatal("threshold on a series: want an error (reduce first)")
	}
	if _, err := mathExpr("$A +", map[string]set{"A": {}}); err == nil {
		t.Fatal("a malformed expression parsed")
	}
}
