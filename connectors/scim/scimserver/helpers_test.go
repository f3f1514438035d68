package scimserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const testToken = "s3cr3t-t0ken-value"

// client talks to a real server over loopback.
type client struct {
	t     testing.TB
	base  string // http://127.0.0.1:port
	token string
	http  *http.Client
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func newTestServer(t testing.TB, opts Options) (*Server, *client) {
	t.Helper()
	if opts.Token == "" && !opts.AllowAnonymous {
		opts.Token = testToken
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, &client{t: t, base: ts.URL, token: opts.Token, http: ts.Client()}
}

func (c *client) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// expect fails the test unless the status is want.
func (r response) expect(t testing.TB, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.raw)
	}
	return r
}

// expectError checks a SCIM error response.
func (r response) expectError(t testing.TB, status int, scimType string) {
	t.Helper()
	r.expect(t, status)
	if got := str(r.body, "status"); got != fmt.Sprint(status) {
		t.Errorf("error body status %q, want %q (a string)", got, fmt.Sprint(status))
	}
	if schemas, _ := r.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("error body schemas = %v", r.body["schemas"])
	}
	if got := str(r.body, "scimType"); got != scimType {
		t.Errorf("scimType %q, want %q; body: %s", got, scimType, r.raw)
	}
}

func userBody(userName string, extra map[string]any) map[string]any {
	b := map[string]any{
		"schemas":  []string{userSchemaURI, enterpriseSchemaURI},
		"userName": userName,
		"active":   true,
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func (c *client) createUser(userName string, extra map[string]any) map[string]any {
	c.t.Helper()
	return c.do("POST", "/scim/v2/Users", userBody(userName, extra)).expect(c.t, 201).body
}

func (c *client) createGroup(name string, members ...string) map[string]any {
	c.t.Helper()
	body := map[string]any{"schemas": []string{groupSchemaURI}, "displayName": name}
	if len(members) > 0 {
		var ms []map[string]any
		for _, m := range members {
			ms = append(ms, map[string]any{"value": m})
		}
		body["members"] = ms
	}
	return c.do("POST", "/scim/v2/Groups", body).expect(c.t, 201).body
}

func (c *client) patch(path string, ifMatch string, ops ...map[string]any) response {
	c.t.Helper()
	body := map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	}
	return c.do("PATCH", path, body, "If-Match", ifMatch)
}

func op(name, path string, value any) map[string]any {
	m := map[string]any{"op": name}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// list runs a GET with the given query parameters.
func (c *client) list(endpoint string, params ...string) response {
	c.t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return c.do("GET", "/scim/v2/"+endpoint+"?"+q.Encode(), nil)
}

func resources(body map[string]any) []map[string]any {
	list, _ := body["Resources"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, r := range list {
		m, _ := r.(map[string]any)
		out = append(out, m)
	}
	return out
}

func names(body map[string]any, attr string) []string {
	var out []string
	for _, r := range resources(body) {
		out = append(out, str(r, attr))
	}
	slices.Sort(out)
	return out
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

func meta(m map[string]any) map[string]any {
	mm, _ := m["meta"].(map[string]any)
	return mm
}

func memberValues(group map[string]any) []string {
	var out []string
	list, _ := group["members"].([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		out = append(out, str(mm, "value"))
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
