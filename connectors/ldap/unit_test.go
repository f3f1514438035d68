package ldap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
)

// These tests need no server.

func TestMapResult(t *testing.T) {
	cases := []struct {
		code  uint16
		class connectors.ErrorClass
		ecode string
	}{
		{goldap.LDAPResultBusy, connectors.ClassRetryable, CodeServerBusy},
		{goldap.LDAPResultUnavailable, connectors.ClassRetryable, CodeServiceUnavailable},
		{goldap.LDAPResultTimeLimitExceeded, connectors.ClassRetryable, CodeTimeout},
		{goldap.LDAPResultAdminLimitExceeded, connectors.ClassRetryable, CodeAdminLimitExceeded},
		{goldap.LDAPResultOther, connectors.ClassRetryable, CodeInternalServerError},
		{goldap.LDAPResultInsufficientAccessRights, connectors.ClassForbidden, CodeInsufficientRights},
		{goldap.LDAPResultInvalidCredentials, connectors.ClassUnauthorized, CodeUnauthorized},
		{goldap.LDAPResultStrongAuthRequired, connectors.ClassUnauthorized, CodeUnauthorized},
		{goldap.LDAPResultConfidentialityRequired, connectors.ClassUnauthorized, CodeUnauthorized},
		{goldap.LDAPResultNoSuchObject, connectors.ClassNotFound, CodeInvalidAnchor},
		{goldap.LDAPResultEntryAlreadyExists, connectors.ClassConflict, CodeEntryConflict},
		{goldap.LDAPResultConstraintViolation, connectors.ClassInvalid, CodeConstraintViolation},
		{goldap.LDAPResultObjectClassViolation, connectors.ClassInvalid, CodeObjectClassViolation},
		{goldap.LDAPResultUndefinedAttributeType, connectors.ClassInvalid, CodeSchemaAttributeMissing},
		{goldap.LDAPResultInvalidAttributeSyntax, connectors.ClassInvalid, CodeInvalidValue},
		{goldap.LDAPResultInvalidDNSyntax, connectors.ClassInvalid, CodeInvalidDN},
		{goldap.LDAPResultNamingViolation, connectors.ClassInvalid, CodeInvalidDN},
		{goldap.LDAPResultUnwillingToPerform, connectors.ClassInvalid, CodeUnwillingToPerform},
		{goldap.LDAPResultNotAllowedOnNonLeaf, connectors.ClassInvalid, CodeNotAllowedOnNonLeaf},
		{goldap.LDAPResultReferral, connectors.ClassInvalid, CodeReferral},
		{goldap.LDAPResultSyncRefreshRequired, connectors.ClassRetryable, CodeSyncRefreshRequired},
		{goldap.LDAPResultServerDown, connectors.ClassConnection, CodeConnectionFailed},
		{goldap.ErrorNetwork, connectors.ClassConnection, CodeConnectionFailed},
		{goldap.LDAPResultSortControlMissing, connectors.ClassInvalid, CodeProtocolError},
	}
	for _, tc := range cases {
		t.Run(goldap.LDAPResultCodeMap[tc.code], func(t *testing.T) {
			class, code := mapResult(tc.code)
			if class != tc.class || code != tc.ecode {
				t.Errorf("%d: %s %s, want %s %s", tc.code, class, code, tc.class, tc.ecode)
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	c := &Client{cfg: Config{BindPassword: "hunter2-secret", Timeout: 7e9}}
	ctx := context.Background()
	cases := []struct {
		name   string
		err    error
		class  connectors.ErrorClass
		code   string
		status int
	}{
		{"server answer", goldap.NewError(goldap.LDAPResultBusy, errors.New("try later")), connectors.ClassRetryable, CodeServerBusy, 51},
		{"diagnostic echoes the password", goldap.NewError(goldap.LDAPResultInvalidCredentials, errors.New("bad hunter2-secret")), connectors.ClassUnauthorized, CodeUnauthorized, 49},
		{"refused", goldap.NewError(goldap.ErrorNetwork, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), connectors.ClassConnection, CodeConnectionFailed, 0},
		{"reset", goldap.NewError(goldap.ErrorNetwork, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), connectors.ClassConnection, CodeConnectionFailed, 0},
		{"EOF", goldap.NewError(goldap.ErrorNetwork, io.EOF), connectors.ClassConnection, CodeConnectionFailed, 0},
		{"request timeout", goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection timed out")), connectors.ClassRetryable, CodeTimeout, 0},
		{"TLS", goldap.NewError(goldap.ErrorNetwork, errors.New("TLS handshake failed (x509: certificate signed by unknown authority)")), connectors.ClassConnection, CodeConnectionFailed, 0},
		{"closed", goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection closed")), connectors.ClassConnection, CodeConnectionFailed, 0},
		{"filter", goldap.NewError(goldap.ErrorFilterCompile, errors.New("ldap: unexpected end of filter")), connectors.ClassInvalid, CodeInvalidFilter, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.errorFor(ctx, "modify uid=x,dc=example,dc=org", tc.err)
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%T %v", err, err)
			}
			if ce.Class != tc.class || ce.Code != tc.code || ce.Status != tc.status || ce.Request != "modify uid=x,dc=example,dc=org" {
				t.Errorf("%+v", ce)
			}
			if s := fmt.Sprintf("%v %+v", err, ce); strings.Contains(s, "hunter2-secret") {
				t.Errorf("password in %s", s)
			}
		})
	}
	if c.errorFor(ctx, "x", nil) != nil {
		t.Error("nil error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.errorFor(cctx, "x", goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection closed"))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestTemplate(t *testing.T) {
	bad := map[string]string{
		"":                                  "no {attribute} placeholder",
		"ou=People,dc=example,dc=org":       "no {attribute} placeholder",
		"uid=x,ou={department},dc=example":  "no {attribute} placeholder",
		"uid={uid,ou=People":                "unterminated",
		"uid={uid":                          "unterminated",
		"uid=}x{uid}":                       "unbalanced",
		"uid={},ou=People":                  "does not name an attribute",
		"uid={u id},ou=People":              "does not name an attribute",
		"{uid},ou=People,dc=example,dc=org": "not a valid DN",
	}
	for tmpl, want := range bad {
		if _, err := parseTemplate(tmpl); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", tmpl, err, want)
		}
	}
	tm, err := parseTemplate(`cn={givenName} {sn}+uid={uid},ou={ou}, ou=People\,Staff,dc=example,dc=org`)
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.attrs(); !reflect.DeepEqual(got, []string{"givenName", "sn", "uid", "ou"}) {
		t.Errorf("attrs %v", got)
	}
	vals := map[string]string{"givenName": "Ada", "sn": "Love,lace", "uid": "a+b", "ou": "R&D"}
	rdn, parent, err := tm.render(func(n string) (string, error) { return vals[n], nil })
	if err != nil {
		t.Fatal(err)
	}
	if rdn != `cn=Ada Love\,lace+uid=a\+b` || parent != `ou=R&D, ou=People\,Staff,dc=example,dc=org` {
		t.Errorf("rendered %q %q", rdn, parent)
	}
	if !tm.uses("UID") || tm.uses("mail") {
		t.Error("uses")
	}
}

// FuzzTemplateValue: whatever the value, the rendered DN parses, has the template's number
// of RDNs, carries the value unchanged, and keeps the parent.
func FuzzTemplateValue(f *testing.F) {
	for _, s := range []string{"ada", "a,ou=Admins", "x+cn=root", `back\`, " lead", "trail ", "#hex", "\x00nul", `"q"`, "ü", "=", "a\\2C"} {
		f.Add(s)
	}
	tm, err := parseTemplate("uid={uid},ou=People,dc=example,dc=org")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if v == "" || !utf8Valid(v) {
			return
		}
		rdn, parent, err := tm.render(func(string) (string, error) { return v, nil })
		if err != nil {
			t.Fatal(err)
		}
		d, err := goldap.ParseDN(join(rdn, parent))
		if err != nil {
			t.Fatalf("value %q: DN %q does not parse: %v", v, join(rdn, parent), err)
		}
		if len(d.RDNs) != 4 || len(d.RDNs[0].Attributes) != 1 || d.RDNs[0].Attributes[0].Type != "uid" || d.RDNs[0].Attributes[0].Value != v {
			t.Fatalf("value %q: DN %q parsed as %+v", v, join(rdn, parent), d.RDNs[0])
		}
		if parent != "ou=People,dc=example,dc=org" {
			t.Fatalf("parent %q", parent)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestFoldDN(t *testing.T) {
	if foldDN("UID=Ada,OU=People, dc=Example,dc=org") != foldDN(`uid=ada,ou=people,dc=example,dc=org`) {
		t.Error("case and spacing")
	}
	if foldDN(`uid=a\,b,dc=x`) != foldDN(`uid=a\2Cb,dc=x`) {
		t.Error("escaping")
	}
	if foldDN("cn=a+sn=b,dc=x") != foldDN("sn=B+cn=A,dc=x") {
		t.Error("multi-valued RDN order")
	}
	if foldDN("uid=a,dc=x") == foldDN("uid=a,dc=y") {
		t.Error("different DNs fold alike")
	}
}

func TestValues(t *testing.T) {
	cases := []struct {
		in   any
		want []string
		err  bool
	}{
		{nil, nil, false},
		{"", nil, false},
		{"x", []string{"x"}, false},
		{true, []string{"TRUE"}, false},
		{false, []string{"FALSE"}, false},
		{int64(-42), []string{"-42"}, false},
		{float64(3), []string{"3"}, false},
		{1.5, []string{"1.5"}, false},
		{[]string{"a", "", "b"}, []string{"a", "b"}, false},
		{[]any{"a", int64(2), nil, true}, []string{"a", "2", "TRUE"}, false},
		{map[string]any{"a": 1}, nil, true},
		{[]any{map[string]any{}}, nil, true},
	}
	for _, tc := range cases {
		got, err := toValues("a", tc.in)
		if (err != nil) != tc.err || !tc.err && !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%#v: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	guid := []byte{0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01}
	if s := formatGUID(guid); s != "3f2504e0-4f89-11d3-9a0c-0305e82c3301" {
		t.Errorf("GUID %s", s)
	}
	if f, ok := guidFilterValue("3f2504e0-4f89-11d3-9a0c-0305e82c3301"); !ok || f != `\e0\04\25\3f\89\4f\d3\11\9a\0c\03\05\e8\2c\33\01` {
		t.Errorf("GUID filter %s", f)
	}
	e := &goldap.Entry{DN: "cn=x", Attributes: []*goldap.EntryAttribute{
		{Name: "cn", Values: []string{"x"}, ByteValues: [][]byte{[]byte("x")}},
		{Name: "userPassword", Values: []string{"{SSHA}x"}, ByteValues: [][]byte{[]byte("{SSHA}x")}},
		{Name: "jpegPhoto", Values: []string{"\xff\xd8"}, ByteValues: [][]byte{{0xff, 0xd8}}},
		{Name: "objectClass", Values: []string{"top"}, ByteValues: [][]byte{[]byte("top")}},
	}}
	if got := entryAttributes(e); !reflect.DeepEqual(got, connectors.Attributes{"cn": "x", "jpegPhoto": "/9g=", "objectClass": []string{"top"}}) {
		t.Errorf("entry attributes %v", got)
	}
}

func TestConfig(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := func() Config {
		return Config{URL: "ldap://ldap.example.org", BindDN: "cn=admin,dc=example,dc=org", BindPassword: "pw-do-not-print",
			Users: TypeConfig{BaseDN: "ou=People,dc=example,dc=org"}, Logger: quiet}
	}
	c, err := New(base())
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	if cfg.Timeout != DefaultTimeout || cfg.MaxConnections != 8 || cfg.PageSize != 500 || cfg.MemberAttribute != "member" ||
		cfg.Users.DNTemplate != "uid={uid},ou=People,dc=example,dc=org" || cfg.Users.Filter != "(objectClass=inetOrgPerson)" ||
		cfg.Disable.Attribute != "pwdAccountLockedTime" || cfg.Disable.Value != "000001010000Z" || cfg.IDAttribute != "entryUUID" ||
		cfg.Incremental != IncrementalAuto || !reflect.DeepEqual(cfg.ReferenceAttributes, []string{"manager"}) || c.groups != nil {
		t.Errorf("defaults %+v", cfg)
	}
	withGroups := base()
	withGroups.Groups.BaseDN = "ou=Groups,dc=example,dc=org"
	if c, err := New(withGroups); err != nil || c.cfg.EmptyGroupPlaceholder != DefaultEmptyGroupPlaceholder || c.cfg.Groups.DNTemplate != "cn={cn},ou=Groups,dc=example,dc=org" {
		t.Errorf("groups defaults %v %+v", err, c.cfg)
	}
	adGroups := withGroups
	adGroups.Groups.ObjectClasses = []string{"group"}
	if c, err := New(adGroups); err != nil || c.cfg.EmptyGroupPlaceholder != "" {
		t.Errorf("a group class that does not require members needs no placeholder: %v %q", err, c.cfg.EmptyGroupPlaceholder)
	}
	for _, name := range []string{"svc-provisiond@example.com", `EXAMPLE\svc-provisiond`, "cn=svc,dc=example,dc=com"} {
		if err := CheckBindName(name); err != nil {
			t.Errorf("bind name %q: %v", name, err)
		}
	}
	bad := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "" }, "URL is required"},
		{func(c *Config) { c.URL = "http://x" }, "scheme must be ldap or ldaps"},
		{func(c *Config) { c.URL = "ldap://admin:pw@x" }, "credentials in the URL"},
		{func(c *Config) { c.URL = "ldap://x/dc=example,dc=org" }, "a DN, query or fragment"},
		{func(c *Config) { c.URL = "ldaps://x"; c.StartTLS = true }, "StartTLS cannot be used with an ldaps"},
		{func(c *Config) { c.BindDN = "not a dn" }, "BindDN"},
		{func(c *Config) { c.BindPassword = "" }, "BindPassword is required"},
		{func(c *Config) { c.BindDN = "" }, "BindPassword is set without BindDN"},
		{func(c *Config) { c.TLS.CertFile = "x.pem" }, "must be set together"},
		{func(c *Config) { c.Users.BaseDN = "" }, "Users.BaseDN is required"},
		{func(c *Config) { c.Users.BaseDN = "ou=People,,x" }, "Users.BaseDN"},
		{func(c *Config) { c.Users.DNTemplate = "uid={uid},ou=Other,dc=example,dc=org" }, "not under the base DN"},
		{func(c *Config) { c.Users.Filter = "(objectClass=person" }, "invalid LDAP filter"},
		{func(c *Config) { c.Groups.DNTemplate = "cn={cn},ou=G" }, "Groups.BaseDN is required"},
		{func(c *Config) { c.MemberAttribute = "memberUid" }, "MemberAttribute"},
		{func(c *Config) { c.Disable.Mode = "lock" }, "Disable.Mode"},
		{func(c *Config) { c.Disable.Attribute = "employeeStatus" }, "Disable.Value is required"},
		{func(c *Config) { c.Disable = DisableConfig{Mode: "userAccountControl", Attribute: "x"} }, "not used with mode userAccountControl"},
		{func(c *Config) { c.Incremental = "syncrepl"; c.IDAttribute = "uid" }, "needs IDAttribute entryUUID"},
		{func(c *Config) { c.Incremental = "usn" }, "Incremental"},
		{func(c *Config) { c.PageSize = -1 }, "PageSize"},
		{func(c *Config) { c.MaxRequestsPerSecond = -1 }, "MaxRequestsPerSecond"},
		{func(c *Config) { c.ReferenceAttributes = []string{"bad attr"} }, "ReferenceAttributes"},
		{func(c *Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, "TLS.CAFile"},
	}
	for _, tc := range bad {
		cfg := base()
		tc.mut(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "pw-do-not-print") {
			t.Errorf("password in %v", err)
		}
	}
}
