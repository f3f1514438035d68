package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

const (
	readerTok = "reader-secret-1"
	adminTok  = "admin-secret-2"
)

func newServer(t *testing.T) (*httptest.Server, *provisioning.Engine) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src, tgt := memory.NewSource(), memory.NewTarget()
	src.Put(connectors.Object{Type: connectors.TypeUser, ID: "E1", Attributes: connectors.Attributes{"userName": "ada@example.com", "displayName": "Ada"}})
	eng := provisioning.New(provisioning.Options{Store: st})
	job := provisioning.Job{ID: "j1", Name: "Job one", SourceSystem: "HR", TargetSystem: "App",
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "displayName", Target: "displayName"},
		}}}
	if err := eng.AddJob(ctx, job, src, tgt); err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Engine: eng, Store: st, ReaderToken: readerTok, AdminToken: adminTok, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, eng
}

func do(t *testing.T, ts *httptest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
	}
	return resp.StatusCode, m
}

func TestAuthAndErrors(t *testing.T) {
	ts, _ := newServer(t)
	cases := []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"GET", "/api/v1/jobs", "", "", 401, "Unauthorized"},
		{"GET", "/api/v1/jobs", "wrong", "", 401, "Unauthorized"},
		{"GET", "/api/v1/jobs", readerTok, "", 200, ""},
		{"GET", "/api/v1/jobs/j1", readerTok, "", 200, ""},
		{"GET", "/api/v1/jobs/j1/status", readerTok, "", 200, ""},
		{"GET", "/api/v1/jobs/nope", readerTok, "", 404, "JobNotFound"},
		{"GET", "/api/v1/jobs/nope/status", adminTok, "", 404, "JobNotFound"},
		{"POST", "/api/v1/jobs/j1/pause", readerTok, "", 403, "Forbidden"},
		{"POST", "/api/v1/jobs/j1/start", readerTok, "", 403, "Forbidden"},
		{"POST", "/api/v1/jobs/j1/restart", readerTok, "", 403, "Forbidden"},
		{"POST", "/api/v1/jobs/j1/provisionOnDemand", readerTok, `{"sourceId":"E1"}`, 403, "Forbidden"},
		{"POST", "/api/v1/jobs/j1/restart", adminTok, `{"criteria":{"resetScope":"Bogus"}}`, 400, "BadRequest"},
		{"POST", "/api/v1/jobs/j1/restart", adminTok, `{"criteria":{"resetScop":"Escrows"}}`, 400, "BadRequest"},
		{"POST", "/api/v1/jobs/j1/restart", adminTok, `{"criteria":`, 400, "BadRequest"},
		{"POST", "/api/v1/jobs/j1/restart", adminTok, `{"criteria":{"resetScope":"Escrows,Watermark"}}`, 204, ""},
		{"POST", "/api/v1/jobs/j1/pause", adminTok, "", 204, ""},
		{"POST", "/api/v1/jobs/j1/start", adminTok, "", 204, ""},
		{"POST", "/api/v1/jobs/j1/provisionOnDemand", adminTok, `{"objectType":"Robot","sourceId":"E1"}`, 400, "BadRequest"},
		{"POST", "/api/v1/jobs/j1/provisionOnDemand", adminTok, `{"sourceId":"nobody"}`, 404, "NotFound"},
		{"POST", "/api/v1/jobs/j1/provisionOnDemand", adminTok, ``, 400, "BadRequest"},
		{"DELETE", "/api/v1/jobs/j1", adminTok, "", 404, "NotFound"},
		{"GET", "/api/v1/nothing", readerTok, "", 404, "NotFound"},
	}
	for _, c := range cases {
		status, body := do(t, ts, c.method, c.path, c.token, c.body)
		if status != c.status {
			t.Errorf("%s %s (%q): status %d, want %d: %v", c.method, c.path, c.body, status, c.status, body)
			continue
		}
		if c.code != "" {
			e, _ := body["error"].(map[string]any)
			if e == nil || e["code"] != c.code || e["message"] == "" {
				t.Errorf("%s %s: error body %v, want code %s", c.method, c.path, body, c.code)
			}
			if msg, _ := e["message"].(string); strings.Contains(msg, readerTok) || strings.Contains(msg, adminTok) {
				t.Errorf("a token leaked into an error: %s", msg)
			}
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	ts, _ := newServer(t)
	if s, _ := do(t, ts, "GET", "/healthz", "", ""); s != 200 {
		t.Errorf("healthz %d", s)
	}
	if s, _ := do(t, ts, "GET", "/readyz", "", ""); s != 200 {
		t.Errorf("readyz %d", s)
	}
}

func TestProvisionOnDemandAndStatus(t *testing.T) {
	ts, _ := newServer(t)
	for _, body := range []string{
		`{"objectType":"User","sourceId":"E1"}`,
		`{"parameters":[{"ruleId":"r","subjects":[{"objectId":"E1","objectTypeName":"user"}]}]}`,
	} {
		status, res := do(t, ts, "POST", "/api/v1/jobs/j1/provisionOnDemand", adminTok, body)
		if status != 200 {
			t.Fatalf("status %d %v", status, res)
		}
		evs := res["events"].([]any)
		ev := evs[len(evs)-1].(map[string]any)
		steps := ev["provisioningSteps"].([]any)
		if ev["sourceIdentity"].(map[string]any)["id"] != "E1" || len(steps) < 4 || ev["initiatedBy"].(map[string]any)["id"] != "admin-token" {
			t.Errorf("event %v", ev)
		}
	}
	status, job := do(t, ts, "GET", "/api/v1/jobs/j1", readerTok, "")
	if status != 200 || job["id"] != "j1" || job["status"].(map[string]any)["code"] == "" {
		t.Errorf("job %d %v", status, job)
	}
	_, list := do(t, ts, "GET", "/api/v1/jobs", readerTok, "")
	if v := list["value"].([]any); len(v) != 1 {
		t.Errorf("jobs %v", list)
	}
}

func TestNewRejectsMissingTokens(t *testing.T) {
	for _, o := range []api.Options{{}, {ReaderToken: "a"}, {ReaderToken: "a", AdminToken: "a"}} {
		if _, err := api.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
