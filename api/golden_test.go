package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/provisioning"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current answers")

// TestGolden compares answers of a real stack with testdata/golden, after validating each
// against the OpenAPI document. Volatile values are normalised: UUIDs and trace and span
// ids become numbered placeholders (so equal ids stay visibly equal), times become
// <time>, durations <ms>, cursors <cursor>. The stack has no injected faults, so its
// data, and so every normalised answer, is the same on every run.
func TestGolden(t *testing.T) {
	s := loadSpec(t)
	st := apitest.Start(t, apitest.Options{Users: 150, Groups: 6, Seed: 7})
	st.Churn(t, "demo")
	st.Quarantine(t, "sales")
	ctx := context.Background()
	if _, err := st.Engine.ProvisionOnDemand(ctx, "demo", provisioning.OnDemandRequest{ObjectType: "User", SourceID: "E000003"}, "admin-token"); err != nil {
		t.Fatal(err)
	}
	if err := st.Engine.Pause(ctx, "demo", "admin-token"); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Store.QueryEvents(ctx, provisioning.EventQuery{JobID: "demo", Identity: "E000003", Action: provisioning.ActionCreate, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("the create event of E000003: %v %d", err, len(evs))
	}
	created := evs[0]
	cycles, err := st.Store.ListCycles(ctx, "demo", 0)
	if err != nil || len(cycles) < 2 {
		t.Fatalf("cycles: %v", err)
	}
	initial := cycles[len(cycles)-1].CycleID
	page := "/api/v1/provisioningLogs?" + url.Values{"identity": {"E000003"}, "jobId": {"demo"}, "limit": {"1"}}.Encode()
	cursor := nextCursor(t, get(t, st.URL, page[:strings.IndexByte(page, '?')], mustQuery(page), apitest.ReaderToken))

	cases := []struct {
		name, path string
		token      string
		// post rewrites the decoded answer before normalisation (order or choose what
		// concurrency leaves open).
		post func(any) any
	}{
		{"healthz", "/healthz", "", nil},
		{"logs_identity", "/api/v1/provisioningLogs?identity=E000003&jobId=demo", apitest.ReaderToken, nil},
		{"logs_identity_page1", page, apitest.ReaderToken, nil},
		{"logs_identity_page2", page + "&cursor=" + cursor, apitest.ReaderToken, nil},
		{"logs_prefix_asc", "/api/v1/provisioningLogs?identity=mary%20n&identityMatch=prefix&order=asc", apitest.ReaderToken, sortValue("sourceIdentity.id")},
		{"logs_failures", "/api/v1/provisioningLogs?status=failure&jobId=demo", apitest.ReaderToken, sortValue("sourceIdentity.id", "changeId")},
		{"logs_ndjson", "/api/v1/provisioningLogs?identity=E000003&format=ndjson&order=asc", apitest.ReaderToken, nil},
		{"logs_csv_events", "/api/v1/provisioningLogs?identity=E000003&jobId=demo&format=csv", apitest.ReaderToken, nil},
		{"logs_csv_steps", "/api/v1/provisioningLogs?identity=E000003&jobId=demo&format=csv&table=steps", apitest.ReaderToken, nil},
		{"logs_csv_modified", "/api/v1/provisioningLogs?identity=E000003&jobId=demo&format=csv&table=modifiedProperties", apitest.ReaderToken, nil},
		{"event", "/api/v1/provisioningLogs/" + created.ID, apitest.ReaderToken, nil},
		{"trace", "/api/v1/provisioningLogs/" + created.ID + "/trace", apitest.ReaderToken, nil},
		{"identities", "/api/v1/identities?query=E00000", apitest.ReaderToken, sortValue("jobId", "id")},
		{"identities_exact", "/api/v1/identities?query=E000003", apitest.ReaderToken, nil},
		{"identity_history", "/api/v1/identities/E000003/history", apitest.ReaderToken, nil},
		{"cycles", "/api/v1/jobs/demo/cycles", apitest.ReaderToken, nil},
		{"cycle", "/api/v1/jobs/demo/cycles/" + initial, apitest.ReaderToken, nil},
		{"job_history", "/api/v1/jobs/sales/history", apitest.ReaderToken, nil},
		{"audit", "/api/v1/audit", apitest.ReaderToken, nil},
		{"stats_events", "/api/v1/stats/events?groupBy=action,status&since=2h&interval=1h", apitest.ReaderToken, mergeBuckets},
		{"stats_events_jobs", "/api/v1/stats/events?groupBy=jobId,identityType&status=success&since=2h", apitest.ReaderToken, mergeBuckets},
		{"stats_top_errors", "/api/v1/stats/topErrors", apitest.ReaderToken, topErrorsStable},
		{"stats_summary", "/api/v1/stats/summary", apitest.ReaderToken, nil},
		{"stats_summary_job", "/api/v1/stats/summary?jobId=sales", apitest.ReaderToken, nil},
		{"error_unknown_parameter", "/api/v1/provisioningLogs?statuss=failure", apitest.ReaderToken, nil},
		{"error_bad_enum", "/api/v1/provisioningLogs?action=Create", apitest.ReaderToken, nil},
		{"error_cursor", "/api/v1/provisioningLogs?jobId=sales&limit=1&cursor=" + cursor, apitest.ReaderToken, nil},
		{"error_interval", "/api/v1/stats/events?interval=90s", apitest.ReaderToken, nil},
		{"error_unauthorized", "/api/v1/provisioningLogs", "", nil},
		{"error_job_not_found", "/api/v1/jobs/nope/cycles", apitest.ReaderToken, nil},
		{"error_event_not_found", "/api/v1/provisioningLogs/nope", apitest.ReaderToken, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := getRaw(t, st.URL+c.path, c.token)
			if err := s.check("GET", c.path, c.token, "", r.status < 300, r); err != nil {
				t.Errorf("the answer does not conform to api/openapi.json: %v", err)
			}
			var got []byte
			ext := ".json"
			switch ct := r.header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "text/csv"):
				got, ext = normaliseCSV(t, r.body), ".csv"
			case strings.HasPrefix(ct, "application/x-ndjson"):
				var lines []any
				for _, l := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
					var v any
					if err := json.Unmarshal(l, &v); err != nil {
						t.Fatal(err)
					}
					lines = append(lines, v)
				}
				got = normaliseJSON(t, r.status, lines, c.post)
			default:
				var v any
				if err := json.Unmarshal(r.body, &v); err != nil {
					t.Fatalf("not JSON: %s", r.body)
				}
				got = normaliseJSON(t, r.status, v, c.post)
			}
			file := filepath.Join("testdata", "golden", c.name+ext)
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./api -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test ./api -run TestGolden -update rewrites it):\n%s", c.path, file, diffLines(string(want), string(got)))
			}
		})
	}
}

func mustQuery(pathAndQuery string) url.Values {
	_, q, _ := strings.Cut(pathAndQuery, "?")
	v, err := url.ParseQuery(q)
	if err != nil {
		panic(err)
	}
	return v
}

func nextCursor(t *testing.T, r response) string {
	t.Helper()
	var p struct{ NextCursor string }
	if err := json.Unmarshal(r.body, &p); err != nil || p.NextCursor == "" {
		t.Fatalf("no nextCursor: %d %s", r.status, r.body)
	}
	return p.NextCursor
}

var (
	uuidRE  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	hexIDRE = regexp.MustCompile(`\b(?:[0-9a-f]{32}|[0-9a-f]{16})\b`)
	timeRE  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`)
	// durationKeys hold measured durations.
	durationKeys = map[string]bool{"durationInMilliseconds": true, "objectsPerSecond": true}
	// msRE finds durations inside text ("took 1.25ms").
	msRE = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:ms|µs|s)\b`)
)

// normaliser replaces volatile values with placeholders, numbering ids in order of first
// appearance.
type normaliser struct {
	ids map[string]string
}

func (n *normaliser) str(s string) string {
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string { return n.id("uuid", id) })
	s = hexIDRE.ReplaceAllStringFunc(s, func(id string) string {
		if len(id) == 32 {
			return n.id("trace", id)
		}
		return n.id("span", id)
	})
	s = timeRE.ReplaceAllString(s, "<time>")
	return msRE.ReplaceAllString(s, "<ms>")
}

func (n *normaliser) id(kind, id string) string {
	if p, ok := n.ids[id]; ok {
		return p
	}
	count := 0
	for _, p := range n.ids {
		if strings.HasPrefix(p, "<"+kind+"-") {
			count++
		}
	}
	p := fmt.Sprintf("<%s-%d>", kind, count+1)
	n.ids[id] = p
	return p
}

func (n *normaliser) walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // number ids in a stable order
		out := make(map[string]any, len(x))
		for _, k := range keys {
			switch {
			case durationKeys[k]:
				out[k] = "<ms>"
			case k == "nextCursor":
				out[k] = "<cursor>"
			default:
				out[n.str(k)] = n.walk(x[k])
			}
		}
		return out
	case []any:
		for i := range x {
			x[i] = n.walk(x[i])
		}
		return x
	case string:
		return n.str(x)
	}
	return v
}

func normaliseJSON(t *testing.T, status int, v any, post func(any) any) []byte {
	t.Helper()
	if post != nil {
		v = post(v)
	}
	n := &normaliser{ids: map[string]string{}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"status": status, "body": n.walk(v)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func normaliseCSV(t *testing.T, body []byte) []byte {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	n := &normaliser{ids: map[string]string{}}
	for i, row := range rows {
		for j := range row {
			if i > 0 && durationKeys[rows[0][j]] {
				row[j] = "<ms>"
				continue
			}
			row[j] = n.str(row[j])
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows)
	return b.Bytes()
}

// sortValue orders the "value" list of a page by the given dotted paths, for answers whose
// order among equal timestamps depends on concurrency.
func sortValue(paths ...string) func(any) any {
	return func(v any) any {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		list, _ := m["value"].([]any)
		slices.SortStableFunc(list, func(a, b any) int {
			for _, p := range paths {
				if c := strings.Compare(fmt.Sprint(lookup(a, p)), fmt.Sprint(lookup(b, p))); c != 0 {
					return c
				}
			}
			return 0
		})
		if _, ok := m["nextCursor"]; ok {
			m["nextCursor"] = "<cursor>"
		}
		return m
	}
}

func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// mergeBuckets sums the counts of equal labels across buckets: which minute, hour or day
// the stack's events fall in depends on when the test runs.
func mergeBuckets(v any) any {
	m := v.(map[string]any)
	list, _ := m["value"].([]any)
	sums := map[string]float64{}
	labels := map[string]any{}
	for _, b := range list {
		bm := b.(map[string]any)
		k, _ := json.Marshal(bm["labels"])
		sums[string(k)] += bm["count"].(float64)
		labels[string(k)] = bm["labels"]
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	merged := []any{}
	for _, k := range keys {
		merged = append(merged, map[string]any{"time": "<time>", "labels": labels[k], "count": sums[k]})
	}
	m["value"] = merged
	return m
}

// topErrorsStable orders error codes by count then code and keeps of each sample what
// does not depend on which failure came last.
func topErrorsStable(v any) any {
	m := v.(map[string]any)
	list, _ := m["value"].([]any)
	for _, e := range list {
		em := e.(map[string]any)
		s := em["sample"].(map[string]any)
		em["sample"] = map[string]any{"jobId": s["jobId"], "status": s["status"], "errorInformation": map[string]any{
			"errorCode": lookup(s, "errorInformation.errorCode"), "errorCategory": lookup(s, "errorInformation.errorCategory")}}
	}
	slices.SortStableFunc(list, func(a, b any) int {
		am, bm := a.(map[string]any), b.(map[string]any)
		return cmp.Or(cmp.Compare(bm["count"].(float64), am["count"].(float64)),
			strings.Compare(am["errorCode"].(string), bm["errorCode"].(string)))
	})
	return m
}

// diffLines shows the first differing lines.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
