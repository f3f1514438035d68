package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	t.Run("no ServiceProviderConfig: Entra defaults", func(t *testing.T) {
		f := newFake()
		f.noSPC = true
		c, _ := newClient(t, f, nil)
		caps, err := c.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !caps.Patch || !caps.Filter || caps.ETag || caps.ServiceProviderConfig || caps.UserEndpoint != "/Users" {
			t.Fatalf("caps = %+v", caps)
		}
	})
	t.Run("cached, and endpoints from ResourceTypes", func(t *testing.T) {
		f := newFake()
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			switch {
			case strings.HasSuffix(r.URL.Path, "/ResourceTypes"):
				writeJSON(w, 200, map[string]any{"Resources": []any{
					map[string]any{"name": "User", "endpoint": "/Accounts", "schema": schemaUser,
						"schemaExtensions": []any{map[string]any{"schema": ent}}},
					map[string]any{"name": "Group", "endpoint": "Teams"},
				}})
				return true
			case strings.HasSuffix(r.URL.Path, "/Schemas"):
				writeJSON(w, 200, []any{map[string]any{"id": schemaUser}, map[string]any{"id": ent}})
				return true
			case strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig"):
				writeJSON(w, 200, map[string]any{
					"patch": map[string]any{"supported": "true"}, "etag": map[string]any{"supported": true},
					"filter": map[string]any{"supported": true, "maxResults": 50},
					"bulk":   map[string]any{"supported": true, "maxOperations": 10, "maxPayloadSize": 4096},
					"sort":   map[string]any{"supported": false}, "changePassword": map[string]any{"supported": true},
					"pagination": map[string]any{"cursor": true, "index": true, "maxPageSize": 25, "cursorTimeout": 60},
				})
				return true
			case strings.HasPrefix(r.URL.Path, "/scim/v2/Accounts"):
				writeJSON(w, 200, map[string]any{"totalResults": 0, "Resources": []any{}})
				return true
			}
			return false
		}
		c, _ := newClient(t, f, func(cfg *Config) { cfg.PageSize = 500 })
		caps, err := c.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%v %v %v %v %d %d %d %d %s %s %v %v", true, true, true, true, 50, 10, 4096, 25, "/Accounts", "/Teams", caps.CursorTimeout, []string{ent})
		got := fmt.Sprintf("%v %v %v %v %d %d %d %d %s %s %v %v", caps.Patch, caps.ETag, caps.Cursor, caps.ChangePassword, caps.FilterMaxResults,
			caps.BulkMaxOperations, caps.BulkMaxPayloadSize, caps.MaxPageSize, caps.UserEndpoint, caps.GroupEndpoint, caps.CursorTimeout, caps.UserExtensions)
		if got != want || caps.CursorTimeout.Seconds() != 60 || len(caps.Schemas) != 2 {
			t.Fatalf("caps = %s (%+v)", got, caps)
		}
		n := len(f.requests())
		if _, err := c.Discover(ctx); err != nil || len(f.requests()) != n {
			t.Fatal("discovery not cached")
		}
		if _, err := c.Find(ctx, connectors.TypeUser, "userName", "x"); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if last := reqs[len(reqs)-1]; last.Path != "/scim/v2/Accounts" {
			t.Fatalf("Find went to %s", last.Path)
		}
		if c.pageSize(&caps) != 25 || c.memberBatch(&caps) != 10 {
			t.Fatalf("page size %d, member batch %d", c.pageSize(&caps), c.memberBatch(&caps))
		}
	})
	t.Run("forbidden ServiceProviderConfig: defaults", func(t *testing.T) {
		c, _ := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
				scimErr(w, 403, "", "admins only")
				return
			}
			newFake().ServeHTTP(w, r)
		}), nil)
		if err := c.Test(ctx); err != nil {
			t.Fatal(err)
		}
		if caps, err := c.Discover(ctx); err != nil || !caps.Patch || caps.ServiceProviderConfig {
			t.Fatalf("caps %+v, %v", caps, err)
		}
	})
	t.Run("failures are not cached", func(t *testing.T) {
		f := newFake()
		f.token = "other"
		c, _ := newClient(t, f, nil)
		if _, err := c.Discover(ctx); connectors.ClassOf(err) != connectors.ClassUnauthorized {
			t.Fatalf("got %v", err)
		}
		f.mu.Lock()
		f.token = ""
		f.mu.Unlock()
		if _, err := c.Discover(ctx); err != nil {
			t.Fatalf("after fixing the token: %v", err)
		}
	})
}

func TestVersionCacheBounded(t *testing.T) {
	v := newVersionCache(100)
	for i := 0; i < 1000; i++ {
		v.set(connectors.TypeUser, fmt.Sprint(i), "W/\"1\"")
	}
	if n := v.len(); n > 100 || n < 90 {
		t.Fatalf("len = %d", n)
	}
	if v.get(connectors.TypeUser, "999") == "" {
		t.Fatal("latest entry forgotten")
	}
	v.set(connectors.TypeUser, "999", "")
	if v.get(connectors.TypeUser, "999") != "" {
		t.Fatal("not cleared")
	}
}

func TestPlainNumbers(t *testing.T) {
	attrs, meta := flatten(map[string]any{"id": "1", "count": 42.0, "ratio": 1.5, "big": 1e300,
		"meta": map[string]any{"version": `W/"3"`, "lastModified": "2026-01-01T00:00:00Z"}})
	if attrs["count"] != int64(42) || attrs["ratio"] != 1.5 || attrs["big"] != 1e300 || meta.version != `W/"3"` || meta.id != "1" {
		t.Fatalf("attrs %#v meta %+v", attrs, meta)
	}
}

func TestFindPagingAndTemplates(t *testing.T) {
	f := newFake()
	f.maxPage = 1
	for i := 0; i < 3; i++ {
		f.put("Users", user(fmt.Sprintf("u%d", i), "externalId", "same"))
	}
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	got, err := c.Find(ctx, connectors.TypeUser, "externalId", "same")
	if err != nil || len(got) != 3 {
		t.Fatalf("Find across pages = %d, %v", len(got), err)
	}
	var finds []url.Values
	for _, r := range f.requests() {
		if r.Path == "/scim/v2/Users" {
			q, _ := url.ParseQuery(r.RawQuery)
			finds = append(finds, q)
		}
	}
	if len(finds) != 3 || finds[0].Has("startIndex") || finds[0].Has("count") || finds[1].Get("startIndex") != "2" {
		t.Fatalf("find queries = %v", finds)
	}
	// A filtered path without a sub-attribute cannot be compared: rejected before sending.
	n := len(f.requests())
	_, err = c.Find(ctx, connectors.TypeUser, `emails[type eq "work"]`, "x")
	if ce := mustErr(t, err); ce.Code != CodeInvalidFilter {
		t.Fatalf("got %v", ce)
	}
	// Cached verdicts: the second time too.
	_, err = c.Find(ctx, connectors.TypeUser, `emails[type eq "work"]`, "y")
	if ce := mustErr(t, err); ce.Code != CodeInvalidFilter || len(f.requests()) != n {
		t.Fatalf("got %v", ce)
	}
}
