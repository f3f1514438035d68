package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// The OpenAPI document is checked three ways: it is a valid OpenAPI 3.0 document; its
// operations are exactly the server's routes, with exactly the query parameters each
// handler accepts; and real answers (every route, errors included, and every golden
// response) validate against its schemas, which forbid undocumented fields.

// spec is the loaded document with a router finding an operation for a request.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t testing.TB) *spec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.json is not a valid OpenAPI document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &spec{doc: doc, router: router}
}

// check validates an exchange against the document: the request when validRequest, and
// the answer always (status, headers, content type and body; NDJSON line by line).
func (s *spec) check(method, pathAndQuery, token, body string, validRequest bool, r response) error {
	req, err := http.NewRequest(method, s.doc.Servers[0].URL+pathAndQuery, strings.NewReader(body))
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	route, pathParams, err := s.router.FindRoute(req)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if validRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return err
		}
	}
	ndjson := strings.HasPrefix(r.header.Get("Content-Type"), "application/x-ndjson")
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: ndjson, MultiError: true}}
	out.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if ndjson {
		schema := s.doc.Components.Schemas["Event"].Value
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return err
			}
			if err := schema.VisitJSON(v, openapi3.MultiErrors()); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if s.doc.OpenAPI != "3.0.3" || s.doc.Info.Version != api.APIVersion {
		t.Errorf("openapi %s, info.version %s (want the API version %s)", s.doc.OpenAPI, s.doc.Info.Version, api.APIVersion)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := api.New(api.Options{Store: st, Engine: provisioning.New(provisioning.Options{Store: st}),
		ReaderToken: "r", AdminToken: "a", Metrics: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	// Every route is documented, and every documented operation is a route.
	var documented []string
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			secured := op.Security == nil || len(*op.Security) > 0
			if secured && op.Responses.Status(401) == nil {
				t.Errorf("%s %s: no 401 response", method, path)
			}
			if op.Responses.Status(200) == nil && op.Responses.Status(202) == nil && op.Responses.Status(204) == nil {
				t.Errorf("%s %s: no success response", method, path)
			}
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s: no operationId or summary", method, path)
			}
		}
	}
	slices.Sort(documented)
	routes := srv.Routes()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in api/openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("api/openapi.json documents %s, which is not a route", d)
		}
	}
	// Each GET operation documents exactly the query parameters its handler accepts: an
	// unknown parameter's 400 lists them.
	h := srv.Handler()
	for path, item := range s.doc.Paths.Map() {
		op := item.Get
		if op == nil || !strings.HasPrefix(path, "/api/") {
			continue
		}
		var want []string
		for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
			if p.Value.In == "query" {
				want = append(want, p.Value.Name)
			}
		}
		u := strings.NewReplacer("{id}", "x", "{cycleId}", "y").Replace(path) + "?zzz=1"
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer r")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code, msg := response{rec.Code, rec.Header(), rec.Body.Bytes()}.errorBody(t)
		_, accepted, ok := strings.Cut(msg, " accepts ")
		if rec.Code != 400 || code != "BadRequest" || !ok {
			t.Errorf("GET %s: %d %s %q", u, rec.Code, code, msg)
			continue
		}
		var got []string
		if accepted != "none" {
			got = strings.Split(accepted, ", ")
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("GET %s: the handler accepts %v, the document lists %v", path, got, want)
		}
	}
	// The check is strict: an undocumented field, a missing required field, a value
	// outside an enum or a wrong type fails it.
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, bad := range []struct{ path, body string }{
		{"/healthz", `{"status":"ok","version":"x","apiVersion":"1.0","extra":1}`},
		{"/healthz", `{"status":"ok","version":"x"}`},
		{"/healthz", `{"status":"fine","version":"x","apiVersion":"1.0"}`},
		{"/api/v1/provisioningLogs", `{"value":[{"id":1}]}`},
		{"/api/v1/stats/summary", `{"total":1,"byStatus":{},"byAction":{},"byIdentityType":{},"successRate":"high"}`},
	} {
		if err := s.check("GET", bad.path, "r", "", true, response{200, jsonHeader, []byte(bad.body)}); err == nil {
			t.Errorf("GET %s answering %s passes the check", bad.path, bad.body)
		}
	}
	// The served document is the embedded one.
	req, _ := http.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer r")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Header())
	}
}

// TestOpenAPIConformance validates real answers of every route, and of errors, against
// the document.
func TestOpenAPIConformance(t *testing.T) {
	s := loadSpec(t)
	st := apitest.Start(t, apitest.Options{Users: 60, Groups: 4, ErrorRate: 0.05})
	st.Churn(t, "demo")
	st.Quarantine(t, "sales")
	ctx := context.Background()
	evs, err := st.Store.QueryEvents(ctx, provisioning.EventQuery{Action: provisioning.ActionCreate, Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no create event: %v", err)
	}
	ev := evs[0]
	cycles, _ := st.Store.ListCycles(ctx, "demo", 1)
	var cursor string
	{
		r := get(t, st.URL, "/api/v1/provisioningLogs", vals("limit", "2"), apitest.ReaderToken)
		var p struct{ NextCursor string }
		_ = json.Unmarshal(r.body, &p)
		cursor = p.NextCursor
	}
	reader, admin := apitest.ReaderToken, apitest.AdminToken
	cases := []struct {
		method, path, token string
		status              int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/api/v1/openapi.json", reader, 200},
		{"GET", "/api/v1/jobs", reader, 200},
		{"GET", "/api/v1/jobs/demo", reader, 200},
		{"GET", "/api/v1/jobs/sales", reader, 200},
		{"GET", "/api/v1/jobs/sales/status", reader, 200},
		{"GET", "/api/v1/jobs/nope", reader, 404},
		{"GET", "/api/v1/provisioningLogs", reader, 200},
		{"GET", "/api/v1/provisioningLogs?limit=2&cursor=" + cursor, reader, 200},
		{"GET", "/api/v1/provisioningLogs?jobId=demo&identity=E0000&identityMatch=prefix&identityType=User&action=create&status=success&order=asc&limit=1000", reader, 200},
		{"GET", "/api/v1/provisioningLogs?status=failure&errorCode=EntryConflict", reader, 200},
		{"GET", "/api/v1/provisioningLogs?since=1h&format=ndjson", reader, 200},
		{"GET", "/api/v1/provisioningLogs?from=2020-01-01T00:00:00Z&to=2999-01-01T00:00:00Z&format=csv&table=steps&limit=10", reader, 200},
		{"GET", "/api/v1/provisioningLogs?format=csv&table=modifiedProperties", reader, 200},
		{"GET", "/api/v1/provisioningLogs?format=csv", reader, 200},
		{"GET", "/api/v1/provisioningLogs?status=bogus", reader, 400},
		{"GET", "/api/v1/provisioningLogs?cursor=bogus", reader, 400},
		{"GET", "/api/v1/provisioningLogs", "", 401},
		{"GET", "/api/v1/provisioningLogs/" + ev.ID, reader, 200},
		{"GET", "/api/v1/provisioningLogs/nope", reader, 404},
		{"GET", "/api/v1/provisioningLogs/" + ev.ID + "/trace", reader, 200},
		{"GET", "/api/v1/identities?query=E0000&limit=100", reader, 200},
		{"GET", "/api/v1/identities", reader, 200},
		{"GET", "/api/v1/identities/E000005/history?limit=1", reader, 200},
		{"GET", "/api/v1/jobs/demo/cycles", reader, 200},
		{"GET", "/api/v1/jobs/sales/cycles?limit=1", reader, 200},
		{"GET", "/api/v1/jobs/nope/cycles", reader, 404},
		{"GET", "/api/v1/jobs/demo/cycles/" + cycles[0].CycleID, reader, 200},
		{"GET", "/api/v1/jobs/demo/cycles/nope", reader, 404},
		{"GET", "/api/v1/jobs/sales/history", reader, 200},
		{"GET", "/api/v1/jobs/nope/history", reader, 404},
		{"GET", "/api/v1/audit", reader, 200},
		{"GET", "/api/v1/stats/events?groupBy=action,status,errorCode,jobId,identityType&interval=5m&since=2h", reader, 200},
		{"GET", "/api/v1/stats/events?interval=30s", reader, 400},
		{"GET", "/api/v1/stats/topErrors?limit=3", reader, 200},
		{"GET", "/api/v1/stats/summary?jobId=demo", reader, 200},
		{"POST", "/api/v1/jobs/demo/pause", reader, 403},
		{"POST", "/api/v1/jobs/demo/pause", admin, 204},
		{"POST", "/api/v1/jobs/demo/syncNow", admin, 409},
		{"POST", "/api/v1/jobs/demo/start", admin, 204},
		{"POST", "/api/v1/jobs/demo/provisionOnDemand", admin, 200},
		{"POST", "/api/v1/jobs/demo/restart", admin, 204},
		{"POST", "/api/v1/jobs/nope/restart", admin, 404},
		{"GET", "/api/v1/audit?jobId=demo&limit=5", reader, 200},
	}
	for _, c := range cases {
		var r response
		body := ""
		if c.method == "GET" {
			r = getRaw(t, st.URL+c.path, c.token)
		} else {
			switch {
			case strings.HasSuffix(c.path, "provisionOnDemand"):
				body = `{"objectType":"User","sourceId":"E000007"}`
			case strings.HasSuffix(c.path, "demo/restart"):
				body = `{"criteria":{"resetScope":"Escrows"}}`
			}
			r = post(t, st.URL+c.path, c.token, body)
		}
		if r.status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.status, short(string(r.body)))
			continue
		}
		if err := s.check(c.method, c.path, c.token, body, c.status < 300, r); err != nil {
			t.Errorf("%s %s (%d) does not conform to api/openapi.json: %v", c.method, c.path, r.status, short(err.Error()))
		}
	}
}

func post(t testing.TB, u, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}
