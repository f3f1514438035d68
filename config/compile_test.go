package config

import "testing"

// TestCompile checks that mapping.Compile's errors are reported at the attribute mapping,
// expression or clause they are about.
func TestCompile(t *testing.T) {
	attr := func(s string) string {
		return edit("        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n",
			"        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n"+s)
	}
	runErrorCases(t, []errorCase{
		{name: "unknown function", yaml: attr("        - {type: Expression, expression: 'Jion(\" \", [givenName], [surname])', target: displayName}\n"),
			want: []string{`test.yaml:18: jobs[0].users.attributes[1].expression: col 1: unknown function "Jion" (did you mean Join?)`}},
		{name: "expression in a literal block", yaml: attr("        - type: Expression\n          target: displayName\n          expression: |\n            Join(\" \",\n              [givenName], [surname] }\n          matchingPrecedence: 2\n"),
			want: []string{`test.yaml:22: jobs[0].users.attributes[1].expression: line 2 col 26: expected "," or ")" after argument 3 of Join, found "}"`}},
		{name: "None cannot match", yaml: attr("        - {type: None, target: nickName, defaultValue: x, matchingPrecedence: 2}\n"),
			want: []string{"test.yaml:18: jobs[0].users.attributes[1]: a None mapping cannot be a matching attribute"}},
		{name: "reference on a Constant", yaml: attr("        - {type: Constant, value: x, target: manager, reference: true}\n"),
			want: []string{"test.yaml:18: jobs[0].users.attributes[1]: a reference mapping must be Direct or Expression, not Constant"}},
	})
}
