package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// base is a small valid configuration; the cases below edit it. Line numbers:
//
//	 1 connectors:
//	 5   sf:
//	 8     auth: …
//	 9 jobs:
//	10   - id: sf
//	13     schedule: …
//	14     settings: …
//	17         - {type: Direct, …}
//	20           clauses: …
const base = `connectors:
  hr:
    type: file
    users: hr/users.json
  sf:
    type: scim
    url: https://sf.example.com/scim/v2
    auth: {type: bearer, token: "${SF_TOKEN}"}
jobs:
  - id: sf
    source: hr
    target: sf
    schedule: {interval: 40m}
    settings: {workers: 8}
    users:
      attributes:
        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}
      scoping:
        - name: Employees
          clauses: [{attribute: employeeType, operator: EQUALS, value: Employee}]
`

// sfToken is SF_TOKEN's value in the tests: no message may contain it.
const sfToken = "tok-4b1d9e0c77"

// edit replaces each old string of base (which must occur exactly once) by its new string.
func edit(pairs ...string) string {
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			panic(fmt.Sprintf("edit: %q occurs %d times in base", pairs[i], n))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

type errorCase struct {
	name string
	yaml string
	// env adds to (or, with an empty value, removes from) {SF_TOKEN: sfToken}.
	env map[string]string
	// files are created in the configuration's directory; a name ending in "/" is a
	// directory, a content starting with "#!" an executable.
	files map[string]string
	// want lists the expected messages; "$DIR" stands for the configuration's directory.
	want []string
}

// parseIn writes files into a fresh directory, makes it the working directory, and parses
// data as test.yaml.
func parseIn(t *testing.T, data string, env map[string]string, files map[string]string) (*Config, error, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o600)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"SF_TOKEN": sfToken}
	for k, v := range env {
		if v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	cfg, err := Parse("test.yaml", []byte(data), lookup)
	return cfg, err, dir
}

func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err, dir := parseIn(t, tc.yaml, tc.env, tc.files)
			if err == nil {
				t.Fatalf("Parse succeeded (%d jobs), want errors:\n%s", len(cfg.Jobs), strings.Join(tc.want, "\n"))
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error is %T, want *ValidationError: %v", err, err)
			}
			got := strings.ReplaceAll(err.Error(), dir, "$DIR")
			want := strings.Join(tc.want, "\n")
			if got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
			if len(verr.Errors) != len(tc.want) {
				t.Errorf("got %d FieldErrors, want %d", len(verr.Errors), len(tc.want))
			}
			for _, secret := range []string{sfToken, "s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("an error message contains the secret %q:\n%s", secret, err)
				}
			}
		})
	}
}

func TestBaseIsValid(t *testing.T) {
	cfg, err, dir := parseIn(t, base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Jobs) != 1 || cfg.Jobs[0].Job.ID != "sf" || cfg.Jobs[0].Line != 10 {
		t.Fatalf("jobs = %+v", cfg.Jobs)
	}
	if got := cfg.Connectors["sf"].SCIM.Auth.Token.Value(); got != sfToken {
		t.Errorf("token = %q, want the value of SF_TOKEN", got)
	}
	// Defaults.
	if cfg.DataDir != filepath.Join(dir, "data") {
		t.Errorf("dataDir = %q", cfg.DataDir)
	}
	if cfg.Store.Driver != DriverSQLite || cfg.Store.Path != filepath.Join(dir, "data", "provisiond.db") {
		t.Errorf("store = %+v", cfg.Store)
	}
	if cfg.API.Addr != "127.0.0.1:8080" || cfg.API.ReaderToken != "" || cfg.API.AdminToken != "" {
		t.Errorf("api = %+v", cfg.API)
	}
	if cfg.Retention.Events != 30*24*time.Hour {
		t.Errorf("retention = %v", cfg.Retention.Events)
	}
	job := cfg.Jobs[0].Job
	if job.Name != "sf" || job.SourceSystem != "hr" || job.TargetSystem != "sf" {
		t.Errorf("job = %+v", job)
	}
	if job.Schedule.Interval.D() != provisioning.DefaultInterval {
		t.Errorf("interval = %v", job.Schedule.Interval)
	}
	if want := (provisioning.Settings{Workers: 8}).Defaults(); fmt.Sprint(job.Settings) != fmt.Sprint(want) {
		t.Errorf("settings = %+v, want %+v", job.Settings, want)
	}
	if f := cfg.Connectors["hr"].File; f == nil || f.Users != filepath.Join(dir, "hr", "users.json") {
		t.Errorf("hr = %+v", cfg.Connectors["hr"])
	}
}

// TestRetention: retention.events takes any non-negative duration; 0 keeps events forever.
func TestRetention(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want time.Duration
	}{
		{"", 30 * 24 * time.Hour},
		{"retention: {events: 90d}\n", 90 * 24 * time.Hour},
		{"retention: {events: 36h}\n", 36 * time.Hour},
		{"retention: {events: P7D}\n", 7 * 24 * time.Hour},
		{"retention: {events: 0}\n", 0},
		{"retention: {events: 0d}\n", 0},
		{"retention: {}\n", 30 * 24 * time.Hour},
	} {
		cfg, err, _ := parseIn(t, c.yaml+base, nil, nil)
		if err != nil {
			t.Errorf("%q: %v", c.yaml, err)
			continue
		}
		if cfg.Retention.Events != c.want {
			t.Errorf("%q: retention.events = %v, want %v", c.yaml, cfg.Retention.Events, c.want)
		}
	}
}

func TestSyntaxAndStructure(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "syntax error", yaml: "connectors:\n  hr: {type: file\njobs: []\n",
			want: []string{"test.yaml:2: YAML syntax error: did not find expected ',' or '}'"}},
		{name: "syntax error in a block", yaml: "connectors:\n  - hr\n  sf: {}\n",
			want: []string{"test.yaml:2: YAML syntax error: did not find expected '-' indicator"}},
		{name: "scanner error", yaml: "connectors: {}\njobs: x: y\n",
			want: []string{"test.yaml:2: YAML syntax error: mapping values are not allowed in this context"}},
		{name: "unknown anchor", yaml: "connectors: *hr\n",
			want: []string{"test.yaml: YAML syntax error: unknown anchor 'hr' referenced"}},
		{name: "tab indentation", yaml: "connectors:\n\thr: {}\n",
			want: []string{"test.yaml:2: YAML syntax error: found character that cannot start any token"}},
		{name: "empty file", yaml: "# nothing yet\n",
			want: []string{"test.yaml: the file is empty: want a mapping with connectors and jobs"}},
		{name: "null document", yaml: "~\n",
			want: []string{"test.yaml: the file is empty: want a mapping with connectors and jobs"}},
		{name: "not a mapping", yaml: "- connectors\n- jobs\n",
			want: []string{"test.yaml:1: want a mapping, got a sequence"}},
		{name: "two documents", yaml: base + "---\njobs: []\n",
			want: []string{"test.yaml:21: the file holds more than one YAML document; want one"}},
		{name: "missing connectors and jobs", yaml: "dataDir: /tmp\n",
			want: []string{
				"test.yaml:1: connectors: required",
				"test.yaml:1: jobs: required",
			}},
		{name: "unknown top-level field", yaml: edit("jobs:\n", "job:\n"),
			want: []string{
				"test.yaml:1: jobs: required",
				`test.yaml:9: job: unknown field "job" (did you mean "jobs"?)`,
			}},
		{name: "unknown field with suggestion", yaml: edit("{interval: 40m}", "{intervall: 40m}"),
			want: []string{`test.yaml:13: jobs[0].schedule.intervall: unknown field "intervall" (did you mean "interval"?)`}},
		{name: "unknown field, wrong case", yaml: edit("{workers: 8}", "{Workers: 8}"),
			want: []string{`test.yaml:14: jobs[0].settings.Workers: unknown field "Workers" (did you mean "workers"?)`}},
		{name: "unknown field without suggestion", yaml: edit("    source: hr\n", "    source: hr\n    colour: blue\n"),
			want: []string{`test.yaml:12: jobs[0].colour: unknown field "colour"`}},
		{name: "duplicate field", yaml: edit("    source: hr\n", "    source: hr\n    source: sf\n"),
			want: []string{`test.yaml:12: jobs[0].source: duplicate field "source" (first at line 11)`}},
		{name: "field names must be strings", yaml: edit("{workers: 8}", "{[workers]: 8}"),
			want: []string{"test.yaml:14: jobs[0].settings: field names must be plain strings, got a sequence"}},
		{name: "field of another connector type", yaml: edit("    users: hr/users.json\n", "    users: hr/users.json\n    url: https://x.example.com\n"),
			want: []string{"test.yaml:5: connectors.hr.url: not used by file connectors"}},
	})
}

func TestTypes(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "integer", yaml: edit("{workers: 8}", "{workers: eight}"),
			want: []string{`test.yaml:14: jobs[0].settings.workers: want an integer, got "eight"`}},
		{name: "integer, not a number with a fraction", yaml: edit("{workers: 8}", "{workers: 8.5}"),
			want: []string{`test.yaml:14: jobs[0].settings.workers: want an integer, got "8.5"`}},
		{name: "integer out of range", yaml: edit("{workers: 8}", "{workers: 99999999999}"),
			want: []string{`test.yaml:14: jobs[0].settings.workers: integer "99999999999" is out of range`}},
		{name: "number", yaml: edit("{workers: 8}", "{quarantineProportion: high}"),
			want: []string{`test.yaml:14: jobs[0].settings.quarantineProportion: want a number, got "high"`}},
		{name: "number, not infinity", yaml: edit("{workers: 8}", "{maxRequestsPerSecond: .inf}"),
			want: []string{`test.yaml:14: jobs[0].settings.maxRequestsPerSecond: want a number, got ".inf"`}},
		{name: "boolean", yaml: edit("{interval: 40m}", "{paused: yes}"),
			want: []string{`test.yaml:13: jobs[0].schedule.paused: want true or false, got "yes"`}},
		{name: "mapping", yaml: edit("{workers: 8}", "[8]"),
			want: []string{"test.yaml:14: jobs[0].settings: want a mapping, got a sequence"}},
		{name: "sequence", yaml: edit("jobs:\n  - id: sf\n", "jobs:\n  job:\n    id: sf\n"),
			want: []string{"test.yaml:10: jobs: want a sequence, got a mapping"}},
		{name: "string", yaml: edit("    source: hr\n", "    source: [hr]\n"),
			want: []string{"test.yaml:11: jobs[0].source: want a string, got a sequence"}},
		{name: "duration", yaml: edit("{interval: 40m}", "{interval: 40 min}"),
			want: []string{`test.yaml:13: jobs[0].schedule.interval: invalid duration "40 min": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`}},
		{name: "duration without unit", yaml: edit("{interval: 40m}", "{interval: 40}"),
			want: []string{`test.yaml:13: jobs[0].schedule.interval: invalid duration "40": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`}},
		{name: "negative duration", yaml: edit("{interval: 40m}", "{interval: -5m}"),
			want: []string{`test.yaml:13: jobs[0].schedule.interval: duration must be positive, got "-5m"`}},
		{name: "zero duration", yaml: edit("{interval: 40m}", "{interval: PT0M}"),
			want: []string{`test.yaml:13: jobs[0].schedule.interval: duration must be positive, got "PT0M"`}},
		{name: "string list item", yaml: edit("    users: hr/users.json\n", "    users: hr/users.json\n    multiValued: [roles, {a: b}, ~]\n"),
			want: []string{
				"test.yaml:5: connectors.hr.multiValued[1]: want a string, got a mapping",
				"test.yaml:5: connectors.hr.multiValued[2]: must not be empty",
			}},
		{name: "empty required value", yaml: edit("    source: hr\n", "    source:\n"),
			want: []string{"test.yaml:11: jobs[0].source: required (the value is empty)"}},
	})
}

func TestEnums(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "store driver", yaml: "store: {driver: postgresql}\n" + base,
			want: []string{`test.yaml:1: store.driver: invalid driver "postgresql" (did you mean "postgres"?): want sqlite or postgres`}},
		{name: "connector type", yaml: edit("    type: file\n", "    type: csv\n"),
			want: []string{`test.yaml:3: connectors.hr.type: invalid connector type "csv": want file, scim, plugin or ldap`}},
		{name: "auth type", yaml: edit("{type: bearer,", "{type: Bearer-Token,"),
			want: []string{`test.yaml:8: connectors.sf.auth.type: invalid auth type "Bearer-Token": want bearer, oauth2 or basic`}},
		{name: "disable mode", yaml: edit("    url: https://sf.example.com/scim/v2\n", "    url: https://sf.example.com/scim/v2\n    disableMode: pach\n"),
			want: []string{`test.yaml:8: connectors.sf.disableMode: invalid disable mode "pach" (did you mean "patch"?): want patch, patchLegacyString, put or delete`}},
		{name: "mapping type", yaml: edit("{type: Direct,", "{type: Direkt,"),
			want: []string{`test.yaml:17: jobs[0].users.attributes[0].type: invalid mapping type "Direkt" (did you mean "Direct"?): want Direct, Constant, Expression or None`}},
		{name: "apply", yaml: edit("matchingPrecedence: 1}", "matchingPrecedence: 1, apply: OnUpdate}"),
			want: []string{`test.yaml:17: jobs[0].users.attributes[0].apply: invalid apply "OnUpdate": want Always or OnCreate`}},
		{name: "operator", yaml: edit("operator: EQUALS", "operator: EQUAL"),
			want: []string{`test.yaml:20: jobs[0].users.scoping[0].clauses[0].operator: invalid operator "EQUAL" (did you mean "EQUALS"?): want &, !&, ENDS_WITH, EQUALS, Greater_Than, Greater_Than_OR_EQUALS, Includes, IS FALSE, IS NOT NULL, IS NULL, IS TRUE, NOT EQUALS, NOT REGEX MATCH or REGEX MATCH`}},
	})
}

// TestOperatorSpellings checks that operators are matched case-insensitively, with '_' and
// ' ' alike, and normalized to Entra's spelling.
func TestOperatorSpellings(t *testing.T) {
	spellings := map[string]mapping.Operator{
		"'&'": mapping.OpAnd, "'!&'": mapping.OpNotAnd, "ends with": mapping.OpEndsWith,
		"equals": mapping.OpEquals, "GREATER_THAN": mapping.OpGreaterThan,
		"greater than or equals": mapping.OpGreaterEquals, "INCLUDES": mapping.OpIncludes,
		"is_false": mapping.OpIsFalse, "IS_NOT_NULL": mapping.OpIsNotNull, "Is  Null": mapping.OpIsNull,
		"is true": mapping.OpIsTrue, "not_equals": mapping.OpNotEquals, "not regex match": mapping.OpNotRegexMatch,
		"Regex_Match": mapping.OpRegexMatch,
	}
	var clauses strings.Builder
	var want []mapping.Operator
	for spelling, op := range spellings {
		value := ", value: '1'"
		switch op {
		case mapping.OpIsFalse, mapping.OpIsTrue, mapping.OpIsNull, mapping.OpIsNotNull:
			value = ""
		}
		fmt.Fprintf(&clauses, "            - {attribute: a, operator: %s%s}\n", spelling, value)
		want = append(want, op)
	}
	data := edit("          clauses: [{attribute: employeeType, operator: EQUALS, value: Employee}]\n", "          clauses:\n"+clauses.String())
	cfg, err, _ := parseIn(t, data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Jobs[0].Job.Users.Scoping[0].Clauses
	if len(got) != len(want) || len(want) != 14 {
		t.Fatalf("%d clauses, want 14", len(got))
	}
	for i, c := range got {
		if c.Operator != want[i] {
			t.Errorf("clause %d: operator %q, want %q", i, c.Operator, want[i])
		}
	}
}
