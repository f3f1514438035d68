package scimserver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var msTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestCreateUser(t *testing.T) {
	_, c := newTestServer(t, Options{})
	r := c.do("POST", "/scim/v2/Users", userBody("Alice@Example.com", map[string]any{
		"externalId": "hr-1001",
		"name":       map[string]any{"givenName": "Alice", "familyName": "Liddell"},
		"emails":     []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}},
		"password":   "hunter2",
		enterpriseSchemaURI: map[string]any{
			"department": "Research",
			"manager":    map[string]any{"value": "boss-id", "$ref": "../Users/boss-id", "displayName": "ignored: readOnly"},
		},
	})).expect(t, 201)
	u := r.body
	id := str(u, "id")
	if len(id) != 36 {
		t.Fatalf("id %q is not a UUID", id)
	}
	m := meta(u)
	wantLoc := c.base + "/scim/v2/Users/" + id
	if got := r.header.Get("Location"); got != wantLoc {
		t.Errorf("Location %q, want %q", got, wantLoc)
	}
	if str(m, "location") != wantLoc {
		t.Errorf("meta.location %q, want %q", str(m, "location"), wantLoc)
	}
	if str(m, "resourceType") != "User" {
		t.Errorf("meta.resourceType %q", str(m, "resourceType"))
	}
	for _, k := range []string{"created", "lastModified"} {
		if !msTime.MatchString(str(m, k)) {
			t.Errorf("meta.%s %q is not RFC 3339 with milliseconds", k, str(m, k))
		}
	}
	if str(m, "created") != str(m, "lastModified") {
		t.Errorf("created %s != lastModified %s on a new resource", str(m, "created"), str(m, "lastModified"))
	}
	if etag := r.header.Get("ETag"); etag == "" || etag != str(m, "version") || !strings.HasPrefix(etag, `W/"`) {
		t.Errorf("ETag %q, meta.version %q", etag, str(m, "version"))
	}
	if _, ok := u["password"]; ok {
		t.Error("password returned")
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/scim+json") {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
	ext, _ := u[enterpriseSchemaURI].(map[string]any)
	mgr, _ := ext["manager"].(map[string]any)
	if str(mgr, "value") != "boss-id" || str(mgr, "$ref") != "../Users/boss-id" {
		t.Errorf("manager = %v", mgr)
	}
	if _, ok := mgr["displayName"]; ok {
		t.Error("readOnly manager.displayName was stored")
	}

	g := c.do("GET", "/scim/v2/Users/"+id, nil).expect(t, 200)
	if str(g.body, "userName") != "Alice@Example.com" || str(g.body, "externalId") != "hr-1001" {
		t.Errorf("GET = %s", g.raw)
	}
	if g.header.Get("ETag") != r.header.Get("ETag") {
		t.Errorf("GET ETag %q, POST ETag %q", g.header.Get("ETag"), r.header.Get("ETag"))
	}
	if str(meta(g.body), "created") != str(m, "created") {
		t.Errorf("GET meta.created %q, POST %q", str(meta(g.body), "created"), str(m, "created"))
	}
}

func TestCreateErrors(t *testing.T) {
	_, c := newTestServer(t, Options{})
	c.createUser("bob@example.com", nil)
	c.createGroup("Sales")

	tests := []struct {
		name     string
		path     string
		body     any
		status   int
		scimType string
	}{
		{"duplicate userName", "/scim/v2/Users", userBody("bob@example.com", nil), 409, "uniqueness"},
		{"duplicate userName other case", "/scim/v2/Users", userBody("BOB@Example.COM", nil), 409, "uniqueness"},
		{"missing userName", "/scim/v2/Users", map[string]any{"schemas": []string{userSchemaURI}, "displayName": "x"}, 400, "invalidValue"},
		{"empty userName", "/scim/v2/Users", userBody("", nil), 400, "invalidValue"},
		{"userName not a string", "/scim/v2/Users", map[string]any{"schemas": []string{userSchemaURI}, "userName": 5}, 400, "invalidValue"},
		{"active not a boolean", "/scim/v2/Users", userBody("carol", map[string]any{"active": "False"}), 400, "invalidValue"},
		{"no schemas", "/scim/v2/Users", map[string]any{"userName": "dave"}, 400, "invalidSyntax"},
		{"malformed JSON", "/scim/v2/Users", `{"userName":`, 400, "invalidSyntax"},
		{"duplicate group displayName", "/scim/v2/Groups", map[string]any{"schemas": []string{groupSchemaURI}, "displayName": "sales"}, 409, "uniqueness"},
		{"missing group displayName", "/scim/v2/Groups", map[string]any{"schemas": []string{groupSchemaURI}}, 400, "invalidValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("POST", tt.path, tt.body).expectError(t, tt.status, tt.scimType)
		})
	}
	if got := c.list("Users").body; num(got, "totalResults") != 1 {
		t.Errorf("failed creates stored users: totalResults %d", num(got, "totalResults"))
	}
}

// filterFixture creates users for the filter tests and returns their ids by userName.
func filterFixture(t *testing.T, c *client) map[string]string {
	t.Helper()
	ids := map[string]string{}
	add := func(userName, ext, dept, email, emailType string, active bool) {
		u := c.createUser(userName, map[string]any{
			"externalId":  ext,
			"displayName": strings.ToUpper(userName[:1]) + userName[1:strings.Index(userName, "@")],
			"active":      active,
			"emails":      []any{map[string]any{"value": email, "type": emailType}},
			enterpriseSchemaURI: map[string]any{
				"department": dept,
			},
		})
		ids[userName] = str(u, "id")
	}
	add("alice@example.com", "E-1", "Research", "Alice.Work@example.com", "work", true)
	add("bob@example.com", "E-2", "Sales", "bob@home.example", "home", true)
	add("carol@example.org", "E-3", "Research", "carol@example.org", "work", false)
	add("dave@example.org", "e-4", "Ops", "dave@example.org", "work", true)
	return ids
}

func TestFilters(t *testing.T) {
	s, c := newTestServer(t, Options{})
	ids := filterFixture(t, c)
	c.createGroup("Engineers", ids["alice@example.com"], ids["carol@example.org"])
	c.createGroup("Sales Team", ids["bob@example.com"])

	tests := []struct {
		name, endpoint, filter string
		want                   []string // userNames or group displayNames
		indexed                bool     // must be answered from an index
	}{
		{"userName eq", "Users", `userName eq "bob@example.com"`, []string{"bob@example.com"}, true},
		{"userName eq is case-insensitive", "Users", `userName eq "BOB@Example.COM"`, []string{"bob@example.com"}, true},
		{"attribute name is case-insensitive", "Users", `USERNAME eq "bob@example.com"`, []string{"bob@example.com"}, true},
		{"userName eq no match (Entra test connection)", "Users", `userName eq "0d7a4b52-6c2e-4f8e-9d6b-3f3c0e9b1a77"`, nil, true},
		{"externalId eq", "Users", `externalId eq "E-2"`, []string{"bob@example.com"}, true},
		{"externalId eq is case-exact", "Users", `externalId eq "E-4"`, nil, true},
		{"id eq", "Users", `id eq "` + ids["carol@example.org"] + `"`, []string{"carol@example.org"}, true},
		{"displayName eq", "Users", `displayName eq "dave"`, []string{"dave@example.org"}, true},
		{"emails.value eq", "Users", `emails.value eq "alice.work@example.com"`, []string{"alice@example.com"}, true},
		{"Entra emails[type].value eq", "Users", `emails[type eq "work"].value eq "Alice.Work@example.com"`, []string{"alice@example.com"}, true},
		{"Entra emails[type].value eq, type mismatch", "Users", `emails[type eq "home"].value eq "alice.work@example.com"`, nil, true},
		{"value path with and", "Users", `emails[type eq "work" and value eq "dave@example.org"]`, []string{"dave@example.org"}, true},
		{"compound and", "Users", `userName eq "alice@example.com" and externalId eq "E-1"`, []string{"alice@example.com"}, true},
		{"compound and, second false", "Users", `userName eq "alice@example.com" and externalId eq "E-2"`, nil, true},
		{"compound and with non-indexed part", "Users", `userName eq "carol@example.org" and active eq false`, []string{"carol@example.org"}, true},
		{"or of indexed", "Users", `userName eq "alice@example.com" or externalId eq "E-2"`, []string{"alice@example.com", "bob@example.com"}, true},
		{"co", "Users", `userName co "example.org"`, []string{"carol@example.org", "dave@example.org"}, false},
		{"sw", "Users", `userName sw "AL"`, []string{"alice@example.com"}, false},
		{"ew", "Users", `userName ew ".com"`, []string{"alice@example.com", "bob@example.com"}, false},
		{"ne", "Users", `externalId ne "E-1"`, []string{"bob@example.com", "carol@example.org", "dave@example.org"}, false},
		{"not", "Users", `not (userName co "example.com")`, []string{"carol@example.org", "dave@example.org"}, false},
		{"or with non-indexed", "Users", `userName eq "alice@example.com" or active eq false`, []string{"alice@example.com", "carol@example.org"}, false},
		{"active eq false", "Users", `active eq false`, []string{"carol@example.org"}, false},
		{"pr", "Users", `externalId pr`, []string{"alice@example.com", "bob@example.com", "carol@example.org", "dave@example.org"}, false},
		{"value path type", "Users", `emails[type eq "home"]`, []string{"bob@example.com"}, false},
		{"extension attribute, qualified", "Users", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Research"`, []string{"alice@example.com", "carol@example.org"}, false},
		{"extension attribute, short name", "Users", `department eq "ops"`, []string{"dave@example.org"}, false},
		{"core and extension", "Users", `active eq true and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Research"`, []string{"alice@example.com"}, false},
		{"meta.lastModified gt past", "Users", `meta.lastModified gt "2000-01-01T00:00:00Z"`, []string{"alice@example.com", "bob@example.com", "carol@example.org", "dave@example.org"}, false},
		{"meta.lastModified gt future", "Users", `meta.lastModified gt "2999-01-01T00:00:00Z"`, nil, false},
		{"meta.resourceType", "Users", `meta.resourceType eq "User" and userName sw "d"`, []string{"dave@example.org"}, false},
		{"group displayName eq", "Groups", `displayName eq "sales team"`, []string{"Sales Team"}, true},
		{"group members value path", "Groups", `members[value eq "` + ids["carol@example.org"] + `"]`, []string{"Engineers"}, false},
		{"group members.value", "Groups", `members.value eq "` + ids["bob@example.com"] + `"`, []string{"Sales Team"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.list(tt.endpoint, "filter", tt.filter).expect(t, 200)
			attr := "userName"
			if tt.endpoint == "Groups" {
				attr = "displayName"
			}
			got := names(r.body, attr)
			if !slices.Equal(got, sorted(tt.want...)) {
				t.Errorf("filter %s: got %v, want %v", tt.filter, got, tt.want)
			}
			if n := num(r.body, "totalResults"); n != len(tt.want) {
				t.Errorf("totalResults %d, want %d", n, len(tt.want))
			}
			if _, ok := r.body["Resources"].([]any); !ok {
				t.Errorf("Resources is %v, want a list", r.body["Resources"])
			}
			k := s.users
			if tt.endpoint == "Groups" {
				k = s.groups
			}
			cf, err := k.compileFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if _, indexed := k.plan(cf.expr); indexed != tt.indexed {
				t.Errorf("answered from index = %v, want %v", indexed, tt.indexed)
			}
		})
	}
}

func TestFilterLastModifiedDelta(t *testing.T) {
	_, c := newTestServer(t, Options{})
	a := c.createUser("a@example.com", nil)
	c.createUser("b@example.com", nil)
	time.Sleep(3 * time.Millisecond)
	watermark := time.Now().UTC().Format(timeLayout)
	time.Sleep(3 * time.Millisecond)
	c.createUser("c@example.com", nil)
	c.patch("/scim/v2/Users/"+str(a, "id"), "", op("replace", "displayName", "A")).expect(t, 200)

	r := c.list("Users", "filter", `meta.lastModified gt "`+watermark+`"`).expect(t, 200)
	if got := names(r.body, "userName"); !slices.Equal(got, []string{"a@example.com", "c@example.com"}) {
		t.Errorf("changed since %s: %v", watermark, got)
	}
}

func TestInvalidFilter(t *testing.T) {
	_, c := newTestServer(t, Options{})
	c.createUser("a@example.com", nil)
	for _, f := range []string{
		`userName eqq "x"`,
		`userName eq`,
		`userName eq "unterminated`,
		`noSuchAttribute eq "x"`,
		`emails[noSuchSub eq "x"]`,
		`name.noSuchSub eq "x"`,
		`active gt true`,
		`urn:example:unknown:attr eq "x"`,
		`(userName eq "a"`,
	} {
		t.Run(f, func(t *testing.T) {
			c.list("Users", "filter", f).expectError(t, 400, "invalidFilter")
		})
	}
}

func TestPaging(t *testing.T) {
	_, c := newTestServer(t, Options{MaxResults: 7})
	var all []string
	for i := range 25 {
		name := fmt.Sprintf("user%02d@example.com", i)
		c.createUser(name, map[string]any{"externalId": "X"})
		all = append(all, name)
	}
	pageOf := func(params ...string) (users []string, body map[string]any) {
		r := c.list("Users", params...).expect(t, 200)
		for _, res := range resources(r.body) {
			users = append(users, str(res, "userName"))
		}
		return users, r.body
	}

	tests := []struct {
		name      string
		params    []string
		want      []string
		total     int
		startEcho int
	}{
		{"first page", []string{"startIndex", "1", "count", "5"}, all[0:5], 25, 1},
		{"middle page", []string{"startIndex", "11", "count", "5"}, all[10:15], 25, 11},
		{"last partial page", []string{"startIndex", "23", "count", "5"}, all[22:25], 25, 23},
		{"past the end", []string{"startIndex", "40", "count", "5"}, nil, 25, 40},
		{"count=0 gives totalResults only", []string{"count", "0"}, nil, 25, 1},
		{"count above maxResults is capped", []string{"count", "100"}, all[0:7], 25, 1},
		{"default count is maxResults", nil, all[0:7], 25, 1},
		{"startIndex below 1 means 1", []string{"startIndex", "0", "count", "2"}, all[0:2], 25, 1},
		{"filtered page", []string{"filter", `externalId eq "X"`, "startIndex", "21", "count", "7"}, all[20:25], 25, 21},
		{"filtered count=0", []string{"filter", `userName sw "user1"`, "count", "0"}, nil, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, body := pageOf(tt.params...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if num(body, "totalResults") != tt.total {
				t.Errorf("totalResults %d, want %d", num(body, "totalResults"), tt.total)
			}
			if num(body, "itemsPerPage") != len(tt.want) {
				t.Errorf("itemsPerPage %d, want %d", num(body, "itemsPerPage"), len(tt.want))
			}
			if num(body, "startIndex") != tt.startEcho {
				t.Errorf("startIndex %d, want %d", num(body, "startIndex"), tt.startEcho)
			}
		})
	}

	t.Run("walking pages after deletes keeps insertion order", func(t *testing.T) {
		r := c.list("Users", "filter", `userName eq "user03@example.com"`).expect(t, 200)
		c.do("DELETE", "/scim/v2/Users/"+str(resources(r.body)[0], "id"), nil).expect(t, 204)
		var walked []string
		for start := 1; ; start += 7 {
			got, body := pageOf("startIndex", fmt.Sprint(start), "count", "7")
			walked = append(walked, got...)
			if len(got) == 0 || len(walked) >= num(body, "totalResults") {
				break
			}
		}
		want := slices.Delete(slices.Clone(all), 3, 4)
		if !slices.Equal(walked, want) {
			t.Errorf("walked %v, want %v", walked, want)
		}
	})

	t.Run("invalid count", func(t *testing.T) {
		c.list("Users", "count", "many").expect(t, 400)
	})
}

func TestStorePageAcrossCompaction(t *testing.T) {
	st := newUserKind().st
	var ids []string
	for i := range 3000 {
		id := fmt.Sprint(i)
		ids = append(ids, id)
		st.insert(id, &snapshot{attrs: map[string]any{"id": id, "userName": "u" + id}})
	}
	// Delete every other one of the first 2400: enough tombstones to trigger compaction.
	var live []string
	for i, id := range ids {
		if i < 2400 && i%2 == 0 {
			if err := st.remove(id, ""); err != nil {
				t.Fatal(err)
			}
			continue
		}
		live = append(live, id)
	}
	if st.tombstones >= 1200 {
		t.Errorf("no compaction happened (tombstones %d)", st.tombstones)
	}
	for _, start := range []int{0, 1, 599, 1199, 1799} {
		entries, _, total := st.page(start, 50)
		if total != len(live) {
			t.Fatalf("total %d, want %d", total, len(live))
		}
		for i, e := range entries {
			if e.id != live[start+i] {
				t.Fatalf("page(%d)[%d] = %s, want %s", start, i, e.id, live[start+i])
			}
		}
	}
	if got := st.lookup("userName", "U2401"); len(got) != 1 || got[0].id != "2401" {
		t.Errorf("index after compaction: %v", got)
	}
}

// patchErrorTypes are the scimTypes of the failing TestPatchUser cases.
var patchErrorTypes = map[string]string{
	"failure is atomic":               "uniqueness",
	"legacy string False is rejected": "invalidValue",
	"remove without path":             "noTarget",
	"remove required userName":        "invalidValue",
	"unknown attribute":               "invalidPath",
	"readOnly attribute":              "mutability",
	"unknown op":                      "invalidValue",
	"userName taken":                  "uniqueness",
}

func TestPatchUser(t *testing.T) {
	_, c := newTestServer(t, Options{})
	other := c.createUser("taken@example.com", nil)
	_ = other

	fresh := func(t *testing.T) string {
		t.Helper()
		name := strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())) + "@example.com"
		return str(c.createUser(name, map[string]any{
			"displayName": "Before",
			"name":        map[string]any{"givenName": "Old", "familyName": "Family"},
			"emails":      []any{map[string]any{"value": "old@work.example", "type": "work"}, map[string]any{"value": "me@home.example", "type": "home"}},
			enterpriseSchemaURI: map[string]any{
				"department": "Old Dept",
			},
		}), "id")
	}

	type check func(t *testing.T, u map[string]any)
	attrIs := func(path string, want any) check {
		return func(t *testing.T, u map[string]any) {
			t.Helper()
			var cur any = u
			for _, p := range strings.Split(path, "|") {
				m, _ := cur.(map[string]any)
				cur = m[p]
			}
			if fmt.Sprint(cur) != fmt.Sprint(want) {
				t.Errorf("%s = %v, want %v", path, cur, want)
			}
		}
	}
	emailOf := func(typ, want string) check {
		return func(t *testing.T, u map[string]any) {
			t.Helper()
			list, _ := u["emails"].([]any)
			var got []string
			for _, e := range list {
				m, _ := e.(map[string]any)
				if str(m, "type") == typ {
					got = append(got, str(m, "value"))
				}
			}
			if want == "" && len(got) != 0 || want != "" && !slices.Equal(got, []string{want}) {
				t.Errorf("emails of type %s = %v, want %q", typ, got, want)
			}
		}
	}

	tests := []struct {
		name   string
		ops    []map[string]any
		status int
		checks []check
	}{
		{"capitalised Replace with path", []map[string]any{op("Replace", "displayName", "After")}, 200,
			[]check{attrIs("displayName", "After")}},
		{"capitalised Add of a single-valued attribute", []map[string]any{op("Add", "title", "Boss")}, 200,
			[]check{attrIs("title", "Boss")}},
		{"no-path replace with dotted keys", []map[string]any{op("replace", "", map[string]any{
			"name.givenName": "New",
			"displayName":    "Dotted",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "New Dept",
		})}, 200, []check{attrIs("name|givenName", "New"), attrIs("name|familyName", "Family"), attrIs("displayName", "Dotted"),
			attrIs(enterpriseSchemaURI+"|department", "New Dept")}},
		{"no-path add with extension container", []map[string]any{op("add", "", map[string]any{
			enterpriseSchemaURI: map[string]any{"costCenter": "CC1", "manager": map[string]any{"value": "mgr-1"}},
		})}, 200, []check{attrIs(enterpriseSchemaURI+"|costCenter", "CC1"), attrIs(enterpriseSchemaURI+"|department", "Old Dept"),
			attrIs(enterpriseSchemaURI+"|manager|value", "mgr-1")}},
		{"replace complex merges sub-attributes", []map[string]any{op("replace", "name", map[string]any{"givenName": "G"})}, 200,
			[]check{attrIs("name|givenName", "G"), attrIs("name|familyName", "Family")}},
		{"manager by qualified path", []map[string]any{op("Add", enterpriseSchemaURI+":manager", map[string]any{"value": "m-2", "$ref": "../Users/m-2"})}, 200,
			[]check{attrIs(enterpriseSchemaURI+"|manager|value", "m-2")}},
		{"replace emails[type eq work].value", []map[string]any{op("Replace", `emails[type eq "work"].value`, "new@work.example")}, 200,
			[]check{emailOf("work", "new@work.example"), emailOf("home", "me@home.example")}},
		{"replace value path that matches nothing adds", []map[string]any{op("replace", `emails[type eq "other"].value`, "x@other.example")}, 200,
			[]check{emailOf("other", "x@other.example"), emailOf("work", "old@work.example")}},
		{"remove with value filter", []map[string]any{op("remove", `emails[type eq "home"]`, nil)}, 200,
			[]check{emailOf("home", ""), emailOf("work", "old@work.example")}},
		{"remove sub-attribute", []map[string]any{op("remove", "name.familyName", nil)}, 200,
			[]check{attrIs("name|familyName", nil), attrIs("name|givenName", "Old")}},
		{"remove extension attribute", []map[string]any{op("remove", enterpriseSchemaURI+":department", nil)}, 200,
			[]check{attrIs(enterpriseSchemaURI, nil)}},
		{"several ops in order", []map[string]any{op("add", "nickName", "n1"), op("replace", "nickName", "n2")}, 200,
			[]check{attrIs("nickName", "n2")}},
		{"disable", []map[string]any{op("Replace", "active", false)}, 200, []check{attrIs("active", false)}},
		{"legacy string False is rejected", []map[string]any{op("Replace", "active", "False")}, 400, nil},
		{"remove without path", []map[string]any{op("remove", "", nil)}, 400, nil},
		{"remove required userName", []map[string]any{op("remove", "userName", nil)}, 400, nil},
		{"unknown attribute", []map[string]any{op("replace", "noSuchAttribute", "x")}, 400, nil},
		{"readOnly attribute", []map[string]any{op("add", "groups", []any{map[string]any{"value": "g"}})}, 400, nil},
		{"unknown op", []map[string]any{op("merge", "displayName", "x")}, 400, nil},
		{"userName taken", []map[string]any{op("replace", "userName", "TAKEN@example.com")}, 409, nil},
		{"failure is atomic", []map[string]any{op("replace", "displayName", "Changed"), op("replace", "userName", "taken@example.com")}, 409,
			[]check{attrIs("displayName", "Before")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fresh(t)
			before := c.do("GET", "/scim/v2/Users/"+id, nil).expect(t, 200)
			r := c.patch("/scim/v2/Users/"+id, "", tt.ops...).expect(t, tt.status)
			after := c.do("GET", "/scim/v2/Users/"+id, nil).expect(t, 200)
			if tt.status == 200 {
				if r.header.Get("ETag") == before.header.Get("ETag") || r.header.Get("ETag") != after.header.Get("ETag") {
					t.Errorf("ETag before %q, PATCH %q, after %q", before.header.Get("ETag"), r.header.Get("ETag"), after.header.Get("ETag"))
				}
				if str(r.body, "id") != id {
					t.Errorf("PATCH response has no resource: %s", r.raw)
				}
			} else {
				if after.header.Get("ETag") != before.header.Get("ETag") {
					t.Error("a failed PATCH changed the resource version")
				}
				if status := str(r.body, "status"); status != fmt.Sprint(tt.status) {
					t.Errorf("error body %s", r.raw)
				}
				if want := patchErrorTypes[tt.name]; str(r.body, "scimType") != want {
					t.Errorf("scimType %q, want %q: %s", str(r.body, "scimType"), want, r.raw)
				}
			}
			for _, chk := range tt.checks {
				chk(t, after.body)
			}
		})
	}
}

func TestDisabledUserStaysReadable(t *testing.T) {
	_, c := newTestServer(t, Options{})
	u := c.createUser("leaver@example.com", map[string]any{"externalId": "L1"})
	id := str(u, "id")
	c.patch("/scim/v2/Users/"+id, "", op("Replace", "active", false)).expect(t, 200)

	g := c.do("GET", "/scim/v2/Users/"+id, nil).expect(t, 200)
	if g.body["active"] != false {
		t.Errorf("active = %v", g.body["active"])
	}
	for _, f := range []string{`userName eq "leaver@example.com"`, `externalId eq "L1"`, `active eq false`} {
		r := c.list("Users", "filter", f).expect(t, 200)
		res := resources(r.body)
		if len(res) != 1 || res[0]["active"] != false {
			t.Errorf("filter %s: %s", f, r.raw)
		}
	}
}

func TestPatchNoChangeKeepsVersion(t *testing.T) {
	_, c := newTestServer(t, Options{})
	u := c.createUser("same@example.com", map[string]any{"displayName": "Same"})
	r := c.patch("/scim/v2/Users/"+str(u, "id"), "", op("replace", "displayName", "Same")).expect(t, 200)
	if str(meta(r.body), "version") != str(meta(u), "version") || str(meta(r.body), "lastModified") != str(meta(u), "lastModified") {
		t.Errorf("a PATCH that changes nothing changed version or lastModified: %v → %v", meta(u), meta(r.body))
	}
}

func TestGroupMembers(t *testing.T) {
	_, c := newTestServer(t, Options{})
	var u []string
	for i := range 6 {
		u = append(u, str(c.createUser(fmt.Sprintf("m%d@example.com", i), nil), "id"))
	}
	g := c.createGroup("Team")
	gid := str(g, "id")
	path := "/scim/v2/Groups/" + gid
	members := func() []string {
		t.Helper()
		return memberValues(c.do("GET", path, nil).expect(t, 200).body)
	}
	ref := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"value": id, "$ref": nil})
		}
		return out
	}

	steps := []struct {
		name   string
		ops    []map[string]any
		status int
		want   []string
	}{
		{"Add batch (Entra, $ref null)", []map[string]any{op("Add", "members", ref(u[0], u[1], u[2]))}, 204, sorted(u[0], u[1], u[2])},
		{"Add again deduplicates", []map[string]any{op("add", "members", ref(u[2], u[3]))}, 204, sorted(u[0], u[1], u[2], u[3])},
		{"remove with filter", []map[string]any{op("remove", `members[value eq "`+u[1]+`"]`, nil)}, 204, sorted(u[0], u[2], u[3])},
		{"remove with filter matching nothing", []map[string]any{op("Remove", `members[value eq "nobody"]`, nil)}, 204, sorted(u[0], u[2], u[3])},
		{"Entra legacy Remove with value list", []map[string]any{op("Remove", "members", ref(u[0]))}, 204, sorted(u[2], u[3])},
		{"add and remove in one request", []map[string]any{op("add", "members", ref(u[4], u[5])), op("remove", `members[value eq "`+u[2]+`"]`, nil)}, 204, sorted(u[3], u[4], u[5])},
		{"replace display of a member is immutable", []map[string]any{op("replace", `members[value eq "`+u[3]+`"].display`, "x")}, 400, sorted(u[3], u[4], u[5])},
		{"rename", []map[string]any{op("replace", "displayName", "Team 2")}, 204, sorted(u[3], u[4], u[5])},
		{"remove members without filter empties the group", []map[string]any{op("remove", "members", nil)}, 204, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := c.patch(path, "", st.ops...).expect(t, st.status)
			if st.status == 204 {
				if len(r.raw) != 0 {
					t.Errorf("204 with a body: %s", r.raw)
				}
				if r.header.Get("ETag") == "" {
					t.Error("204 without ETag")
				}
			}
			if got := members(); !slices.Equal(got, st.want) {
				t.Errorf("members %v, want %v", got, st.want)
			}
		})
	}

	t.Run("PATCH with attributes returns the group", func(t *testing.T) {
		r := c.do("PATCH", path+"?excludedAttributes=members", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{op("add", "members", ref(u[0]))},
		}).expect(t, 200)
		if str(r.body, "displayName") != "Team 2" || r.body["members"] != nil {
			t.Errorf("body %s", r.raw)
		}
	})

	t.Run("batches of members", func(t *testing.T) {
		big := c.createGroup("Big")
		var all []string
		for b := range 10 {
			var batch []any
			for i := range 100 {
				id := fmt.Sprintf("member-%d-%d", b, i)
				all = append(all, id)
				batch = append(batch, map[string]any{"value": id})
			}
			c.patch("/scim/v2/Groups/"+str(big, "id"), "", op("Add", "members", batch)).expect(t, 204)
		}
		got := memberValues(c.do("GET", "/scim/v2/Groups/"+str(big, "id"), nil).expect(t, 200).body)
		if !slices.Equal(got, sorted(all...)) {
			t.Errorf("%d members, want %d", len(got), len(all))
		}
	})

	t.Run("excludedAttributes=members", func(t *testing.T) {
		for _, p := range []string{"/scim/v2/Groups?excludedAttributes=members", "/scim/v2/Groups?excludedAttributes=members&filter=" + "displayName%20eq%20%22Big%22", "/scim/v2/Groups/" + gid + "?excludedAttributes=members"} {
			r := c.do("GET", p, nil).expect(t, 200)
			if bytes.Contains(r.raw, []byte(`"members"`)) {
				t.Errorf("%s returned members: %.200s", p, r.raw)
			}
			if !bytes.Contains(r.raw, []byte(`"displayName"`)) {
				t.Errorf("%s lost displayName", p)
			}
		}
		r := c.do("GET", "/scim/v2/Groups?filter="+"displayName%20eq%20%22Big%22", nil).expect(t, 200)
		if len(memberValues(resources(r.body)[0])) != 1000 {
			t.Error("members missing without excludedAttributes")
		}
	})
}

func TestAttributesParameter(t *testing.T) {
	_, c := newTestServer(t, Options{})
	u := c.createUser("proj@example.com", map[string]any{
		"externalId": "P1",
		"name":       map[string]any{"givenName": "P", "familyName": "Q"},
		"emails":     []any{map[string]any{"value": "p@example.com", "type": "work"}},
		enterpriseSchemaURI: map[string]any{
			"department": "D", "costCenter": "C",
		},
	})
	path := "/scim/v2/Users/" + str(u, "id")
	tests := []struct {
		query   string
		present []string
		absent  []string
	}{
		{"attributes=userName,active", []string{`"userName"`, `"id"`, `"meta"`}, []string{`"externalId"`, `"name"`, `"emails"`}},
		{"attributes=name.givenName,emails.value", []string{`"givenName"`, `"p@example.com"`}, []string{`"familyName"`, `"work"`, `"userName"`}},
		{"attributes=" + enterpriseSchemaURI + ":department", []string{`"department"`}, []string{`"costCenter"`, `"userName"`}},
		{"excludedAttributes=emails,name.familyName," + enterpriseSchemaURI + ":costCenter", []string{`"userName"`, `"givenName"`, `"department"`}, []string{`"emails"`, `"familyName"`, `"costCenter"`}},
		{"excludedAttributes=id", []string{`"id"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			for _, p := range []string{path + "?" + tt.query, "/scim/v2/Users?filter=externalId%20eq%20%22P1%22&" + tt.query} {
				r := c.do("GET", p, nil).expect(t, 200)
				for _, s := range tt.present {
					if !bytes.Contains(r.raw, []byte(s)) {
						t.Errorf("%s: %s missing in %s", p, s, r.raw)
					}
				}
				for _, s := range tt.absent {
					if bytes.Contains(r.raw, []byte(s)) {
						t.Errorf("%s: %s present in %s", p, s, r.raw)
					}
				}
			}
		})
	}
}

func TestPutAndDelete(t *testing.T) {
	s, c := newTestServer(t, Options{})
	u := c.createUser("put@example.com", map[string]any{"displayName": "P", "title": "T"})
	id := str(u, "id")
	path := "/scim/v2/Users/" + id

	t.Run("PUT does not create", func(t *testing.T) {
		c.do("PUT", "/scim/v2/Users/00000000-0000-4000-8000-000000000000", userBody("ghost@example.com", nil)).expectError(t, 404, "")
		if _, ok := s.UserByUserName("ghost@example.com"); ok {
			t.Error("PUT created a user")
		}
	})
	t.Run("PUT replaces", func(t *testing.T) {
		r := c.do("PUT", path, userBody("put@example.com", map[string]any{"displayName": "New", "id": "ignored", "meta": map[string]any{"created": "x"}})).expect(t, 200)
		if str(r.body, "id") != id || str(r.body, "displayName") != "New" || r.body["title"] != nil {
			t.Errorf("PUT result %s", r.raw)
		}
		if str(meta(r.body), "created") != str(meta(u), "created") {
			t.Error("PUT changed meta.created")
		}
		if r.header.Get("ETag") == str(meta(u), "version") {
			t.Error("PUT kept the version")
		}
	})
	t.Run("PUT userName conflict", func(t *testing.T) {
		c.createUser("other@example.com", nil)
		c.do("PUT", path, userBody("Other@example.com", nil)).expectError(t, 409, "uniqueness")
	})
	t.Run("DELETE then GET 404", func(t *testing.T) {
		r := c.do("DELETE", path, nil).expect(t, 204)
		if len(r.raw) != 0 {
			t.Errorf("204 with body %s", r.raw)
		}
		c.do("GET", path, nil).expectError(t, 404, "")
		c.do("DELETE", path, nil).expectError(t, 404, "")
		c.do("PUT", path, userBody("put@example.com", nil)).expectError(t, 404, "")
		c.patch(path, "", op("replace", "displayName", "x")).expectError(t, 404, "")
		if n := num(c.list("Users", "filter", `userName eq "put@example.com"`).body, "totalResults"); n != 0 {
			t.Errorf("deleted user still found by filter (%d)", n)
		}
		// The userName is free again.
		c.createUser("put@example.com", nil)
	})
}

func TestETags(t *testing.T) {
	_, c := newTestServer(t, Options{})
	u := c.createUser("etag@example.com", nil)
	path := "/scim/v2/Users/" + str(u, "id")
	v1 := str(meta(u), "version")
	if !regexp.MustCompile(`^W/"\d+"$`).MatchString(v1) {
		t.Fatalf("version %q", v1)
	}

	c.patch(path, `W/"999999"`, op("replace", "displayName", "x")).expectError(t, 412, "preconditionFailed")
	c.do("PUT", path, userBody("etag@example.com", nil), "If-Match", `W/"999999"`).expectError(t, 412, "preconditionFailed")
	c.do("DELETE", path, nil, "If-Match", `W/"999999"`).expectError(t, 412, "preconditionFailed")
	if g := c.do("GET", path, nil).expect(t, 200); g.header.Get("ETag") != v1 {
		t.Fatalf("a rejected request changed the resource: ETag %q", g.header.Get("ETag"))
	}

	r := c.patch(path, v1, op("replace", "displayName", "x")).expect(t, 200)
	v2 := r.header.Get("ETag")
	if v2 == v1 || v2 != str(meta(r.body), "version") {
		t.Fatalf("v1 %q v2 %q meta %q", v1, v2, str(meta(r.body), "version"))
	}
	c.patch(path, v1, op("replace", "displayName", "y")).expectError(t, 412, "preconditionFailed")          // stale now
	c.patch(path, `"`+strings.Trim(v2, `W/"`)+`", W/"1"`, op("replace", "displayName", "y")).expect(t, 200) // list, strong form
	v3 := c.do("GET", path, nil).header.Get("ETag")
	c.do("PUT", path, userBody("etag@example.com", map[string]any{"displayName": "z"}), "If-Match", v3).expect(t, 200)
	c.patch(path, "*", op("replace", "displayName", "w")).expect(t, 200)

	t.Run("If-None-Match", func(t *testing.T) {
		cur := c.do("GET", path, nil).header.Get("ETag")
		r := c.do("GET", path, nil, "If-None-Match", cur)
		if r.status != 304 || len(r.raw) != 0 {
			t.Errorf("status %d body %s", r.status, r.raw)
		}
		c.do("GET", path, nil, "If-None-Match", `W/"1"`).expect(t, 200)
	})

	cur := c.do("GET", path, nil).header.Get("ETag")
	c.do("DELETE", path, nil, "If-Match", cur).expect(t, 204)

	g := c.createGroup("EtagGroup")
	gp := "/scim/v2/Groups/" + str(g, "id")
	c.patch(gp, `W/"1"`, op("add", "members", []any{map[string]any{"value": "x"}})).expectError(t, 412, "preconditionFailed")
	r = c.patch(gp, str(meta(g), "version"), op("add", "members", []any{map[string]any{"value": "x"}})).expect(t, 204)
	if r.header.Get("ETag") == str(meta(g), "version") || r.header.Get("ETag") == "" {
		t.Errorf("group PATCH ETag %q", r.header.Get("ETag"))
	}
}

func TestServiceProviderConfigAndDiscovery(t *testing.T) {
	_, c := newTestServer(t, Options{MaxResults: 250})
	spc := c.do("GET", "/scim/v2/ServiceProviderConfig", nil).expect(t, 200).body
	supported := func(feature string) any {
		m, _ := spc[feature].(map[string]any)
		return m["supported"]
	}
	for feature, want := range map[string]bool{"patch": true, "bulk": false, "filter": true, "sort": false, "etag": true, "changePassword": false} {
		if supported(feature) != want {
			t.Errorf("%s.supported = %v, want %v", feature, supported(feature), want)
		}
	}
	if f, _ := spc["filter"].(map[string]any); f["maxResults"] != float64(250) {
		t.Errorf("filter.maxResults = %v", f["maxResults"])
	}

	rt := c.do("GET", "/scim/v2/ResourceTypes", nil).expect(t, 200)
	if !bytes.Contains(rt.raw, []byte(enterpriseSchemaURI)) || !bytes.Contains(rt.raw, []byte(`"/Groups"`)) {
		t.Errorf("ResourceTypes: %s", rt.raw)
	}
	sc := c.do("GET", "/scim/v2/Schemas/"+groupSchemaURI, nil).expect(t, 200)
	attrs, _ := sc.body["attributes"].([]any)
	found := false
	for _, a := range attrs {
		m, _ := a.(map[string]any)
		if m["name"] == "displayName" {
			found = true
			if m["uniqueness"] != "server" {
				t.Errorf("Group displayName uniqueness %v", m["uniqueness"])
			}
		}
	}
	if !found {
		t.Errorf("Group schema: %s", sc.raw)
	}
	c.do("GET", "/scim/v2/Schemas/"+enterpriseSchemaURI, nil).expect(t, 200)
	c.do("GET", "/scim/v2/Nope", nil).expect(t, 404)
	c.do("GET", "/other", nil).expectError(t, 404, "")
}

func TestSearch(t *testing.T) {
	_, c := newTestServer(t, Options{})
	filterFixture(t, c)
	r := c.do("POST", "/scim/v2/Users/.search", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter":     `meta.lastModified gt "2000-01-01T00:00:00Z" and userName sw "c"`,
		"attributes": []string{"userName"},
		"count":      5,
	}).expect(t, 200)
	if got := names(r.body, "userName"); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Errorf("search: %s", r.raw)
	}
	if bytes.Contains(r.raw, []byte(`"emails"`)) {
		t.Error("attributes not applied")
	}
	c.do("POST", "/scim/v2/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": "bad filter"}).
		expectError(t, 400, "invalidFilter")
	c.do("POST", "/scim/v2/Users/.search", map[string]any{"filter": `userName pr`}).expectError(t, 400, "invalidSyntax")
}

func TestAuth(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, c := newTestServer(t, Options{Token: testToken, Logger: logger})
	c.createUser("auth@example.com", nil)

	tests := []struct {
		name, header string
		status       int
	}{
		{"no Authorization", "", 401},
		{"wrong token", "Bearer wrong", 401},
		{"token as prefix", "Bearer " + testToken + "x", 401},
		{"basic scheme", "Basic " + testToken, 401},
		{"right token", "Bearer " + testToken, 200},
		{"scheme case-insensitive", "bearer " + testToken, 200},
	}
	for _, tt := range tests {
		for _, path := range []string{"/scim/v2/Users", "/scim/v2/ServiceProviderConfig", "/admin/faults"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				req, _ := http.NewRequest("GET", c.base+path, nil)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, err := c.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
			})
		}
	}
	anon := &client{t: t, base: c.base, http: c.http}
	r := anon.do("GET", "/scim/v2/Users", nil)
	r.expectError(t, 401, "")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	bad := &client{t: t, base: c.base, token: "guess-" + testToken, http: c.http}
	r = bad.do("GET", "/scim/v2/Users", nil)
	if bytes.Contains(r.raw, []byte(testToken)) || strings.Contains(fmt.Sprint(r.header), testToken) {
		t.Error("401 response echoes the token")
	}

	if logs.Len() == 0 {
		t.Fatal("no request logs were written")
	}
	if strings.Contains(logs.String(), testToken) {
		t.Error("the token appears in the logs")
	}
	if strings.Contains(fmt.Sprint(s.opts), testToken) || strings.Contains(fmt.Sprintf("%+v", s.opts), testToken) {
		t.Error("Options formatting shows the token")
	}
	logs.Reset()
	logger.Info("options", "opts", s.opts)
	if strings.Contains(logs.String(), testToken) {
		t.Error("logging Options shows the token")
	}

	if _, err := New(Options{}); err == nil {
		t.Error("New without token and without AllowAnonymous succeeded")
	}
	_, open := newTestServer(t, Options{AllowAnonymous: true})
	open.do("GET", "/scim/v2/Users", nil).expect(t, 200)
	open.do("GET", "/admin/faults", nil).expect(t, 200)
}

func TestFaults(t *testing.T) {
	s, c := newTestServer(t, Options{})
	c.createUser("f@example.com", nil)

	t.Run("latency", func(t *testing.T) {
		s.SetFaults(Faults{Latency: 80 * time.Millisecond})
		defer s.SetFaults(Faults{})
		start := time.Now()
		c.list("Users").expect(t, 200)
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Errorf("request took %s, want >= 80ms", d)
		}
		start = time.Now()
		c.do("GET", "/admin/faults", nil).expect(t, 200)
		if d := time.Since(start); d >= 80*time.Millisecond {
			t.Errorf("admin request delayed by %s", d)
		}
	})
	t.Run("error rate 1", func(t *testing.T) {
		s.SetFaults(Faults{ErrorRate: 1})
		defer s.SetFaults(Faults{})
		for range 5 {
			c.list("Users").expectError(t, 500, "")
		}
	})
	t.Run("throttle rate 1 with Retry-After", func(t *testing.T) {
		for _, tc := range []struct {
			retryAfter time.Duration
			want       string
		}{{2 * time.Second, "2"}, {1500 * time.Millisecond, "2"}, {0, "1"}, {200 * time.Millisecond, "1"}} {
			s.SetFaults(Faults{ThrottleRate: 1, RetryAfter: tc.retryAfter, ErrorRate: 1})
			r := c.list("Users")
			r.expectError(t, 429, "")
			if got := r.header.Get("Retry-After"); got != tc.want {
				t.Errorf("RetryAfter %s: header %q, want %q", tc.retryAfter, got, tc.want)
			}
		}
		s.SetFaults(Faults{})
	})
	t.Run("unauthorized switch", func(t *testing.T) {
		s.SetFaults(Faults{Unauthorized: true})
		c.list("Users").expectError(t, 401, "")
		c.do("GET", "/scim/v2/ServiceProviderConfig", nil).expectError(t, 401, "")
		// The admin endpoint stays reachable, so the switch can be turned off.
		c.do("PUT", "/admin/faults", map[string]any{"unauthorized": false}).expect(t, 200)
		c.list("Users").expect(t, 200)
	})
	t.Run("rates are fractions", func(t *testing.T) {
		s.SetFaults(Faults{ErrorRate: 0.5})
		defer s.SetFaults(Faults{})
		const n = 400
		errs := 0
		for range n {
			switch r := c.list("Users", "count", "0"); r.status {
			case 500:
				errs++
			case 200:
			default:
				t.Fatalf("status %d", r.status)
			}
		}
		if errs < n*3/10 || errs > n*7/10 {
			t.Errorf("%d of %d requests failed with ErrorRate 0.5", errs, n)
		}
	})
	t.Run("SetFaults clamps", func(t *testing.T) {
		s.SetFaults(Faults{ErrorRate: 3, ThrottleRate: -1, Latency: -time.Second})
		if f := s.Faults(); f.ErrorRate != 1 || f.ThrottleRate != 0 || f.Latency != 0 {
			t.Errorf("Faults() = %+v", f)
		}
		s.SetFaults(Faults{})
	})
}

func TestAdminFaults(t *testing.T) {
	s, c := newTestServer(t, Options{})
	r := c.do("GET", "/admin/faults", nil).expect(t, 200)
	if string(bytes.TrimSpace(r.raw)) != `{"latency":"0s","errorRate":0,"throttleRate":0,"retryAfter":"0s","unauthorized":false}` {
		t.Errorf("GET /admin/faults = %s", r.raw)
	}
	r = c.do("PUT", "/admin/faults", `{"latency":"250ms","errorRate":0.25,"throttleRate":0.5,"retryAfter":"3s","unauthorized":false}`).expect(t, 200)
	want := Faults{Latency: 250 * time.Millisecond, ErrorRate: 0.25, ThrottleRate: 0.5, RetryAfter: 3 * time.Second}
	if s.Faults() != want {
		t.Errorf("Faults() = %+v, want %+v", s.Faults(), want)
	}
	if str(r.body, "latency") != "250ms" || str(r.body, "retryAfter") != "3s" {
		t.Errorf("PUT response %s", r.raw)
	}
	if g := c.do("GET", "/admin/faults", nil).expect(t, 200); string(g.raw) != string(r.raw) {
		t.Errorf("GET %s after PUT %s", g.raw, r.raw)
	}
	c.do("PUT", "/admin/faults", `{"latency":1000000}`).expect(t, 200)
	if s.Faults() != (Faults{Latency: time.Millisecond}) {
		t.Errorf("numeric latency: %+v (PUT replaces all fields)", s.Faults())
	}
	for _, bad := range []string{`{"errorRate":1.5}`, `{"throttleRate":-0.1}`, `{"latency":"soon"}`, `{"latency":"-1s"}`, `{"nope":1}`, `not json`} {
		c.do("PUT", "/admin/faults", bad).expect(t, 400)
	}
	if s.Faults() != (Faults{Latency: time.Millisecond}) {
		t.Errorf("a rejected PUT changed the faults: %+v", s.Faults())
	}
	c.do("POST", "/admin/faults", `{}`).expect(t, 405)
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	f := Faults{Latency: 1500 * time.Millisecond, ErrorRate: 0.1, ThrottleRate: 0.2, RetryAfter: 2 * time.Second, Unauthorized: true}
	b, err := f.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"latency":"1.5s"`) {
		t.Errorf("%s", b)
	}
	var g Faults
	if err := g.UnmarshalJSON(b); err != nil || g != f {
		t.Errorf("round trip: %+v, %v", g, err)
	}
}

func TestStatsAndHelpers(t *testing.T) {
	s, c := newTestServer(t, Options{})
	u := c.createUser("Helper@Example.com", map[string]any{"emails": []any{map[string]any{"value": "h@example.com"}}})
	c.createGroup("Helpers", str(u, "id"))
	c.do("POST", "/scim/v2/Users", userBody("helper@example.com", nil)).expect(t, 409)
	c.do("GET", "/scim/v2/Users/none", nil).expect(t, 404)

	st := s.Stats()
	if st.Users != 1 || st.Groups != 1 || st.Requests != 4 {
		t.Errorf("Stats = %+v", st)
	}
	if st.ByStatus[201] != 2 || st.ByStatus[409] != 1 || st.ByStatus[404] != 1 {
		t.Errorf("ByStatus = %v", st.ByStatus)
	}

	got, ok := s.UserByUserName("HELPER@example.COM")
	if !ok || got["id"] != str(u, "id") || got["userName"] != "Helper@Example.com" {
		t.Fatalf("UserByUserName = %v, %v", got, ok)
	}
	if m, _ := got["meta"].(map[string]any); m["version"] != str(meta(u), "version") || m["created"] != str(meta(u), "created") {
		t.Errorf("meta %v", got["meta"])
	}
	// The map is a copy.
	got["userName"] = "mutated"
	got["emails"].([]any)[0].(map[string]any)["value"] = "mutated"
	again, _ := s.UserByUserName("helper@example.com")
	if again["userName"] != "Helper@Example.com" || !strings.Contains(fmt.Sprint(again["emails"]), "h@example.com") {
		t.Error("UserByUserName returned the stored map")
	}
	if _, ok := s.UserByUserName("nobody"); ok {
		t.Error("found nobody")
	}
	grp, ok := s.GroupByDisplayName("HELPERS")
	if !ok || !slices.Equal(memberValues(grp), []string{str(u, "id")}) {
		t.Errorf("GroupByDisplayName = %v, %v", grp, ok)
	}

	s.SetFaults(Faults{ErrorRate: 1})
	s.Reset()
	if st := s.Stats(); st.Users != 0 || st.Groups != 0 || st.Requests != 0 || len(st.ByStatus) != 0 || s.Faults() != (Faults{}) {
		t.Errorf("after Reset: %+v, faults %+v", st, s.Faults())
	}
	c.createUser("helper@example.com", nil) // the name is free again
}

func TestConcurrency(t *testing.T) {
	s, c := newTestServer(t, Options{})
	g := c.createGroup("Everyone")
	gpath := "/scim/v2/Groups/" + str(g, "id")
	const workers, perWorker = 8, 25

	var wg sync.WaitGroup
	var mu sync.Mutex
	dupCreated := 0
	var created []string
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cw := &client{t: t, base: c.base, token: c.token, http: c.http}
			// Everyone races to create the same user: exactly one wins.
			switch r := cw.do("POST", "/scim/v2/Users", userBody("dup@example.com", nil)); r.status {
			case 201:
				mu.Lock()
				dupCreated++
				mu.Unlock()
			case 409:
			default:
				t.Errorf("dup create: %d %s", r.status, r.raw)
			}
			for i := range perWorker {
				name := fmt.Sprintf("w%d-u%d@example.com", w, i)
				u := cw.do("POST", "/scim/v2/Users", userBody(name, map[string]any{"externalId": name})).expect(t, 201).body
				id := str(u, "id")
				mu.Lock()
				created = append(created, id)
				mu.Unlock()
				cw.patch(gpath, "", op("add", "members", []any{map[string]any{"value": id}})).expect(t, 204)
				cw.patch("/scim/v2/Users/"+id, "", op("replace", "displayName", "D"+name)).expect(t, 200)
				r := cw.list("Users", "filter", `externalId eq "`+name+`"`).expect(t, 200)
				if num(r.body, "totalResults") != 1 || str(resources(r.body)[0], "displayName") != "D"+name {
					t.Errorf("read-your-write failed for %s: %s", name, r.raw)
				}
				cw.list("Users", "filter", `displayName sw "D"`, "count", "3").expect(t, 200)
				if i%5 == 0 {
					cw.do("DELETE", "/scim/v2/Users/"+id, nil).expect(t, 204)
					cw.patch(gpath, "", op("remove", `members[value eq "`+id+`"]`, nil)).expect(t, 204)
				}
			}
		}()
	}
	wg.Wait()
	if dupCreated != 1 {
		t.Errorf("%d concurrent creates of the same userName succeeded", dupCreated)
	}
	wantUsers := 1 + workers*perWorker - workers*((perWorker+4)/5)
	if st := s.Stats(); st.Users != wantUsers {
		t.Errorf("Users = %d, want %d", st.Users, wantUsers)
	}
	grp, _ := s.GroupByDisplayName("Everyone")
	if n := len(memberValues(grp)); n != workers*perWorker-workers*((perWorker+4)/5) {
		t.Errorf("group has %d members, want %d (lost updates?)", n, workers*perWorker-workers*((perWorker+4)/5))
	}
	r := c.list("Users", "count", "0").expect(t, 200)
	if num(r.body, "totalResults") != wantUsers {
		t.Errorf("totalResults %d", num(r.body, "totalResults"))
	}
}

func TestListenAndServe(t *testing.T) {
	s, err := New(Options{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, addr, s) }()

	c := &client{t: t, base: "http://" + addr, token: testToken, http: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", c.base+"/scim/v2/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.createUser("served@example.com", nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if err := ListenAndServe(context.Background(), "256.0.0.1:bad", s); err == nil {
		t.Error("bad address accepted")
	}
}
