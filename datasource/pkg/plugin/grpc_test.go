package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/provisiond/provisiond/api/apitest"
)

// freeAddr is a loopback address with a free port (datasourcetest dials the address it
// is given, so ":0" does not do).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resources collects a CallResource answer.
type resources struct {
	mu     sync.Mutex
	status int
	body   []byte
}

func (r *resources) Send(resp *backend.CallResourceResponse) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if resp.Status != 0 {
		r.status = resp.Status
	}
	r.body = append(r.body, resp.Body...)
	return nil
}

func callResource(t *testing.T, c *datasourcetest.TestPluginClient, pc backend.PluginContext, path string) (int, []byte) {
	t.Helper()
	var r resources
	u, q, _ := strings.Cut(path, "?")
	req := &backend.CallResourceRequest{PluginContext: pc, Path: u, Method: http.MethodGet, URL: path}
	_ = q
	if err := c.CallResource(context.Background(), req, &r); err != nil {
		t.Fatalf("CallResource %s: %v", path, err)
	}
	return r.status, r.body
}

// TestGRPC drives the datasource through the SDK's gRPC server and a plugin client
// (experimental/datasourcetest): CheckHealth, CallResource, QueryData of every query type
// in one request, and the instance rebuilt when the settings change.
func TestGRPC(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 60, Groups: 4})
	// The SDK's server registers its metrics with Prometheus' default registry, once per
	// process; a fresh registry lets the test run again (-count).
	prometheus.DefaultRegisterer = prometheus.NewRegistry()
	tp, err := datasourcetest.Manage(NewInstance, datasourcetest.ManageOpts{Address: freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown() })
	ctx := context.Background()
	settings := settingsFor(s.URL, apitest.ReaderToken)
	pc := backend.PluginContext{OrgID: 1, PluginID: ID, DataSourceInstanceSettings: &settings}

	h, err := tp.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pc})
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != backend.HealthStatusOk || !strings.Contains(h.Message, "2 job(s)") {
		t.Fatalf("health: %s %s", h.Status, h.Message)
	}

	status, body := callResource(t, tp.Client, pc, "jobs")
	var jobs []JobResource
	if status != 200 || json.Unmarshal(body, &jobs) != nil || len(jobs) != 2 || jobs[0].ID != "demo" || jobs[0].Name == "" {
		t.Fatalf("GET jobs: %d %s", status, body)
	}
	status, body = callResource(t, tp.Client, pc, "identities?query=E00000&jobId=demo&limit=5")
	var ids []IdentityResource
	if status != 200 || json.Unmarshal(body, &ids) != nil || len(ids) != 5 {
		t.Fatalf("GET identities: %d %s", status, body)
	}
	for _, id := range ids {
		if id.JobID != "demo" || id.IdentityType != "User" || !strings.HasPrefix(id.Value, "E00000") || !strings.HasSuffix(id.Label, "("+id.Value+")") {
			t.Fatalf("identity %+v", id)
		}
	}
	if status, body = callResource(t, tp.Client, pc, "identities?limit=0"); status != 400 || !strings.Contains(string(body), "limit") {
		t.Fatalf("GET identities?limit=0: %d %s", status, body)
	}
	if status, body = callResource(t, tp.Client, pc, "users"); status != 404 || !strings.Contains(string(body), "GET jobs") {
		t.Fatalf("GET users: %d %s", status, body)
	}

	// Every query type in one request, as a dashboard sends them.
	now := time.Now()
	raws := map[string]string{
		TypeStatus: `{}`, TypeQuarantine: `{}`, TypeProgress: `{}`, TypeEventCounts: `{"groupBy":["status"]}`,
		TypeEvents: `{"limit":20}`, TypeTopErrors: `{}`, TypeCycles: `{"jobId":"demo"}`,
		TypeUserPath: `{"identity":"E000001","jobId":"demo"}`, TypeHistory: `{"identity":"E000001"}`, TypeJobs: `{}`,
		TypeIdentities: `{"query":"E0000"}`, TypeStatusChanges: `{}`, TypeStatusTimeline: `{}`,
		TypeProperties: `{"identity":"E000001"}`,
	}
	req := &backend.QueryDataRequest{PluginContext: pc}
	for _, qt := range QueryTypes {
		var m map[string]any
		_ = json.Unmarshal([]byte(raws[qt]), &m)
		m["queryType"] = qt
		raw, _ := json.Marshal(m)
		req.Queries = append(req.Queries, dataQuery(qt, string(raw), now))
	}
	req.Queries = append(req.Queries, dataQuery("bad", `{"queryType":"events","status":"lost"}`, now))
	resp, err := tp.Client.QueryData(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, dq := range req.Queries[:len(QueryTypes)] {
		r := resp.Responses[dq.RefID]
		if r.Error != nil || len(r.Frames) == 0 {
			t.Fatalf("%s: %v (%d frames)", dq.RefID, r.Error, len(r.Frames))
		}
		q, _ := ParseQuery(dq)
		checkShape(t, dq.RefID, q, r.Frames)
		for _, f := range r.Frames {
			if f.RefID != dq.RefID {
				t.Fatalf("%s: frame refId %q", dq.RefID, f.RefID)
			}
		}
	}
	if r := resp.Responses["bad"]; r.Error == nil || r.Status != backend.StatusBadRequest || !strings.Contains(r.Error.Error(), `"status"`) {
		t.Fatalf("invalid query: %s %v", r.Status, r.Error)
	}

	// The instance is cached per datasource and rebuilt when Grafana reports new settings.
	changed := settingsFor(s.URL, "revoked-token")
	pcSame := backend.PluginContext{OrgID: 1, PluginID: ID, DataSourceInstanceSettings: &changed}
	if h, _ := tp.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pcSame}); h.Status != backend.HealthStatusOk {
		t.Fatalf("same Updated time: the cached instance should answer: %s", h.Message)
	}
	changed.Updated = changed.Updated.Add(time.Minute)
	h, err = tp.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pcSame})
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != backend.HealthStatusError || !strings.Contains(h.Message, "HTTP 401") || strings.Contains(h.Message, "revoked-token") {
		t.Fatalf("after the token changed: %s %s", h.Status, h.Message)
	}
}

// TestCheckHealth covers every CheckHealth message against the stack and small servers
// that answer as other provisiond versions would.
func TestCheckHealth(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 20, Groups: 2})
	fake := func(healthz string, jobsStatus int) string {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, healthz) })
		mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(jobsStatus)
			fmt.Fprint(w, `{"error":{"code":"Forbidden","message":"no"},"value":[]}`)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String()
	}
	closed := "http://" + freeAddr(t)
	tests := []struct {
		name, url, token string
		ok               bool
		want             []string
		// queryFails: queries fail too (settings, connection and token problems; queries
		// do not check the API version, which would cost a call per query).
		queryFails bool
	}{
		{"ok", s.URL, apitest.ReaderToken, true, []string{"Connected to provisiond test (API 1.0)", s.URL, "2 job(s)"}, false},
		{"admin token", s.URL, apitest.AdminToken, true, []string{"Connected"}, false},
		{"no url", "", "tok", false, []string{"API URL is not set"}, true},
		{"no token", s.URL, "", false, []string{"API token is not set"}, true},
		{"bad url", "ftp://x", "tok", false, []string{"settings are invalid", "ftp://x"}, true},
		{"unreachable", closed, "tok", false, []string{"Cannot reach the provisiond API at " + closed, "connection refused"}, true},
		{"wrong token", s.URL, "wrong-token", false, []string{"rejected the API token (HTTP 401)", s.URL}, true},
		{"forbidden", fake(`{"status":"ok","version":"9","apiVersion":"1.3"}`, 403), "tok", false, []string{"HTTP 403"}, true},
		{"new major", fake(`{"status":"ok","version":"2.0.0","apiVersion":"2.0"}`, 200), "tok", false, []string{"API version 2.0", "needs API 1.x"}, false},
		{"no api version", fake(`{"status":"ok","version":"0.1"}`, 200), "tok", false, []string{"does not report an API version"}, false},
		{"not provisiond", fake(`<html>`, 200), "tok", false, []string{"other than provisiond's health JSON"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDatasource(t, tt.url, tt.token)
			h, err := d.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if (h.Status == backend.HealthStatusOk) != tt.ok {
				t.Fatalf("status %s: %s", h.Status, h.Message)
			}
			for _, w := range tt.want {
				if !strings.Contains(h.Message, w) {
					t.Errorf("message %q lacks %q", h.Message, w)
				}
			}
			if tt.token != "" && len(tt.token) > 3 && strings.Contains(h.Message, tt.token) {
				t.Errorf("message shows the token: %s", h.Message)
			}
			if tt.queryFails {
				r := query(t, d, dataQuery("A", `{"queryType":"status"}`, time.Now()))
				if r.Error == nil || len(tt.token) > 3 && strings.Contains(r.Error.Error(), tt.token) {
					t.Errorf("query error %v", r.Error)
				}
			}
		})
	}
}

// TestDispose: a disposed instance closes its idle connections; Grafana no longer uses it,
// but a late call still works.
func TestDispose(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 10, Groups: 1})
	d := newDatasource(t, s.URL, apitest.ReaderToken)
	if r := query(t, d, dataQuery("A", `{"queryType":"jobs"}`, time.Now())); r.Error != nil {
		t.Fatal(r.Error)
	}
	d.Dispose()
	if r := query(t, d, dataQuery("A", `{"queryType":"jobs"}`, time.Now())); r.Error != nil {
		t.Fatal(r.Error)
	}
}
