package scim

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

func TestListPaging(t *testing.T) {
	const n = 250
	cases := []struct {
		name    string
		setup   func(*fake)
		wantErr string
		check   func(t *testing.T, f *fake)
	}{
		{name: "plain", setup: func(*fake) {}},
		{name: "server returns fewer than count", setup: func(f *fake) { f.maxPage = 7 }},
		{name: "server lies about itemsPerPage", setup: func(f *fake) { f.maxPage = 10; f.lieItemsPerPage = true }},
		{name: "no totalResults", setup: func(f *fake) { f.noTotal = true; f.maxPage = 30 }},
		{name: "server ignores startIndex", setup: func(f *fake) { f.ignoreStartIndex = true }, wantErr: "ignores startIndex"},
		{name: "cursor pagination", setup: func(f *fake) { f.cursor = true; f.maxPage = 40 }, check: func(t *testing.T, f *fake) {
			for _, r := range f.requests() {
				if r.Path == "/scim/v2/Users" {
					q, _ := url.ParseQuery(r.RawQuery)
					if !q.Has("cursor") || q.Has("startIndex") {
						t.Fatalf("cursor server got %q", r.RawQuery)
					}
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			for i := 0; i < n; i++ {
				f.put("Users", user(fmt.Sprintf("user%03d", i)))
			}
			tc.setup(f)
			c, _ := newClient(t, f, nil)
			var ids []string
			err := c.List(context.Background(), connectors.TypeUser, []string{"userName"}, func(o connectors.TargetObject) error {
				ids = append(ids, o.ID)
				if o.Attributes["userName"] == nil {
					t.Fatalf("object without userName: %+v", o)
				}
				return nil
			})
			if tc.wantErr != "" {
				ce := mustErr(t, err)
				if ce.Code != CodeServiceIncompatible || !strings.Contains(ce.Message, tc.wantErr) {
					t.Fatalf("got %v", ce)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != n {
				t.Fatalf("listed %d, want %d", len(ids), n)
			}
			for i, id := range ids {
				if want := fmt.Sprintf("id-%04d", i+1); id != want {
					t.Fatalf("ids[%d] = %s, want %s (server order)", i, id, want)
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestPageSizeBoundedByMaxResults(t *testing.T) {
	f := newFake()
	f.hook = nil
	for i := 0; i < 5; i++ {
		f.put("Users", user(fmt.Sprintf("u%d", i)))
	}
	c, _ := newClient(t, f, func(cfg *Config) { cfg.PageSize = 5000 })
	if err := c.List(context.Background(), connectors.TypeUser, nil, func(connectors.TargetObject) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.requests() {
		if r.Path == "/scim/v2/Users" && !strings.Contains(r.RawQuery, "count=1000") {
			t.Fatalf("page request %q: count not bounded by filter.maxResults 1000", r.RawQuery)
		}
	}
}

func TestListEmitErrorStops(t *testing.T) {
	f := newFake()
	for i := 0; i < 10; i++ {
		f.put("Users", user(fmt.Sprintf("u%d", i)))
	}
	c, _ := newClient(t, f, func(cfg *Config) { cfg.PageSize = 3 })
	stop := fmt.Errorf("stop")
	seen := 0
	err := c.List(context.Background(), connectors.TypeUser, nil, func(connectors.TargetObject) error {
		seen++
		if seen == 4 {
			return stop
		}
		return nil
	})
	if err != stop || seen != 4 {
		t.Fatalf("err = %v after %d", err, seen)
	}
}

func TestListGroupsNeverAsksForMembers(t *testing.T) {
	f := newFake()
	f.put("Groups", map[string]any{"displayName": "g", "members": []any{map[string]any{"value": "x"}}})
	c, _ := newClient(t, f, nil)
	var got []connectors.TargetObject
	if err := c.List(context.Background(), connectors.TypeGroup, []string{"displayName"}, func(o connectors.TargetObject) error {
		got = append(got, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Attributes["displayName"] != "g" || got[0].Attributes["members"] != nil {
		t.Fatalf("got %+v", got)
	}
	for _, r := range f.requests() {
		if r.Path == "/scim/v2/Groups" {
			q, _ := url.ParseQuery(r.RawQuery)
			if strings.Contains(q.Get("attributes"), "members") {
				t.Fatalf("asked for members: %q", r.RawQuery)
			}
		}
	}
}
