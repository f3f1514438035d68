package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors/ldap"
)

// ldapBase is a valid configuration with an LDAP target (line 3: type: ldap).
const ldapBase = `connectors:
  dir:
    type: ldap
    url: ldaps://ldap.example.com
    bindDN: cn=provisiond,ou=Services,dc=example,dc=com
    bindPassword: ${LDAP_PASSWORD}
    users:
      baseDN: ou=People,dc=example,dc=com
  hr: {type: file, users: hr/users.json}
jobs:
  - id: dir
    source: hr
    target: dir
    users:
      attributes:
        - {type: Direct, source: userName, target: uid, matchingPrecedence: 1}
`

const ldapPassword = "ldap-pw-5e1f0a93"

func ldapEdit(pairs ...string) string {
	s := ldapBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			panic(fmt.Sprintf("ldapEdit: %q occurs %d times", pairs[i], n))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestLDAPConnector(t *testing.T) {
	full := ldapEdit("    url: ldaps://ldap.example.com\n", `    url: ldap://ldap.example.com:1389/
    startTLS: true
    tls: {caFile: ca.pem, insecureSkipVerify: false}
    timeout: 45s
    maxConnections: 4
    maxRequestsPerSecond: 250
    pageSize: 200
    memberBatchSize: 100
    memberAttribute: uniquemember
    emptyGroupPlaceholder: cn=nobody
    disable: {mode: attribute, attribute: employeeStatus, value: disabled, enableValue: active}
    idAttribute: entryUUID
    incremental: syncrepl
    timestampAttribute: modifyTimestamp
    referenceAttributes: [manager, secretary]
`, "      baseDN: ou=People,dc=example,dc=com\n", `      baseDN: ou=People,dc=example,dc=com
      objectClasses: [inetOrgPerson, provisiondUser]
      filter: (&(objectClass=inetOrgPerson)(!(employeeType=robot)))
      dnTemplate: "uid={uid},ou=People,dc=example,dc=com"
      matchAttributes: [uid, employeeNumber]
      attributes: ["*", employeeNumber]
    groups:
      baseDN: ou=Groups,dc=example,dc=com
      objectClasses: [groupOfUniqueNames]
`)
	cfg, err, _ := parseIn(t, full, map[string]string{"LDAP_PASSWORD": ldapPassword}, map[string]string{"ca.pem": testCAPEM(t), "hr/users.json": "[]"})
	if err != nil {
		t.Fatal(err)
	}
	lc := cfg.Connectors["dir"].LDAP
	if lc == nil || cfg.Connectors["dir"].Type != TypeLDAP {
		t.Fatalf("connector %+v", cfg.Connectors["dir"])
	}
	if lc.URL != "ldap://ldap.example.com:1389" || !lc.StartTLS || !strings.HasSuffix(lc.TLS.CAFile, "ca.pem") || lc.Timeout != 45*time.Second ||
		lc.MaxConnections != 4 || lc.MaxRequestsPerSecond != 250 || lc.PageSize != 200 || lc.MemberBatchSize != 100 ||
		lc.MemberAttribute != ldap.UniqueMemberAttr || lc.EmptyGroupPlaceholder != "cn=nobody" || lc.BindPassword.Value() != ldapPassword ||
		lc.Disable != (LDAPDisable{Mode: "attribute", Attribute: "employeeStatus", Value: "disabled", EnableValue: "active"}) ||
		lc.Incremental != ldap.IncrementalSyncrepl || !reflect.DeepEqual(lc.ReferenceAttributes, []string{"manager", "secretary"}) ||
		lc.Groups == nil || lc.Groups.BaseDN != "ou=Groups,dc=example,dc=com" ||
		!reflect.DeepEqual(lc.Users.MatchAttributes, []string{"uid", "employeeNumber"}) || lc.Users.Filter != "(&(objectClass=inetOrgPerson)(!(employeeType=robot)))" {
		t.Errorf("decoded %+v", lc)
	}
	// The connector accepts what the configuration accepted.
	c, err := ldap.New(lc.Connector())
	if err != nil {
		t.Fatalf("connector: %v", err)
	}
	c.Close()
	// The password never shows.
	b, _ := json.Marshal(cfg)
	if strings.Contains(string(b), ldapPassword) || strings.Contains(fmt.Sprintf("%+v %#v", lc, lc), ldapPassword) {
		t.Error("the bind password shows")
	}
	if !strings.Contains(string(b), `"timeout":"45s"`) {
		t.Errorf("timeout not as a string: %s", b)
	}
	// An ldap connector can be a source too.
	src := strings.Replace(strings.Replace(ldapBase, "    source: hr\n    target: dir\n", "    source: dir\n    target: app\n", 1),
		"  hr: {type: file, users: hr/users.json}\n", "  app: {type: scim, url: \"https://app.example.com/scim/v2\", auth: {token: t}}\n", 1)
	if _, err, _ := parseIn(t, src, map[string]string{"LDAP_PASSWORD": ldapPassword}, nil); err != nil {
		t.Errorf("ldap as a source: %v", err)
	}
}

// testCAPEM returns a self-signed CA certificate in PEM.
func testCAPEM(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestLDAPErrors(t *testing.T) {
	env := map[string]string{"LDAP_PASSWORD": ldapPassword}
	cases := []errorCase{
		{name: "url", yaml: ldapEdit("ldaps://ldap.example.com", "https://ldap.example.com"), env: env,
			want: []string{`test.yaml:4: connectors.dir.url: invalid URL "https://ldap.example.com": want ldap://host[:port] or ldaps://host[:port], e.g. "ldaps://ldap.example.com"`}},
		{name: "url credentials", yaml: ldapEdit("ldaps://ldap.example.com", "ldaps://admin:${LDAP_PASSWORD}@ldap.example.com"), env: env,
			want: []string{`test.yaml:4: connectors.dir.url: the URL must not contain credentials: use bindDN and bindPassword`}},
		{name: "url DN", yaml: ldapEdit("ldaps://ldap.example.com", "ldaps://ldap.example.com/dc=example,dc=com"), env: env,
			want: []string{`test.yaml:4: connectors.dir.url: invalid URL "ldaps://ldap.example.com/dc=example,dc=com": no DN, query or fragment (set users.baseDN and groups.baseDN)`}},
		{name: "startTLS with ldaps", yaml: ldapEdit("    url: ldaps://ldap.example.com\n", "    url: ldaps://ldap.example.com\n    startTLS: true\n"), env: env,
			want: []string{`test.yaml:5: connectors.dir.startTLS: not used with an ldaps:// URL (the connection is TLS already)`}},
		{name: "password missing", yaml: ldapBase, env: map[string]string{"LDAP_PASSWORD": ""},
			want: []string{`test.yaml:6: connectors.dir.bindPassword: ${LDAP_PASSWORD} is not set`}},
		{name: "password without DN", yaml: ldapEdit("    bindDN: cn=provisiond,ou=Services,dc=example,dc=com\n", ""), env: env,
			want: []string{`test.yaml:5: connectors.dir.bindPassword: set bindDN too (a password without a bind DN is never sent)`}},
		{name: "bad DNs and filter", yaml: ldapEdit("      baseDN: ou=People,dc=example,dc=com\n", "      baseDN: ou=People,dc=example,dc=com\n      filter: (objectClass=person\n      dnTemplate: uid={uid},ou=Elsewhere\n    groups: {baseDN: not-a-dn}\n"), env: env,
			want: []string{
				`test.yaml:9: connectors.dir.users.filter: invalid LDAP filter "(objectClass=person": unexpected end of filter`,
				`test.yaml:10: connectors.dir.users.dnTemplate: the DNs it yields are not under the base DN "ou=People,dc=example,dc=com"`,
				`test.yaml:11: connectors.dir.groups.baseDN: invalid DN "not-a-dn": DN ended with incomplete type, value pair`,
			}},
		{name: "users required", yaml: ldapEdit("    users:\n      baseDN: ou=People,dc=example,dc=com\n", ""), env: env,
			want: []string{`test.yaml:3: connectors.dir.users: required`}},
		{name: "enums", yaml: ldapEdit("    users:\n      baseDN", "    memberAttribute: memberUid\n    incremental: usn\n    disable: {mode: lock}\n    users:\n      baseDN"), env: env,
			want: []string{
				`test.yaml:7: connectors.dir.memberAttribute: invalid member attribute "memberUid" (did you mean "member"?): want member or uniqueMember`,
				`test.yaml:8: connectors.dir.incremental: invalid incremental mode "usn": want auto, syncrepl, timestamp or none`,
				`test.yaml:9: connectors.dir.disable.mode: invalid disable mode "lock": want attribute, userAccountControl or delete`,
			}},
		{name: "disable", yaml: ldapEdit("    users:\n      baseDN", "    disable: {mode: userAccountControl, value: x}\n    users:\n      baseDN"), env: env,
			want: []string{`test.yaml:7: connectors.dir.disable.value: not used with disable mode userAccountControl`}},
		{name: "disable value", yaml: ldapEdit("    users:\n      baseDN", "    disable: {attribute: employeeStatus}\n    users:\n      baseDN"), env: env,
			want: []string{`test.yaml:7: connectors.dir.disable.value: required with attribute`}},
		{name: "syncrepl id", yaml: ldapEdit("    users:\n      baseDN", "    idAttribute: uid\n    incremental: syncrepl\n    users:\n      baseDN"), env: env,
			want: []string{`test.yaml:8: connectors.dir.incremental: syncrepl reports deletes by entryUUID: it needs idAttribute entryUUID (the default), got "uid"`}},
		{name: "attribute names", yaml: ldapEdit("    users:\n      baseDN", "    referenceAttributes: [manager, \"bad name\"]\n    users:\n      baseDN"), env: env,
			want: []string{`test.yaml:7: connectors.dir.referenceAttributes[1]: "bad name" is not an LDAP attribute name`}},
		{name: "scim field on ldap", yaml: ldapEdit("    users:\n      baseDN", "    auth: {token: x}\n    users:\n      baseDN"), env: env,
			want: []string{`test.yaml:7: connectors.dir.auth: not used by ldap connectors`}},
	}
	runErrorCases(t, cases)
	for _, tc := range cases {
		_, err, _ := parseIn(t, tc.yaml, tc.env, nil)
		if err != nil && strings.Contains(err.Error(), ldapPassword) {
			t.Errorf("%s: the password shows: %v", tc.name, err)
		}
	}
}
