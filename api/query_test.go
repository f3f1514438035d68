package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/storetest"
)

// TestQueryAPI runs the query API's tests against one real stack (see queryStack): every
// endpoint and filter, paging and caps, cursor misuse, bad parameters, auth, injection
// attempts, streaming exports. Expected results come from storetest's reference models
// over every event of the stack.
func TestQueryAPI(t *testing.T) {
	qs := newQueryStack(t)
	all := qs.allEvents(t)
	if len(all) < 300 {
		t.Fatalf("the stack has %d events; want a few hundred", len(all))
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *queryStack, []provisioning.Event)
	}{
		{"logs filters", testLogsFilters},
		{"logs paging and caps", testLogsPaging},
		{"cursor misuse", testCursorMisuse},
		{"bad parameters", testBadParameters},
		{"auth", testAuth},
		{"not found", testNotFound},
		{"injection", testInjection},
		{"event and trace", testEventAndTrace},
		{"identities", testIdentities},
		{"identity history", testIdentityHistory},
		{"cycles", testCycles},
		{"job history and audit", testHistoryAndAudit},
		{"stats", testStats},
		{"streaming ndjson", testStreamNDJSON},
		{"streaming csv", testStreamCSV},
		{"health", testHealth},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, qs, all) })
	}
}

// modelAll is ModelQuery without its page limit.
func modelAll(all []provisioning.Event, q provisioning.EventQuery) []provisioning.Event {
	q.Limit = 10000
	return storetest.ModelQuery(all, q)
}

// pick returns the first event satisfying f.
func pick(t *testing.T, all []provisioning.Event, what string, f func(provisioning.Event) bool) provisioning.Event {
	t.Helper()
	for _, e := range all {
		if f(e) {
			return e
		}
	}
	t.Fatalf("the stack has no %s event", what)
	return provisioning.Event{}
}

func testLogsFilters(t *testing.T, qs *queryStack, all []provisioning.Event) {
	failed := pick(t, all, "failed SCIM", func(e provisioning.Event) bool {
		return e.Status == provisioning.ResultFailure && e.JobID == "demo" && e.CycleID != craftedCycle && e.ErrorInformation != nil
	})
	user := pick(t, all, "user with a target", func(e provisioning.Event) bool {
		return e.JobID == "demo" && e.SourceIdentity.IdentityType == "User" && e.TargetIdentity.ID != "" && e.SourceIdentity.ID == "E000012"
	})
	mid := all[len(all)/2].ActivityDateTime
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	type tc struct {
		name     string
		params   url.Values
		q        provisioning.EventQuery
		nonEmpty bool
	}
	cases := []tc{
		{"none", nil, provisioning.EventQuery{}, true},
		{"jobId", vals("jobId", "sales"), provisioning.EventQuery{JobID: "sales"}, true},
		{"jobId unknown", vals("jobId", "nope"), provisioning.EventQuery{JobID: "nope"}, false},
		{"cycleId", vals("cycleId", failed.CycleID), provisioning.EventQuery{CycleID: failed.CycleID}, true},
		{"changeId", vals("changeId", failed.ChangeID), provisioning.EventQuery{ChangeID: failed.ChangeID}, true},
		{"identity source id", vals("identity", user.SourceIdentity.ID), provisioning.EventQuery{Identity: user.SourceIdentity.ID}, true},
		{"identity target id", vals("identity", user.TargetIdentity.ID), provisioning.EventQuery{Identity: user.TargetIdentity.ID}, true},
		{"identity display name any case", vals("identity", strings.ToUpper(user.SourceIdentity.DisplayName)),
			provisioning.EventQuery{Identity: strings.ToUpper(user.SourceIdentity.DisplayName)}, true},
		{"identity exact explicit", vals("identity", "E00001", "identityMatch", "exact"), provisioning.EventQuery{Identity: "E00001"}, false},
		{"identity prefix", vals("identity", "E00001", "identityMatch", "prefix"), provisioning.EventQuery{Identity: "E00001", IdentityPrefix: true}, true},
		{"identity name prefix", vals("identity", strings.ToLower(user.SourceIdentity.DisplayName[:3]), "identityMatch", "prefix"),
			provisioning.EventQuery{Identity: strings.ToLower(user.SourceIdentity.DisplayName[:3]), IdentityPrefix: true}, true},
		{"errorCode", vals("errorCode", failed.ErrorInformation.ErrorCode), provisioning.EventQuery{ErrorCode: failed.ErrorInformation.ErrorCode}, true},
		{"from", vals("from", rfc(mid)), provisioning.EventQuery{From: mid}, true},
		{"to", vals("to", rfc(mid)), provisioning.EventQuery{To: mid}, true},
		{"from and to", vals("from", rfc(mid.Add(-50*time.Millisecond)), "to", rfc(mid.Add(50*time.Millisecond))),
			provisioning.EventQuery{From: mid.Add(-50 * time.Millisecond), To: mid.Add(50 * time.Millisecond)}, true},
		{"from with offset", vals("from", mid.In(time.FixedZone("x", 5*3600+1800)).Format(time.RFC3339Nano)), provisioning.EventQuery{From: mid}, true},
		{"since a day", vals("since", "24h"), provisioning.EventQuery{}, true},
		{"since 1ns", vals("since", "1ns"), provisioning.EventQuery{From: time.Now().Add(time.Hour)}, false},
		{"order asc", vals("order", "asc"), provisioning.EventQuery{Ascending: true}, true},
		{"order desc", vals("order", "desc"), provisioning.EventQuery{}, true},
		{"combined", vals("jobId", "demo", "status", "success", "action", "create", "identityType", "User", "order", "asc"),
			provisioning.EventQuery{JobID: "demo", Status: provisioning.ResultSuccess, Action: provisioning.ActionCreate, IdentityType: "User", Ascending: true}, true},
		{"prefix and type", vals("identity", "G", "identityMatch", "prefix", "identityType", "Group", "jobId", "demo"),
			provisioning.EventQuery{Identity: "G", IdentityPrefix: true, IdentityType: "Group", JobID: "demo"}, true},
		{"empty values ignored", vals("jobId", "", "status", ""), provisioning.EventQuery{}, true},
	}
	for _, typ := range []string{"User", "Group"} {
		cases = append(cases, tc{"identityType " + typ, vals("identityType", typ), provisioning.EventQuery{IdentityType: typ}, true})
	}
	for _, a := range provisioning.Actions {
		cases = append(cases, tc{"action " + string(a), vals("action", string(a)), provisioning.EventQuery{Action: a},
			a == provisioning.ActionCreate || a == provisioning.ActionUpdate})
	}
	for _, st := range provisioning.Results {
		cases = append(cases, tc{"status " + string(st), vals("status", string(st)), provisioning.EventQuery{Status: st}, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := cloneValues(c.params)
			p.Set("limit", "97")
			got := pages(t, qs.URL, "/api/v1/provisioningLogs", p)
			want := modelAll(all, c.q)
			if c.nonEmpty && len(want) == 0 {
				t.Fatalf("the model selects nothing; the case tests nothing")
			}
			if !slices.Equal(eventIDs(got), eventIDs(want)) {
				t.Fatalf("%d events, want %d\ngot  %v\nwant %v", len(got), len(want), head(eventIDs(got)), head(eventIDs(want)))
			}
		})
	}
	// The client's LogsQuery speaks the same parameters.
	p, err := qs.reader.Logs(context.Background(), client.LogsQuery{JobID: "demo", Identity: "E00001", IdentityPrefix: true,
		Status: "success", Ascending: true, Limit: 1000})
	want := modelAll(all, provisioning.EventQuery{JobID: "demo", Identity: "E00001", IdentityPrefix: true, Status: provisioning.ResultSuccess, Ascending: true})
	if err != nil || !slices.Equal(eventIDs(p.Value), eventIDs(want)) || p.NextCursor != "" {
		t.Errorf("client Logs: %v, %d events, want %d", err, len(p.Value), len(want))
	}
}

func head(ids []string) []string {
	if len(ids) > 8 {
		return append(ids[:8:8], "…")
	}
	return ids
}

func testLogsPaging(t *testing.T, qs *queryStack, all []provisioning.Event) {
	limitOf := func(r response) int {
		n, err := strconv.Atoi(r.header.Get(api.LimitHeader))
		if err != nil {
			t.Fatalf("no %s header: %v", api.LimitHeader, r.header)
		}
		return n
	}
	decode := func(r response) client.Page[provisioning.Event] {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var p client.Page[provisioning.Event]
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		limit       string
		applied, n  int
		wantsCursor bool
	}{
		{"", 100, 100, true},
		{"1", 1, 1, true},
		{"1000", 1000, min(1000, len(all)), len(all) > 1000},
		{"5000", 1000, min(1000, len(all)), len(all) > 1000},
		{"9223372036854775807", 1000, min(1000, len(all)), len(all) > 1000},
		{"99999999999999999999", 1000, min(1000, len(all)), len(all) > 1000},
	} {
		r := get(t, qs.URL, "/api/v1/provisioningLogs", vals("limit", c.limit), apitest.ReaderToken)
		p := decode(r)
		if limitOf(r) != c.applied || len(p.Value) != c.n || (p.NextCursor != "") != c.wantsCursor {
			t.Errorf("limit %q: header %d, %d events, cursor %q; want %d, %d, cursor %v", c.limit, limitOf(r), len(p.Value), p.NextCursor, c.applied, c.n, c.wantsCursor)
		}
	}
	// A page exactly as large as the rest has no cursor: no empty last page.
	demo := modelAll(all, provisioning.EventQuery{JobID: "demo"})
	r := get(t, qs.URL, "/api/v1/provisioningLogs", vals("jobId", "demo", "limit", strconv.Itoa(len(demo))), apitest.ReaderToken)
	if p := decode(r); len(p.Value) != len(demo) || p.NextCursor != "" {
		t.Errorf("a page of all %d demo events: %d events, cursor %q", len(demo), len(p.Value), p.NextCursor)
	}
	// Pages of every size cover every event once, in order, in both orders.
	for _, order := range []string{"desc", "asc"} {
		for _, c := range []struct {
			size int
			q    url.Values
			eq   provisioning.EventQuery
		}{
			{1, vals("jobId", "sales", "identity", "E00000", "identityMatch", "prefix"), provisioning.EventQuery{JobID: "sales", Identity: "E00000", IdentityPrefix: true}},
			{7, vals("jobId", "demo"), provisioning.EventQuery{JobID: "demo"}},
			{250, nil, provisioning.EventQuery{}},
		} {
			q := cloneValues(c.q)
			q.Set("order", order)
			q.Set("limit", strconv.Itoa(c.size))
			c.eq.Ascending = order == "asc"
			got := pages(t, qs.URL, "/api/v1/provisioningLogs", q)
			want := modelAll(all, c.eq)
			if len(want) <= c.size || !slices.Equal(eventIDs(got), eventIDs(want)) {
				t.Errorf("order %s, pages of %d: %d events, want %d (more than a page)", order, c.size, len(got), len(want))
			}
		}
	}
	// Events sharing a timestamp page by id (the stack has 30 at one instant).
	same := modelAll(all, provisioning.EventQuery{JobID: "paging"})
	if len(same) != 30 {
		t.Fatalf("%d events of job paging", len(same))
	}
	for _, order := range []string{"desc", "asc"} {
		got := pages(t, qs.URL, "/api/v1/provisioningLogs", vals("jobId", "paging", "order", order, "limit", "4"))
		want := modelAll(same, provisioning.EventQuery{Ascending: order == "asc"})
		if !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Errorf("equal timestamps, %s: %v, want %v", order, eventIDs(got), eventIDs(want))
		}
	}
}

func testCursorMisuse(t *testing.T, qs *queryStack, all []provisioning.Event) {
	first := func(path string, q url.Values) string {
		r := get(t, qs.URL, path, q, apitest.ReaderToken)
		var p client.Page[provisioning.Event]
		if err := json.Unmarshal(r.body, &p); err != nil || p.NextCursor == "" {
			t.Fatalf("GET %s: no cursor: %d %s", path, r.status, short(string(r.body)))
		}
		return p.NextCursor
	}
	logs := "/api/v1/provisioningLogs"
	base := vals("jobId", "demo", "limit", "5")
	cur := first(logs, base)
	history := "/api/v1/identities/E000005/history"
	hcur := first(history, vals("limit", "1"))
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	with := func(v url.Values, kv ...string) url.Values {
		v = cloneValues(v)
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, c := range []struct {
		name, path string
		q          url.Values
		want       string
	}{
		{"another job", logs, with(base, "jobId", "sales", "cursor", cur), "another query"},
		{"a filter added", logs, with(base, "status", "success", "cursor", cur), "another query"},
		{"another order", logs, with(base, "order", "asc", "cursor", cur), "another query"},
		{"another window", logs, with(base, "since", "2h", "cursor", cur), "another query"},
		{"prefix instead of exact", "/api/v1/provisioningLogs", with(vals("identity", "E000005", "limit", "1"), "identityMatch", "prefix",
			"cursor", first(logs, vals("identity", "E000005", "limit", "1"))), "another query"},
		{"from history to logs", logs, with(base, "cursor", hcur), "another query"},
		{"from logs to history", history, vals("cursor", cur), "another query"},
		{"from one identity to another", "/api/v1/identities/E000006/history", vals("cursor", hcur), "another query"},
		{"tampered start", logs, with(base, "cursor", flip(cur, 3)), "damaged or altered"},
		{"tampered middle", logs, with(base, "cursor", flip(cur, len(cur)/2)), "damaged or altered"},
		{"tampered end", logs, with(base, "cursor", flip(cur, len(cur)-2)), "damaged or altered"},
		{"truncated", logs, with(base, "cursor", cur[:len(cur)-4]), "cursor"},
		{"too short", logs, with(base, "cursor", "AAAA"), "too short"},
		{"not base64url", logs, with(base, "cursor", "not a cursor!"), "not base64url"},
		{"standard base64 padding", logs, with(base, "cursor", cur+"=="), "not base64url"},
		{"huge", logs, with(base, "cursor", strings.Repeat("A", 600)), "too long"},
		{"with ndjson", logs, with(base, "cursor", cur, "format", "ndjson"), "only for format=json"},
		{"with csv", logs, with(base, "cursor", cur, "format", "csv"), "only for format=json"},
	} {
		r := get(t, qs.URL, c.path, c.q, apitest.ReaderToken)
		code, msg := r.errorBody(t)
		if r.status != 400 || code != "BadRequest" || !strings.HasPrefix(msg, "cursor: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %s %q, want 400 \"cursor: …%s…\"", c.name, r.status, code, msg, c.want)
		}
	}
	// Another page size continues the same query.
	if r := get(t, qs.URL, logs, with(base, "limit", "50", "cursor", cur), apitest.ReaderToken); r.status != 200 {
		t.Errorf("another limit with a cursor: %d %s", r.status, r.body)
	}
}

func testBadParameters(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ev := all[0]
	logs := "/api/v1/provisioningLogs"
	cases := []struct {
		path, rawQuery string
		want           []string // substrings of the message (the first names the parameter)
	}{
		{logs, "jobid=demo", []string{`unknown query parameter "jobid"`, "jobId", "cycleId", "format"}},
		{logs, "top=5", []string{`"top"`}},
		{logs, "jobId=demo&jobId=sales", []string{"jobId: given 2 times"}},
		{logs, "action=Create", []string{"action:", `"Create"`, "create, update, delete, disable, stagedDelete, other"}},
		{logs, "status=failed", []string{"status:", "success, warning, failure, skipped"}},
		{logs, "identityType=user", []string{"identityType:", "User, Group"}},
		{logs, "identityMatch=fuzzy", []string{"identityMatch:", "exact, prefix"}},
		{logs, "order=newest", []string{"order:", "desc, asc"}},
		{logs, "format=xml", []string{"format:", "json, ndjson, csv"}},
		{logs, "format=csv&table=users", []string{"table:", "events, steps, modifiedProperties"}},
		{logs, "table=steps", []string{"table: only with format=csv"}},
		{logs, "format=ndjson&table=steps", []string{"table: only with format=csv"}},
		{logs, "from=yesterday", []string{"from:", "RFC 3339"}},
		{logs, "to=2025-01-01", []string{"to:", "RFC 3339"}},
		{logs, "from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", []string{"from:", "after to"}},
		{logs, "since=1d", []string{"since:", "duration"}},
		{logs, "since=-1h", []string{"since:", "positive"}},
		{logs, "since=1h&from=2025-01-01T00:00:00Z", []string{"since:", "not both"}},
		{logs, "limit=-1", []string{"limit:", "at least 1"}},
		{logs, "limit=0", []string{"limit:", "at least 1"}},
		{logs, "limit=ten", []string{"limit:", "whole number"}},
		{logs, "limit=1.5", []string{"limit:"}},
		{logs, "format=ndjson&limit=0", []string{"limit:", "the most events to stream"}},
		{logs, "format=csv&limit=-3", []string{"limit:", "the most events to stream"}},
		{logs, "identity=%FF%FE", []string{"identity:", "UTF-8"}},
		{logs, "identity=" + strings.Repeat("x", 5000), []string{"identity:", "4096"}},
		{logs, "jobId=%zz", []string{"query string:"}},
		{"/api/v1/provisioningLogs/" + ev.ID, "expand=steps", []string{`"expand"`, "accepts none"}},
		{"/api/v1/provisioningLogs/" + ev.ID + "/trace", "x=1", []string{`"x"`}},
		{"/api/v1/identities", "q=E", []string{`"q"`, "query, jobId, limit"}},
		{"/api/v1/identities", "limit=0", []string{"limit:"}},
		{"/api/v1/identities/E000005/history", "order=asc", []string{`"order"`}},
		{"/api/v1/identities/E000005/history", "limit=-5", []string{"limit:"}},
		{"/api/v1/jobs/demo/cycles", "limit=x", []string{"limit:"}},
		{"/api/v1/jobs/demo/cycles", "jobId=demo", []string{`"jobId"`}},
		{"/api/v1/jobs/demo/history", "limit=0", []string{"limit:"}},
		{"/api/v1/audit", "actor=admin", []string{`"actor"`}},
		{"/api/v1/audit", "limit=-1", []string{"limit:"}},
		{"/api/v1/stats/events", "interval=90s", []string{"interval:", "whole number of minutes"}},
		{"/api/v1/stats/events", "interval=0", []string{"interval:", "positive"}},
		{"/api/v1/stats/events", "interval=hourly", []string{"interval:"}},
		{"/api/v1/stats/events", "interval=1m&from=2025-01-01T00:00:00Z&to=2025-01-11T00:00:00Z", []string{"interval:", "14400 buckets", "10000"}},
		{"/api/v1/stats/events", "interval=1m&since=240h", []string{"interval:", "buckets"}},
		{"/api/v1/stats/events", "groupBy=action,user", []string{"groupBy:", `"user"`, "action, status, errorCode, jobId, identityType"}},
		{"/api/v1/stats/events", "groupBy=action,action", []string{"groupBy:", "twice"}},
		{"/api/v1/stats/events", "status=ok", []string{"status:"}},
		{"/api/v1/stats/events", "identityType=Robot", []string{"identityType:"}},
		{"/api/v1/stats/events", "order=asc", []string{`"order"`}},
		{"/api/v1/stats/events", "from=2999-01-01T00:00:00Z", []string{"from:", "future"}},
		{"/api/v1/stats/topErrors", "limit=0", []string{"limit:"}},
		{"/api/v1/stats/topErrors", "status=failure", []string{`"status"`}},
		{"/api/v1/stats/summary", "limit=5", []string{`"limit"`}},
		{"/api/v1/stats/summary", "to=now", []string{"to:"}},
		{"/api/v1/openapi.json", "v=2", []string{`"v"`}},
	}
	for _, c := range cases {
		r := getRaw(t, qs.URL+c.path+"?"+c.rawQuery, apitest.ReaderToken)
		code, msg := r.errorBody(t)
		ok := r.status == 400 && code == "BadRequest"
		for _, w := range c.want {
			ok = ok && strings.Contains(msg, w)
		}
		if !ok {
			t.Errorf("GET %s?%s: %d %s %q; want 400 naming %q", c.path, short(c.rawQuery), r.status, code, short(msg), c.want)
		}
	}
}

func testAuth(t *testing.T, qs *queryStack, all []provisioning.Event) {
	paths := []string{"/api/v1/provisioningLogs", "/api/v1/provisioningLogs/" + all[0].ID, "/api/v1/provisioningLogs/" + all[0].ID + "/trace",
		"/api/v1/identities", "/api/v1/identities/E000005/history", "/api/v1/jobs/demo/cycles", "/api/v1/jobs/demo/cycles/x",
		"/api/v1/jobs/demo/history", "/api/v1/audit", "/api/v1/stats/events", "/api/v1/stats/topErrors", "/api/v1/stats/summary",
		"/api/v1/openapi.json", "/api/v1/provisioningLogs?format=ndjson", "/api/v1/provisioningLogs?format=csv"}
	for _, p := range paths {
		for _, tok := range []string{"", "wrong-token", apitest.ReaderToken + "x"} {
			r := getRaw(t, qs.URL+p, tok)
			code, _ := r.errorBody(t)
			if r.status != 401 || code != "Unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET %s with token %q: %d %s", p, tok, r.status, code)
			}
		}
		for _, tok := range []string{apitest.ReaderToken, apitest.AdminToken} {
			if r := getRaw(t, qs.URL+p, tok); r.status == 401 || r.status == 403 || r.status >= 500 {
				t.Errorf("GET %s with a valid token: %d %s", p, r.status, short(string(r.body)))
			}
		}
	}
	// Reading never needs the admin token; acting does.
	req, _ := http.NewRequest(http.MethodPost, qs.URL+"/api/v1/jobs/demo/syncNow", nil)
	req.Header.Set("Authorization", "Bearer "+apitest.ReaderToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("POST syncNow with the reader token: %d, want 403", resp.StatusCode)
	}
	// Other methods on the query routes are not routes.
	req, _ = http.NewRequest(http.MethodDelete, qs.URL+"/api/v1/provisioningLogs/"+all[0].ID, nil)
	req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("DELETE an event: %d", resp.StatusCode)
	}
}

func testNotFound(t *testing.T, qs *queryStack, all []provisioning.Event) {
	cycle := all[0].CycleID
	for _, c := range []struct{ path, code string }{
		{"/api/v1/provisioningLogs/no-such-event", "NotFound"},
		{"/api/v1/provisioningLogs/no-such-event/trace", "NotFound"},
		{"/api/v1/provisioningLogs/" + url.PathEscape("'; DROP TABLE events; --"), "NotFound"},
		{"/api/v1/jobs/nope/cycles", "JobNotFound"},
		{"/api/v1/jobs/nope/cycles/" + cycle, "JobNotFound"},
		{"/api/v1/jobs/nope/history", "JobNotFound"},
		{"/api/v1/jobs/demo/cycles/no-such-cycle", "NotFound"},
		{"/api/v1/jobs/sales/cycles/" + all[len(all)-1].CycleID + "x", "NotFound"},
		{"/api/v1/provisioningLogs/x/y", "NotFound"},
		{"/api/v1/stats", "NotFound"},
	} {
		r := getRaw(t, qs.URL+c.path, apitest.ReaderToken)
		code, msg := r.errorBody(t)
		if r.status != 404 || code != c.code || msg == "" || strings.Contains(msg, "store/sqlite") {
			t.Errorf("GET %s: %d %s %q, want 404 %s", c.path, r.status, code, msg, c.code)
		}
	}
	// A job the engine no longer runs but the store remembers still has its cycles.
	if err := qs.Store.Commit(context.Background(), provisioning.Batch{JobID: "retired",
		State: &provisioning.JobState{JobID: "retired", Status: provisioning.Status{Code: provisioning.StatusPaused}}}); err != nil {
		t.Fatal(err)
	}
	if r := getRaw(t, qs.URL+"/api/v1/jobs/retired/cycles", apitest.ReaderToken); r.status != 200 || !bytes.Contains(r.body, []byte(`"value":[]`)) {
		t.Errorf("cycles of a retired job: %d %s", r.status, r.body)
	}
}

// attacks are filter values that must be harmless: each is plain data to match.
var attacks = []string{
	"' OR '1'='1", "' OR 1=1 --", "\"; DROP TABLE events; --", "1; DELETE FROM events", "%", "_", "%%", "E%", "E_00001",
	"*", "\\", "\\%", "\x00", "a\x00b", "'", "\"", "`", "[", "]", "(", ")", "\n", "\r\n", "Ä", "ß", "İ", "\u202e", "🙂",
	"../../../etc/passwd", "${jndi:ldap://x}", "{{7*7}}", "<script>alert(1)</script>", strings.Repeat("A", 4000),
	strings.Repeat("é", 2000), " ", "E000005 ", " E000005",
}

func testInjection(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	count := func() int {
		evs, err := qs.Store.QueryEvents(ctx, provisioning.EventQuery{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := count()
	values := slices.Clone(attacks)
	for _, h := range hostile {
		values = append(values, h.id, h.name, "t-"+h.id, h.id[:len(h.id)/2])
	}
	filters := []struct {
		param  string
		q      func(string) provisioning.EventQuery
		prefix bool
	}{
		{"jobId", func(v string) provisioning.EventQuery { return provisioning.EventQuery{JobID: v} }, false},
		{"cycleId", func(v string) provisioning.EventQuery { return provisioning.EventQuery{CycleID: v} }, false},
		{"changeId", func(v string) provisioning.EventQuery { return provisioning.EventQuery{ChangeID: v} }, false},
		{"errorCode", func(v string) provisioning.EventQuery { return provisioning.EventQuery{ErrorCode: v} }, false},
		{"identity", func(v string) provisioning.EventQuery { return provisioning.EventQuery{Identity: v} }, false},
		{"identity", func(v string) provisioning.EventQuery {
			return provisioning.EventQuery{Identity: v, IdentityPrefix: true}
		}, true},
	}
	found := 0
	for _, f := range filters {
		for _, v := range values {
			p := vals(f.param, v)
			if f.prefix {
				p.Set("identityMatch", "prefix")
			}
			p.Set("limit", "1000")
			r := get(t, qs.URL, "/api/v1/provisioningLogs", p, apitest.ReaderToken)
			if r.status != 200 {
				t.Errorf("%s=%q (prefix %v): %d %s", f.param, short(v), f.prefix, r.status, short(string(r.body)))
				continue
			}
			var page client.Page[provisioning.Event]
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatal(err)
			}
			want := modelAll(all, f.q(v))
			if !slices.Equal(eventIDs(page.Value), eventIDs(want)) {
				t.Errorf("%s=%q (prefix %v): %v, want %v", f.param, short(v), f.prefix, head(eventIDs(page.Value)), head(eventIDs(want)))
			}
			found += len(want)
		}
	}
	if found == 0 {
		t.Error("no hostile value matched its crafted event")
	}
	// Every crafted identity is found exactly, by source ID, target ID and name.
	for i, h := range hostile {
		for _, v := range []string{h.id, "t-" + h.id} {
			got := pages(t, qs.URL, "/api/v1/provisioningLogs", vals("identity", v))
			if len(got) != 1 || got[0].ID != qs.crafted[i].ID || got[0].SourceIdentity != qs.crafted[i].SourceIdentity {
				t.Errorf("identity=%q: %v", v, eventIDs(got))
			}
		}
		h2 := pages(t, qs.URL, "/api/v1/identities/"+url.PathEscape(h.id)+"/history", nil)
		if len(h2) != 1 || h2[0].ID != qs.crafted[i].ID {
			t.Errorf("history of %q: %v", h.id, eventIDs(h2))
		}
	}
	// The other endpoints' free-text parameters.
	for _, v := range values {
		for _, c := range []struct {
			path string
			q    url.Values
		}{
			{"/api/v1/identities", vals("query", v)},
			{"/api/v1/identities", vals("query", "E", "jobId", v)},
			{"/api/v1/identities/" + url.PathEscape(v) + "/history", vals("jobId", v)},
			{"/api/v1/audit", vals("jobId", v)},
			{"/api/v1/stats/events", vals("jobId", v, "errorCode", v, "groupBy", "errorCode")},
			{"/api/v1/stats/topErrors", vals("jobId", v)},
			{"/api/v1/stats/summary", vals("jobId", v)},
		} {
			if strings.HasSuffix(c.path, "//history") || strings.Contains(c.path, "/../") || strings.Contains(c.path, "%2F") {
				continue
			}
			r := get(t, qs.URL, c.path, c.q, apitest.ReaderToken)
			if r.status != 200 && !(r.status == 404 && strings.Contains(c.path, "/history")) {
				t.Errorf("GET %s?%s: %d %s", short(c.path), short(c.q.Encode()), r.status, short(string(r.body)))
			}
		}
	}
	if after := count(); after != before {
		t.Fatalf("the store had %d events before the injection attempts and %d after", before, after)
	}
}

func testEventAndTrace(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	for _, ev := range []provisioning.Event{all[0], all[len(all)/2], all[len(all)-1], qs.crafted[9]} {
		got, err := qs.reader.Event(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(ev)
		if !bytes.Equal(a, b) {
			t.Errorf("event %s:\n%s\nwant\n%s", ev.ID, a, b)
		}
		tr, err := qs.reader.Trace(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := provisioning.OperationTrace(ev, "provisiond")
		if tr.EventID != ev.ID || tr.TraceID != want[0].TraceID || len(tr.Spans) != len(want) || tr.Spans[0].Service != "provisiond" {
			t.Errorf("trace of %s: %+v", ev.ID, tr)
		}
		if ev.TraceID != "" && tr.TraceID != ev.TraceID {
			t.Errorf("trace of %s: trace id %s, want the event's %s", ev.ID, tr.TraceID, ev.TraceID)
		}
	}
}

// modelIdentities is the reference of GET /api/v1/identities over every event.
func modelIdentities(all []provisioning.Event, query, jobID string, limit int) []client.Identity {
	q := provisioning.EventQuery{JobID: jobID, Identity: query, IdentityPrefix: query != ""}
	var out []client.Identity
	seen := map[string]int{}
	for _, e := range modelAll(all, q) {
		typ := e.SourceIdentity.IdentityType
		if typ == "" {
			typ = e.TargetIdentity.IdentityType
		}
		id, kind := e.SourceIdentity.ID, "s"
		if id == "" {
			id, kind = e.TargetIdentity.ID, "t"
		}
		key := e.JobID + "/" + typ + "/" + kind + "/" + id
		i, ok := seen[key]
		if !ok {
			if len(out) == limit {
				continue
			}
			i = len(out)
			seen[key] = i
			out = append(out, client.Identity{ID: id, IdentityType: typ, JobID: e.JobID, LastSeen: e.ActivityDateTime})
		}
		o := &out[i]
		if o.TargetID == "" && e.TargetIdentity.ID != id {
			o.TargetID = e.TargetIdentity.ID
		}
		if o.DisplayName == "" {
			o.DisplayName = cmpOr(e.SourceIdentity.DisplayName, e.TargetIdentity.DisplayName)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func testIdentities(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	for _, c := range []struct {
		query, jobID string
		limit, want  int // want: the applied limit
		nonEmpty     bool
	}{
		{"E0001", "", 0, 20, true},
		{"E0001", "", 100, 100, true},
		{"E0001", "", 1000, 100, true},
		{"E0001", "sales", 5, 5, true},
		{"e0001", "", 0, 20, false}, // IDs match case-sensitively
		{"", "", 0, 20, true},
		{"", "demo", 100, 100, true},
		{"G", "", 100, 100, true},
		{strings.ToLower(all[0].SourceIdentity.DisplayName[:2]), "", 50, 50, true},
		{"pct%", "", 0, 20, true},
		{"%", "", 0, 20, false},
		{"_", "", 0, 20, false},
		{"nul\x00", "", 0, 20, true},
		{"t-", "", 100, 100, true},
		{"no-such-object", "", 0, 20, false},
	} {
		q := vals("query", c.query, "jobId", c.jobID)
		if c.limit > 0 {
			q.Set("limit", strconv.Itoa(c.limit))
		}
		r := get(t, qs.URL, "/api/v1/identities", q, apitest.ReaderToken)
		if r.status != 200 || r.header.Get(api.LimitHeader) != strconv.Itoa(c.want) {
			t.Errorf("query %q: %d, limit header %q: %s", c.query, r.status, r.header.Get(api.LimitHeader), short(string(r.body)))
			continue
		}
		var p client.Page[client.Identity]
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		want := modelIdentities(all, c.query, c.jobID, c.want)
		if c.nonEmpty != (len(want) > 0) {
			t.Errorf("query %q: the model finds %d objects", c.query, len(want))
		}
		if !slices.EqualFunc(p.Value, want, sameIdentity) {
			t.Errorf("query %q job %q: %d objects\n%+v\nwant %d\n%+v", c.query, c.jobID, len(p.Value), head2(p.Value), len(want), head2(want))
		}
		for i := 1; i < len(p.Value); i++ {
			if p.Value[i].LastSeen.After(p.Value[i-1].LastSeen) {
				t.Errorf("query %q: not most recently seen first at %d", c.query, i)
			}
		}
	}
	// The client's method.
	ids, err := qs.reader.SearchIdentities(ctx, "E00000", "demo", 3)
	if err != nil || len(ids) != 3 || !strings.HasPrefix(ids[0].ID, "E00000") || ids[0].JobID != "demo" {
		t.Errorf("SearchIdentities: %v %+v", err, ids)
	}
}

// sameIdentity compares identities (times by instant).
func sameIdentity(a, b client.Identity) bool {
	a.LastSeen, b.LastSeen = a.LastSeen.UTC(), b.LastSeen.UTC()
	return a == b
}

func head2[T any](v []T) []T {
	if len(v) > 3 {
		return v[:3]
	}
	return v
}

func testIdentityHistory(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	target := pick(t, all, "E000005 in demo", func(e provisioning.Event) bool {
		return e.SourceIdentity.ID == "E000005" && e.JobID == "demo" && e.TargetIdentity.ID != ""
	}).TargetIdentity.ID
	model := func(id, jobID string) []provisioning.Event {
		var out []provisioning.Event
		for _, e := range modelAll(all, provisioning.EventQuery{JobID: jobID}) {
			if e.SourceIdentity.ID == id || e.TargetIdentity.ID == id {
				out = append(out, e)
			}
		}
		return out
	}
	for _, c := range []struct {
		id, jobID string
		min       int
	}{
		{"E000005", "", 3}, // both jobs; demo's on-demand run too
		{"E000005", "demo", 2},
		{"E000005", "sales", 1},
		{target, "", 2},
		{"G0001", "", 2},
		{"Engineering", "", 0}, // a display name is not an ID
		{"nope", "", 0},
	} {
		for _, limit := range []string{"1", "2", ""} {
			got := pages(t, qs.URL, "/api/v1/identities/"+url.PathEscape(c.id)+"/history", vals("jobId", c.jobID, "limit", limit))
			want := model(c.id, c.jobID)
			if len(want) < c.min || !slices.Equal(eventIDs(got), eventIDs(want)) {
				t.Errorf("history of %s (job %q, limit %q): %v, want %v (at least %d)", c.id, c.jobID, limit, head(eventIDs(got)), head(eventIDs(want)), c.min)
			}
		}
	}
	if jobs := map[string]bool{}; true {
		for _, e := range model("E000005", "") {
			jobs[e.JobID] = true
		}
		if len(jobs) != 2 {
			t.Errorf("E000005's history spans jobs %v, want both", jobs)
		}
	}
	p, err := qs.reader.IdentityHistory(ctx, "E000005", "", 1, "")
	if err != nil || len(p.Value) != 1 || p.NextCursor == "" {
		t.Fatalf("client IdentityHistory: %v %+v", err, p)
	}
	p2, err := qs.reader.IdentityHistory(ctx, "E000005", "", 1, p.NextCursor)
	if err != nil || len(p2.Value) != 1 || p2.Value[0].ID == p.Value[0].ID {
		t.Errorf("client IdentityHistory page 2: %v %+v", err, p2)
	}
}

func testCycles(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	want, err := qs.Store.ListCycles(ctx, "demo", 0)
	if err != nil || len(want) < 3 {
		t.Fatalf("store cycles: %v %d", err, len(want))
	}
	got, err := qs.reader.Cycles(ctx, "demo", 0)
	if err != nil || len(got) != len(want) || got[0].CycleID != want[0].CycleID {
		t.Fatalf("cycles: %v %d, want %d", err, len(got), len(want))
	}
	for i := range got {
		if got[i].CycleID != want[i].CycleID || !got[i].TimeBegan.Equal(want[i].TimeBegan) {
			t.Errorf("cycle %d: %s, want %s", i, got[i].CycleID, want[i].CycleID)
		}
	}
	one, err := qs.reader.Cycles(ctx, "demo", 1)
	if err != nil || len(one) != 1 || one[0].CycleID != want[0].CycleID {
		t.Errorf("cycles limit 1: %v %+v", err, one)
	}
	r := get(t, qs.URL, "/api/v1/jobs/demo/cycles", vals("limit", "100000"), apitest.ReaderToken)
	if r.status != 200 || r.header.Get(api.LimitHeader) != "1000" {
		t.Errorf("cycles limit 100000: %d %q", r.status, r.header.Get(api.LimitHeader))
	}
	if r := get(t, qs.URL, "/api/v1/jobs/demo/cycles", nil, apitest.ReaderToken); r.header.Get(api.LimitHeader) != "50" {
		t.Errorf("cycles default limit header %q", r.header.Get(api.LimitHeader))
	}
	c, err := qs.reader.Cycle(ctx, "demo", want[1].CycleID)
	if err != nil || c.CycleID != want[1].CycleID || c.JobID != "demo" || c.CountImported != want[1].CountImported {
		t.Errorf("cycle: %v %+v", err, c)
	}
	// A cycle of another job is not this job's.
	sales, _ := qs.Store.ListCycles(ctx, "sales", 1)
	if _, err := qs.reader.Cycle(ctx, "demo", sales[0].CycleID); client.StatusOf(err) != 404 {
		t.Errorf("sales' cycle under demo: %v", err)
	}
}

func testHistoryAndAudit(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	h, err := qs.reader.JobHistory(ctx, "sales", 0)
	if err != nil || len(h) == 0 || h[0].NewCode != provisioning.StatusQuarantine || h[0].Quarantine == nil || h[0].Quarantine.Error.Code == "" {
		t.Fatalf("sales history: %v %+v", err, h)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Time.After(h[i-1].Time) {
			t.Errorf("history not newest first at %d", i)
		}
	}
	if h1, err := qs.reader.JobHistory(ctx, "sales", 1); err != nil || len(h1) != 1 {
		t.Errorf("history limit 1: %v %d", err, len(h1))
	}
	a, err := qs.reader.Audit(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range a {
		if e.Actor != "admin-token" || e.Time.IsZero() || e.Action == "" {
			t.Errorf("audit entry %+v", e)
		}
		actions[e.JobID+"/"+e.Action] = true
	}
	for _, want := range []string{"demo/pause", "demo/start"} {
		if !actions[want] {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
	s, err := qs.reader.Audit(ctx, "sales", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s {
		if e.JobID != "sales" {
			t.Errorf("audit of sales has %+v", e)
		}
	}
	if a1, err := qs.reader.Audit(ctx, "", 1); err != nil || len(a1) != 1 || a1[0].ID != a[0].ID {
		t.Errorf("audit limit 1: %v %+v", err, a1)
	}
}

func testStats(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	now := time.Now().UTC()
	from, to := now.Add(-2*time.Hour), now.Add(time.Hour)
	failed := pick(t, all, "failed", func(e provisioning.Event) bool {
		return e.Status == provisioning.ResultFailure && e.ErrorInformation != nil && e.CycleID != craftedCycle
	})
	for _, q := range []client.StatsQuery{
		{Interval: time.Minute},
		{Interval: time.Minute, GroupBy: []string{"action"}},
		{Interval: 15 * time.Minute, GroupBy: []string{"status", "action"}},
		{Interval: time.Hour, GroupBy: provisioning.GroupBys},
		{Interval: 7 * time.Minute, JobID: "demo", Action: "create", Status: "success", IdentityType: "User", GroupBy: []string{"jobId"}},
		{Interval: time.Minute, ErrorCode: failed.ErrorInformation.ErrorCode, GroupBy: []string{"errorCode"}},
		{Interval: 24 * time.Hour, JobID: "nope"},
	} {
		q.From, q.To = from, to
		got, err := qs.reader.EventStats(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := storetest.ModelStats(all, provisioning.StatsQuery{JobID: q.JobID, Action: provisioning.Action(q.Action),
			Status: provisioning.Result(q.Status), ErrorCode: q.ErrorCode, IdentityType: q.IdentityType,
			From: from, To: to, Interval: q.Interval, GroupBy: q.GroupBy})
		if !got.From.Equal(from) || !got.To.Equal(to) || got.Interval != q.Interval.String() || !bucketsEqual(got.Value, want) {
			t.Errorf("stats %+v:\n%+v\nwant\n%+v", q, got, want)
		}
	}
	// Defaults: the last day, hourly.
	r := get(t, qs.URL, "/api/v1/stats/events", nil, apitest.ReaderToken)
	var sr client.StatsResult
	if err := json.Unmarshal(r.body, &sr); err != nil || r.status != 200 {
		t.Fatalf("default stats: %d %s", r.status, r.body)
	}
	var total int64
	for _, b := range sr.Value {
		total += b.Count
	}
	if sr.Interval != "1h0m0s" || sr.To.Sub(sr.From) != 24*time.Hour || time.Since(sr.To) > time.Minute || total != int64(len(qs.allEvents(t))) {
		t.Errorf("default stats: %s to %s by %s, %d events, want %d", sr.From, sr.To, sr.Interval, total, len(all))
	}
	// since, and the largest window of one-minute buckets.
	if r := get(t, qs.URL, "/api/v1/stats/events", vals("since", "166h", "interval", "1m"), apitest.ReaderToken); r.status != 200 {
		t.Errorf("since 166h by 1m: %d %s", r.status, short(string(r.body)))
	}
	// Top errors and the summary against their models.
	for _, w := range []client.Window{{From: from, To: to}, {From: from, To: to, JobID: "demo", Limit: 2}, {From: from, To: to, Limit: 1000}, {}} {
		got, err := qs.reader.TopErrors(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		mq := provisioning.TopErrorsQuery{JobID: w.JobID, From: w.From, To: w.To, Limit: min(cmpInt(w.Limit, 10), 100)}
		if w.From.IsZero() {
			mq.From, mq.To = time.Now().Add(-24*time.Hour), time.Now().Add(time.Minute)
		}
		want := storetest.ModelTopErrors(all, mq)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("top errors %+v: %d, want %d", w, len(got), len(want))
		}
		for i := range got {
			if got[i].ErrorCode != want[i].ErrorCode || got[i].Count != want[i].Count || !got[i].LastSeen.Equal(want[i].LastSeen) || got[i].Sample.ID != want[i].Sample.ID {
				t.Errorf("top error %d: %s %d %s %s, want %s %d %s %s", i, got[i].ErrorCode, got[i].Count, got[i].LastSeen, got[i].Sample.ID,
					want[i].ErrorCode, want[i].Count, want[i].LastSeen, want[i].Sample.ID)
			}
		}
	}
	for _, w := range []client.Window{{From: from, To: to}, {From: from, To: to, JobID: "sales"}, {JobID: "demo"}, {From: from, To: from.Add(time.Minute)}} {
		got, err := qs.reader.Summary(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		mq := provisioning.SummaryQuery{JobID: w.JobID, From: w.From, To: w.To}
		if w.From.IsZero() {
			mq.From, mq.To = time.Now().Add(-24*time.Hour), time.Now().Add(time.Minute)
		}
		want := storetest.ModelSummary(all, mq)
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Errorf("summary %+v:\n%s\nwant\n%s", w, a, b)
		}
	}
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func bucketsEqual(a, b []provisioning.StatsBucket) bool {
	return slices.EqualFunc(a, b, func(x, y provisioning.StatsBucket) bool {
		if !x.Time.Equal(y.Time) || x.Count != y.Count || len(x.Labels) != len(y.Labels) {
			return false
		}
		for k, v := range x.Labels {
			if y.Labels[k] != v {
				return false
			}
		}
		return true
	})
}

func testStreamNDJSON(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	for _, c := range []struct {
		q    client.LogsQuery
		want provisioning.EventQuery
	}{
		{client.LogsQuery{}, provisioning.EventQuery{}},
		{client.LogsQuery{Ascending: true}, provisioning.EventQuery{Ascending: true}},
		{client.LogsQuery{JobID: "sales", Status: "failure"}, provisioning.EventQuery{JobID: "sales", Status: provisioning.ResultFailure}},
		{client.LogsQuery{Identity: "E00001", IdentityPrefix: true, Limit: 3, Cursor: "ignored"}, provisioning.EventQuery{Identity: "E00001", IdentityPrefix: true}},
		{client.LogsQuery{CycleID: craftedCycle}, provisioning.EventQuery{CycleID: craftedCycle}},
		{client.LogsQuery{JobID: "nope"}, provisioning.EventQuery{JobID: "nope"}},
	} {
		var got []provisioning.Event
		if err := qs.reader.StreamLogs(ctx, c.q, func(ev provisioning.Event) error { got = append(got, ev); return nil }); err != nil {
			t.Fatal(err)
		}
		want := modelAll(all, c.want)
		if !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Errorf("stream %+v: %d events, want %d", c.q, len(got), len(want))
		}
		for i := range got {
			a, _ := json.Marshal(got[i])
			b, _ := json.Marshal(want[i])
			if !bytes.Equal(a, b) {
				t.Errorf("streamed event %s differs:\n%s\n%s", got[i].ID, a, b)
				break
			}
		}
	}
	// limit is a maximum; the header reports it; the body is NDJSON.
	r := get(t, qs.URL, "/api/v1/provisioningLogs", vals("format", "ndjson", "limit", "7", "order", "asc"), apitest.ReaderToken)
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	if r.status != 200 || len(lines) != 7 || r.header.Get(api.LimitHeader) != "7" || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("ndjson limit 7: %d, %d lines, header %q, type %q", r.status, len(lines), r.header.Get(api.LimitHeader), r.header.Get("Content-Type"))
	}
	want := modelAll(all, provisioning.EventQuery{Ascending: true})[:7]
	for i, l := range lines {
		var ev provisioning.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.ID != want[i].ID {
			t.Errorf("line %d: %v %s", i, err, short(l))
		}
	}
	// A limit above the store's chunk still streams every event.
	r = get(t, qs.URL, "/api/v1/provisioningLogs", vals("format", "ndjson", "limit", "1000000"), apitest.ReaderToken)
	if n := bytes.Count(r.body, []byte("\n")); n != len(qs.allEvents(t)) {
		t.Errorf("ndjson limit 1000000: %d lines, want %d", n, len(qs.allEvents(t)))
	}
}

func testStreamCSV(t *testing.T, qs *queryStack, all []provisioning.Event) {
	ctx := context.Background()
	read := func(q client.LogsQuery, table string) [][]string {
		t.Helper()
		var b bytes.Buffer
		if err := qs.reader.ExportLogs(ctx, q, table, &b); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatalf("table %s: not CSV: %v", table, err)
		}
		return rows
	}
	evs := modelAll(all, provisioning.EventQuery{})
	var steps, props int
	for _, e := range evs {
		steps += len(e.ProvisioningSteps)
		props += len(e.ModifiedProperties)
	}
	for _, c := range []struct {
		table  string
		header string
		rows   int
	}{
		{"", "id,activityDateTime,jobId,cycleId,changeId,action,status,errorCode,errorCategory,reason,recommendedAction,sourceIdentityId,sourceIdentityDisplayName,sourceIdentityType,targetIdentityId,targetIdentityDisplayName,sourceSystem,targetSystem,initiatedBy,durationInMilliseconds,traceId", len(evs)},
		{"events", "id,activityDateTime", len(evs)},
		{"steps", "changeId,eventId,index,name,provisioningStepType,status,description,details,start,durationInMilliseconds", steps},
		{"modifiedProperties", "changeId,eventId,displayName,oldValue,newValue", props},
	} {
		rows := read(client.LogsQuery{}, c.table)
		if len(rows) != c.rows+1 || !strings.HasPrefix(strings.Join(rows[0], ","), c.header) {
			t.Errorf("table %q: %d rows, header %v; want %d rows and %s", c.table, len(rows)-1, rows[0], c.rows, c.header)
		}
	}
	// The tables join on changeId (and eventId), in the events' order.
	events := read(client.LogsQuery{JobID: "demo", Identity: "E000005"}, "events")
	stepRows := read(client.LogsQuery{JobID: "demo", Identity: "E000005"}, "steps")
	want := modelAll(all, provisioning.EventQuery{JobID: "demo", Identity: "E000005"})
	if len(events) != len(want)+1 {
		t.Fatalf("E000005: %d event rows, want %d", len(events)-1, len(want))
	}
	i := 1
	for k, e := range want {
		if events[k+1][0] != e.ID || events[k+1][4] != e.ChangeID || events[k+1][1] != e.ActivityDateTime.UTC().Format(time.RFC3339Nano) {
			t.Errorf("event row %d: %v", k, events[k+1][:5])
		}
		for s, st := range e.ProvisioningSteps {
			row := stepRows[i]
			i++
			if row[0] != e.ChangeID || row[1] != e.ID || row[2] != strconv.Itoa(s) || row[3] != st.Name || row[4] != string(st.ProvisioningStepType) {
				t.Errorf("step row %v, want %s %s %d %s", row[:5], e.ChangeID, e.ID, s, st.Name)
			}
			if len(st.Details) > 0 {
				var d map[string]string
				if err := json.Unmarshal([]byte(row[7]), &d); err != nil || len(d) != len(st.Details) {
					t.Errorf("step details %q: %v", row[7], err)
				}
			}
		}
	}
	// Formula injection is neutralised in every table; the data is otherwise intact.
	crafted := client.LogsQuery{CycleID: craftedCycle, Ascending: true}
	ev, st, mp := read(crafted, "events"), read(crafted, "steps"), read(crafted, "modifiedProperties")
	if len(ev) != len(hostile)+1 || len(st) != 2*len(hostile)+1 || len(mp) != len(hostile)+1 {
		t.Fatalf("crafted: %d, %d, %d rows", len(ev), len(st), len(mp))
	}
	for i, h := range hostile {
		checkCell(t, "sourceIdentityDisplayName", ev[i+1][12], h.name)
		checkCell(t, "reason", ev[i+1][9], "=1+1 "+h.name)
		checkCell(t, "recommendedAction", ev[i+1][10], "-check")
		checkCell(t, "errorCode", ev[i+1][7], "Crafted'; DROP TABLE events; --")
		checkCell(t, "sourceIdentityId", ev[i+1][11], h.id)
		checkCell(t, "step description", st[2*i+1][6], "+import "+h.name)
		checkCell(t, "step description", st[2*i+2][6], "@export failed")
		checkCell(t, "oldValue", mp[i+1][3], "=old()")
		checkCell(t, "newValue", mp[i+1][4], h.name)
	}
	// Headers of a download.
	r := get(t, qs.URL, "/api/v1/provisioningLogs", vals("format", "csv", "table", "steps", "jobId", "nope"), apitest.ReaderToken)
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		r.header.Get("Content-Disposition") != `attachment; filename="ProvisioningLogs_ProvisioningSteps.csv"` ||
		string(r.body) != "changeId,eventId,index,name,provisioningStepType,status,description,details,start,durationInMilliseconds\n" {
		t.Errorf("empty steps export: %d %v %q", r.status, r.header, r.body)
	}
}

// checkCell checks a CSV cell holds value, with a leading apostrophe when value starts
// like a formula.
func checkCell(t *testing.T, column, got, value string) {
	t.Helper()
	want := value
	if value != "" && strings.ContainsRune("=+-@\t\r", rune(value[0])) {
		want = "'" + value
	}
	if got != want {
		t.Errorf("%s: %q, want %q", column, got, want)
	}
}

func testHealth(t *testing.T, qs *queryStack, all []provisioning.Event) {
	h, err := qs.reader.Health(context.Background())
	if err != nil || h.APIVersion != client.APIVersion || api.APIVersion != client.APIVersion || h.Status != "ok" {
		t.Errorf("health %+v %v", h, err)
	}
	// No token needed.
	if r := getRaw(t, qs.URL+"/healthz", ""); r.status != 200 {
		t.Errorf("healthz without a token: %d", r.status)
	}
}

// TestTraceServiceName: spans carry OTEL_SERVICE_NAME when it is set.
func TestTraceServiceName(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "provisiond-eu")
	ts, _ := newServer(t)
	status, res := do(t, ts, "POST", "/api/v1/jobs/j1/provisionOnDemand", adminTok, `{"sourceId":"E1"}`)
	if status != 200 {
		t.Fatalf("provision on demand: %d %v", status, res)
	}
	evs := res["events"].([]any)
	id := evs[len(evs)-1].(map[string]any)["id"].(string)
	status, tr := do(t, ts, "GET", "/api/v1/provisioningLogs/"+id+"/trace", readerTok, "")
	spans, _ := tr["spans"].([]any)
	if status != 200 || len(spans) < 4 || tr["eventId"] != id {
		t.Fatalf("trace: %d %v", status, tr)
	}
	for _, sp := range spans {
		if s := sp.(map[string]any)["service"]; s != "provisiond-eu" {
			t.Errorf("span service %v", s)
		}
	}
}
