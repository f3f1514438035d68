package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretsAndEnvironment(t *testing.T) {
	auth := func(s string) string { return edit(`{type: bearer, token: "${SF_TOKEN}"}`, s) }
	runErrorCases(t, []errorCase{
		{name: "unset variable", yaml: base, env: map[string]string{"SF_TOKEN": ""},
			want: []string{"test.yaml:8: connectors.sf.auth.token: ${SF_TOKEN} is not set"}},
		{name: "unset variables in a non-secret field", yaml: edit("https://sf.example.com/scim/v2", "https://${SF_HOST}:${SF_PORT}/scim/v2"),
			want: []string{
				"test.yaml:7: connectors.sf.url: ${SF_HOST} is not set",
				"test.yaml:7: connectors.sf.url: ${SF_PORT} is not set",
			}},
		{name: "variable set but empty", yaml: auth(`{type: bearer, token: "${EMPTY}"}`), env: map[string]string{"EMPTY": " "},
			want: []string{`test.yaml:8: connectors.sf.auth.token: must not be empty ("${EMPTY}" expands to an empty string)`}},
		{name: "malformed references", yaml: edit("    source: hr\n", "    source: ${hr\n", "    target: sf\n", "    target: ${S-F}\n"),
			want: []string{
				`test.yaml:11: jobs[0].source: unterminated "${" (write "$${" for a literal "${")`,
				`test.yaml:12: jobs[0].target: invalid environment variable reference ${S-F}: want ${NAME} with NAME made of letters, digits and _ (write "$${" for a literal "${")`,
			}},
		{name: "a secret in a non-secret field is not shown", yaml: edit("https://sf.example.com/scim/v2", "${SF_TOKEN}", "{interval: 40m}", "{interval: '${SF_TOKEN}'}"),
			want: []string{
				`test.yaml:7: connectors.sf.url: invalid URL "${SF_TOKEN}": want an absolute http or https URL, e.g. "https://example.com/scim/v2"`,
				`test.yaml:13: jobs[0].schedule.interval: invalid duration "${SF_TOKEN}": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`,
			}},
		{name: "credentials in the URL", yaml: edit("https://sf.example.com/scim/v2", "https://admin:s3cr3t@sf.example.com/scim/v2"),
			want: []string{"test.yaml:7: connectors.sf.url: the URL must not contain credentials: use auth"}},
		{name: "credentials in an invalid URL", yaml: edit("https://sf.example.com/scim/v2", "https://admin:s3cr3t@sf example com/"),
			want: []string{`test.yaml:7: connectors.sf.url: invalid URL: want an absolute http or https URL, e.g. "https://example.com/scim/v2"`}},
		{name: "token and tokenFile", yaml: auth(`{type: bearer, token: "${SF_TOKEN}", tokenFile: sf-token}`), files: map[string]string{"sf-token": "s3cr3t\n"},
			want: []string{"test.yaml:8: connectors.sf.auth.tokenFile: set token or tokenFile, not both"}},
		{name: "missing secret file", yaml: auth("{type: bearer, tokenFile: secrets/sf}"),
			want: []string{`test.yaml:8: connectors.sf.auth.tokenFile: cannot read secret file "$DIR/secrets/sf": no such file or directory`}},
		{name: "secret file is a directory", yaml: auth("{type: bearer, tokenFile: secrets}"), files: map[string]string{"secrets/": ""},
			want: []string{`test.yaml:8: connectors.sf.auth.tokenFile: cannot read secret file "$DIR/secrets": is a directory`}},
		{name: "empty secret file", yaml: auth("{type: bearer, tokenFile: /dev/null}"),
			want: []string{`test.yaml:8: connectors.sf.auth.tokenFile: secret file "/dev/null" is empty`}},
		{name: "secret file too large", yaml: auth("{type: bearer, tokenFile: big}"), files: map[string]string{"big": strings.Repeat("s3cr3t", 20000)},
			want: []string{`test.yaml:8: connectors.sf.auth.tokenFile: secret file "$DIR/big" is larger than 64 KiB`}},
		{name: "token with white space", yaml: auth("{type: bearer, tokenFile: sf}"), files: map[string]string{"sf": "s3cr3t part2\n"},
			want: []string{"test.yaml:8: connectors.sf.auth.tokenFile: the token contains white space or control characters"}},
		{name: "secret of the wrong type", yaml: auth("{type: bearer, token: [s3cr3t]}"),
			want: []string{"test.yaml:8: connectors.sf.auth.token: want a string, got a sequence"}},
		{name: "fields of other auth types", yaml: auth("{type: bearer, token: s3cr3t, password: s3cr3t, clientId: x, tokenUrl: y}"),
			want: []string{
				"test.yaml:8: connectors.sf.auth.password: not used with auth type bearer",
				"test.yaml:8: connectors.sf.auth.clientId: not used with auth type bearer",
				"test.yaml:8: connectors.sf.auth.tokenUrl: not used with auth type bearer",
			}},
		{name: "unknown auth field", yaml: auth("{type: bearer, tokn: s3cr3t, tokenFile: t}"), files: map[string]string{"t": "s3cr3t"},
			want: []string{`test.yaml:8: connectors.sf.auth.tokn: unknown field "tokn" (did you mean "token"?)`}},
		{name: "basic username", yaml: auth("{type: basic, username: 'a:b', password: s3cr3t}"),
			want: []string{"test.yaml:8: connectors.sf.auth.username: must not contain ':', white space or control characters"}},
		{name: "oauth2 token URL", yaml: auth("{type: oauth2, clientId: c, clientSecret: s3cr3t, tokenUrl: /token}"),
			want: []string{`test.yaml:8: connectors.sf.auth.tokenUrl: invalid URL "/token": want an absolute http or https URL, e.g. "https://example.com/scim/v2"`}},
		{name: "api tokens", yaml: "api: {readerToken: s3cr3t, adminToken: s3cr3t, adminTokenFile: x}\n" + base,
			want: []string{"test.yaml:1: api.adminTokenFile: set adminToken or adminTokenFile, not both"}},
		{name: "api tokens must differ", yaml: "api:\n  readerToken: s3cr3t\n  adminToken: ${ADMIN}\n" + base, env: map[string]string{"ADMIN": "s3cr3t"},
			want: []string{"test.yaml:3: api.adminToken: must differ from readerToken (a reader would have admin rights)"}},
		{name: "postgres dsn", yaml: "store: {driver: postgres, path: x.db}\n" + base,
			want: []string{
				"test.yaml:1: store.dsn: required (or dsnFile)",
				"test.yaml:1: store.path: not used with driver postgres",
			}},
		{name: "sqlite dsn", yaml: "store:\n  dsn: postgres://u:s3cr3t@db/provisiond\n" + base,
			want: []string{"test.yaml:2: store.dsn: not used with driver sqlite"}},
	})
}

func TestConnectorFiles(t *testing.T) {
	tls := func(s string) string {
		return edit("    url: https://sf.example.com/scim/v2\n", "    url: https://sf.example.com/scim/v2\n    tls: "+s+"\n")
	}
	plugin := func(s string) string {
		return edit("  sf:\n", "  ldap: {type: plugin, "+s+"}\n  sf:\n")
	}
	runErrorCases(t, []errorCase{
		{name: "tls files", yaml: tls("{caFile: ca.pem, certFile: cert.pem, insecureSkipVerify: maybe}"), files: map[string]string{"ca.pem": "x"},
			want: []string{
				// A missing field is reported at the start of its mapping.
				"test.yaml:8: connectors.sf.tls.keyFile: required with certFile",
				`test.yaml:8: connectors.sf.tls.certFile: cannot read certificate file "$DIR/cert.pem": no such file or directory`,
				`test.yaml:8: connectors.sf.tls.insecureSkipVerify: want true or false, got "maybe"`,
			}},
		{name: "tls key without certificate", yaml: tls("{keyFile: key.pem}"), files: map[string]string{"key.pem": "s3cr3t"},
			want: []string{"test.yaml:8: connectors.sf.tls.certFile: required with keyFile"}},
		{name: "plugin missing", yaml: plugin("path: bin/ldap"),
			want: []string{`test.yaml:5: connectors.ldap.path: cannot use plugin "$DIR/bin/ldap": no such file or directory`}},
		{name: "plugin not executable", yaml: plugin("path: bin/ldap"), files: map[string]string{"bin/ldap": "not a program"},
			want: []string{`test.yaml:5: connectors.ldap.path: cannot use plugin "$DIR/bin/ldap": not executable`}},
		{name: "plugin is a directory", yaml: plugin("path: bin, args: x"), files: map[string]string{"bin/": ""},
			want: []string{
				`test.yaml:5: connectors.ldap.path: cannot use plugin "$DIR/bin": is a directory`,
				"test.yaml:5: connectors.ldap.args: want a sequence, got a string",
			}},
		{name: "plugin fields", yaml: plugin("url: https://x"),
			want: []string{
				"test.yaml:5: connectors.ldap.path: required",
				"test.yaml:5: connectors.ldap.url: not used by plugin connectors",
			}},
		{name: "scim URL scheme", yaml: edit("https://sf.example.com/scim/v2", "ftp://sf.example.com/scim/v2"),
			want: []string{`test.yaml:7: connectors.sf.url: invalid URL "ftp://sf.example.com/scim/v2": want an absolute http or https URL, e.g. "https://example.com/scim/v2"`}},
		{name: "scim URL fragment", yaml: edit("https://sf.example.com/scim/v2", "https://sf.example.com/scim/v2#users"),
			want: []string{`test.yaml:7: connectors.sf.url: invalid URL "https://sf.example.com/scim/v2#users": a fragment (#...) is not allowed`}},
		{name: "api address", yaml: "api: {addr: localhost}\n" + base,
			want: []string{`test.yaml:1: api.addr: invalid address "localhost": want host:port, e.g. "127.0.0.1:8080" or ":8080"`}},
		{name: "api port", yaml: "api: {addr: ':http'}\n" + base,
			want: []string{`test.yaml:1: api.addr: invalid address ":http": want host:port, e.g. "127.0.0.1:8080" or ":8080"`}},
	})
}

// TestManyErrors checks that every problem is reported, sorted by line and column.
func TestManyErrors(t *testing.T) {
	data := `jobs:
  - id: sf
    source: hrr
    target: hr
    schedule: {paused: no, interval: 40 min}
    settings: {workers: 0, quarantineProportion: 2}
    users:
      attributes:
        - {type: Direct, source: userName, target: userName}
connectors:
  hr: {type: file, users: u.json, url: x}
  sf:
    type: scim
    url: https://sf.example.com/scim/v2
    auth: {type: bearer, token: "${SF_TOKEN}", clientId: x}
    disableMode: never
store: {driver: mysql}
retention: {event: 30d}
`
	want := `test.yaml:3: jobs[0].source: unknown connector "hrr" (did you mean "hr"?)
test.yaml:4: jobs[0].target: connector "hr" is a file connector, which cannot be a target
test.yaml:5: jobs[0].schedule.paused: want true or false, got "no"
test.yaml:5: jobs[0].schedule.interval: invalid duration "40 min": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"
test.yaml:6: jobs[0].settings.workers: must be between 1 and 256, got 0
test.yaml:6: jobs[0].settings.quarantineProportion: must be greater than 0 and at most 1, got 2
test.yaml:9: jobs[0].users.attributes: no matching attribute: set matchingPrecedence: 1 on the attribute that identifies target objects (e.g. userName)
test.yaml:11: connectors.hr.url: not used by file connectors
test.yaml:15: connectors.sf.auth.clientId: not used with auth type bearer
test.yaml:16: connectors.sf.disableMode: invalid disable mode "never": want patch, patchLegacyString, put or delete
test.yaml:17: store.driver: invalid driver "mysql": want sqlite or postgres
test.yaml:18: retention.event: unknown field "event" (did you mean "events"?)`
	_, err, _ := parseIn(t, data, nil, nil)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if err.Error() != want {
		t.Errorf("errors:\n%s\nwant:\n%s", err, want)
	}
	verr := err.(*ValidationError)
	if len(verr.Errors) != 12 {
		t.Errorf("%d errors, want 12", len(verr.Errors))
	}
	if fe := verr.Errors[3]; fe.File != "test.yaml" || fe.Line != 5 || fe.Column != 38 || fe.Field != "jobs[0].schedule.interval" {
		t.Errorf("errors[3] = %+v", fe)
	}
}

func TestEnvironment(t *testing.T) {
	data := `dataDir: ${STATE}/provisiond
store: {driver: postgres, dsn: "${PG_DSN}"}
api:
  addr: ${API_HOST}:8080
  readerToken: ${READER}
  adminTokenFile: admin-token
` + edit("{interval: 40m}", "{interval: '${INTERVAL}'}", "value: Employee}", "value: 'cost $${CENTER} ${CENTER} $5'}")
	env := map[string]string{
		"STATE":                  "/srv",
		"PG_DSN":                 "postgres://provisiond:pg-s3cr3t@db/provisiond",
		"API_HOST":               "0.0.0.0",
		"INTERVAL":               "PT1H",
		"CENTER":                 "42",
		"PROVISIOND_ADMIN_TOKEN": "admin-from-env",
		"READER":                 "reader-from-file",
	}
	cfg, err, _ := parseIn(t, data, env, nil) // admin-token does not exist: the variable wins
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("dataDir", cfg.DataDir, "/srv/provisiond")
	check("dsn", cfg.Store.DSN.Value(), env["PG_DSN"])
	check("store path", cfg.Store.Path, "")
	check("addr", cfg.API.Addr, "0.0.0.0:8080")
	check("reader token", cfg.API.ReaderToken.Value(), "reader-from-file")
	check("admin token", cfg.API.AdminToken.Value(), "admin-from-env")
	check("interval", cfg.Jobs[0].Job.Schedule.Interval.String(), "1h0m0s")
	check("clause value", cfg.Jobs[0].Job.Users.Scoping[0].Clauses[0].Value, "cost ${CENTER} 42 $5")

	// PROVISIOND_READER_TOKEN overrides the file's reader token.
	env["PROVISIOND_READER_TOKEN"] = "reader-from-env"
	cfg, err, _ = parseIn(t, data, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("reader token", cfg.API.ReaderToken.Value(), "reader-from-env")

	// ...so that ${READER} need not be set then.
	env["READER"] = ""
	cfg, err, _ = parseIn(t, data, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("reader token", cfg.API.ReaderToken.Value(), "reader-from-env")
	env["PROVISIOND_READER_TOKEN"] = ""
	_, err, _ = parseIn(t, data, env, nil)
	if want := "test.yaml:5: api.readerToken: ${READER} is not set"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	// Top-level fields starting with x- hold anchors; other unknown fields are errors.
	data := `x-settings: &settings {workers: 4, batchSize: 100}
x-attrs: &attrs
  - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}
y-attrs: *attrs
` + edit("{workers: 8}", "*settings", "      attributes:\n        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}\n", "      attributes: *attrs\n")
	cfg, err, _ := parseIn(t, data, nil, nil)
	if want := `test.yaml:4: y-attrs: unknown field "y-attrs"`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	cfg, err, _ = parseIn(t, strings.Replace(data, "y-attrs: *attrs\n", "", 1), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Jobs[0].Job.Settings; s.Workers != 4 || s.BatchSize != 100 || len(cfg.Jobs[0].Job.Users.Attributes) != 1 {
		t.Errorf("job = %+v", cfg.Jobs[0].Job)
	}

	data = `connectors:
  hr: {type: file, users: u.json}
  sf: {type: scim, url: "https://sf.example.com", auth: {token: t}}
jobs:
  - id: a
    source: hr
    target: sf
    settings: &settings {workers: 4, batchSize: 100}
    users: &users
      attributes:
        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}
  - id: b
    source: hr
    target: sf
    settings:
      <<: *settings
      workers: 2
    users: *users
`
	cfg, err, _ = parseIn(t, data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Jobs[1].Job
	if b.Settings.Workers != 2 || b.Settings.BatchSize != 100 || len(b.Users.Attributes) != 1 {
		t.Errorf("job b = %+v", b)
	}
	if cfg.Connectors["sf"].SCIM.Auth.Type != AuthBearer {
		t.Errorf("auth type = %q, want the default bearer", cfg.Connectors["sf"].SCIM.Auth.Type)
	}

	// An error in a merged mapping is reported where it is written.
	data = strings.Replace(data, "batchSize: 100}", "batchSize: 0}", 1)
	_, err, _ = parseIn(t, data, nil, nil)
	want := "test.yaml:8: jobs[0].settings.batchSize: must be between 1 and 10000, got 0\n" +
		"test.yaml:8: jobs[1].settings.batchSize: must be between 1 and 10000, got 0"
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "provisiond.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(base, "${SF_TOKEN}", "${CONFIG_TEST_SF_TOKEN}")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONFIG_TEST_SF_TOKEN", sfToken)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path || cfg.DataDir != filepath.Join(dir, "data") || cfg.Connectors["sf"].SCIM.Auth.Token.Value() != sfToken {
		t.Errorf("cfg = %+v", cfg)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v", err)
	}
	// Messages name the file as given.
	if err := os.WriteFile(path, []byte("jobs: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := path + ":1: connectors: required\n" + path + ":1: jobs: want a sequence, got an integer"; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
}

// TestRedaction checks that no secret of the valid configuration shows in its printed
// forms.
func TestRedaction(t *testing.T) {
	path := validDir(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(path, data, validEnv)
	if err != nil {
		t.Fatal(err)
	}
	// The secrets are there...
	if cfg.API.AdminToken.Value() != validSecrets["secrets/admin-token"] ||
		cfg.Connectors["workday"].SCIM.Auth.ClientSecret.Value() != validSecrets["secrets/workday-client-secret"] ||
		cfg.Connectors["zendesk"].SCIM.Auth.Password.Value() != validSecrets["ZD_PASSWORD"] {
		t.Fatalf("secrets not resolved: %+v", cfg.API)
	}
	// ...and never printed.
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg, "token", cfg.API.AdminToken)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "token", cfg.API.AdminToken)
	sc := cfg.Connectors["salesforce"]
	forms := map[string]string{
		"json": string(js), "yaml": string(y), "slog": logged.String(),
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%v SCIM": fmt.Sprintf("%v", *sc.SCIM), "%+v SCIM": fmt.Sprintf("%+v", *sc.SCIM), "%#v SCIM": fmt.Sprintf("%#v", *sc.SCIM),
		"%s token": fmt.Sprintf("%s", sc.SCIM.Auth.Token), "%q token": fmt.Sprintf("%q", sc.SCIM.Auth.Token),
		"%x token": fmt.Sprintf("%x", sc.SCIM.Auth.Token), "%d token": fmt.Sprintf("%d", sc.SCIM.Auth.Token),
		"Sprint": fmt.Sprint(sc.SCIM.Auth), "Errorf": fmt.Errorf("auth %v failed", sc.SCIM.Auth.Token).Error(),
		"%v []Secret": fmt.Sprintf("%v", []Secret{sc.SCIM.Auth.Token}),
	}
	for name, s := range validSecrets {
		if s == "" {
			continue
		}
		for form, out := range forms {
			if strings.Contains(out, s) {
				t.Errorf("%s of the configuration contains the secret %s:\n%s", form, name, out)
			}
		}
	}
	for form, out := range forms {
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s does not say REDACTED:\n%s", form, out)
		}
	}
	if got := fmt.Sprintf("%q|%#v|%v", sc.SCIM.Auth.Token, sc.SCIM.Auth.Token, Secret("")); got != `"REDACTED"|"REDACTED"|` {
		t.Errorf("formatting = %s", got)
	}
}
