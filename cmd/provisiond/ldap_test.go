package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

const ldapConfig = `dataDir: data
api: {readerToken: reader-token-1, adminToken: admin-token-1}
connectors:
  hr: {type: file, users: users.json}
  dir:
    type: ldap
    url: URL
    bindDN: cn=admin,dc=example,dc=org
    bindPassword: ${LDAP_TEST_PASSWORD}
    users: {baseDN: "ou=People,dc=example,dc=org"}
jobs:
  - id: dir
    source: hr
    target: dir
    users:
      attributes:
        - {type: Direct, source: userName, target: uid, matchingPrecedence: 1, required: true}
        - {type: Direct, source: displayName, target: cn}
        - {type: Direct, source: surname, target: sn}
`

// daemonFor writes the configuration with an LDAP target at url and builds the daemon.
func daemonFor(t *testing.T, url string) *daemon {
	t.Helper()
	dir := t.TempDir()
	users := `[{"id":"1","userName":"ada","displayName":"Ada Lovelace","surname":"Lovelace","accountEnabled":true}]`
	if err := os.WriteFile(filepath.Join(dir, "users.json"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "provisiond.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(ldapConfig, "URL", url, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LDAP_TEST_PASSWORD", slapdtest.AdminPassword)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	return d
}

// TestDaemonLDAP: an ldap connector in the configuration becomes the job's target (the
// daemon does not contact the directory to start).
func TestDaemonLDAP(t *testing.T) {
	d := daemonFor(t, "ldap://127.0.0.1:1")
	if len(d.engine.Jobs()) != 1 {
		t.Fatalf("jobs %v", d.engine.Jobs())
	}
}

// TestDaemonLDAPCycle runs the configured job against slapd (PROVISIOND_SLAPD=1).
func TestDaemonLDAPCycle(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	d := daemonFor(t, srv.URL)
	c, err := d.engine.RunCycle(context.Background(), "dir")
	if err != nil || c.CountExported != 1 {
		t.Fatalf("cycle %+v %v", c, err)
	}
	e := srv.Entry(srv.Conn(), "uid=ada,"+slapdtest.PeopleDN)
	if e == nil || e.GetAttributeValue("cn") != "Ada Lovelace" {
		t.Errorf("entry %v", e)
	}
}
