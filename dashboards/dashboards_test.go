package dashboards_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/provisiond/provisiond/dashboards"
	"github.com/provisiond/provisiond/datasource/pkg/plugin"
)

// The dashboards are checked as Grafana would read them, without a Grafana server:
// strictly against the Grafana Foundation SDK's dashboard schema (with the provisiond
// query model as a registered query type), then for what the schema does not say (ids,
// layout, datasources, variables, links). stack_test.go runs every panel's queries.

// gridWidth is the width of Grafana's dashboard grid.
const gridWidth = 24

// files are the dashboard files and their UIDs.
var files = map[string]string{
	"overview.json":            dashboards.OverviewUID,
	"quarantine.json":          dashboards.QuarantineUID,
	"troubleshooting.json":     dashboards.TroubleshootingUID,
	"prometheus-overview.json": dashboards.PrometheusOverviewUID,
}

// datasourceType is the datasource type of each dashboard's panels.
func datasourceType(file string) string {
	if file == "prometheus-overview.json" {
		return "prometheus"
	}
	return plugin.ID
}

// provisiondQuery is the provisiond query model (datasource/src/types.ts, docs/datasource.md)
// as a Foundation SDK query variant, so that the strict unmarshal rejects unknown fields.
type provisiondQuery struct {
	RefID          string          `json:"refId"`
	Hide           *bool           `json:"hide,omitempty"`
	Key            string          `json:"key,omitempty"`
	Datasource     json.RawMessage `json:"datasource,omitempty"`
	QueryType      string          `json:"queryType"`
	JobID          *string         `json:"jobId,omitempty"`
	Identity       *string         `json:"identity,omitempty"`
	IdentityPrefix *bool           `json:"identityPrefix,omitempty"`
	EventID        *string         `json:"eventId,omitempty"`
	CycleID        *string         `json:"cycleId,omitempty"`
	Action         *string         `json:"action,omitempty"`
	Status         *string         `json:"status,omitempty"`
	ErrorCode      *string         `json:"errorCode,omitempty"`
	IdentityType   *string         `json:"identityType,omitempty"`
	GroupBy        []string        `json:"groupBy,omitempty"`
	Interval       *string         `json:"interval,omitempty"`
	Format         *string         `json:"format,omitempty"`
	Limit          *float64        `json:"limit,omitempty"`
	Order          *string         `json:"order,omitempty"`
	Query          *string         `json:"query,omitempty"`
	Metric         *string         `json:"metric,omitempty"`
	// Set by Grafana on alert queries.
	IntervalMs    *float64 `json:"intervalMs,omitempty"`
	MaxDataPoints *float64 `json:"maxDataPoints,omitempty"`
}

func (q *provisiondQuery) ImplementsDataqueryVariant() {}
func (q *provisiondQuery) DataqueryType() string       { return plugin.ID }
func (q *provisiondQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(*provisiondQuery)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// Validate checks what the frontend's editor and the backend would reject.
func (q *provisiondQuery) Validate() error {
	if !slices.Contains(plugin.QueryTypes, q.QueryType) {
		return fmt.Errorf("unknown queryType %q", q.QueryType)
	}
	if q.RefID == "" {
		return errors.New("a query without refId")
	}
	return nil
}

func strictQuery(raw []byte) (variants.Dataquery, error) {
	q := &provisiondQuery{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(q); err != nil {
		return nil, fmt.Errorf("provisiond query %s: %w", raw, err)
	}
	return q, nil
}

func init() {
	plugins.RegisterDefaultPlugins()
	cog.NewRuntime().RegisterDataqueryVariant(variants.DataqueryConfig{
		Identifier: plugin.ID,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			q := &provisiondQuery{}
			return q, json.Unmarshal(raw, q)
		},
		StrictDataqueryUnmarshaler: strictQuery,
	})
}

// board is a dashboard file: the SDK's typed view and the raw JSON.
type board struct {
	file string
	sdk  dashboard.Dashboard
	raw  rawDashboard
	text string
}

// rawDashboard is the part of the JSON the checks read.
type rawDashboard struct {
	UID        string     `json:"uid"`
	Title      string     `json:"title"`
	Tags       []string   `json:"tags"`
	Panels     []rawPanel `json:"panels"`
	Templating struct {
		List []rawVariable `json:"list"`
	} `json:"templating"`
	Links []struct {
		Type        string   `json:"type"`
		Tags        []string `json:"tags"`
		IncludeVars bool     `json:"includeVars"`
		KeepTime    bool     `json:"keepTime"`
	} `json:"links"`
}

type rawPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *datasourceRef  `json:"datasource"`
	Targets     []rawTarget     `json:"targets"`
	GridPos     gridPos         `json:"gridPos"`
	Options     json.RawMessage `json:"options"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Transformations []struct {
		ID      string          `json:"id"`
		Options json.RawMessage `json:"options"`
	} `json:"transformations"`
}

type rawTarget struct {
	RefID      string         `json:"refId"`
	Datasource *datasourceRef `json:"datasource"`
	// Model is the whole target as the backend receives it.
	Model map[string]any `json:"-"`
}

func (t *rawTarget) UnmarshalJSON(b []byte) error {
	type plain rawTarget
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	return json.Unmarshal(b, &t.Model)
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct{ X, Y, W, H int }

type rawVariable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Query      any            `json:"query"`
	Datasource *datasourceRef `json:"datasource"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Multi      bool           `json:"multi"`
}

// sdkErr is err, or nil for an empty cog.BuildErrors: the SDK's strict unmarshalling and
// validation return their (nil) error list as a non-nil error.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// loadBoards reads and strictly decodes every dashboard file.
func loadBoards(t *testing.T) []board {
	t.Helper()
	var out []board
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		raw, err := fs.ReadFile(dashboards.Files, f)
		if err != nil {
			t.Fatal(err)
		}
		b := board{file: f, text: string(raw)}
		if err := sdkErr(b.sdk.UnmarshalJSONStrict(raw)); err != nil {
			t.Fatalf("%s does not match the Grafana dashboard schema: %v", f, err)
		}
		if err := sdkErr(b.sdk.Validate()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := json.Unmarshal(raw, &b.raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestDashboardsMatchTheSchema(t *testing.T) {
	for _, b := range loadBoards(t) {
		if b.sdk.SchemaVersion != dashboard.NewDashboard().SchemaVersion {
			t.Errorf("%s: schemaVersion %d, want the SDK's (current Grafana) %d", b.file, b.sdk.SchemaVersion,
				dashboard.NewDashboard().SchemaVersion)
		}
		if b.raw.UID != files[b.file] {
			t.Errorf("%s: uid %q, want %q", b.file, b.raw.UID, files[b.file])
		}
		// Every target decoded as a typed query, not as the SDK's unknown-query bag.
		for _, p := range b.sdk.Panels {
			if p.Panel == nil {
				continue
			}
			for _, q := range p.Panel.Targets {
				if _, unknown := q.(variants.UnknownDataquery); unknown {
					t.Errorf("%s: panel %q has a query of an unknown type", b.file, *p.Panel.Title)
				}
			}
		}
	}
}

// TestDashboardLayout checks ids, the grid, titles and descriptions.
func TestDashboardLayout(t *testing.T) {
	for _, b := range loadBoards(t) {
		ids := map[int]bool{}
		var placed []rawPanel
		for _, p := range b.raw.Panels {
			where := fmt.Sprintf("%s: panel %d %q", b.file, p.ID, p.Title)
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: the id is missing or not unique", where)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > gridWidth {
				t.Errorf("%s: gridPos %+v is outside the %d-column grid", where, g, gridWidth)
			}
			if p.Type != "row" && (g.W < 4 || g.H < 3) {
				t.Errorf("%s: %dx%d is too small to read", where, g.W, g.H)
			}
			for _, o := range placed {
				h := o.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					t.Errorf("%s overlaps panel %d %q", where, o.ID, o.Title)
				}
			}
			placed = append(placed, p)
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if p.Type != "row" && len(p.Description) < 40 {
				t.Errorf("%s: the description should say what an SRE does with the panel", where)
			}
		}
		// No hole: each row of the grid up to the last panel is covered (a dashboard
		// reads top to bottom without gaps).
		bottom := 0
		for _, p := range placed {
			bottom = max(bottom, p.GridPos.Y+p.GridPos.H)
		}
		for y := 0; y < bottom; y++ {
			covered := 0
			for _, p := range placed {
				if y >= p.GridPos.Y && y < p.GridPos.Y+p.GridPos.H {
					covered += p.GridPos.W
				}
			}
			if covered != gridWidth {
				t.Errorf("%s: grid row %d is %d of %d columns full", b.file, y, covered, gridWidth)
			}
		}
	}
}

// TestDashboardDatasources checks that every panel and query uses the dashboard's
// datasource variable (never an import placeholder) and that the variable is of the
// right type.
func TestDashboardDatasources(t *testing.T) {
	for _, b := range loadBoards(t) {
		want := datasourceRef{Type: datasourceType(b.file), UID: "${datasource}"}
		if strings.Contains(b.text, "${DS_") || strings.Contains(b.text, "__inputs") {
			t.Errorf("%s: import placeholders (${DS_…}, __inputs) do not resolve under file provisioning", b.file)
		}
		vars := map[string]rawVariable{}
		for _, v := range b.raw.Templating.List {
			vars[v.Name] = v
		}
		if v := vars["datasource"]; v.Type != "datasource" || v.Query != want.Type {
			t.Errorf("%s: variable datasource is %s %v, want a datasource variable of type %s", b.file, v.Type, v.Query, want.Type)
		}
		for _, v := range b.raw.Templating.List {
			if v.Type == "query" && (v.Datasource == nil || *v.Datasource != want) {
				t.Errorf("%s: variable %s queries %+v, want %+v", b.file, v.Name, v.Datasource, want)
			}
		}
		for _, p := range b.raw.Panels {
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			if p.Datasource == nil || *p.Datasource != want {
				t.Errorf("%s: panel %q uses datasource %+v, want %+v", b.file, p.Title, p.Datasource, want)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", b.file, p.Title)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if q.Datasource == nil || *q.Datasource != want {
					t.Errorf("%s: panel %q query %s uses datasource %+v", b.file, p.Title, q.RefID, q.Datasource)
				}
				if refs[q.RefID] {
					t.Errorf("%s: panel %q has two queries %s", b.file, p.Title, q.RefID)
				}
				refs[q.RefID] = true
			}
		}
	}
}

// builtins are Grafana's global and data-link variables.
var builtins = []string{"__all", "__from", "__to", "__interval", "__interval_ms", "__rate_interval", "__range",
	"__range_s", "__range_ms", "__value", "__data", "__field", "__series", "__url_time_range", "__dashboard", "__org",
	"__user", "__timeFilter", "__name", "__timezone"}

// varRef finds $name, ${name…} and [[name]].
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)[^\]]*\]\]`)

// TestDashboardVariables checks that every variable reference resolves, that variables
// only use variables defined before them, and that the job variable's All value is one
// the datasource reads as "every job".
func TestDashboardVariables(t *testing.T) {
	for _, b := range loadBoards(t) {
		defined := map[string]int{}
		for i, v := range b.raw.Templating.List {
			if _, dup := defined[v.Name]; dup {
				t.Errorf("%s: variable %s is defined twice", b.file, v.Name)
			}
			defined[v.Name] = i
		}
		for _, m := range varRef.FindAllStringSubmatch(b.text, -1) {
			name := m[1] + m[2] + m[3]
			if _, ok := defined[name]; !ok && !slices.Contains(builtins, name) {
				t.Errorf("%s: %s refers to an unknown variable %q", b.file, m[0], name)
			}
		}
		for i, v := range b.raw.Templating.List {
			raw, _ := json.Marshal(v.Query)
			for _, m := range varRef.FindAllStringSubmatch(string(raw), -1) {
				if j, ok := defined[m[1]+m[2]+m[3]]; ok && j >= i {
					t.Errorf("%s: variable %s uses %s, which is defined after it", b.file, v.Name, m[0])
				}
			}
			if v.Name == "job" && b.file != "prometheus-overview.json" {
				if !v.IncludeAll || !slices.Contains(plugin.AllJobs, v.AllValue) || v.Multi {
					t.Errorf("%s: the job variable must be single-valued with All = one of %v (every job), got all %v %q multi %v",
						b.file, plugin.AllJobs, v.IncludeAll, v.AllValue, v.Multi)
				}
			}
		}
	}
}

// dashLink finds links to dashboards by uid.
var dashLink = regexp.MustCompile(`/d/([A-Za-z0-9_-]+)`)

// TestDashboardLinks checks the links between the dashboards and plugin.json's includes.
func TestDashboardLinks(t *testing.T) {
	uids := map[string]bool{}
	for _, u := range files {
		uids[u] = true
	}
	for _, b := range loadBoards(t) {
		if !slices.Contains(b.raw.Tags, "provisiond") {
			t.Errorf("%s: no provisiond tag (the dashboard links find each other by it)", b.file)
		}
		ok := false
		for _, l := range b.raw.Links {
			ok = ok || (l.Type == "dashboards" && slices.Contains(l.Tags, "provisiond") && l.IncludeVars && l.KeepTime)
		}
		if !ok {
			t.Errorf("%s: no link to the other provisiond dashboards", b.file)
		}
		for _, m := range dashLink.FindAllStringSubmatch(b.text, -1) {
			if !uids[m[1]] {
				t.Errorf("%s links to an unknown dashboard %s", b.file, m[1])
			}
		}
	}
	// plugin.json includes exactly these dashboards.
	raw, err := os.ReadFile(filepath.Join("..", "datasource", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Includes []struct{ Type, Path string }
	}
	if err := json.Unmarshal(raw, &pj); err != nil {
		t.Fatal(err)
	}
	var included []string
	for _, inc := range pj.Includes {
		if inc.Type == "dashboard" {
			included = append(included, strings.TrimPrefix(inc.Path, "dashboards/"))
		}
	}
	sort.Strings(included)
	var have []string
	for f := range files {
		have = append(have, f)
	}
	sort.Strings(have)
	if !slices.Equal(included, have) {
		t.Errorf("plugin.json includes %v, dashboards/ has %v", included, have)
	}
}
