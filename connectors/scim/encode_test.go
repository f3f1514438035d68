package scim

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

func TestEncodePlanMatchesBuildResource(t *testing.T) {
	c, _ := newClient(t, newFake(), nil)
	cases := []struct {
		name     string
		typ      connectors.ObjectType
		attrs    connectors.Attributes
		wantPlan bool
	}{
		{"typical user", connectors.TypeUser, benchAttrs("ada"), true},
		{"odd strings", connectors.TypeUser, connectors.Attributes{
			"userName": `q"u\ote <&> ` + "\x01\n\t\u2028 ünï 😀 bad\xffutf8", "displayName": "",
		}, true},
		{"numbers and lists", connectors.TypeUser, connectors.Attributes{
			"userName": "n", "x-int": int64(-42), "x-i": 7, "x-float": 2.5, "x-bool": false,
			"x-list": []string{"a", `b"`}, "x-any": []any{"a", 1.0, map[string]any{"k": "v"}},
			"x-map": map[string]any{"a": []any{true}},
		}, true},
		{"extension, manager, nested, multi-valued", connectors.TypeUser, connectors.Attributes{
			"userName": "m", "name.givenName": "G", "Name.FamilyName": "F",
			`emails[type eq "work"].value`: "w@x", `emails[type eq "work"].primary`: true,
			`emails[type eq "home"].value`:                           "h@x",
			`addresses[type eq "work" and country eq "NZ"].locality`: "Auckland",
			ent + ":department":                                      "D", ent + ":manager": "mgr-1", ent + ":costCenter": "CC",
			"urn:example:params:scim:schemas:extension:custom:2.0:User:flag": true,
		}, true},
		{"manager given as object", connectors.TypeUser, connectors.Attributes{
			"userName": "m2", ent + ":manager": map[string]any{"value": "x", "displayName": "X"},
		}, true},
		{"nil values skipped", connectors.TypeUser, connectors.Attributes{"userName": "u", "title": nil, "name.givenName": nil}, true},
		{"group without members", connectors.TypeGroup, connectors.Attributes{
			"displayName": "G", "externalId": "g", "members": []string{"a"},
		}, true},
		{"id, meta, schemas ignored", connectors.TypeUser, connectors.Attributes{"userName": "u", "id": "x", "schemas": []string{"y"}}, true},
		{"value and object at once: general path", connectors.TypeUser, connectors.Attributes{
			"userName": "u", "name": map[string]any{"formatted": "F"}, "name.givenName": "G",
		}, false},
		{"filtered path without sub: general path", connectors.TypeUser, connectors.Attributes{
			"userName": "u", `emails[type eq "work"]`: map[string]any{"value": "w@x"},
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := c.buildResource(tc.typ, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(doc)
			p := c.plan(tc.typ, tc.attrs)
			if (p != nil) != tc.wantPlan {
				t.Fatalf("plan = %v, want plan %v", p != nil, tc.wantPlan)
			}
			got, err := c.createBody(tc.typ, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("plan encoding\n%s\ndiffers from\n%s", got, want)
			}
			// Cached: the second call uses the same plan.
			if p != nil && c.plan(tc.typ, tc.attrs) != p {
				t.Fatal("plan not cached")
			}
		})
	}
	// A different value kind for the same names still encodes correctly.
	a := connectors.Attributes{"userName": "u", "x": "s"}
	b1, _ := c.createBody(connectors.TypeUser, a)
	a["x"] = []any{1.0}
	b2, _ := c.createBody(connectors.TypeUser, a)
	if string(b1) == string(b2) || !json.Valid(b2) {
		t.Fatalf("%s / %s", b1, b2)
	}
	// NaN cannot be encoded by either path.
	if _, err := c.Create(context.Background(), connectors.TypeUser, connectors.Attributes{"userName": "u", "x": nanValue()}); err == nil {
		t.Fatal("NaN encoded")
	}
}

func nanValue() float64 {
	z := 0.0
	return z / z
}
