package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
)

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// peer is one SCIM server under test.
type peer struct {
	name    string
	baseURL string
	token   string
	srv     *scimserver.Server // the embedded server (fault injection); nil for SCIMMY

	mu    sync.Mutex
	notes []string // what this server did, for the summary
}

func (p *peer) note(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Logf("[%s] %s", p.name, msg)
	p.mu.Lock()
	p.notes = append(p.notes, msg)
	p.mu.Unlock()
}

func (p *peer) client(t *testing.T, mod func(*scim.Config)) *scim.Client {
	t.Helper()
	cfg := scim.Config{
		BaseURL:              p.baseURL,
		Auth:                 scim.AuthConfig{Token: p.token},
		MaxRequestsPerSecond: 2000,
		Timeout:              10 * time.Second,
		RetryBackoff:         10 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := scim.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("scim.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// raw sends a request outside the client, to observe server behaviour.
func (p *peer) raw(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.baseURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func uniq() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func classOf(err error) connectors.ErrorClass { return connectors.ClassOf(err) }

func mustCreateUser(t *testing.T, c *scim.Client, name string, extra connectors.Attributes) string {
	t.Helper()
	attrs := connectors.Attributes{"userName": name, "active": true}
	for k, v := range extra {
		attrs[k] = v
	}
	obj, err := c.Create(context.Background(), connectors.TypeUser, attrs)
	if err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	if obj.ID == "" {
		t.Fatalf("Create %s: no id", name)
	}
	return obj.ID
}

type scenario struct {
	name string
	run  func(t *testing.T, p *peer)
}

var scenarios = []scenario{
	{"test connection and discovery", func(t *testing.T, p *peer) {
		c := p.client(t, nil)
		if err := c.Test(context.Background()); err != nil {
			t.Fatalf("Test: %v", err)
		}
		caps, err := c.Discover(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p.note(t, "capabilities: patch=%v etag=%v filter=%v maxResults=%d bulk=%v (maxOperations %d) sort=%v cursor=%v endpoints=%s,%s userExtensions=%v",
			caps.Patch, caps.ETag, caps.Filter, caps.FilterMaxResults, caps.Bulk, caps.BulkMaxOperations, caps.Sort, caps.Cursor,
			caps.UserEndpoint, caps.GroupEndpoint, caps.UserExtensions)
		bad := p.client(t, func(cfg *scim.Config) { cfg.Auth.Token = "wrong-token" })
		if cl := classOf(bad.Test(context.Background())); cl != connectors.ClassUnauthorized {
			t.Fatalf("wrong token: class %q, want unauthorized", cl)
		}
		wrongBase := p.client(t, func(cfg *scim.Config) { cfg.BaseURL = strings.TrimSuffix(p.baseURL, "/scim/v2") + "/not-scim" })
		err = wrongBase.Test(context.Background())
		if ce := connectors.AsError(err); ce == nil || ce.Code != scim.CodeServiceIncompatible && ce.Class != connectors.ClassUnauthorized {
			t.Fatalf("wrong base URL: %v", err)
		} else {
			p.note(t, "wrong base URL → %s/%s (HTTP %d)", ce.Class, ce.Code, ce.Status)
		}
	}},
	{"create and read back", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, nil)
		u := uniq()
		mgr := mustCreateUser(t, c, "mgr-"+u+"@example.com", nil)
		attrs := connectors.Attributes{
			"userName":                     "ada-" + u + "@example.com",
			"externalId":                   "src-" + u,
			"displayName":                  "Ada Lovelace",
			"name.givenName":               "Ada",
			"name.familyName":              "Lovelace",
			`emails[type eq "work"].value`: "ada-" + u + "@example.com",
			"title":                        "Analyst",
			"active":                       true,
			ent + ":department":            "Engines",
			ent + ":manager":               mgr,
		}
		obj, err := c.Create(ctx, connectors.TypeUser, attrs)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		p.note(t, "create answered a version: %v", obj.Version != "")
		got, err := c.Get(ctx, connectors.TypeUser, obj.ID)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range attrs {
			if fmt.Sprint(got.Attributes[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", k, got.Attributes[k], v)
			}
		}
	}},
	{"duplicate create is a conflict", func(t *testing.T, p *peer) {
		c := p.client(t, nil)
		name := "dup-" + uniq()
		mustCreateUser(t, c, name, nil)
		_, err := c.Create(context.Background(), connectors.TypeUser, connectors.Attributes{"userName": strings.ToUpper(name)})
		ce := connectors.AsError(err)
		if ce == nil || ce.Class != connectors.ClassConflict || ce.Code != "EntryConflict" {
			t.Fatalf("duplicate (case-insensitive) create: %v", err)
		}
		p.note(t, "duplicate userName → HTTP %d, detail %q", ce.Status, ce.Detail)
		g := "grp-dup-" + uniq()
		if _, err := c.Create(context.Background(), connectors.TypeGroup, connectors.Attributes{"displayName": g}); err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(context.Background(), connectors.TypeGroup, connectors.Attributes{"displayName": g})
		if classOf(err) != connectors.ClassConflict {
			t.Fatalf("duplicate group: %v", err)
		}
	}},
	{"find matches", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, nil)
		u := uniq()
		id := mustCreateUser(t, c, "find-"+u, connectors.Attributes{"externalId": "ext-" + u,
			`emails[type eq "work"].value`: "find-" + u + "@example.com"})
		mustCreateUser(t, c, "unicode-"+u+"-ünï😀", nil)
		escaped := `quote"and\back-` + u
		mustCreateUser(t, c, escaped, nil)
		for _, m := range []struct {
			attr  string
			value any
		}{
			{"userName", "find-" + u},
			{"externalId", "ext-" + u},
		} {
			got, err := c.Find(ctx, connectors.TypeUser, m.attr, m.value)
			if err != nil {
				t.Fatalf("Find %s: %v", m.attr, err)
			}
			if len(got) != 1 || got[0].ID != id {
				t.Fatalf("Find %s = %+v", m.attr, got)
			}
		}
		// Matching on a work email: the client sends the RFC form
		// emails[type eq "work" and value eq "…"]. A server may fail on it; the client then
		// reports a classified error (never a wrong match).
		got, err := c.Find(ctx, connectors.TypeUser, `emails[type eq "work"].value`, "find-"+u+"@example.com")
		switch ce := connectors.AsError(err); {
		case err == nil && len(got) == 1 && got[0].ID == id:
			p.note(t, `Find by emails[type eq "work"].value: matched`)
		case ce != nil && ce.Class == connectors.ClassInvalid:
			p.note(t, `Find by emails[type eq "work"].value: server error %s (HTTP %d, %q)`, ce.Code, ce.Status, ce.Detail)
		default:
			t.Fatalf("Find by work email = %+v, %v", got, err)
		}
		got, err = c.Find(ctx, connectors.TypeUser, "userName", "unicode-"+u+"-ünï😀")
		if err != nil || len(got) != 1 {
			t.Fatalf("Find with a non-ASCII literal: %v %v", got, err)
		}
		// The client sends `userName eq "quote\"and\\back-…"`, a JSON string literal as
		// RFC 7644 §3.4.2.2 requires; whether it matches is up to the server's unescaping.
		got, err = c.Find(ctx, connectors.TypeUser, "userName", escaped)
		switch ce := connectors.AsError(err); {
		case err == nil && len(got) == 1:
			p.note(t, `filter literal with \" and \\ escapes: matched`)
		case ce != nil && ce.Class == connectors.ClassInvalid:
			p.note(t, `filter literal with \" and \\ escapes: server error %s (HTTP %d, %q)`, ce.Code, ce.Status, ce.Detail)
		default:
			t.Fatalf("Find with an escaped literal = %+v, %v", got, err)
		}
		got, err = c.FindAll(ctx, connectors.TypeUser, map[string]any{"userName": "find-" + u, "externalId": "ext-" + u})
		if err != nil || len(got) != 1 {
			t.Fatalf("FindAll: %v %v", got, err)
		}
		if got, err := c.Find(ctx, connectors.TypeUser, "userName", "FIND-"+u); err == nil {
			p.note(t, "userName match is case-insensitive: %v", len(got) == 1)
		}
		if got, err := c.Find(ctx, connectors.TypeUser, "userName", "nobody-"+u); err != nil || len(got) != 0 {
			t.Fatalf("Find nobody: %v %v", got, err)
		}
	}},
	{"patch update", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, nil)
		id := mustCreateUser(t, c, "upd-"+uniq(), connectors.Attributes{"title": "Old", "name.givenName": "A", ent + ":department": "D1"})
		err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{
			{Name: "displayName", Op: connectors.ModReplace, Value: "Updated"},
			{Name: "name.givenName", Op: connectors.ModReplace, Value: "B"},
			{Name: "title", Op: connectors.ModRemove},
			{Name: ent + ":department", Op: connectors.ModReplace, Value: "D2"},
			{Name: `emails[type eq "work"].value`, Op: connectors.ModReplace, Value: "new@example.com"},
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err := c.Get(ctx, connectors.TypeUser, id)
		if err != nil {
			t.Fatal(err)
		}
		a := got.Attributes
		if a["displayName"] != "Updated" || a["name.givenName"] != "B" || a["title"] != nil || a[ent+":department"] != "D2" ||
			a[`emails[type eq "work"].value`] != "new@example.com" {
			t.Fatalf("after update: %v", a)
		}
	}},
	{"disable keeps the user readable", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, nil)
		name := "dis-" + uniq()
		id := mustCreateUser(t, c, name, nil)
		if err := c.Disable(ctx, connectors.TypeUser, id); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		got, err := c.Get(ctx, connectors.TypeUser, id)
		if err != nil || got.Attributes["active"] != false {
			t.Fatalf("after disable: %+v %v", got, err)
		}
		found, err := c.Find(ctx, connectors.TypeUser, "userName", name)
		if err != nil || len(found) != 1 || found[0].Attributes["active"] != false {
			t.Fatalf("Find after disable: %+v %v", found, err)
		}
		// The Entra legacy form: observe the server, then check the client copes.
		id2 := mustCreateUser(t, c, "legacy-"+uniq(), nil)
		st, body := p.raw(t, http.MethodPatch, "/Users/"+id2,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
		p.note(t, `PATCH active "False" (legacy string) → HTTP %d %v`, st, body["scimType"])
		legacy := p.client(t, func(cfg *scim.Config) { cfg.DisableMode = scim.DisablePatchLegacyString })
		id3 := mustCreateUser(t, c, "legacy2-"+uniq(), nil)
		if err := legacy.Disable(ctx, connectors.TypeUser, id3); err != nil {
			t.Fatalf("legacy-mode Disable: %v", err)
		}
		got, _ = c.Get(ctx, connectors.TypeUser, id3)
		if a := got.Attributes["active"]; a != false && a != "False" {
			t.Fatalf("legacy-mode disable: active = %v", a)
		}
		put := p.client(t, func(cfg *scim.Config) { cfg.DisableMode = scim.DisablePut })
		id4 := mustCreateUser(t, c, "put-"+uniq(), connectors.Attributes{"displayName": "Keep"})
		if err := put.Disable(ctx, connectors.TypeUser, id4); err != nil {
			t.Fatalf("put-mode Disable: %v", err)
		}
		got, _ = c.Get(ctx, connectors.TypeUser, id4)
		if got.Attributes["active"] != false || got.Attributes["displayName"] != "Keep" {
			t.Fatalf("put-mode disable: %v", got.Attributes)
		}
	}},
	{"delete and delete again", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, nil)
		name := "del-" + uniq()
		id := mustCreateUser(t, c, name, nil)
		if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := c.Get(ctx, connectors.TypeUser, id); !connectors.IsNotFound(err) {
			t.Fatalf("Get after delete: %v", err)
		}
		if found, err := c.Find(ctx, connectors.TypeUser, "userName", name); err != nil || len(found) != 0 {
			t.Fatalf("Find after delete: %v %v", found, err)
		}
	}},
	{"group membership", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, func(cfg *scim.Config) { cfg.MemberBatchSize = 2 })
		u := uniq()
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, mustCreateUser(t, c, fmt.Sprintf("m%d-%s", i, u), nil))
		}
		g, err := c.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "grp-" + u, "externalId": "g-" + u, "members": ids})
		if err != nil {
			t.Fatal(err)
		}
		members := func() []string {
			t.Helper()
			got, err := c.Get(ctx, connectors.TypeGroup, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := got.Attributes["members"].([]string)
			sort.Strings(m)
			return m
		}
		if m := members(); len(m) != 0 {
			t.Fatalf("group created with members %v", m)
		}
		if err := c.AddMembers(ctx, g.ID, ids); err != nil {
			t.Fatalf("AddMembers: %v", err)
		}
		want := append([]string(nil), ids...)
		sort.Strings(want)
		if m := members(); strings.Join(m, ",") != strings.Join(want, ",") {
			t.Fatalf("members = %v, want %v", m, want)
		}
		if err := c.AddMembers(ctx, g.ID, ids[:1]); err != nil {
			t.Fatalf("re-adding a member: %v", err)
		}
		p.note(t, "re-adding an existing member leaves %d member entries for 5 members", len(members()))
		// Remove one member and one id that never was a member.
		st, body := p.raw(t, http.MethodPatch, "/Groups/"+g.ID,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"never-a-member\"]"}]}`)
		p.note(t, "remove of a non-member → HTTP %d %v", st, body["scimType"])
		if err := c.RemoveMembers(ctx, g.ID, []string{ids[0], "never-a-member", ids[3]}); err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		set := map[string]bool{}
		for _, m := range members() {
			set[m] = true
		}
		if len(set) != 3 || set[ids[0]] || set[ids[3]] || !set[ids[1]] || !set[ids[2]] || !set[ids[4]] {
			t.Fatalf("members after remove = %v", set)
		}
		found, err := c.Find(ctx, connectors.TypeGroup, "displayName", "grp-"+u)
		if err != nil || len(found) != 1 || found[0].ID != g.ID || found[0].Attributes["members"] != nil {
			t.Fatalf("Find group: %+v %v", found, err)
		}
		if err := c.Delete(ctx, connectors.TypeGroup, g.ID); err != nil {
			t.Fatal(err)
		}
	}},
	{"paging beyond one page", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, func(cfg *scim.Config) { cfg.PageSize = 7 })
		u := uniq()
		want := map[string]bool{}
		for i := 0; i < 23; i++ {
			want[mustCreateUser(t, c, fmt.Sprintf("page%02d-%s", i, u), nil)] = true
		}
		seen := map[string]int{}
		if err := c.List(ctx, connectors.TypeUser, []string{"userName"}, func(o connectors.TargetObject) error {
			seen[o.ID]++
			return nil
		}); err != nil {
			t.Fatalf("List: %v", err)
		}
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("user %s listed %d times", id, seen[id])
			}
		}
		// count=0 asks for totalResults only (RFC 7644 §3.4.2.4).
		st, body := p.raw(t, http.MethodGet, "/Users?count=0", "")
		res, _ := body["Resources"].([]any)
		p.note(t, "GET /Users?count=0 → HTTP %d with %d Resources (totalResults %v)", st, len(res), body["totalResults"])
		n, err := c.Source().Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser})
		if err != nil || n < int64(len(want)) {
			t.Fatalf("Estimate = %d, %v", n, err)
		}
	}},
	{"etag precondition", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c1 := p.client(t, nil)
		c2 := p.client(t, nil)
		caps, err := c1.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := mustCreateUser(t, c1, "etag-"+uniq(), nil)
		if err := c2.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "title", Op: connectors.ModReplace, Value: "by c2"}}); err != nil {
			t.Fatal(err)
		}
		var before int64
		if p.srv != nil {
			before = p.srv.Stats().ByStatus[412]
		}
		if err := c1.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: "by c1"}}); err != nil {
			t.Fatalf("Update with a stale version: %v", err)
		}
		got, _ := c1.Get(ctx, connectors.TypeUser, id)
		if got.Attributes["title"] != "by c2" || got.Attributes["displayName"] != "by c1" {
			t.Fatalf("after concurrent updates: %v", got.Attributes)
		}
		if !caps.ETag {
			p.note(t, "etag unsupported: no If-Match sent, last writer wins")
			st, _ := p.raw(t, http.MethodPut, "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+got.Attributes["userName"].(string)+`"}`)
			p.note(t, "(raw PUT without If-Match → HTTP %d)", st)
			return
		}
		if p.srv != nil {
			if n := p.srv.Stats().ByStatus[412] - before; n != 1 {
				t.Fatalf("412 answers = %d, want exactly 1 (stale If-Match, then re-read and retry)", n)
			}
		}
		p.note(t, "etag supported: stale If-Match → 412, re-read, retried once, succeeded")
	}},
	{"source full and incremental read", func(t *testing.T, p *peer) {
		ctx := context.Background()
		c := p.client(t, func(cfg *scim.Config) { cfg.StateDir = t.TempDir() })
		s := c.Source()
		a := mustCreateUser(t, c, "src-a-"+uniq(), nil)
		b := mustCreateUser(t, c, "src-b-"+uniq(), nil)
		full, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error { return nil })
		if err != nil || !full.Full {
			t.Fatalf("full read: %+v %v", full, err)
		}
		time.Sleep(20 * time.Millisecond)
		if err := c.Update(ctx, connectors.TypeUser, a, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: "changed"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, connectors.TypeUser, b); err != nil {
			t.Fatal(err)
		}
		var changes []string
		inc, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: full.Watermark}, func(ch connectors.Change) error {
			changes = append(changes, string(ch.Kind)+" "+ch.Object.ID)
			return nil
		})
		if err != nil || inc.Full {
			t.Fatalf("incremental read: %+v %v", inc, err)
		}
		if strings.Join(changes, ",") != "upsert "+a+",delete "+b {
			t.Fatalf("incremental changes = %v, want [upsert %s delete %s]", changes, a, b)
		}
		p.note(t, "incremental source mode: %s (watermark %d bytes)", strings.SplitN(inc.Watermark, ":", 3)[1], len(inc.Watermark))
	}},
	{"faults: unauthorized, throttling, errors, latency", func(t *testing.T, p *peer) {
		if p.srv == nil {
			t.Skip("fault injection is a feature of the embedded server")
		}
		ctx := context.Background()
		defer p.srv.SetFaults(scimserver.Faults{})

		p.srv.SetFaults(scimserver.Faults{Unauthorized: true})
		c := p.client(t, nil)
		if cl := classOf(c.Test(ctx)); cl != connectors.ClassUnauthorized {
			t.Fatalf("Unauthorized fault: class %q", cl)
		}

		p.srv.SetFaults(scimserver.Faults{ThrottleRate: 1, RetryAfter: time.Second})
		c = p.client(t, func(cfg *scim.Config) { cfg.MaxRetries = 1; cfg.MaxRequestsPerSecond = 100 })
		start := time.Now()
		_, err := c.Find(ctx, connectors.TypeUser, "userName", "x")
		ce := connectors.AsError(err)
		if ce == nil || ce.Class != connectors.ClassThrottled || ce.RetryAfter != time.Second {
			t.Fatalf("throttled: %v", err)
		}
		if el := time.Since(start); el < 900*time.Millisecond {
			t.Fatalf("Retry-After not honoured: retried after %v", el)
		}
		if c.Rate() >= 100 {
			t.Fatalf("rate did not go down: %v", c.Rate())
		}
		p.note(t, "ThrottleRate 1: %s after %v, rate %.0f → %.0f req/s, stats %+v", ce.Code, time.Since(start).Round(time.Millisecond), 100.0, c.Rate(), c.Stats())

		p.srv.SetFaults(scimserver.Faults{ErrorRate: .5})
		c = p.client(t, func(cfg *scim.Config) { cfg.MaxRetries = 10 })
		u := uniq()
		for i := 0; i < 20; i++ {
			name := fmt.Sprintf("flaky%02d-%s", i, u)
			if _, err := c.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": name}); err != nil {
				t.Fatalf("Create under ErrorRate .5: %v", err)
			}
		}
		p.srv.SetFaults(scimserver.Faults{})
		for i := 0; i < 20; i++ {
			name := fmt.Sprintf("flaky%02d-%s", i, u)
			if got, err := c.Find(ctx, connectors.TypeUser, "userName", name); err != nil || len(got) != 1 {
				t.Fatalf("%s: %d copies, %v", name, len(got), err)
			}
		}
		p.note(t, "ErrorRate .5: 20 creates succeeded, no duplicates; stats %+v", c.Stats())

		p.srv.SetFaults(scimserver.Faults{Latency: 300 * time.Millisecond})
		c = p.client(t, func(cfg *scim.Config) { cfg.Timeout = 100 * time.Millisecond; cfg.MaxRetries = -1 })
		_, err = c.Find(ctx, connectors.TypeUser, "userName", "x")
		if ce := connectors.AsError(err); ce == nil || ce.Class != connectors.ClassRetryable || ce.Code != "Timeout" {
			t.Fatalf("latency beyond Timeout: %v", err)
		}
	}},
}

func runPeer(t *testing.T, p *peer) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, p) })
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Logf("summary for %s:\n  %s", p.name, strings.Join(p.notes, "\n  "))
	})
}

func TestConformance(t *testing.T) {
	t.Run("scimserver", func(t *testing.T) {
		srv, err := scimserver.New(scimserver.Options{Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		runPeer(t, &peer{name: "scimserver", baseURL: ts.URL + "/scim/v2", token: "t", srv: srv})
	})
	t.Run("scimmy", func(t *testing.T) {
		if os.Getenv("PROVISIOND_SCIMMY") != "1" {
			t.Skip("set PROVISIOND_SCIMMY=1 to run against SCIMMY (needs node and npm)")
		}
		base, token := startSCIMMY(t)
		runPeer(t, &peer{name: "SCIMMY", baseURL: base, token: token})
	})
}

// startSCIMMY runs testdata/scimmy/server.mjs on a free port and returns its base URL and
// token. The process is killed when the test ends.
func startSCIMMY(t *testing.T) (string, string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "testdata", "scimmy")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("PROVISIOND_SCIMMY=1 but node is not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "scimmy")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	token := "scimmy-" + uniq() + uniq()
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "TOKEN="+token)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting SCIMMY: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "listening" {
				if n, err := strconv.Atoi(f[1]); err == nil {
					portc <- n
				}
			}
		}
	}()
	var port int
	select {
	case port = <-portc:
	case <-time.After(20 * time.Second):
		t.Fatalf("SCIMMY did not start within 20s; stderr:\n%s", stderr.String())
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/scim/v2", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("SCIMMY not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("SCIMMY (pid %d) on %s", cmd.Process.Pid, base)
	return base, token
}
