package config

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors/ldap"
)

// ldapFields are the fields of an ldap connector.
var ldapFields = []string{"type", "url", "startTLS", "tls", "bindDN", "bindPassword", "bindPasswordFile", "timeout",
	"maxConnections", "maxRequestsPerSecond", "pageSize", "memberBatchSize", "users", "groups", "memberAttribute",
	"emptyGroupPlaceholder", "disable", "idAttribute", "incremental", "timestampAttribute", "referenceAttributes"}

// LDAPConnector is an LDAP directory (OpenLDAP, Active Directory, ...), as target or as
// source. Zero values take the connector's defaults, as in the LDAP connector's Config
// (docs/ldap.md).
type LDAPConnector struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL      string `json:"url"`
	StartTLS bool   `json:"startTLS,omitempty"`
	// TLS has the fields of the SCIM connector's tls.
	TLS                  SCIMTLS       `json:"tls"`
	BindDN               string        `json:"bindDN,omitempty"`
	BindPassword         Secret        `json:"bindPassword,omitempty"`
	Timeout              time.Duration `json:"timeout,omitempty"`
	MaxConnections       int           `json:"maxConnections,omitempty"`
	MaxRequestsPerSecond float64       `json:"maxRequestsPerSecond,omitempty"`
	PageSize             int           `json:"pageSize,omitempty"`
	MemberBatchSize      int           `json:"memberBatchSize,omitempty"`
	Users                LDAPType      `json:"users"`
	// Groups is nil when the directory's groups are not used.
	Groups                *LDAPType   `json:"groups,omitempty"`
	MemberAttribute       string      `json:"memberAttribute,omitempty"`
	EmptyGroupPlaceholder string      `json:"emptyGroupPlaceholder,omitempty"`
	Disable               LDAPDisable `json:"disable"`
	IDAttribute           string      `json:"idAttribute,omitempty"`
	Incremental           string      `json:"incremental,omitempty"`
	TimestampAttribute    string      `json:"timestampAttribute,omitempty"`
	ReferenceAttributes   []string    `json:"referenceAttributes,omitempty"`
}

// LDAPType says where users or groups live and how they look.
type LDAPType struct {
	BaseDN          string   `json:"baseDN"`
	ObjectClasses   []string `json:"objectClasses,omitempty"`
	Filter          string   `json:"filter,omitempty"`
	DNTemplate      string   `json:"dnTemplate,omitempty"`
	MatchAttributes []string `json:"matchAttributes,omitempty"`
	Attributes      []string `json:"attributes,omitempty"`
}

// LDAPDisable says how the LDAP connector disables accounts.
type LDAPDisable struct {
	// Mode is ldap.DisableAttribute, ldap.DisableUserAccountControl or ldap.DisableDelete
	// (empty: the connector's default, attribute).
	Mode        string `json:"mode,omitempty"`
	Attribute   string `json:"attribute,omitempty"`
	Value       string `json:"value,omitempty"`
	EnableValue string `json:"enableValue,omitempty"`
}

// MarshalJSON writes Timeout as a string ("30s").
func (l LDAPConnector) MarshalJSON() ([]byte, error) {
	type plain LDAPConnector
	out := struct {
		plain
		Timeout string `json:"timeout,omitempty"`
	}{plain: plain(l)}
	if l.Timeout != 0 {
		out.Timeout = l.Timeout.String()
	}
	return json.Marshal(out)
}

// Connector returns the LDAP connector's configuration (logger aside).
func (l *LDAPConnector) Connector() ldap.Config {
	cfg := ldap.Config{
		URL: l.URL, StartTLS: l.StartTLS,
		TLS:    ldap.TLSConfig{CAFile: l.TLS.CAFile, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile, InsecureSkipVerify: l.TLS.InsecureSkipVerify},
		BindDN: l.BindDN, BindPassword: l.BindPassword.Value(),
		Timeout: l.Timeout, MaxConnections: l.MaxConnections, MaxRequestsPerSecond: l.MaxRequestsPerSecond,
		PageSize: l.PageSize, MemberBatchSize: l.MemberBatchSize,
		Users:           l.Users.connector(),
		MemberAttribute: l.MemberAttribute, EmptyGroupPlaceholder: l.EmptyGroupPlaceholder,
		Disable:     ldap.DisableConfig{Mode: l.Disable.Mode, Attribute: l.Disable.Attribute, Value: l.Disable.Value, EnableValue: l.Disable.EnableValue},
		IDAttribute: l.IDAttribute, Incremental: l.Incremental, TimestampAttribute: l.TimestampAttribute,
		ReferenceAttributes: l.ReferenceAttributes,
	}
	if l.Groups != nil {
		cfg.Groups = l.Groups.connector()
	}
	return cfg
}

func (t LDAPType) connector() ldap.TypeConfig {
	return ldap.TypeConfig{BaseDN: t.BaseDN, ObjectClasses: t.ObjectClasses, Filter: t.Filter, DNTemplate: t.DNTemplate,
		MatchAttributes: t.MatchAttributes, Attributes: t.Attributes}
}

func (d *decoder) ldapConnector(o *obj) *LDAPConnector {
	lc := &LDAPConnector{}
	if f := o.get("url"); f.need() {
		lc.URL, _ = f.ldapURL()
	}
	if f := o.get("startTLS"); f.present() {
		lc.StartTLS, _ = f.bool()
		if lc.StartTLS && strings.HasPrefix(strings.ToLower(lc.URL), "ldaps:") {
			f.errorf("not used with an ldaps:// URL (the connection is TLS already)")
		}
	}
	lc.TLS = d.scimTLS(o.get("tls").object())
	if f := o.get("bindDN"); f.present() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckBindName(s)) {
			lc.BindDN = s
		}
	}
	lc.BindPassword = o.secret("bindPassword", lc.BindDN != "", "")
	if lc.BindDN == "" && lc.BindPassword != "" {
		f := o.get("bindPassword")
		if !f.present() {
			f = o.get("bindPasswordFile")
		}
		f.errorf("set bindDN too (a password without a bind DN is never sent)")
	}
	if f := o.get("timeout"); f.present() {
		lc.Timeout, _ = f.duration()
	}
	if f := o.get("maxRequestsPerSecond"); f.present() {
		if v, ok := f.float(); ok && v < 0 {
			f.errorf("must not be negative, got %g", v)
		} else {
			lc.MaxRequestsPerSecond = v
		}
	}
	for key, dst := range map[string]*int{"maxConnections": &lc.MaxConnections, "pageSize": &lc.PageSize, "memberBatchSize": &lc.MemberBatchSize} {
		if f := o.get(key); f.present() {
			*dst, _ = f.intIn(1, math.MaxInt32)
		}
	}
	if f := o.get("users"); f.need() {
		lc.Users = d.ldapType(f.object())
	}
	if f := o.get("groups"); f.present() {
		g := d.ldapType(f.object())
		lc.Groups = &g
	}
	if f := o.get("memberAttribute"); f.present() {
		lc.MemberAttribute, _ = f.enum("member attribute", ldap.MemberAttr, ldap.UniqueMemberAttr)
	}
	if f := o.get("emptyGroupPlaceholder"); f.present() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckDN(s)) {
			lc.EmptyGroupPlaceholder = s
		}
	}
	lc.Disable = d.ldapDisable(o.get("disable").object())
	if f := o.get("idAttribute"); f.present() {
		if s, ok := f.nonEmpty(); ok && (strings.EqualFold(s, "dn") || f.checkLDAP(ldap.CheckAttributeName(s))) {
			lc.IDAttribute = s
		}
	}
	if f := o.get("incremental"); f.present() {
		lc.Incremental, _ = f.enum("incremental mode", ldap.IncrementalAuto, ldap.IncrementalSyncrepl, ldap.IncrementalTimestamp, ldap.IncrementalNone)
		if lc.Incremental == ldap.IncrementalSyncrepl && lc.IDAttribute != "" && !strings.EqualFold(lc.IDAttribute, "entryUUID") {
			f.errorf("syncrepl reports deletes by entryUUID: it needs idAttribute entryUUID (the default), got %q", lc.IDAttribute)
		}
	}
	if f := o.get("timestampAttribute"); f.present() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckAttributeName(s)) {
			lc.TimestampAttribute = s
		}
	}
	if f := o.get("referenceAttributes"); f.present() {
		lc.ReferenceAttributes = d.ldapAttrs(f)
	}
	return lc
}

// ldapURL returns f as an ldap:// or ldaps:// URL with a host and nothing else.
func (f field) ldapURL() (string, bool) {
	t, ok := f.scalar("a string")
	if !ok {
		return "", false
	}
	u, err := url.Parse(strings.TrimSpace(t.s))
	switch {
	case err == nil && u.User != nil:
		f.errorf("the URL must not contain credentials: use bindDN and bindPassword")
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "":
		f.errorf(`invalid URL %s: want ldap://host[:port] or ldaps://host[:port], e.g. "ldaps://ldap.example.com"`, t.q())
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		f.errorf("invalid URL %s: no DN, query or fragment (set users.baseDN and groups.baseDN)", t.q())
	default:
		return u.Scheme + "://" + u.Host, true
	}
	return "", false
}

// checkLDAP reports err (a validator's verdict) on f and returns whether it is nil.
func (f field) checkLDAP(err error) bool {
	if err != nil {
		f.errorf("%s", err)
		return false
	}
	return true
}

// ldapAttrs returns a list of attribute names.
func (d *decoder) ldapAttrs(f field) []string {
	items, ok := f.list()
	if !ok {
		return nil
	}
	var out []string
	for _, it := range items {
		if s, ok := it.nonEmpty(); ok && (s == "*" || s == "+" || it.checkLDAP(ldap.CheckAttributeName(s))) {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) ldapType(o *obj) LDAPType {
	t := LDAPType{}
	if f := o.get("baseDN"); f.need() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckDN(s)) {
			t.BaseDN = s
		}
	}
	if f := o.get("objectClasses"); f.present() {
		t.ObjectClasses = d.ldapAttrs(f)
	}
	if f := o.get("filter"); f.present() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckFilter(s)) {
			t.Filter = s
		}
	}
	if f := o.get("dnTemplate"); f.present() {
		if s, ok := f.nonEmpty(); ok && f.checkLDAP(ldap.CheckDNTemplate(s, t.BaseDN)) {
			t.DNTemplate = s
		}
	}
	if f := o.get("matchAttributes"); f.present() {
		t.MatchAttributes = d.ldapAttrs(f)
	}
	if f := o.get("attributes"); f.present() {
		t.Attributes = d.ldapAttrs(f)
	}
	o.end()
	return t
}

func (d *decoder) ldapDisable(o *obj) LDAPDisable {
	dc := LDAPDisable{}
	if f := o.get("mode"); f.present() {
		dc.Mode, _ = f.enum("disable mode", ldap.DisableAttribute, ldap.DisableUserAccountControl, ldap.DisableDelete)
	}
	attr, value, enable := o.get("attribute"), o.get("value"), o.get("enableValue")
	if dc.Mode != "" && dc.Mode != ldap.DisableAttribute {
		for _, f := range []field{attr, value, enable} {
			f.notWith("disable mode %s", dc.Mode)
		}
		o.end()
		return dc
	}
	if attr.present() {
		if s, ok := attr.nonEmpty(); ok && attr.checkLDAP(ldap.CheckAttributeName(s)) {
			dc.Attribute = s
		}
		if !value.present() {
			value.errorf("required with attribute")
		}
	}
	if value.present() {
		dc.Value, _ = value.nonEmpty()
		if !attr.present() {
			attr.errorf("required with value")
		}
	}
	if enable.present() {
		dc.EnableValue, _ = enable.str()
	}
	o.end()
	return dc
}
