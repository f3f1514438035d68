package mapping

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, m ObjectMapping) *Compiled {
	t.Helper()
	c, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMapBehaviours(t *testing.T) {
	c := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{
		{Type: Direct, Source: "userPrincipalName", Target: "userName", MatchingPrecedence: 1},
		{Type: Expression, Expression: `Join(" ", [givenName], [surname])`, Target: "displayName"},
		{Type: Direct, Source: "department", Target: "department", Default: "Unassigned"},
		{Type: Constant, Value: "en-US", Target: "locale"},
		{Type: Constant, Value: "", Target: "nickName"},
		{Type: Direct, Source: "mail", Target: "emails[type eq \"work\"].value", Apply: OnCreate},
		{Type: Expression, Expression: `IgnoreFlowIfNullOrEmpty([title])`, Target: "title", Default: "Employee"},
		{Type: None, Target: "preferredLanguage", Default: "en"},
		{Type: None, Target: "timezone"},
		{Type: Direct, Source: "accountEnabled", Target: "active"},
		{Type: Direct, Source: "proxyAddresses", Target: "proxies"},
		{Type: Expression, Expression: `Redact([employeeId])`, Target: "employeeNumber"},
		{Type: Expression, Expression: `CDate([hireDate])`, Target: "hireDate"},
		{Type: Direct, Source: "costCenter", Target: "costCenter"},
	}})

	full := attrs{
		"userPrincipalName": "alice@contoso.com", "givenName": "Alice", "surname": "Smith", "department": "Sales",
		"mail": "alice@contoso.com", "title": "Engineer", "accountEnabled": true, "proxyAddresses": []string{"SMTP:a@x", "smtp:b@x"},
		"employeeId": "E42", "hireDate": "2024-03-16-07:00", "costCenter": "",
	}
	sparse := attrs{"userPrincipalName": "bob@contoso.com", "title": ""}

	for _, tc := range []struct {
		name     string
		src      attrs
		creating bool
		want     attrs
		redacted []string
	}{
		{
			name: "create, all values", src: full, creating: true,
			want: attrs{"userName": "alice@contoso.com", "displayName": "Alice Smith", "department": "Sales", "locale": "en-US", "nickName": "",
				"emails[type eq \"work\"].value": "alice@contoso.com", "title": "Engineer", "preferredLanguage": "en", "active": true,
				"proxies": []string{"SMTP:a@x", "smtp:b@x"}, "employeeNumber": "E42", "hireDate": "3/16/2024 7:00:00 AM", "costCenter": ""},
			redacted: []string{"employeeNumber"},
		},
		{
			name: "update skips OnCreate, defaults and None", src: full, creating: false,
			want: attrs{"userName": "alice@contoso.com", "displayName": "Alice Smith", "department": "Sales", "locale": "en-US", "nickName": "",
				"title": "Engineer", "active": true, "proxies": []string{"SMTP:a@x", "smtp:b@x"}, "employeeNumber": "E42",
				"hireDate": "3/16/2024 7:00:00 AM", "costCenter": ""},
			redacted: []string{"employeeNumber"},
		},
		{
			name: "create, nulls absent, defaults applied, IgnoreFlow wins over default", src: sparse, creating: true,
			want:     attrs{"userName": "bob@contoso.com", "department": "Unassigned", "locale": "en-US", "nickName": "", "preferredLanguage": "en"},
			redacted: []string{"employeeNumber"},
		},
		{
			name: "update, nulls absent, no defaults", src: sparse, creating: false,
			want:     attrs{"userName": "bob@contoso.com", "locale": "en-US", "nickName": ""},
			redacted: []string{"employeeNumber"},
		},
		{
			name: "default for empty string on create", src: attrs{"department": ""}, creating: true,
			want:     attrs{"department": "Unassigned", "locale": "en-US", "nickName": "", "preferredLanguage": "en"},
			redacted: []string{"employeeNumber"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Map(context.Background(), tc.src, tc.creating, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Attributes, tc.want) {
				t.Fatalf("attributes:\n got  %#v\n want %#v", res.Attributes, tc.want)
			}
			if !reflect.DeepEqual(res.Redacted, tc.redacted) {
				t.Fatalf("redacted = %v, want %v", res.Redacted, tc.redacted)
			}
			if res.References != nil {
				t.Fatalf("references = %v", res.References)
			}
		})
	}

	// The result never aliases the source.
	res, err := c.Map(context.Background(), full, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Attributes["proxies"].([]string)[0] = "changed"
	if full["proxyAddresses"].([]string)[0] != "SMTP:a@x" {
		t.Fatal("Map result aliases the source slice")
	}

	want := []string{"userName", "displayName", "department", "locale", "nickName", "emails[type eq \"work\"].value", "title",
		"preferredLanguage", "active", "proxies", "employeeNumber", "hireDate", "costCenter"}
	if got := c.TargetAttributes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("TargetAttributes:\n got  %q\n want %q", got, want)
	}
}

func TestMapReferences(t *testing.T) {
	c := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{
		{Type: Direct, Source: "displayName", Target: "displayName"},
		{Type: Direct, Source: "manager", Target: "manager", Reference: true},
		{Type: Direct, Source: "members", Target: "members", Reference: true},
		{Type: Expression, Expression: `Coalesce([sponsor], [owner])`, Target: "sponsor", Reference: true},
		{Type: Direct, Source: "buddy", Target: "buddy", Reference: true, Apply: OnCreate},
	}})
	for _, tc := range []struct {
		name     string
		src      attrs
		creating bool
		want     map[string][]string
	}{
		{"single and many", attrs{"displayName": "x", "manager": "u-1", "members": []string{"u-2", "", "u-3"}, "owner": "u-9", "buddy": "u-5"}, true,
			map[string][]string{"manager": {"u-1"}, "members": {"u-2", "u-3"}, "sponsor": {"u-9"}, "buddy": {"u-5"}}},
		{"OnCreate reference skipped on update", attrs{"manager": "u-1", "buddy": "u-5"}, false,
			map[string][]string{"manager": {"u-1"}}},
		{"[]any members", attrs{"members": []any{"u-2", int64(7), nil}}, false,
			map[string][]string{"members": {"u-2", "7"}}},
		{"empty refs absent", attrs{"manager": "", "members": []string{}}, true, nil},
		{"null refs absent", attrs{}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Map(context.Background(), tc.src, tc.creating, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.References, tc.want) {
				t.Fatalf("references = %#v, want %#v", res.References, tc.want)
			}
			for _, k := range []string{"manager", "members", "sponsor", "buddy"} {
				if _, ok := res.Attributes[k]; ok {
					t.Fatalf("reference %s leaked into Attributes", k)
				}
			}
		})
	}
}

func TestMatchingValues(t *testing.T) {
	c := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{
		{Type: Direct, Source: "mail", Target: "emails", MatchingPrecedence: 3},
		{Type: Direct, Source: "displayName", Target: "displayName"},
		{Type: Expression, Expression: `ToLower([userPrincipalName])`, Target: "userName", MatchingPrecedence: 1},
		{Type: Direct, Source: "objectId", Target: "externalId", MatchingPrecedence: 2, Apply: OnCreate},
		{Type: Expression, Expression: `IgnoreFlowIfNullOrEmpty([employeeId])`, Target: "employeeNumber", MatchingPrecedence: 4},
	}})
	got, err := c.MatchingValues(context.Background(), attrs{"mail": "a@x", "userPrincipalName": "Alice@X", "objectId": "o-1", "employeeId": "E1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []MatchValue{{"userName", "alice@x", 1}, {"externalId", "o-1", 2}, {"emails", "a@x", 3}, {"employeeNumber", "E1", 4}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	// Null values are left out, order is kept.
	got, err = c.MatchingValues(context.Background(), attrs{"mail": "a@x", "employeeId": ""})
	if err != nil {
		t.Fatal(err)
	}
	if want := []MatchValue{{"emails", "a@x", 3}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	// No matching attributes.
	c2 := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{{Type: Direct, Source: "a", Target: "a"}}})
	if got, err := c2.MatchingValues(context.Background(), attrs{"a": "x"}); err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestMapSelectUniqueValue(t *testing.T) {
	c := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{
		{Type: Direct, Source: "upn", Target: "externalId", MatchingPrecedence: 1},
		{Type: Expression, Target: "userName", Apply: OnCreate,
			Expression: `SelectUniqueValue(Join("@", NormalizeDiacritics([first]), "contoso.com"), Join("@", Join(".", NormalizeDiacritics([first]), NormalizeDiacritics([last])), "contoso.com"))`},
	}})
	src := attrs{"upn": "u1", "first": "Zoë", "last": "Müller"}
	env := &fakeEnv{existing: map[string]bool{"Zoe@contoso.com": true}}
	res, err := c.Map(context.Background(), src, true, env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attributes["userName"] != "Zoe.Muller@contoso.com" {
		t.Fatalf("userName = %v", res.Attributes["userName"])
	}
	if want := []string{"userName=Zoe@contoso.com", "userName=Zoe.Muller@contoso.com"}; !reflect.DeepEqual(env.asked, want) {
		t.Fatalf("Env asked %q, want %q", env.asked, want)
	}
	// Not evaluated on update (OnCreate).
	env.asked = nil
	if res, err = c.Map(context.Background(), src, false, env); err != nil || len(env.asked) != 0 || res.Attributes["userName"] != nil {
		t.Fatalf("update: %v, %v, asked %v", res.Attributes, err, env.asked)
	}
	// No unique value: the error names the mapping and wraps ErrNoUniqueValue.
	env = &fakeEnv{existing: map[string]bool{"Zoe@contoso.com": true, "Zoe.Muller@contoso.com": true}}
	_, err = c.Map(context.Background(), src, true, env)
	if !errors.Is(err, ErrNoUniqueValue) || !strings.HasPrefix(err.Error(), `attributes[1] (target "userName"): expression: col 1: SelectUniqueValue: every candidate value already exists`) {
		t.Fatalf("err = %v", err)
	}
	// Without Env, the first candidate.
	if res, err = c.Map(context.Background(), src, true, nil); err != nil || res.Attributes["userName"] != "Zoe@contoso.com" {
		t.Fatalf("nil env: %v, %v", res.Attributes, err)
	}
}

func TestMapEvaluationErrorNamesMapping(t *testing.T) {
	c := mustCompile(t, ObjectMapping{Attributes: []AttributeMapping{
		{Type: Direct, Source: "a", Target: "a"},
		{Type: Expression, Expression: `FormatDateTime([hire], , "yyyy-MM-dd", "M/d/yyyy")`, Target: "hireDate"},
	}})
	_, err := c.Map(context.Background(), attrs{"hire": "16/03/2024"}, true, nil)
	want := `attributes[1] (target "hireDate"): expression: col 16: FormatDateTime argument 1: "16/03/2024" does not match the date format`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var ee *ExprError
	if !errors.As(err, &ee) || ee.Col != 16 {
		t.Fatalf("not an *ExprError at col 16: %#v", err)
	}
	_, err = c.MatchingValues(context.Background(), attrs{"hire": "x"})
	if err != nil {
		t.Fatalf("matching values evaluate only matching attributes: %v", err)
	}
}

func TestCompileValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []AttributeMapping
		want  string
	}{
		{"missing target", []AttributeMapping{{Type: Direct, Source: "a"}}, `attributes[0]: target is required`},
		{"missing type", []AttributeMapping{{Source: "a", Target: "b"}}, `attributes[0] (target "b"): type is required (Direct, Constant, Expression or None)`},
		{"unknown type", []AttributeMapping{{Type: "Direct", Source: "a", Target: "a"}, {Type: "Lookup", Target: "b"}}, `attributes[1] (target "b"): unknown type "Lookup" (use Direct, Constant, Expression or None)`},
		{"direct without source", []AttributeMapping{{Type: Direct, Target: "b"}}, `attributes[0] (target "b"): a Direct mapping needs a source attribute`},
		{"expression without expression", []AttributeMapping{{Type: Expression, Target: "b"}}, `attributes[0] (target "b"): an Expression mapping needs an expression`},
		{"bad expression", []AttributeMapping{{Type: Direct, Source: "a", Target: "a"}, {Type: Direct, Source: "a", Target: "b"}, {Type: Direct, Source: "a", Target: "c"},
			{Type: Expression, Expression: `Jion(" ", [a], [b])`, Target: "userName"}}, `attributes[3] (target "userName"): expression: col 1: unknown function "Jion" (did you mean Join?)`},
		{"expression position", []AttributeMapping{{Type: Expression, Expression: `Join(" ", Jion([a]))`, Target: "userName"}}, `attributes[0] (target "userName"): expression: col 11: unknown function "Jion"`},
		{"bad apply", []AttributeMapping{{Type: Direct, Source: "a", Target: "b", Apply: "Sometimes"}}, `attributes[0] (target "b"): unknown apply "Sometimes" (use Always or OnCreate)`},
		{"duplicate target", []AttributeMapping{{Type: Direct, Source: "a", Target: "userName"}, {Type: Constant, Value: "x", Target: "UserName"}},
			`attributes[1] (target "UserName"): duplicate target: attributes[0] already maps "userName"`},
		{"reference constant", []AttributeMapping{{Type: Constant, Value: "x", Target: "manager", Reference: true}}, `attributes[0] (target "manager"): a reference mapping must be Direct or Expression, not Constant`},
		{"reference none", []AttributeMapping{{Type: None, Target: "manager", Reference: true}}, `attributes[0] (target "manager"): a reference mapping must be Direct or Expression, not None`},
		{"reference default", []AttributeMapping{{Type: Direct, Source: "m", Target: "manager", Reference: true, Default: "x"}}, `attributes[0] (target "manager"): defaultValue is not supported on a reference mapping`},
		{"reference matching", []AttributeMapping{{Type: Direct, Source: "m", Target: "manager", Reference: true, MatchingPrecedence: 1}}, `attributes[0] (target "manager"): a reference mapping cannot be a matching attribute`},
		{"none matching", []AttributeMapping{{Type: None, Target: "x", MatchingPrecedence: 1}}, `attributes[0] (target "x"): a None mapping cannot be a matching attribute`},
		{"negative precedence", []AttributeMapping{{Type: Direct, Source: "a", Target: "x", MatchingPrecedence: -1}}, `attributes[0] (target "x"): matchingPrecedence must not be negative, got -1`},
		{"duplicate precedence", []AttributeMapping{{Type: Direct, Source: "a", Target: "x", MatchingPrecedence: 1}, {Type: Direct, Source: "b", Target: "y", MatchingPrecedence: 1}},
			`attributes[1] (target "y"): matchingPrecedence 1 is also used by attributes[0]`},
		{"SelectUniqueValue needs OnCreate", []AttributeMapping{{Type: Expression, Expression: `SelectUniqueValue([a], [b])`, Target: "userName"}},
			`attributes[0] (target "userName"): SelectUniqueValue generates a value for new objects only: set apply to OnCreate`},
		{"SelectUniqueValue matching", []AttributeMapping{{Type: Expression, Expression: `SelectUniqueValue([a], [b])`, Target: "userName", Apply: OnCreate, MatchingPrecedence: 1}},
			`attributes[0] (target "userName"): SelectUniqueValue cannot be used on a matching attribute`},
		{"direct with expression", []AttributeMapping{{Type: Direct, Source: "a", Expression: "[a]", Target: "x"}}, `attributes[0] (target "x"): expression is not used by a Direct mapping`},
		{"constant with source", []AttributeMapping{{Type: Constant, Source: "a", Target: "x"}}, `attributes[0] (target "x"): source is not used by a Constant mapping`},
		{"expression with value", []AttributeMapping{{Type: Expression, Expression: "[a]", Value: "v", Target: "x"}}, `attributes[0] (target "x"): value is not used by a Expression mapping`},
		{"none with source", []AttributeMapping{{Type: None, Source: "a", Target: "x"}}, `attributes[0] (target "x"): source is not used by a None mapping`},
		{"scoping error after valid attributes", []AttributeMapping{{Type: Direct, Source: "a", Target: "x"}}, `scoping[0] "Employees" clause[0]: unknown operator "EQUAL"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ObjectMapping{Attributes: tc.attrs}
			if strings.HasPrefix(tc.want, "scoping") {
				m.Scoping = []ScopingFilter{{Name: "Employees", Clauses: []Clause{{Attribute: "department", Operator: "EQUAL", Value: "Sales"}}}}
			}
			_, err := Compile(m)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestCompileAcceptsLenientSpelling(t *testing.T) {
	c, err := Compile(ObjectMapping{Attributes: []AttributeMapping{
		{Type: "direct", Source: "a", Target: "a", Apply: "oncreate"},
		{Type: "EXPRESSION", Expression: `[b]`, Target: "b", Apply: "always"},
		{Type: "constant", Target: "c"},
		{Type: "none", Target: "d"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Map(context.Background(), attrs{"a": "1", "b": "2"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (attrs{"b": "2", "c": ""}); !reflect.DeepEqual(res.Attributes, want) {
		t.Fatalf("got %v, want %v", res.Attributes, want)
	}
	if got, want := c.TargetAttributes(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("TargetAttributes = %v, want %v", got, want)
	}
}

func TestCompiledConcurrentUse(t *testing.T) {
	c := mustCompile(t, benchMapping())
	src := benchUser()
	want, err := c.Map(context.Background(), src, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				got, err := c.Map(context.Background(), src, true, nil)
				if err == nil && !reflect.DeepEqual(got, want) {
					err = errors.New("concurrent Map returned a different result")
				}
				if err == nil {
					if r := c.Scope(src); !r.InScope {
						err = errors.New("concurrent Scope: out of scope")
					}
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
