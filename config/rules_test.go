package config

import (
	"strings"
	"testing"
)

func TestRanges(t *testing.T) {
	settings := func(s string) string { return edit("{workers: 8}", "{"+s+"}") }
	const at = "test.yaml:14: jobs[0].settings."
	runErrorCases(t, []errorCase{
		{name: "workers 0", yaml: settings("workers: 0"), want: []string{at + "workers: must be between 1 and 256, got 0"}},
		{name: "workers 257", yaml: settings("workers: 257"), want: []string{at + "workers: must be between 1 and 256, got 257"}},
		{name: "batchSize 0", yaml: settings("batchSize: 0"), want: []string{at + "batchSize: must be between 1 and 10000, got 0"}},
		{name: "batchSize 10001", yaml: settings("batchSize: 10_001"), want: []string{at + "batchSize: must be between 1 and 10000, got 10001"}},
		{name: "proportion 0", yaml: settings("quarantineProportion: 0"), want: []string{at + "quarantineProportion: must be greater than 0 and at most 1, got 0"}},
		{name: "proportion 1.5", yaml: settings("quarantineProportion: 1.5"), want: []string{at + "quarantineProportion: must be greater than 0 and at most 1, got 1.5"}},
		{name: "percent 101", yaml: settings("deletionThresholdPercent: 101"), want: []string{at + "deletionThresholdPercent: must be between 0 and 100, got 101"}},
		{name: "percent -1", yaml: settings("deletionThresholdPercent: -1"), want: []string{at + "deletionThresholdPercent: must be between 0 and 100, got -1"}},
		{name: "deletion threshold", yaml: settings("deletionThreshold: -1"), want: []string{at + "deletionThreshold: must be at least 0, got -1"}},
		{name: "base escrows", yaml: settings("quarantineBaseEscrows: 0"), want: []string{at + "quarantineBaseEscrows: must be at least 1, got 0 (omit it for the default, 5000)"}},
		{name: "total escrows", yaml: settings("quarantineTotalEscrows: -5"), want: []string{at + "quarantineTotalEscrows: must be at least 1, got -5 (omit it for the default, 40000)"}},
		{name: "absolute cap", yaml: settings("quarantineAbsoluteCap: 0"), want: []string{at + "quarantineAbsoluteCap: must be at least 1, got 0 (omit it for the default, 60000)"}},
		{name: "rate", yaml: settings("maxRequestsPerSecond: -0.5"), want: []string{at + "maxRequestsPerSecond: must not be negative, got -0.5"}},
		{name: "backoff empty", yaml: settings("quarantineBackoff: []"), want: []string{at + "quarantineBackoff: want at least one duration (omit it for the default, 6h, 12h, 24h)"}},
		{name: "backoff item", yaml: settings("quarantineBackoff: [6h, 12 hours, ~]"), want: []string{
			at + `quarantineBackoff[1]: invalid duration "12 hours": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`,
			at + "quarantineBackoff[2]: want a duration, got an empty value",
		}},
		{name: "escrow durations", yaml: settings("quarantineMaxDuration: 0s, escrowMaxAge: 1 week"), want: []string{
			at + `quarantineMaxDuration: duration must be positive, got "0s"`,
			at + `escrowMaxAge: invalid duration "1 week": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`,
		}},
		{name: "escrow retry base above max", yaml: settings("escrowRetryBase: 2d"), want: []string{at + "escrowRetryBase: must not exceed escrowRetryMax (24h), got 48h"}},
		{name: "escrow retry max below the default base", yaml: settings("escrowRetryMax: 30m"), want: []string{at + "escrowRetryMax: must not be less than escrowRetryBase (40m, the default), got 30m"}},
		{name: "retention", yaml: "retention: {events: forever}\n" + base, want: []string{
			`test.yaml:1: retention.events: invalid duration "forever": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`,
		}},
		{name: "negative retention", yaml: "retention: {events: -1h}\n" + base, want: []string{
			`test.yaml:1: retention.events: duration must not be negative, got "-1h"`,
		}},
		{name: "scim numbers", yaml: edit("    url: https://sf.example.com/scim/v2\n",
			"    url: https://sf.example.com/scim/v2\n    maxRequestsPerSecond: 5\n    minRequestsPerSecond: 10\n    maxRetries: -1\n    pageSize: 0\n    memberBatchSize: many\n    timeout: 0s\n"),
			want: []string{
				"test.yaml:9: connectors.sf.minRequestsPerSecond: must not exceed maxRequestsPerSecond (5), got 10",
				"test.yaml:10: connectors.sf.maxRetries: must be at least 0, got -1",
				"test.yaml:11: connectors.sf.pageSize: must be at least 1, got 0",
				`test.yaml:12: connectors.sf.memberBatchSize: want an integer, got "many"`,
				`test.yaml:13: connectors.sf.timeout: duration must be positive, got "0s"`,
			}},
	})
}

func TestRequired(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "job fields", yaml: edit("    source: hr\n    target: sf\n", "", "  - id: sf\n", "  - name: SF\n"),
			want: []string{
				"test.yaml:10: jobs[0].id: required",
				"test.yaml:10: jobs[0].source: required",
				"test.yaml:10: jobs[0].target: required",
			}},
		{name: "users", yaml: edit("    users:\n      attributes:\n        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n      scoping:\n        - name: Employees\n          clauses: [{attribute: employeeType, operator: EQUALS, value: Employee}]\n", ""),
			want: []string{"test.yaml:10: jobs[0].users: required"}},
		{name: "attributes", yaml: edit("      attributes:\n        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n", ""),
			want: []string{"test.yaml:16: jobs[0].users.attributes: required"}},
		{name: "no attributes", yaml: edit("        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n", "        []\n"),
			want: []string{"test.yaml:17: jobs[0].users.attributes: want at least one attribute mapping"}},
		{name: "attribute fields", yaml: edit("{type: Direct, source: userName, target: userName, matchingPrecedence: 1}", "{matchingPrecedence: 1}"),
			want: []string{
				"test.yaml:17: jobs[0].users.attributes[0].type: required",
				"test.yaml:17: jobs[0].users.attributes[0].target: required",
			}},
		{name: "direct needs source", yaml: edit("source: userName, ", ""),
			want: []string{"test.yaml:17: jobs[0].users.attributes[0].source: required"}},
		{name: "constant needs value", yaml: edit("{type: Direct, source: userName,", "{type: Constant,"),
			want: []string{"test.yaml:17: jobs[0].users.attributes[0].value: required"}},
		{name: "expression needs expression", yaml: edit("{type: Direct, source: userName,", "{type: Expression, expression: ' ',"),
			want: []string{"test.yaml:17: jobs[0].users.attributes[0].expression: must not be empty"}},
		{name: "connector type", yaml: edit("    type: file\n", ""),
			want: []string{"test.yaml:3: connectors.hr.type: required"}},
		{name: "empty connector", yaml: edit("    type: file\n    users: hr/users.json\n", ""),
			want: []string{"test.yaml:2: connectors.hr: want a mapping with a type (file, scim, plugin or ldap), got an empty value"}},
		{name: "file users", yaml: edit("    users: hr/users.json\n", "    groups: hr/groups.json\n"),
			want: []string{"test.yaml:3: connectors.hr.users: required"}},
		{name: "scim url and auth", yaml: edit("    url: https://sf.example.com/scim/v2\n    auth: {type: bearer, token: \"${SF_TOKEN}\"}\n", ""),
			want: []string{
				"test.yaml:6: connectors.sf.url: required",
				"test.yaml:6: connectors.sf.auth: required",
			}},
		{name: "bearer token", yaml: edit(`{type: bearer, token: "${SF_TOKEN}"}`, "{type: bearer}"),
			want: []string{"test.yaml:8: connectors.sf.auth.token: required (or tokenFile)"}},
		{name: "oauth2 fields", yaml: edit(`{type: bearer, token: "${SF_TOKEN}"}`, "{type: oauth2}"),
			want: []string{
				"test.yaml:8: connectors.sf.auth.clientId: required",
				"test.yaml:8: connectors.sf.auth.clientSecret: required (or clientSecretFile)",
				"test.yaml:8: connectors.sf.auth.tokenUrl: required",
			}},
		{name: "basic fields", yaml: edit(`{type: bearer, token: "${SF_TOKEN}"}`, "{type: basic}"),
			want: []string{
				"test.yaml:8: connectors.sf.auth.username: required",
				"test.yaml:8: connectors.sf.auth.password: required (or passwordFile)",
			}},
		{name: "scoping filter fields", yaml: edit("        - name: Employees\n          clauses: [{attribute: employeeType, operator: EQUALS, value: Employee}]\n", "        - {}\n"),
			want: []string{
				"test.yaml:19: jobs[0].users.scoping[0].name: required",
				"test.yaml:19: jobs[0].users.scoping[0].clauses: required",
			}},
		{name: "clause fields", yaml: edit("[{attribute: employeeType, operator: EQUALS, value: Employee}]", "[{value: x}, ~]"),
			want: []string{
				"test.yaml:20: jobs[0].users.scoping[0].clauses[0].attribute: required",
				"test.yaml:20: jobs[0].users.scoping[0].clauses[0].operator: required",
				"test.yaml:20: jobs[0].users.scoping[0].clauses[1]: want a clause, got an empty value",
			}},
		{name: "no jobs", yaml: edit("jobs:\n", "jobs: []\nold:\n"),
			want: []string{
				"test.yaml:9: jobs: want at least one job",
				`test.yaml:10: old: unknown field "old"`,
			}},
	})
}

func TestJobs(t *testing.T) {
	secondJob := base + `  - id: sf
    source: hr
    target: sf
    users: {attributes: [{type: Direct, source: userName, target: userName, matchingPrecedence: 1}]}
`
	runErrorCases(t, []errorCase{
		{name: "invalid id", yaml: edit("  - id: sf\n", "  - id: sales force\n"),
			want: []string{`test.yaml:10: jobs[0].id: invalid job id "sales force": want 1 to 64 letters, digits, '.', '_' or '-'`}},
		{name: "id of 64 characters", yaml: edit("  - id: sf\n", "  - id: "+strings.Repeat("a", 64)+"\n", "    target: sf\n", "    target: sf2\n"),
			want: []string{`test.yaml:12: jobs[0].target: unknown connector "sf2" (did you mean "sf"?)`}},
		{name: "id too long", yaml: edit("  - id: sf\n", "  - id: "+strings.Repeat("a", 65)+"\n"),
			want: []string{`test.yaml:10: jobs[0].id: invalid job id "` + strings.Repeat("a", 65) + `": want 1 to 64 letters, digits, '.', '_' or '-'`}},
		{name: "duplicate id", yaml: secondJob,
			want: []string{`test.yaml:21: jobs[1].id: duplicate job id "sf" (first at line 10)`}},
		{name: "unknown source with suggestion", yaml: edit("    source: hr\n", "    source: hr2\n"),
			want: []string{`test.yaml:11: jobs[0].source: unknown connector "hr2" (did you mean "hr"?)`}},
		{name: "unknown target", yaml: edit("    target: sf\n", "    target: salesforce\n"),
			want: []string{`test.yaml:12: jobs[0].target: unknown connector "salesforce": want "hr" or "sf"`}},
		{name: "file connector as target", yaml: edit("    source: hr\n    target: sf\n", "    source: sf\n    target: hr\n"),
			want: []string{`test.yaml:12: jobs[0].target: connector "hr" is a file connector, which cannot be a target`}},
		{name: "invalid connector name", yaml: edit("  hr:\n", "  h r:\n", "    source: hr\n", "    source: h r\n"),
			want: []string{`test.yaml:2: connectors.h r: invalid connector name "h r": want 1 to 64 letters, digits, '.', '_' or '-'`}},
		{name: "no connectors", yaml: "connectors: {}\njobs:\n  - {id: a, source: x, target: y, users: {attributes: [{type: Direct, source: a, target: a, matchingPrecedence: 1}]}}\n",
			want: []string{
				"test.yaml:1: connectors: want at least one connector",
				`test.yaml:3: jobs[0].source: unknown connector "x": no connectors are defined`,
				`test.yaml:3: jobs[0].target: unknown connector "y": no connectors are defined`,
			}},
		{name: "groups need a groups file", yaml: base + "    groups: {attributes: [{type: Direct, source: displayName, target: displayName, matchingPrecedence: 1}]}\n",
			want: []string{`test.yaml:21: jobs[0].groups: source connector "hr" has no groups file (set connectors.hr.groups)`}},
		{name: "job not a mapping", yaml: base + "  - sf2\n  -\n",
			want: []string{
				"test.yaml:21: jobs[1]: want a mapping, got a string",
				"test.yaml:22: jobs[2]: want a job (a mapping), got an empty value",
			}},
	})
}

func TestMappings(t *testing.T) {
	attr := func(s string) string {
		return edit("        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n",
			"        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n"+s)
	}
	runErrorCases(t, []errorCase{
		{name: "no matching attribute", yaml: edit(", matchingPrecedence: 1}", "}"),
			want: []string{"test.yaml:17: jobs[0].users.attributes: no matching attribute: set matchingPrecedence: 1 on the attribute that identifies target objects (e.g. userName)"}},
		{name: "no matching attribute for groups", yaml: edit("    source: hr\n", "    source: sf\n") + "    groups: {attributes: [{type: Direct, source: displayName, target: displayName}]}\n",
			want: []string{"test.yaml:21: jobs[0].groups.attributes: no matching attribute: set matchingPrecedence: 1 on the attribute that identifies target objects (e.g. userName)"}},
		{name: "duplicate precedence", yaml: attr("        - {type: Direct, source: mail, target: emails, matchingPrecedence: 1}\n"),
			want: []string{"test.yaml:18: jobs[0].users.attributes[1].matchingPrecedence: matching precedence 1 is already used by attributes[0] (line 17)"}},
		{name: "duplicate target", yaml: attr("        - {type: Direct, source: login, target: USERNAME}\n"),
			want: []string{`test.yaml:18: jobs[0].users.attributes[1].target: target "USERNAME" is already mapped by attributes[0] (line 17)`}},
		{name: "negative precedence", yaml: attr("        - {type: Direct, source: mail, target: emails, matchingPrecedence: -2}\n"),
			want: []string{"test.yaml:18: jobs[0].users.attributes[1].matchingPrecedence: must be at least 0, got -2"}},
		{name: "fields of other mapping types", yaml: attr("        - {type: Direct, source: a, value: b, expression: c, target: t1}\n        - {type: Constant, source: a, value: b, target: t2}\n        - {type: Expression, value: b, expression: c, target: t3}\n        - {type: None, source: a, target: t4}\n"),
			want: []string{
				"test.yaml:18: jobs[0].users.attributes[1].value: not used with mapping type Direct",
				"test.yaml:18: jobs[0].users.attributes[1].expression: not used with mapping type Direct",
				"test.yaml:19: jobs[0].users.attributes[2].source: not used with mapping type Constant",
				"test.yaml:20: jobs[0].users.attributes[3].value: not used with mapping type Expression",
				"test.yaml:21: jobs[0].users.attributes[4].source: not used with mapping type None",
			}},
		{name: "reference must be a boolean", yaml: attr("        - {type: Direct, source: manager, target: manager, reference: manager}\n"),
			want: []string{`test.yaml:18: jobs[0].users.attributes[1].reference: want true or false, got "manager"`}},
		{name: "attribute not a mapping", yaml: attr("        - userName\n"),
			want: []string{"test.yaml:18: jobs[0].users.attributes[1]: want a mapping, got a string"}},
		{name: "clause values", yaml: edit("          clauses: [{attribute: employeeType, operator: EQUALS, value: Employee}]\n",
			`          clauses:
            - {attribute: a, operator: IS NULL, value: x}
            - {attribute: b, operator: Greater_Than, value: ten}
            - {attribute: c, operator: '&', value: 0x10}
            - {attribute: d, operator: REGEX MATCH, value: '^(abc'}
            - {attribute: e, operator: NOT EQUALS}
            - {attribute: f, operator: ENDS_WITH, value: ~}
            - {attribute: g, operator: EQUALS, value: ""}
`),
			want: []string{
				"test.yaml:21: jobs[0].users.scoping[0].clauses[0].value: not used with operator IS NULL",
				`test.yaml:22: jobs[0].users.scoping[0].clauses[1].value: operator Greater_Than wants an integer, got "ten"`,
				`test.yaml:23: jobs[0].users.scoping[0].clauses[2].value: operator & wants an integer, got "0x10"`,
				"test.yaml:24: jobs[0].users.scoping[0].clauses[3].value: invalid regular expression: missing closing ): `^(abc`",
				"test.yaml:25: jobs[0].users.scoping[0].clauses[4].value: required",
				"test.yaml:26: jobs[0].users.scoping[0].clauses[5].value: required (the value is empty)",
			}},
		{name: "no clauses", yaml: edit("[{attribute: employeeType, operator: EQUALS, value: Employee}]", "[]"),
			want: []string{"test.yaml:20: jobs[0].users.scoping[0].clauses: want at least one clause"}},
	})
}
