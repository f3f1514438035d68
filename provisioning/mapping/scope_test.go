package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

func compileScope(t *testing.T, filters ...ScopingFilter) *Compiled {
	t.Helper()
	c, err := Compile(ObjectMapping{Scoping: filters})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScopeOperators(t *testing.T) {
	type row struct {
		op    Operator
		value string
		v     any // the attribute's value; nil = absent
		want  bool
	}
	rows := []row{
		// &: bitwise AND non-zero; !&: zero.
		{OpAnd, "2", int64(514), true},
		{OpAnd, "2", int64(512), false},
		{OpAnd, "2", "514", true},
		{OpAnd, "2", "abc", false},
		{OpAnd, "2", nil, false},
		{OpNotAnd, "2", int64(512), true},
		{OpNotAnd, "2", int64(514), false},
		{OpNotAnd, "2", "x", false},
		{OpNotAnd, "2", nil, false},
		// ENDS_WITH: case-insensitive suffix.
		{OpEndsWith, "@contoso.com", "john@Contoso.COM", true},
		{OpEndsWith, "@contoso.com", "john@fabrikam.com", false},
		{OpEndsWith, "FÉÉ", "caféé", true},
		{OpEndsWith, "ÉE", "caféé", false},
		{OpEndsWith, "x", nil, false},
		{OpEndsWith, "x", "", false},
		// EQUALS / NOT EQUALS: case-insensitive.
		{OpEquals, "Sales", "sales", true},
		{OpEquals, "Sales", "Marketing", false},
		{OpEquals, "True", true, true},
		{OpEquals, "42", int64(42), true},
		{OpEquals, "Sales", nil, false},
		{OpNotEquals, "Sales", "Marketing", true},
		{OpNotEquals, "Sales", "SALES", false},
		{OpNotEquals, "Sales", nil, false},
		{OpNotEquals, "Sales", "", false},
		// Greater_Than / Greater_Than_OR_EQUALS: integers.
		{OpGreaterThan, "1000000", int64(1500000), true},
		{OpGreaterThan, "1000000", "1000000", false},
		{OpGreaterThan, "1000000", float64(1000001), true},
		{OpGreaterThan, "10", 10.5, false},
		{OpGreaterThan, "10", "eleven", false},
		{OpGreaterThan, "10", nil, false},
		{OpGreaterEquals, "1000000", "1000000", true},
		{OpGreaterEquals, "1000000", " 999999 ", false},
		{OpGreaterEquals, "-5", int64(-5), true},
		{OpGreaterEquals, "0", nil, false},
		// Includes: case-insensitive substring.
		{OpIncludes, "eng", "Software ENGINEER", true},
		{OpIncludes, "eng", "Sales", false},
		{OpIncludes, "Ü", "Müller", true},
		{OpIncludes, "x", nil, false},
		// IS TRUE / IS FALSE.
		{OpIsTrue, "", true, true},
		{OpIsTrue, "", "TRUE", true},
		{OpIsTrue, "", false, false},
		{OpIsTrue, "", "yes", false},
		{OpIsTrue, "", nil, false},
		{OpIsFalse, "", false, true},
		{OpIsFalse, "", "False", true},
		{OpIsFalse, "", true, false},
		{OpIsFalse, "", int64(0), false},
		{OpIsFalse, "", nil, false},
		// IS NULL / IS NOT NULL: null and empty are null.
		{OpIsNull, "", nil, true},
		{OpIsNull, "", "", true},
		{OpIsNull, "", []string{}, true},
		{OpIsNull, "", "x", false},
		{OpIsNull, "", false, false},
		{OpIsNotNull, "", "x", true},
		{OpIsNotNull, "", int64(0), true},
		{OpIsNotNull, "", nil, false},
		{OpIsNotNull, "", "", false},
		{OpIsNotNull, "", []string{"a"}, true},
		// REGEX MATCH / NOT REGEX MATCH: unanchored, case-sensitive; null → false.
		{OpRegexMatch, `.*\@domain.com`, "a@domain.com", true},
		{OpRegexMatch, `(1[0-9][0-9][0-9][0-9][0-9][0-9])`, "1234567", true},
		{OpRegexMatch, `(1[0-9][0-9][0-9][0-9][0-9][0-9])`, "234567", false},
		{OpRegexMatch, `^sales$`, "Sales", false},
		{OpRegexMatch, `.*`, nil, false},
		{OpNotRegexMatch, `.*\@domain.com`, "a@other.com", true},
		{OpNotRegexMatch, `.*\@domain.com`, "a@domain.com", false},
		{OpNotRegexMatch, `x`, nil, false},
		{OpNotRegexMatch, `x`, "", false},
		// Multi-valued attributes are not supported: false.
		{OpEquals, "a", []string{"a", "b"}, false},
		{OpNotEquals, "c", []string{"a", "b"}, false},
		{OpIncludes, "a", []any{"a"}, false},
		{OpEquals, "a", map[string]any{"a": "a"}, false},
	}
	for _, r := range rows {
		src := attrs{}
		if r.v != nil {
			src["attr"] = r.v
		}
		c := compileScope(t, ScopingFilter{Name: "f", Clauses: []Clause{{Attribute: "attr", Operator: r.op, Value: r.value}}})
		if got := c.Scope(src); got.InScope != r.want {
			t.Errorf("%v %s %q: in scope = %v, want %v (%s)", r.v, r.op, r.value, got.InScope, r.want, got.Description)
		}
	}
	// Every operator is covered.
	seen := map[Operator]bool{}
	for _, r := range rows {
		seen[r.op] = true
	}
	for _, op := range Operators {
		if !seen[op] {
			t.Errorf("operator %s has no test row", op)
		}
	}
}

func TestScopeOperatorSpelling(t *testing.T) {
	for in, want := range map[Operator]Operator{
		"equals": OpEquals, "Equals": OpEquals, "not equals": OpNotEquals, "NOT_EQUALS": OpNotEquals,
		"ends_with": OpEndsWith, "Ends With": OpEndsWith, "GREATER_THAN": OpGreaterThan,
		"greater than or equals": OpGreaterEquals, "Greater_Than_OR_EQUALS": OpGreaterEquals,
		"includes": OpIncludes, "is  not   null": OpIsNotNull, "is_null": OpIsNull, "Is True": OpIsTrue,
		"is false": OpIsFalse, "regex match": OpRegexMatch, "not regex match": OpNotRegexMatch,
		"&": OpAnd, " !& ": OpNotAnd,
	} {
		got, ok := NormalizeOperator(in)
		if !ok || got != want {
			t.Errorf("NormalizeOperator(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []Operator{"EQUAL", "", "==", "CONTAINS", "&&"} {
		if got, ok := NormalizeOperator(bad); ok {
			t.Errorf("NormalizeOperator(%q) = %q, want not ok", bad, got)
		}
	}
	// Lower-case operators work end to end and are reported in Entra's spelling.
	c := compileScope(t, ScopingFilter{Name: "f", Clauses: []Clause{{Attribute: "department", Operator: "equals", Value: "Sales"}}})
	r := c.Scope(attrs{"department": "SALES"})
	if !r.InScope || !strings.Contains(r.Description, `department EQUALS "Sales"`) {
		t.Fatalf("%+v", r)
	}
}

func TestScopeAndOr(t *testing.T) {
	c := compileScope(t,
		ScopingFilter{Name: "New York engineers", Clauses: []Clause{
			{Attribute: "state", Operator: OpEquals, Value: "New York"},
			{Attribute: "department", Operator: OpEquals, Value: "Engineering"},
			{Attribute: "employeeId", Operator: OpGreaterEquals, Value: "1000000"},
			{Attribute: "jobTitle", Operator: OpIsNotNull},
		}},
		ScopingFilter{Name: "Contractors", Clauses: []Clause{
			{Attribute: "employeeType", Operator: OpEquals, Value: "Contractor"},
		}},
	)
	for _, tc := range []struct {
		name string
		src  attrs
		want bool
	}{
		{"all clauses of the first filter", attrs{"state": "New York", "department": "Engineering", "employeeId": "1500000", "jobTitle": "Dev"}, true},
		{"one clause fails", attrs{"state": "New York", "department": "Engineering", "employeeId": "1500000"}, false},
		{"second filter", attrs{"employeeType": "contractor"}, true},
		{"both filters", attrs{"state": "New York", "department": "Engineering", "employeeId": "1500000", "jobTitle": "Dev", "employeeType": "Contractor"}, true},
		{"neither", attrs{"state": "Ohio", "employeeType": "Employee"}, false},
		{"empty object", attrs{}, false},
	} {
		if got := c.Scope(tc.src); got.InScope != tc.want {
			t.Errorf("%s: in scope = %v, want %v (%s)", tc.name, got.InScope, tc.want, got.Description)
		}
	}
}

func TestScopeNoFilters(t *testing.T) {
	c := compileScope(t)
	r := c.Scope(attrs{"displayName": "Alice"})
	if !r.InScope || r.Description != "'Alice' is in scope: no scoping filters are configured" ||
		r.Details[DetailIsInProvisioningScope] != "True" {
		t.Fatalf("%+v", r)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(r.Details[DetailScopeEvaluationResult]), &js); err != nil {
		t.Fatal(err)
	}
}

type scopeJSON struct {
	InScope bool `json:"inScope"`
	Filters []struct {
		Name    string `json:"name"`
		Result  bool   `json:"result"`
		Clauses []struct {
			Attribute   string `json:"attribute"`
			Operator    string `json:"operator"`
			Value       *string
			ActualValue any    `json:"actualValue"`
			Result      bool   `json:"result"`
			Note        string `json:"note"`
		} `json:"clauses"`
	} `json:"filters"`
}

func TestScopeDetails(t *testing.T) {
	c := compileScope(t,
		ScopingFilter{Name: "Employees", Clauses: []Clause{
			{Attribute: "department", Operator: OpEquals, Value: "Sales"},
			{Attribute: "active", Operator: OpIsTrue},
		}},
		ScopingFilter{Name: "Big IDs", Clauses: []Clause{
			{Attribute: "employeeId", Operator: OpGreaterThan, Value: "100"},
		}},
		ScopingFilter{Clauses: []Clause{
			{Attribute: "groups", Operator: OpEquals, Value: "x"},
		}},
	)

	in := c.Scope(attrs{"displayName": "Alice \"Al\" Smith", "department": "Sales", "active": true, "employeeId": "7", "groups": []string{"x", "y"}})
	if !in.InScope {
		t.Fatalf("not in scope: %+v", in)
	}
	if want := `'Alice "Al" Smith' is in scope: filter "Employees" matched (department EQUALS "Sales" and active IS TRUE)`; in.Description != want {
		t.Fatalf("description:\n got  %s\n want %s", in.Description, want)
	}
	if in.Details[DetailIsInProvisioningScope] != "True" {
		t.Fatalf("details: %v", in.Details)
	}
	var js scopeJSON
	if err := json.Unmarshal([]byte(in.Details[DetailScopeEvaluationResult]), &js); err != nil {
		t.Fatalf("%v: %s", err, in.Details[DetailScopeEvaluationResult])
	}
	if !js.InScope || len(js.Filters) != 3 || !js.Filters[0].Result || js.Filters[1].Result || js.Filters[2].Result {
		t.Fatalf("json: %+v", js)
	}
	cl := js.Filters[0].Clauses
	if len(cl) != 2 || cl[0].Attribute != "department" || cl[0].Operator != "EQUALS" || cl[0].ActualValue != "Sales" || !cl[0].Result ||
		cl[1].Operator != "IS TRUE" || cl[1].ActualValue != true {
		t.Fatalf("clauses: %+v", cl)
	}
	if n := js.Filters[2].Clauses[0].Note; n != noteMultiValued {
		t.Fatalf("multi-valued note = %q", n)
	}

	out := c.Scope(attrs{"department": "Marketing", "active": true, "employeeId": "abc"})
	if out.InScope || out.Details[DetailIsInProvisioningScope] != "False" {
		t.Fatalf("in scope: %+v", out)
	}
	want := `Object is out of scope: filter "Employees" did not match: department EQUALS "Sales" is false (actual value "Marketing"); ` +
		`filter "Big IDs" did not match: employeeId Greater_Than "100" is false (actual value "abc": the value is not an integer); ` +
		`filter #3 did not match: groups EQUALS "x" is false (actual value null)`
	if out.Description != want {
		t.Fatalf("description:\n got  %s\n want %s", out.Description, want)
	}
	js = scopeJSON{}
	if err := json.Unmarshal([]byte(out.Details[DetailScopeEvaluationResult]), &js); err != nil {
		t.Fatalf("%v: %s", err, out.Details[DetailScopeEvaluationResult])
	}
	if js.InScope || js.Filters[2].Clauses[0].ActualValue != nil || js.Filters[2].Clauses[0].Note != noteNull {
		t.Fatalf("json: %+v", js)
	}
}

func TestScopeJSONEscaping(t *testing.T) {
	c := compileScope(t, ScopingFilter{Name: "q\"\\\n\x01", Clauses: []Clause{{Attribute: "a", Operator: OpEquals, Value: "\"<\t>\""}}})
	for _, v := range []any{"bad\xffutf8 \"q\" \\ \n\r\t\x02 é", []any{int64(1), 2.5, true, nil, "s"}, 1e300, int64(-3)} {
		r := c.Scope(attrs{"a": v})
		var js scopeJSON
		if err := json.Unmarshal([]byte(r.Details[DetailScopeEvaluationResult]), &js); err != nil {
			t.Fatalf("%#v: %v: %s", v, err, r.Details[DetailScopeEvaluationResult])
		}
		if js.Filters[0].Name != "q\"\\\n\x01" {
			t.Fatalf("name round trip: %q", js.Filters[0].Name)
		}
	}
}

func TestScopeCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filters []ScopingFilter
		want    string
	}{
		{"unknown operator", []ScopingFilter{{Name: "Employees", Clauses: []Clause{{Attribute: "a", Operator: "EQUALS"}, {Attribute: "b", Operator: "EQUAL", Value: "x"}}}},
			`scoping[0] "Employees" clause[1]: unknown operator "EQUAL" (use one of &, !&, ENDS_WITH, EQUALS, Greater_Than, Greater_Than_OR_EQUALS, Includes, IS FALSE, IS NOT NULL, IS NULL, IS TRUE, NOT EQUALS, NOT REGEX MATCH, REGEX MATCH)`},
		{"no clauses", []ScopingFilter{{Name: "x", Clauses: []Clause{{Attribute: "a", Operator: OpIsNull}}}, {Name: "Empty"}},
			`scoping[1] "Empty": a scoping filter needs at least one clause`},
		{"no attribute", []ScopingFilter{{Clauses: []Clause{{Operator: OpIsNull}}}},
			`scoping[0] clause[0]: attribute is required`},
		{"non-integer Greater_Than", []ScopingFilter{{Name: "n", Clauses: []Clause{{Attribute: "a", Operator: OpGreaterThan, Value: "1.5"}}}},
			`scoping[0] "n" clause[0]: operator Greater_Than needs an integer value, got "1.5"`},
		{"non-integer &", []ScopingFilter{{Name: "n", Clauses: []Clause{{Attribute: "a", Operator: "&", Value: ""}}}},
			`scoping[0] "n" clause[0]: operator & needs an integer value, got ""`},
		{"non-integer Greater_Than_OR_EQUALS", []ScopingFilter{{Name: "n", Clauses: []Clause{{Attribute: "a", Operator: OpGreaterEquals, Value: "ten"}}}},
			`scoping[0] "n" clause[0]: operator Greater_Than_OR_EQUALS needs an integer value, got "ten"`},
		{"bad regex", []ScopingFilter{{Name: "r", Clauses: []Clause{{Attribute: "a", Operator: OpIsNull}, {Attribute: "upn", Operator: OpRegexMatch, Value: "(["}}}},
			`scoping[0] "r" clause[1]: invalid regular expression "([": error parsing regexp`},
		{"bad regex NOT", []ScopingFilter{{Name: "r", Clauses: []Clause{{Attribute: "upn", Operator: OpNotRegexMatch, Value: "a**"}}}},
			`scoping[0] "r" clause[0]: invalid regular expression "a**"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(ObjectMapping{Scoping: tc.filters})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
