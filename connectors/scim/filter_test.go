package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/provisiond/provisiond/connectors"
)

func TestFilterLiteralEscaping(t *testing.T) {
	cases := []struct {
		value string
		lit   string // expected literal as sent
	}{
		{`plain`, `"plain"`},
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{`\"`, `"\\\""`},
		{`café`, `"café"`},
		{`日本語`, `"日本語"`},
		{`emoji 😀`, `"emoji 😀"`},
		{"tab\there", `"tab\there"`},
		{"nl\nx", `"nl\nx"`},
		{"ctl\x01\x1f\x7f", `"ctl\u0001\u001F\u007F"`},
		{`<&>`, `"<&>"`},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
		{``, `""`},
		{` spaced `, `" spaced "`},
	}
	f := newFake()
	c, _ := newClient(t, f, nil)
	for _, tc := range cases {
		lit := quoteLiteral(tc.value)
		if lit != tc.lit {
			t.Errorf("quoteLiteral(%q) = %s, want %s", tc.value, lit, tc.lit)
		}
		// Valid JSON that decodes to the value (modulo invalid UTF-8).
		var back string
		if err := json.Unmarshal([]byte(lit), &back); err != nil {
			t.Errorf("%s is not a JSON string: %v", lit, err)
		} else if want := strings.ToValidUTF8(tc.value, "\uFFFD"); back != want {
			t.Errorf("%s decodes to %q, want %q", lit, back, want)
		}
		// The whole filter passes the SCIM filter grammar, and the server gets it verbatim.
		if _, err := filter.ParseFilter(asciiFilter("userName eq " + lit)); err != nil {
			t.Errorf("filter with %s does not parse: %v", lit, err)
		}
		if _, err := c.Find(context.Background(), connectors.TypeUser, "userName", tc.value); err != nil {
			t.Fatalf("Find(%q): %v", tc.value, err)
		}
		reqs := f.requests()
		q, _ := url.ParseQuery(reqs[len(reqs)-1].RawQuery)
		if got := q.Get("filter"); got != "userName eq "+lit {
			t.Errorf("server got filter %q, want %q", got, "userName eq "+lit)
		}
	}
}

func TestFindMatchesEscapedValues(t *testing.T) {
	f := newFake()
	names := []string{`quote"d`, `back\slash`, `ünïcödé`, `😀`}
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = f.put("Users", user(n))
	}
	c, _ := newClient(t, f, nil)
	for _, n := range names {
		got, err := c.Find(context.Background(), connectors.TypeUser, "userName", n)
		if err != nil || len(got) != 1 || got[0].ID != ids[n] {
			t.Fatalf("Find(%q) = %v, %v", n, got, err)
		}
	}
}

func TestCompValues(t *testing.T) {
	cases := []struct {
		v    any
		want string
		ok   bool
	}{
		{true, "true", true},
		{false, "false", true},
		{int64(42), "42", true},
		{7, "7", true},
		{1.5, "1.5", true},
		{"s", `"s"`, true},
		{nil, "", false},
		{[]string{"a"}, "", false},
	}
	for _, tc := range cases {
		got, err := compValue(tc.v)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("compValue(%#v) = %q, %v", tc.v, got, err)
		}
	}
}

func TestAttrPathParsing(t *testing.T) {
	cases := []struct {
		in                    string
		urn, attr, sub, conds string
	}{
		{"userName", "", "userName", "", ""},
		{"name.givenName", "", "name", "givenName", ""},
		{`emails[type eq "work"].value`, "", "emails", "value", "type=work"},
		{`addresses[type eq "work" and primary eq true].locality`, "", "addresses", "locality", "type=work,primary=true"},
		{ent + ":department", ent, "department", "", ""},
		{ent + ":manager", ent, "manager", "", ""},
		{ent + ":manager.value", ent, "manager", "value", ""},
		{"urn:ietf:params:scim:schemas:core:2.0:User:userName", "", "userName", "", ""},
		{`emails[value eq "ü@x"].type`, "", "emails", "type", "value=ü@x"},
		{`members[value eq "a\"b"]`, "", "members", "", `value=a"b`},
	}
	for _, tc := range cases {
		p, err := parseAttrPath(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		var conds []string
		for _, c := range p.conds {
			conds = append(conds, c.name+"="+fmt.Sprint(c.value))
		}
		if p.urn != tc.urn || p.attr != tc.attr || p.sub != tc.sub || strings.Join(conds, ",") != tc.conds {
			t.Errorf("%s → urn %q attr %q sub %q conds %v", tc.in, p.urn, p.attr, p.sub, conds)
		}
	}
	for _, bad := range []string{"", "a b", "emails[", "[x]", "name..x"} {
		if _, err := parseAttrPath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
