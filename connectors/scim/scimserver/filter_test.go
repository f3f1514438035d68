package scimserver

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/scim2/filter-parser/v2"
)

// The fast path must return exactly what the library parser returns, for every input it
// accepts.
func TestParseEqConjunctionMatchesLibrary(t *testing.T) {
	corpus := []string{
		`userName eq "alice@example.com"`,
		`userName EQ "x"`, `userName Eq "x"`,
		`externalId eq ""`,
		`name.givenName eq "Ann"`,
		`a-b_c9 eq "v"`,
		`userName eq "é ü 日本"`,
		`userName eq "a" and externalId eq "b"`,
		`userName eq "a" AND externalId eq "b" and displayName eq "c"`,
		`userName eq "a b and c eq d"`,
		`userName eq "x" `, ` userName eq "x"`, `userName  eq "x"`, `userName eq  "x"`,
		`userName eq "x" and`, `userName eq "x" andexternalId eq "y"`, `userName eq "x"and externalId eq "y"`,
		`userName eq x`, `userName eq "x`, `userName eq "a\"b"`, `userName eq "a\\b"`, "userName eq \"a\tb\"",
		`1userName eq "x"`, `_a eq "x"`, `user.name.x eq "x"`, `user. eq "x"`, `userName ne "x"`,
		`userName eq "x" or externalId eq "y"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`,
		`emails[type eq "work"]`, `userName eq true`, `(userName eq "x")`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	for range 20000 {
		var b strings.Builder
		for i := range 1 + rng.IntN(3) {
			if i > 0 {
				b.WriteString(pick(" and ", " AND ", " or ", "  and ", " and", " And "))
			}
			b.WriteString(pick("userName", "name.familyName", "externalId", "a-b_1", "emails.value", "x", "_x", "9x"))
			b.WriteString(pick(" eq ", " EQ ", " eQ ", " ne ", "  eq ", " eq  ", "eq"))
			b.WriteString(pick(`"v"`, `""`, `"é x"`, `"a\"b"`, `"a`, `v`, `"1"`, "\"t\tb\"", `"and"`, "true"))
		}
		raw := []byte(b.String())
		if rng.IntN(3) == 0 { // mutate one byte
			raw[rng.IntN(len(raw))] = pick(" ", `"`, ".", "a", "\\", "(", "\x00", "\xff")[0]
		}
		corpus = append(corpus, string(raw))
	}
	accepted := 0
	for _, raw := range corpus {
		fast, ok := parseEqConjunction(raw)
		if !ok {
			continue
		}
		accepted++
		lib, err := filter.ParseFilter([]byte(raw))
		if err != nil {
			t.Errorf("%q: fast path accepted what the library rejects: %v", raw, err)
			continue
		}
		if !reflect.DeepEqual(fast, lib) {
			t.Errorf("%q: fast path %#v, library %#v", raw, fast, lib)
		}
	}
	if accepted < 500 {
		t.Errorf("the fast path accepted only %d of %d inputs", accepted, len(corpus))
	}
	for _, must := range []string{`userName eq "x"`, `userName eq "a" and externalId eq "b"`, `name.givenName EQ "é"`} {
		if _, ok := parseEqConjunction(must); !ok {
			t.Errorf("fast path declined %q", must)
		}
	}
}

func TestFilterLiteralEscapes(t *testing.T) {
	_, c := newTestServer(t, Options{})
	c.createUser(`o"brien\x@example.com`, map[string]any{"displayName": "Tab\tName"})
	for _, f := range []string{
		`userName eq "o\"brien\\x@example.com"`,
		`userName eq "O\u0022BRIEN\\x@example.com"`,
		`userName sw "o\"b"`,
		`displayName eq "Tab\tName"`,
	} {
		r := c.list("Users", "filter", f).expect(t, 200)
		if num(r.body, "totalResults") != 1 {
			t.Errorf("%s: %s", f, r.raw)
		}
	}
}
