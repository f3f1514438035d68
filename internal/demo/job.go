// Package demo holds what the demo, the API test stack and the dashboards' tests share:
// the demo job's definition.
package demo

import (
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// Job is the demo's job: Entra-style mappings from the generated HR export
// (connectors/file/hrgen) to a SCIM app, with the given id and cycle interval.
func Job(id string, interval time.Duration) provisioning.Job {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	return provisioning.Job{
		ID: id, Name: "HR to Contoso SCIM app (demo)", SourceSystem: "Contoso HR", TargetSystem: "Contoso SCIM app",
		Schedule: provisioning.Schedule{Interval: provisioning.Duration(interval)},
		Settings: provisioning.Settings{DeletionThreshold: 500, EscrowRetryBase: provisioning.Duration(interval), Workers: 8, BatchSize: 500},
		Users: mapping.ObjectMapping{
			Attributes: []mapping.AttributeMapping{
				{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1, Required: true},
				{Type: mapping.Direct, Source: "id", Target: "externalId", MatchingPrecedence: 2},
				{Type: mapping.Direct, Source: "accountEnabled", Target: "active"},
				{Type: mapping.Expression, Expression: `IgnoreFlowIfNullOrEmpty(Join(" ", [givenName], [surname]))`, Target: "displayName", Required: true},
				{Type: mapping.Direct, Source: "givenName", Target: "name.givenName"},
				{Type: mapping.Direct, Source: "surname", Target: "name.familyName"},
				{Type: mapping.Expression, Expression: `ToLower(NormalizeDiacritics(Join(".", [givenName], [surname])))`, Target: "nickName"},
				{Type: mapping.Direct, Source: "mail", Target: `emails[type eq "work"].value`},
				{Type: mapping.Direct, Source: "jobTitle", Target: "title"},
				{Type: mapping.Direct, Source: "employeeType", Target: "userType"},
				{Type: mapping.Constant, Value: "en-US", Target: "preferredLanguage", Apply: mapping.OnCreate},
				{Type: mapping.Direct, Source: "department", Target: ent + "department"},
				{Type: mapping.Direct, Source: "employeeNumber", Target: ent + "employeeNumber"},
				{Type: mapping.Direct, Source: "costCenter", Target: ent + "costCenter"},
				{Type: mapping.Direct, Source: "manager", Target: ent + "manager", Reference: true},
			},
			Scoping: []mapping.ScopingFilter{{Name: "Employees outside Interns", Clauses: []mapping.Clause{
				{Attribute: "employeeType", Operator: mapping.OpEquals, Value: "Employee"},
				{Attribute: "department", Operator: mapping.OpNotEquals, Value: "Interns"},
			}}},
		},
		Groups: &mapping.ObjectMapping{
			Attributes: []mapping.AttributeMapping{
				{Type: mapping.Direct, Source: "displayName", Target: "displayName", MatchingPrecedence: 1, Required: true},
				{Type: mapping.Direct, Source: "id", Target: "externalId"},
				{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
			},
		},
	}
}
