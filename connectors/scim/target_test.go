package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func lastBody(t *testing.T, f *fake, method, pathPrefix string) map[string]any {
	t.Helper()
	reqs := f.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && strings.HasPrefix(reqs[i].Path, pathPrefix) {
			var m map[string]any
			if err := json.Unmarshal(reqs[i].Body, &m); err != nil {
				t.Fatalf("%s body: %v", method, err)
			}
			return m
		}
	}
	t.Fatalf("no %s %s request", method, pathPrefix)
	return nil
}

func TestCreateBuildsResource(t *testing.T) {
	f := newFake()
	c, _ := newClient(t, f, nil)
	attrs := connectors.Attributes{
		"userName":                             "ada@example.com",
		"active":                               true,
		"displayName":                          "Ada Lovelace",
		"name.givenName":                       "Ada",
		"name.familyName":                      "Lovelace",
		`emails[type eq "work"].value`:         "ada@example.com",
		`emails[type eq "work"].primary`:       true,
		`emails[type eq "home"].value`:         "ada@home.example",
		`phoneNumbers[type eq "mobile"].value`: "+44 1",
		"externalId":                           "src-1",
		ent + ":department":                    "Analytical Engines",
		ent + ":manager":                       "mgr-id",
		"title":                                nil, // no value: omitted
	}
	obj, err := c.Create(context.Background(), connectors.TypeUser, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if obj.ID == "" || obj.Attributes["userName"] != "ada@example.com" {
		t.Fatalf("obj = %+v", obj)
	}
	got := lastBody(t, f, http.MethodPost, "/scim/v2/Users")
	want := map[string]any{
		"schemas":     []any{schemaUser, ent},
		"userName":    "ada@example.com",
		"active":      true,
		"displayName": "Ada Lovelace",
		"externalId":  "src-1",
		"name":        map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails": []any{
			map[string]any{"type": "home", "value": "ada@home.example"},
			map[string]any{"type": "work", "value": "ada@example.com", "primary": true},
		},
		"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+44 1"}},
		ent:            map[string]any{"department": "Analytical Engines", "manager": map[string]any{"value": "mgr-id"}},
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("POST body\n%s\nwant\n%s", gb, wb)
	}
	// Get flattens back to the same names.
	back, err := c.Get(context.Background(), connectors.TypeUser, obj.ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range attrs {
		if v == nil {
			continue
		}
		if !reflect.DeepEqual(back.Attributes[k], v) {
			t.Errorf("Get: %s = %#v, want %#v", k, back.Attributes[k], v)
		}
	}
	if back.ID != obj.ID {
		t.Errorf("Get id %q", back.ID)
	}
}

func TestCreateGroupWithoutMembers(t *testing.T) {
	f := newFake()
	c, _ := newClient(t, f, nil)
	_, err := c.Create(context.Background(), connectors.TypeGroup, connectors.Attributes{
		"displayName": "Engineers", "externalId": "g-1", "members": []string{"a", "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := lastBody(t, f, http.MethodPost, "/scim/v2/Groups")
	want := map[string]any{"schemas": []any{schemaGroup}, "displayName": "Engineers", "externalId": "g-1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("POST /Groups body = %v", got)
	}
}

func TestCreateRejectsBadAttributeNames(t *testing.T) {
	c, _ := newClient(t, newFake(), nil)
	for _, name := range []string{"", "user name", `emails[type eq "work"`, "a..b"} {
		_, err := c.Create(context.Background(), connectors.TypeUser, connectors.Attributes{"userName": "x", name: "v"})
		if ce := mustErr(t, err); ce.Class != connectors.ClassInvalid {
			t.Errorf("%q: got %v", name, ce)
		}
	}
}

func TestFind(t *testing.T) {
	f := newFake()
	a := f.put("Users", user("alice", "externalId", "e-1", "emails", []any{map[string]any{"type": "work", "value": "a@x.example"}}))
	f.put("Users", user("bob", "externalId", "dup"))
	f.put("Users", user("bob2", "externalId", "dup"))
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	cases := []struct {
		attr  string
		value any
		n     int
	}{
		{"userName", "alice", 1},
		{"userName", "ALICE", 1}, // caseExact false on the server
		{"externalId", "e-1", 1},
		{"externalId", "dup", 2},
		{"userName", "nobody", 0},
		{`emails[type eq "work"].value`, "a@x.example", 1},
	}
	for _, tc := range cases {
		got, err := c.Find(ctx, connectors.TypeUser, tc.attr, tc.value)
		if err != nil {
			t.Fatalf("Find(%s): %v", tc.attr, err)
		}
		if len(got) != tc.n {
			t.Fatalf("Find(%s=%v) = %d results, want %d", tc.attr, tc.value, len(got), tc.n)
		}
		if tc.n == 1 && tc.attr == "userName" && got[0].ID != a {
			t.Fatalf("found %q", got[0].ID)
		}
	}
	// attributes= carries id and the matching attribute (top-level for a filtered path).
	var q url.Values
	for _, r := range f.requests() {
		if r.Path == "/scim/v2/Users" && strings.Contains(r.RawQuery, "emails") {
			q, _ = url.ParseQuery(r.RawQuery)
		}
	}
	if q.Get("filter") != `emails[type eq "work" and value eq "a@x.example"]` {
		t.Fatalf("filter = %q", q.Get("filter"))
	}
	if attrs := strings.Split(q.Get("attributes"), ","); attrs[0] != "id" || !contains(attrs, "emails") || !contains(attrs, "userName") {
		t.Fatalf("attributes = %q", q.Get("attributes"))
	}
	// FindAll: an and of eq comparisons.
	got, err := c.FindAll(ctx, connectors.TypeUser, map[string]any{"userName": "bob", "externalId": "dup"})
	if err != nil || len(got) != 1 {
		t.Fatalf("FindAll = %v, %v", got, err)
	}
	reqs := f.requests()
	q, _ = url.ParseQuery(reqs[len(reqs)-1].RawQuery)
	if q.Get("filter") != `externalId eq "dup" and userName eq "bob"` {
		t.Fatalf("FindAll filter = %q", q.Get("filter"))
	}
	// Unusable values are rejected before any request.
	before := len(f.requests())
	for _, v := range []any{nil, []string{"x"}, map[string]any{}} {
		if _, err := c.Find(ctx, connectors.TypeUser, "userName", v); mustErr(t, err).Code != CodeInvalidFilter {
			t.Fatalf("Find(%v): %v", v, err)
		}
	}
	if _, err := c.Find(ctx, connectors.TypeUser, "user Name", "x"); err == nil {
		t.Fatal("invalid attribute accepted")
	}
	if len(f.requests()) != before {
		t.Fatal("invalid Find reached the server")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestUpdatePatchBody(t *testing.T) {
	f := newFake()
	id := f.put("Users", user("u1", "name", map[string]any{"givenName": "A"}, "title", "T"))
	c, _ := newClient(t, f, nil)
	mods := []connectors.Modification{
		{Name: "displayName", Op: connectors.ModReplace, Value: "New"},
		{Name: "name.givenName", Op: connectors.ModReplace, Value: "B"},
		{Name: "title", Op: connectors.ModRemove},
		{Name: "nickName", Op: connectors.ModReplace, Value: nil}, // no value → remove
		{Name: ent + ":manager", Op: connectors.ModReplace, Value: "m-2"},
		{Name: "active", Op: connectors.ModReplace, Value: false},
	}
	if err := c.Update(context.Background(), connectors.TypeUser, id, mods); err != nil {
		t.Fatal(err)
	}
	if n := f.count(http.MethodPatch, "/scim/v2/Users/"); n != 1 {
		t.Fatalf("PATCHes = %d, want exactly one", n)
	}
	got := lastBody(t, f, http.MethodPatch, "/scim/v2/Users/")
	want := map[string]any{
		"schemas": []any{schemaPatchOp},
		"Operations": []any{
			map[string]any{"op": "replace", "path": "displayName", "value": "New"},
			map[string]any{"op": "replace", "path": "name.givenName", "value": "B"},
			map[string]any{"op": "remove", "path": "title"},
			map[string]any{"op": "remove", "path": "nickName"},
			map[string]any{"op": "replace", "path": ent + ":manager", "value": map[string]any{"value": "m-2"}},
			map[string]any{"op": "replace", "path": "active", "value": false},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PATCH body = %v", got)
	}
	u := f.get("Users", id)
	if u["displayName"] != "New" || u["title"] != nil || u["active"] != false {
		t.Fatalf("user = %v", u)
	}
	if err := c.Update(context.Background(), connectors.TypeUser, id, nil); err != nil {
		t.Fatal(err)
	}
	if n := f.count(http.MethodPatch, "/scim/v2/Users/"); n != 1 {
		t.Fatal("an empty update sent a request")
	}
}

func TestUpdateNoTargetFallsBackToAdd(t *testing.T) {
	f := newFake()
	id := f.put("Users", user("u1"))
	c, _ := newClient(t, f, nil)
	err := c.Update(context.Background(), connectors.TypeUser, id, []connectors.Modification{
		{Name: `emails[type eq "work"].value`, Op: connectors.ModReplace, Value: "w@x.example"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := lastBody(t, f, http.MethodPatch, "/scim/v2/Users/")
	want := []any{map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"type": "work", "value": "w@x.example"}}}}
	if !reflect.DeepEqual(got["Operations"], want) {
		t.Fatalf("fallback ops = %v", got["Operations"])
	}
	if emails := f.get("Users", id)["emails"]; fmt.Sprint(emails) != "[map[type:work value:w@x.example]]" {
		t.Fatalf("emails = %v", emails)
	}
}

func TestUpdateWithoutPatchUsesPut(t *testing.T) {
	f := newFake()
	f.noPatch = true
	id := f.put("Users", user("u1", "title", "T", "emails", []any{map[string]any{"type": "work", "value": "old@x"}}))
	c, _ := newClient(t, f, nil)
	err := c.Update(context.Background(), connectors.TypeUser, id, []connectors.Modification{
		{Name: "displayName", Op: connectors.ModReplace, Value: "D"},
		{Name: "title", Op: connectors.ModRemove},
		{Name: `emails[type eq "work"].value`, Op: connectors.ModReplace, Value: "new@x"},
		{Name: ent + ":department", Op: connectors.ModReplace, Value: "Ops"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.count(http.MethodPatch, "/") != 0 || f.count(http.MethodPut, "/scim/v2/Users/") != 1 {
		t.Fatal("expected one PUT and no PATCH")
	}
	body := lastBody(t, f, http.MethodPut, "/scim/v2/Users/")
	if body["meta"] != nil {
		t.Error("PUT body carries meta")
	}
	u := f.get("Users", id)
	if u["displayName"] != "D" || u["title"] != nil || u["userName"] != "u1" ||
		fmt.Sprint(u["emails"]) != "[map[type:work value:new@x]]" || fmt.Sprint(u[ent]) != "map[department:Ops]" {
		t.Fatalf("user = %v", u)
	}
}

func TestDisableModes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		mode    string
		noPatch bool
		check   func(t *testing.T, f *fake, id string)
	}{
		{DisablePatch, false, func(t *testing.T, f *fake, id string) {
			ops := lastBody(t, f, http.MethodPatch, "/scim/v2/Users/")["Operations"]
			if fmt.Sprintf("%#v", ops) != `[]interface {}{map[string]interface {}{"op":"replace", "path":"active", "value":false}}` {
				t.Fatalf("ops = %#v", ops)
			}
		}},
		{DisablePatchLegacyString, false, func(t *testing.T, f *fake, id string) {
			ops := lastBody(t, f, http.MethodPatch, "/scim/v2/Users/")["Operations"]
			if fmt.Sprintf("%#v", ops) != `[]interface {}{map[string]interface {}{"op":"replace", "path":"active", "value":"False"}}` {
				t.Fatalf("ops = %#v", ops)
			}
		}},
		{DisablePut, false, func(t *testing.T, f *fake, id string) {
			if f.count(http.MethodPatch, "/") != 0 || f.get("Users", id)["active"] != false {
				t.Fatal("put mode")
			}
		}},
		{DisablePatch, true, func(t *testing.T, f *fake, id string) { // no PATCH support → PUT
			if f.count(http.MethodPut, "/scim/v2/Users/") != 1 || f.get("Users", id)["active"] != false {
				t.Fatal("PUT fallback")
			}
		}},
		{DisableDelete, false, func(t *testing.T, f *fake, id string) {
			if f.get("Users", id) != nil {
				t.Fatal("not deleted")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/noPatch=%v", tc.mode, tc.noPatch), func(t *testing.T) {
			f := newFake()
			f.noPatch = tc.noPatch
			id := f.put("Users", user("u1", "displayName", "U"))
			c, _ := newClient(t, f, func(cfg *Config) { cfg.DisableMode = tc.mode })
			if err := c.Disable(ctx, connectors.TypeUser, id); err != nil {
				t.Fatal(err)
			}
			tc.check(t, f, id)
			if tc.mode != DisableDelete {
				got, err := c.Get(ctx, connectors.TypeUser, id)
				inactive := got.Attributes["active"] == false || (tc.mode == DisablePatchLegacyString && got.Attributes["active"] == "False")
				if err != nil || !inactive || got.Attributes["displayName"] != "U" {
					t.Fatalf("disabled user not readable as inactive: %+v %v", got, err)
				}
			}
		})
	}
	t.Run("legacy string rejected by a strict server: boolean instead", func(t *testing.T) {
		f := newFake()
		f.rejectLegacyActive = true
		id := f.put("Users", user("u1"))
		id2 := f.put("Users", user("u2"))
		c, _ := newClient(t, f, func(cfg *Config) { cfg.DisableMode = DisablePatchLegacyString })
		if err := c.Disable(ctx, connectors.TypeUser, id); err != nil {
			t.Fatal(err)
		}
		if err := c.Disable(ctx, connectors.TypeUser, id2); err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, r := range f.requests() {
			if r.Method == http.MethodPatch {
				values = append(values, string(r.Body[strings.LastIndex(string(r.Body), `"value":`):]))
			}
		}
		// "False" (400), false, then false directly for the second user.
		if strings.Join(values, " ") != `"value":"False"}]} "value":false}]} "value":false}]}` {
			t.Fatalf("values = %v", values)
		}
		if f.get("Users", id)["active"] != false || f.get("Users", id2)["active"] != false {
			t.Fatal("not disabled")
		}
	})
	t.Run("groups cannot be disabled", func(t *testing.T) {
		c, _ := newClient(t, newFake(), nil)
		if ce := mustErr(t, c.Disable(ctx, connectors.TypeGroup, "g")); ce.Class != connectors.ClassInvalid {
			t.Fatalf("got %v", ce)
		}
	})
}

func TestDelete(t *testing.T) {
	f := newFake()
	id := f.put("Users", user("u1"))
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
		t.Fatalf("second delete (404) = %v, want success", err)
	}
	_, err := c.Get(ctx, connectors.TypeUser, id)
	if !connectors.IsNotFound(err) || mustErr(t, err).Code != CodeInvalidAnchor {
		t.Fatalf("Get after delete = %v", err)
	}
}

func TestMembers(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.groupPatch204 = true
	gid := f.put("Groups", map[string]any{"displayName": "g"})
	c, _ := newClient(t, f, func(cfg *Config) { cfg.MemberBatchSize = 2 })
	ids := []string{"u1", "u2", "u3", "u4", "u5", "u5"}
	if err := c.AddMembers(ctx, gid, ids); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, r := range f.requests() {
		if r.Method == http.MethodPatch {
			bodies = append(bodies, string(r.Body))
		}
	}
	want := []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"u3"},{"value":"u4"}]}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"u5"}]}]}`,
	}
	if !reflect.DeepEqual(bodies, want) {
		t.Fatalf("PATCH bodies:\n%s", strings.Join(bodies, "\n"))
	}
	if err := c.RemoveMembers(ctx, gid, []string{"u1", `we"ird`, "u3"}); err != nil {
		t.Fatal(err)
	}
	g := f.get("Groups", gid)
	members, _ := refIDs(g["members"])
	if fmt.Sprint(members) != "[u2 u4 u5]" {
		t.Fatalf("members = %v", members)
	}
	reqs := f.requests()
	var removes []string
	for _, r := range reqs {
		if r.Method == http.MethodPatch && strings.Contains(string(r.Body), `"remove"`) {
			removes = append(removes, string(r.Body))
		}
	}
	// Batch 1 (u1, we"ird) → noTarget for we"ird → GET → resend with u1 only; batch 2 (u3).
	if len(removes) != 3 ||
		removes[0] != `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"remove","path":"members[value eq \"we\\\"ird\"]"}]}` ||
		removes[1] != `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"}]}` ||
		removes[2] != `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"u3\"]"}]}` {
		t.Fatalf("remove PATCHes:\n%s", strings.Join(removes, "\n"))
	}
	// Nothing to do: no request.
	before := len(f.requests())
	if err := c.AddMembers(ctx, gid, nil); err != nil || len(f.requests()) != before {
		t.Fatal("empty AddMembers sent a request")
	}
	if err := c.AddMembers(ctx, gid, []string{""}); err == nil {
		t.Fatal("empty member id accepted")
	}
}

func TestNeverRemoveMembersWithoutFilter(t *testing.T) {
	f := newFake()
	gid := f.put("Groups", map[string]any{"displayName": "g", "members": []any{map[string]any{"value": "u1"}}})
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	for _, m := range []connectors.Modification{
		{Name: "members", Op: connectors.ModRemove},
		{Name: "Members", Op: connectors.ModReplace, Value: nil},
	} {
		if ce := mustErr(t, c.Update(ctx, connectors.TypeGroup, gid, []connectors.Modification{m})); ce.Class != connectors.ClassInvalid {
			t.Fatalf("%v: got %v", m, ce)
		}
	}
	if err := guardOps([]patchOp{{Op: "Remove", Path: " members "}}); err == nil {
		t.Fatal("guardOps let an unfiltered remove through")
	}
	if err := guardOps([]patchOp{{Op: "remove", Path: `members[value eq "x"]`}}); err != nil {
		t.Fatal(err)
	}
	if f.count(http.MethodPatch, "/") != 0 {
		t.Fatal("a PATCH was sent")
	}
	if len(f.get("Groups", gid)["members"].([]any)) != 1 {
		t.Fatal("members changed")
	}
}

func TestMembersBoundedByServerLimits(t *testing.T) {
	f := newFake()
	gid := f.put("Groups", map[string]any{"displayName": "g"})
	f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
			writeJSON(w, 200, map[string]any{"patch": map[string]any{"supported": true}, "filter": map[string]any{"supported": true},
				"bulk": map[string]any{"supported": true, "maxOperations": 3, "maxPayloadSize": 150}})
			return true
		}
		return false
	}
	c, _ := newClient(t, f, func(cfg *Config) { cfg.MemberBatchSize = 100 })
	ids := make([]string, 7)
	for i := range ids {
		ids[i] = fmt.Sprintf("member-%02d", i)
	}
	if err := c.AddMembers(context.Background(), gid, ids); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range f.requests() {
		if r.Method == http.MethodPatch {
			n++
			if len(r.Body) > 150 {
				t.Fatalf("PATCH of %d bytes exceeds maxPayloadSize", len(r.Body))
			}
		}
	}
	if n < 3 {
		t.Fatalf("%d PATCHes for 7 members with maxOperations 3", n)
	}
	members, _ := refIDs(f.get("Groups", gid)["members"])
	if len(members) != 7 {
		t.Fatalf("members = %v", members)
	}
}

func TestMembersWithoutPatch(t *testing.T) {
	f := newFake()
	f.noPatch = true
	gid := f.put("Groups", map[string]any{"displayName": "g", "members": []any{map[string]any{"value": "a"}}})
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	if err := c.AddMembers(ctx, gid, []string{"b", "a", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMembers(ctx, gid, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	members, _ := refIDs(f.get("Groups", gid)["members"])
	if fmt.Sprint(members) != "[b c]" {
		t.Fatalf("members = %v", members)
	}
}

func TestTypeAndIDValidation(t *testing.T) {
	c, _ := newClient(t, newFake(), nil)
	ctx := context.Background()
	if _, err := c.Get(ctx, "Device", "x"); err == nil {
		t.Fatal("unknown type accepted")
	}
	if _, err := c.Get(ctx, connectors.TypeUser, ""); err == nil {
		t.Fatal("empty id accepted")
	}
	if err := c.Delete(ctx, connectors.TypeUser, ""); err == nil {
		t.Fatal("empty id accepted")
	}
}

func TestIDsArePathEscaped(t *testing.T) {
	f := newFake()
	c, _ := newClient(t, f, nil)
	_, _ = c.Get(context.Background(), connectors.TypeUser, "a/b c?d")
	reqs := f.requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/scim/v2/Users/a/b c?d" || last.RawQuery != "" {
		t.Fatalf("path %q query %q", last.Path, last.RawQuery)
	}
}

func TestNoTargetRewritesOnlyMissingValues(t *testing.T) {
	f := newFake()
	id := f.put("Users", user("u1", "emails", []any{map[string]any{"type": "work", "value": "old@x"}}))
	c, _ := newClient(t, f, nil)
	err := c.Update(context.Background(), connectors.TypeUser, id, []connectors.Modification{
		{Name: `emails[type eq "work"].value`, Op: connectors.ModReplace, Value: "new@x"},
		{Name: `emails[type eq "home"].value`, Op: connectors.ModReplace, Value: "home@x"},
		{Name: `phoneNumbers[type eq "fax"].value`, Op: connectors.ModRemove},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := lastBody(t, f, http.MethodPatch, "/scim/v2/Users/")["Operations"]
	want := []any{
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "new@x"},
		map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"type": "home", "value": "home@x"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("retried ops = %v", got)
	}
	if emails := fmt.Sprint(f.get("Users", id)["emails"]); emails != "[map[type:work value:new@x] map[type:home value:home@x]]" {
		t.Fatalf("emails = %s", emails)
	}
	// Removing only values that are not there: success without a second PATCH.
	n := f.count(http.MethodPatch, "/")
	if err := c.Update(context.Background(), connectors.TypeUser, id, []connectors.Modification{
		{Name: `phoneNumbers[type eq "fax"].value`, Op: connectors.ModRemove},
	}); err != nil {
		t.Fatal(err)
	}
	if f.count(http.MethodPatch, "/") != n+1 {
		t.Fatal("re-sent an empty PATCH")
	}
}
