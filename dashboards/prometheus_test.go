package dashboards_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// promMetrics reads the metrics table of docs/telemetry.md (which TestNamesMatchDocs in
// exporter keeps equal to exporter/names.go): each Prometheus name with its instrument
// and its Prometheus label names.
func promMetrics(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "telemetry.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	code := regexp.MustCompile("`([^`]+)`")
	var prev []string
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`provisioning.") {
			continue
		}
		instrument, attrs, prom := strings.TrimSpace(cells[2]), cells[4], code.FindStringSubmatch(cells[5])
		if prom == nil {
			continue
		}
		var labels []string
		if strings.HasPrefix(strings.TrimSpace(attrs), "same") {
			labels = prev
		} else {
			for _, m := range code.FindAllStringSubmatch(attrs, -1) {
				labels = append(labels, strings.ReplaceAll(m[1], ".", "_"))
			}
		}
		prev = labels
		names := []string{prom[1]}
		if strings.Contains(instrument, "histogram") {
			names = []string{prom[1] + "_bucket", prom[1] + "_sum", prom[1] + "_count"}
			labels = append(slices.Clone(labels), "le")
		}
		for _, n := range names {
			out[n] = labels
		}
	}
	if len(out) < 10 {
		t.Fatalf("read %d metrics from docs/telemetry.md", len(out))
	}
	return out
}

var (
	promIdent    = regexp.MustCompile(`\b(provisioning_[a-z_]+)\b`)
	promSelector = regexp.MustCompile(`(provisioning_[a-z_]+)\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-z_]+)\s*(=~|!=|!~|=)`)
	promBy       = regexp.MustCompile(`\bby \(([^)]*)\)`)
	legendLabel  = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)
)

// TestPrometheusDashboard checks that the Prometheus overview queries metrics and labels
// provisiond exports, and that its trace links open the trace id in the Tempo and
// Jaeger datasources of its variables.
func TestPrometheusDashboard(t *testing.T) {
	metrics := promMetrics(t)
	var b board
	for _, x := range loadBoards(t) {
		if x.file == "prometheus-overview.json" {
			b = x
		}
	}
	known := func(label string) bool {
		for _, ls := range metrics {
			if slices.Contains(ls, label) {
				return true
			}
		}
		return label == "le"
	}
	for _, p := range b.raw.Panels {
		for _, tg := range p.Targets {
			expr, _ := tg.Model["expr"].(string)
			if expr == "" {
				t.Errorf("panel %q query %s has no expr", p.Title, tg.RefID)
				continue
			}
			// provisioning_* names are metrics or labels (provisioning_job_id).
			for _, m := range promIdent.FindAllStringSubmatch(expr, -1) {
				if _, ok := metrics[m[1]]; !ok && !known(m[1]) {
					t.Errorf("panel %q: %s is not a metric provisiond exports (docs/telemetry.md)", p.Title, m[1])
				}
			}
			for _, sel := range promSelector.FindAllStringSubmatch(expr, -1) {
				for _, m := range promMatcher.FindAllStringSubmatch(sel[2], -1) {
					if !slices.Contains(metrics[sel[1]], m[1]) {
						t.Errorf("panel %q: %s has no label %s", p.Title, sel[1], m[1])
					}
				}
			}
			for _, by := range promBy.FindAllStringSubmatch(expr, -1) {
				for _, l := range strings.Split(by[1], ",") {
					if l = strings.TrimSpace(l); !known(l) {
						t.Errorf("panel %q groups by %s, which no metric has", p.Title, l)
					}
				}
			}
			legend, _ := tg.Model["legendFormat"].(string)
			for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
				if !known(m[1]) {
					t.Errorf("panel %q: legend label %s is no metric's", p.Title, m[1])
				}
			}
		}
	}
	// The job variable lists the jobs from a metric that has them.
	for _, v := range b.raw.Templating.List {
		if v.Name != "job" {
			continue
		}
		raw, _ := json.Marshal(v.Query)
		if !strings.Contains(string(raw), "label_values(provisioning_job_state_ratio, provisioning_job_id)") {
			t.Errorf("job variable query %s", raw)
		}
	}

	// Exemplar trace ids open in Explore on the tempo and jaeger variables' datasources.
	var links []struct{ Title, URL string }
	var full struct {
		Panels []struct {
			FieldConfig struct {
				Overrides []struct {
					Matcher    struct{ ID, Options string }
					Properties []struct {
						ID    string
						Value json.RawMessage
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(b.text), &full); err != nil {
		t.Fatal(err)
	}
	for _, p := range full.Panels {
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if o.Matcher.Options == "trace_id" && prop.ID == "links" {
					if err := json.Unmarshal(prop.Value, &links); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if len(links) != 2 {
		t.Fatalf("trace_id links: %+v, want Tempo and Jaeger", links)
	}
	for _, l := range links {
		u, err := url.Parse(l.URL)
		if err != nil || u.Path != "/explore" {
			t.Fatalf("link %q: %v", l.URL, err)
		}
		var panes map[string]struct {
			Datasource string `json:"datasource"`
			Queries    []map[string]any
		}
		if err := json.Unmarshal([]byte(u.Query().Get("panes")), &panes); err != nil {
			t.Fatalf("link %s: panes: %v", l.Title, err)
		}
		ds := "${tempo}"
		if strings.Contains(l.Title, "Jaeger") {
			ds = "${jaeger}"
		}
		pane := panes["trace"]
		if pane.Datasource != ds || len(pane.Queries) != 1 || pane.Queries[0]["query"] != "${__value.raw}" {
			t.Errorf("link %s opens %+v, want the trace id in %s", l.Title, pane, ds)
		}
	}
}
