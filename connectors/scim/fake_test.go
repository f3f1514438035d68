package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/provisiond/provisiond/connectors"
)

// fake is a small in-memory SCIM server for unit tests, written independently of the
// client's path handling. Knobs select server behaviours.
type fake struct {
	mu sync.Mutex

	token string // expected bearer token ("" = no auth check)

	etag, noPatch, lmFilter, cursor bool
	rejectLegacyActive              bool
	maxPage                         int  // serve at most this many per page (0 = count)
	lieItemsPerPage                 bool // report itemsPerPage = count whatever is served
	ignoreStartIndex                bool
	noTotal                         bool
	noSPC                           bool
	groupPatch204                   bool

	// hook, when set, may answer a request itself (return true).
	hook func(w http.ResponseWriter, r *http.Request, body []byte) bool

	res   map[string]map[string]map[string]any // endpoint ("Users"/"Groups") → id → doc
	order map[string][]string
	seq   int
	ver   int
	now   time.Time

	reqs []fakeReq
}

type fakeReq struct {
	Method, Path, RawQuery, IfMatch, Auth string
	Body                                  []byte
}

func newFake() *fake {
	return &fake{
		res:   map[string]map[string]map[string]any{"Users": {}, "Groups": {}},
		order: map[string][]string{},
		now:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (f *fake) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fake) count(method, pathPrefix string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// tick advances the fake clock (meta.lastModified).
func (f *fake) tick(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fake) put(endpoint string, doc map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.insert(endpoint, doc)
}

func (f *fake) insert(endpoint string, doc map[string]any) string {
	f.seq++
	id := fmt.Sprintf("id-%04d", f.seq)
	doc["id"] = id
	f.touch(doc, true)
	f.res[endpoint][id] = doc
	f.order[endpoint] = append(f.order[endpoint], id)
	return id
}

func (f *fake) touch(doc map[string]any, created bool) {
	f.ver++
	ts := f.now.Format("2006-01-02T15:04:05.000Z")
	m, _ := doc["meta"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	if created {
		m["created"] = ts
	}
	m["lastModified"] = ts
	if f.etag {
		m["version"] = fmt.Sprintf(`W/"%d"`, f.ver)
	} else {
		delete(m, "version")
	}
	doc["meta"] = m
}

func (f *fake) get(endpoint, id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.res[endpoint][id])
}

func (f *fake) remove(endpoint, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.res[endpoint], id)
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func scimErr(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status), "scimType": scimType, "detail": detail,
	})
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	if m, ok := v.(map[string]any); ok {
		if meta, ok := m["meta"].(map[string]any); ok {
			if v, ok := meta["version"].(string); ok {
				w.Header().Set("ETag", v)
			}
		}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		IfMatch: r.Header.Get("If-Match"), Auth: r.Header.Get("Authorization"), Body: body})
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r, body) {
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		scimErr(w, 401, "", "bad token")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/scim/v2")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case parts[0] == "ServiceProviderConfig":
		if f.noSPC {
			scimErr(w, 404, "", "no")
			return
		}
		spc := map[string]any{
			"patch":  map[string]any{"supported": !f.noPatch},
			"filter": map[string]any{"supported": true, "maxResults": 1000},
			"etag":   map[string]any{"supported": f.etag},
			"bulk":   map[string]any{"supported": false},
		}
		if f.cursor {
			spc["pagination"] = map[string]any{"cursor": true, "index": true, "maxPageSize": 1000}
		}
		writeJSON(w, 200, spc)
	case parts[0] == "ResourceTypes" || parts[0] == "Schemas":
		scimErr(w, 404, "", "not here")
	case parts[0] == "Users" || parts[0] == "Groups":
		ep := parts[0]
		if len(parts) == 1 {
			switch r.Method {
			case http.MethodGet:
				f.list(w, r, ep)
			case http.MethodPost:
				f.create(w, ep, body)
			default:
				scimErr(w, 405, "", "no")
			}
			return
		}
		id := parts[1]
		doc, ok := f.res[ep][id]
		if !ok {
			scimErr(w, 404, "", "Resource "+id+" not found")
			return
		}
		if f.etag && r.Method != http.MethodGet {
			if im := r.Header.Get("If-Match"); im != "" && im != doc["meta"].(map[string]any)["version"] {
				scimErr(w, 412, "", "version mismatch")
				return
			}
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, 200, project(doc, r.URL.Query().Get("attributes")))
		case http.MethodDelete:
			delete(f.res[ep], id)
			w.WriteHeader(204)
		case http.MethodPut:
			var nd map[string]any
			if json.Unmarshal(body, &nd) != nil {
				scimErr(w, 400, "invalidSyntax", "bad json")
				return
			}
			nd["id"] = id
			nd["meta"] = doc["meta"]
			f.touch(nd, false)
			f.res[ep][id] = nd
			writeJSON(w, 200, nd)
		case http.MethodPatch:
			if f.noPatch {
				scimErr(w, 501, "", "PATCH not supported")
				return
			}
			var pr struct {
				Operations []struct {
					Op    string          `json:"op"`
					Path  string          `json:"path"`
					Value json.RawMessage `json:"value"`
				}
			}
			if json.Unmarshal(body, &pr) != nil {
				scimErr(w, 400, "invalidSyntax", "bad json")
				return
			}
			work := clone(doc)
			for _, op := range pr.Operations {
				var v any
				_ = json.Unmarshal(op.Value, &v)
				if status, st, d := f.applyOp(work, strings.ToLower(op.Op), op.Path, v); status != 0 {
					scimErr(w, status, st, d)
					return
				}
			}
			f.touch(work, false)
			f.res[ep][id] = work
			if ep == "Groups" && f.groupPatch204 {
				if v, ok := work["meta"].(map[string]any)["version"].(string); ok {
					w.Header().Set("ETag", v)
				}
				w.WriteHeader(204)
				return
			}
			writeJSON(w, 200, work)
		}
	default:
		scimErr(w, 404, "", "unknown endpoint")
	}
}

func (f *fake) create(w http.ResponseWriter, ep string, body []byte) {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		scimErr(w, 400, "invalidSyntax", "bad json")
		return
	}
	key := "userName"
	if ep == "Groups" {
		key = "displayName"
	}
	v, _ := doc[key].(string)
	if v == "" {
		scimErr(w, 400, "invalidValue", key+" is required")
		return
	}
	for _, d := range f.res[ep] {
		if strings.EqualFold(d[key].(string), v) {
			scimErr(w, 409, "uniqueness", key+" in use")
			return
		}
	}
	f.insert(ep, doc)
	writeJSON(w, 201, doc)
}

// applyOp applies one PATCH op to doc (paths: attr, attr.sub, urn:attr, members[value eq "x"],
// attr[type eq "t"].sub).
func (f *fake) applyOp(doc map[string]any, op, path string, v any) (int, string, string) {
	if path == "" {
		return 400, "noTarget", "no path"
	}
	if strings.EqualFold(path, "active") {
		if _, isBool := v.(bool); !isBool && op != "remove" && f.rejectLegacyActive {
			return 400, "invalidValue", "expected value type 'boolean'"
		}
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		attr := path[:i]
		end := strings.IndexByte(path, ']')
		cond := path[i+1 : end]
		sub := strings.TrimPrefix(path[end+1:], ".")
		list, _ := doc[attr].([]any)
		expr, err := filter.ParseFilter(asciiFilter(cond))
		if err != nil {
			return 400, "invalidPath", "bad filter"
		}
		var out []any
		matched := false
		for _, el := range list {
			m, _ := el.(map[string]any)
			if evalFilter(m, expr) {
				matched = true
				switch {
				case op == "remove" && sub == "":
					continue
				case op == "remove":
					delete(m, sub)
				default:
					m[sub] = v
				}
			}
			out = append(out, el)
		}
		if !matched {
			return 400, "noTarget", "no element matches " + cond
		}
		doc[attr] = out
		return 0, "", ""
	}
	var obj = doc
	name := path
	if strings.HasPrefix(strings.ToLower(path), "urn:") {
		k := strings.LastIndexByte(path, ':')
		urn := path[:k]
		ext, _ := doc[urn].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			doc[urn] = ext
		}
		obj, name = ext, path[k+1:]
	}
	if dot := strings.IndexByte(name, '.'); dot > 0 {
		parent, _ := obj[name[:dot]].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
			obj[name[:dot]] = parent
		}
		obj, name = parent, name[dot+1:]
	}
	switch op {
	case "remove":
		delete(obj, name)
	case "add":
		if list, ok := v.([]any); ok {
			cur, _ := obj[name].([]any)
			obj[name] = append(cur, list...)
		} else {
			obj[name] = v
		}
	case "replace":
		obj[name] = v
	default:
		return 400, "invalidSyntax", "op " + op
	}
	return 0, "", ""
}

func project(doc map[string]any, attributes string) map[string]any {
	if attributes == "" {
		return doc
	}
	out := map[string]any{"id": doc["id"]}
	for _, a := range strings.Split(attributes, ",") {
		if v, ok := doc[a]; ok {
			out[a] = v
		}
	}
	return out
}

func lookup(doc map[string]any, path filter.AttributePath) any {
	var obj = doc
	if path.URIPrefix != nil {
		obj, _ = doc[*path.URIPrefix].(map[string]any)
	}
	v := obj[path.AttributeName]
	if path.SubAttribute != nil {
		m, _ := v.(map[string]any)
		return m[*path.SubAttribute]
	}
	return v
}

func evalFilter(doc map[string]any, e filter.Expression) bool {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		v := lookup(doc, x.AttributePath)
		want := x.CompareValue
		if s, ok := want.(string); ok {
			var dec string
			if json.Unmarshal([]byte(`"`+s+`"`), &dec) == nil {
				want = dec
			}
		}
		switch x.Operator {
		case filter.EQ:
			vs, ok1 := v.(string)
			ws, ok2 := want.(string)
			if ok1 && ok2 {
				return strings.EqualFold(vs, ws)
			}
			return fmt.Sprint(v) == fmt.Sprint(want)
		case filter.GT:
			vs, _ := v.(string)
			ws, _ := want.(string)
			tv, e1 := time.Parse(time.RFC3339Nano, vs)
			tw, e2 := time.Parse(time.RFC3339Nano, ws)
			return e1 == nil && e2 == nil && tv.After(tw)
		}
		return false
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return evalFilter(doc, x.Left) && evalFilter(doc, x.Right)
		}
		return evalFilter(doc, x.Left) || evalFilter(doc, x.Right)
	case *filter.ValuePath:
		list, _ := lookup(doc, x.AttributePath).([]any)
		for _, el := range list {
			if m, ok := el.(map[string]any); ok && evalFilter(m, x.ValueFilter) {
				return true
			}
		}
	}
	return false
}

func (f *fake) list(w http.ResponseWriter, r *http.Request, ep string) {
	q := r.URL.Query()
	var expr filter.Expression
	if fs := q.Get("filter"); fs != "" {
		e, err := filter.ParseFilter(asciiFilter(fs))
		if err != nil {
			scimErr(w, 400, "invalidFilter", "cannot parse filter")
			return
		}
		if strings.Contains(fs, "meta.lastModified") && !f.lmFilter {
			scimErr(w, 400, "invalidFilter", "meta.lastModified is not filterable")
			return
		}
		expr = e
	}
	var matched []map[string]any
	for _, id := range f.order[ep] {
		doc, ok := f.res[ep][id]
		if !ok {
			continue
		}
		if expr == nil || evalFilter(doc, expr) {
			matched = append(matched, doc)
		}
	}
	count := 100
	if c := q.Get("count"); c != "" {
		count, _ = strconv.Atoi(c)
	}
	start := 1
	useCursor := f.cursor && q.Has("cursor")
	if useCursor {
		if c := q.Get("cursor"); c != "" {
			start, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
		}
	} else if s := q.Get("startIndex"); s != "" && !f.ignoreStartIndex {
		start, _ = strconv.Atoi(s)
	}
	serve := count
	if f.maxPage > 0 && f.maxPage < serve {
		serve = f.maxPage
	}
	var page []any
	for i := start - 1; i < len(matched) && len(page) < serve; i++ {
		page = append(page, project(matched[i], q.Get("attributes")))
	}
	resp := map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"Resources":    page,
		"startIndex":   start,
		"itemsPerPage": len(page),
	}
	if page == nil {
		resp["Resources"] = []any{}
	}
	if !f.noTotal {
		resp["totalResults"] = len(matched)
	}
	if f.lieItemsPerPage {
		resp["itemsPerPage"] = count
	}
	if useCursor && start-1+len(page) < len(matched) {
		resp["nextCursor"] = "c" + strconv.Itoa(start+len(page))
	}
	writeJSON(w, 200, resp)
}

// newClient returns a client for handler h, with cfg adjusted by mod.
func newClient(t testing.TB, h http.Handler, mod func(*Config)) (*Client, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg := Config{
		BaseURL:              ts.URL + "/scim/v2",
		Auth:                 AuthConfig{Token: "unit-token"},
		MaxRequestsPerSecond: 1e6,
		Timeout:              5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoff = func(int) time.Duration { return time.Millisecond }
	t.Cleanup(func() { _ = c.Close() })
	return c, ts
}

func user(name string, extra ...any) map[string]any {
	d := map[string]any{"schemas": []any{schemaUser}, "userName": name, "active": true}
	for i := 0; i+1 < len(extra); i += 2 {
		d[extra[i].(string)] = extra[i+1]
	}
	return d
}

func mustErr(t *testing.T, err error) *connectors.Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	ce, ok := asError(err)
	if !ok {
		t.Fatalf("expected *connectors.Error, got %T: %v", err, err)
	}
	return ce
}
