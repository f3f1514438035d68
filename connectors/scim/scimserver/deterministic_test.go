package scimserver

import "testing"

func TestDeterministicIDs(t *testing.T) {
	ids := func(opts Options) (string, string) {
		_, c := newTestServer(t, opts)
		u := c.do("POST", "/scim/v2/Users", userBody("Alice@Example.com", nil)).expect(t, 201).body
		g := c.do("POST", "/scim/v2/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Eng"}).expect(t, 201).body
		return str(u, "id"), str(g, "id")
	}
	u1, g1 := ids(Options{DeterministicIDs: true})
	u2, g2 := ids(Options{DeterministicIDs: true})
	if u1 != u2 || g1 != g2 {
		t.Errorf("deterministic ids differ across servers: %s/%s vs %s/%s", u1, g1, u2, g2)
	}
	if u1 == g1 || len(u1) != 36 || u1[14] != '5' {
		t.Errorf("ids %s %s: want distinct version-5 UUIDs", u1, g1)
	}
	r1, _ := ids(Options{})
	r2, _ := ids(Options{})
	if r1 == r2 {
		t.Errorf("random ids repeat: %s", r1)
	}
}
