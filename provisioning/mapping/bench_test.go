package mapping

import (
	"context"
	"testing"
)

// benchMapping is a realistic user mapping to a SCIM target: 10 attributes, one Join and
// one Switch, plus a manager reference and scoping filters.
func benchMapping() ObjectMapping {
	return ObjectMapping{
		Attributes: []AttributeMapping{
			{Type: Direct, Source: "userPrincipalName", Target: "userName", MatchingPrecedence: 1},
			{Type: Direct, Source: "objectId", Target: "externalId"},
			{Type: Expression, Expression: `Join(" ", [givenName], [surname])`, Target: "displayName"},
			{Type: Direct, Source: "givenName", Target: "name.givenName"},
			{Type: Direct, Source: "surname", Target: "name.familyName"},
			{Type: Direct, Source: "mail", Target: `emails[type eq "work"].value`},
			{Type: Direct, Source: "jobTitle", Target: "title"},
			{Type: Expression, Expression: `Switch([employeeType], "Other", "FTE", "Employee", "CW", "Contractor", "INT", "Intern")`, Target: "userType"},
			{Type: Direct, Source: "department", Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", Default: "Unassigned"},
			{Type: Direct, Source: "accountEnabled", Target: "active"},
			{Type: Direct, Source: "manager", Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", Reference: true},
		},
		Scoping: []ScopingFilter{
			{Name: "Employees", Clauses: []Clause{
				{Attribute: "department", Operator: OpEquals, Value: "Sales"},
				{Attribute: "accountEnabled", Operator: OpIsTrue},
				{Attribute: "userPrincipalName", Operator: OpEndsWith, Value: "@contoso.com"},
			}},
			{Name: "Contractors", Clauses: []Clause{
				{Attribute: "employeeType", Operator: OpEquals, Value: "CW"},
			}},
		},
	}
}

func benchUser() attrs {
	return attrs{
		"userPrincipalName": "alice.smith@contoso.com",
		"objectId":          "6f9619ff-8b86-d011-b42d-00c04fc964ff",
		"givenName":         "Alice",
		"surname":           "Smith",
		"mail":              "alice.smith@contoso.com",
		"jobTitle":          "Account Executive",
		"employeeType":      "FTE",
		"department":        "Sales",
		"accountEnabled":    true,
		"manager":           "2c1f6a3e-0000-4000-8000-000000000001",
		"displayName":       "Alice Smith",
	}
}

func BenchmarkMap(b *testing.B) {
	c, err := Compile(benchMapping())
	if err != nil {
		b.Fatal(err)
	}
	src := benchUser()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Map(ctx, src, true, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScope(b *testing.B) {
	c, err := Compile(benchMapping())
	if err != nil {
		b.Fatal(err)
	}
	src := benchUser()
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Scope(src); !r.InScope {
			b.Fatal("out of scope")
		}
	}
}

func BenchmarkParseExpression(b *testing.B) {
	const s = `Switch([employeeType], "Other", "FTE", "Employee", "CW", "Contractor", "INT", "Intern")`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExpression(s); err != nil {
			b.Fatal(err)
		}
	}
}
