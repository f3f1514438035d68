package ldap_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

// config returns the connector configuration for srv: the root DN, users under ou=People,
// groups under ou=Groups, a small page size so that paging is exercised.
func config(srv *slapdtest.Server) ldap.Config {
	return ldap.Config{
		URL:          srv.URL,
		BindDN:       slapdtest.AdminDN,
		BindPassword: slapdtest.AdminPassword,
		PageSize:     5,
		Users:        ldap.TypeConfig{BaseDN: slapdtest.PeopleDN},
		Groups:       ldap.TypeConfig{BaseDN: slapdtest.GroupsDN},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newClient(t *testing.T, cfg ldap.Config) *ldap.Client {
	t.Helper()
	c, err := ldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connError asserts err is a *connectors.Error of class and code (code "" matches any).
func connError(t *testing.T, err error, class connectors.ErrorClass, code string) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *connectors.Error of class %s", err, err, class)
	}
	if ce.Class != class || code != "" && ce.Code != code {
		t.Fatalf("error %v: class %s code %s, want %s %s", err, ce.Class, ce.Code, class, code)
	}
	return ce
}

func person(uid string, extra ...any) connectors.Attributes {
	a := connectors.Attributes{"uid": uid, "cn": "Person " + uid, "sn": uid, "mail": uid + "@example.org"}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i].(string)] = extra[i+1]
	}
	return a
}

func mustCreate(t testing.TB, c *ldap.Client, typ connectors.ObjectType, attrs connectors.Attributes) string {
	t.Helper()
	o, err := c.Create(context.Background(), typ, attrs)
	if err != nil {
		t.Fatalf("create %v: %v", attrs, err)
	}
	return o.ID
}

// members returns the member values of a group, sorted.
func members(t *testing.T, srv *slapdtest.Server, conn *goldap.Conn, dn, attr string) []string {
	t.Helper()
	e := srv.Entry(conn, dn, attr)
	if e == nil {
		t.Fatalf("group %s does not exist", dn)
	}
	v := slices.Clone(e.GetAttributeValues(attr))
	for i := range v {
		v[i] = strings.ToLower(v[i])
	}
	slices.Sort(v)
	return v
}

func lower(s ...string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	slices.Sort(out)
	return out
}

// sameDN compares DNs the way the server does (escaping and case aside).
func sameDN(a, b string) bool {
	x, err1 := goldap.ParseDN(a)
	y, err2 := goldap.ParseDN(b)
	return err1 == nil && err2 == nil && x.EqualFold(y)
}
