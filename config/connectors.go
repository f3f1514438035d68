package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"unicode"
)

// idPattern is what job IDs and connector names look like.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

const idRule = "want 1 to 64 letters, digits, '.', '_' or '-'"

// connectorFields lists the fields of each connector type.
var connectorFields = map[string][]string{
	TypeFile:   {"type", "users", "groups", "idAttribute", "multiValueSeparator", "multiValued"},
	TypeSCIM:   {"type", "url", "auth", "tls", "timeout", "maxRequestsPerSecond", "minRequestsPerSecond", "maxRetries", "memberBatchSize", "pageSize", "disableMode"},
	TypePlugin: {"type", "path", "args"},
	TypeLDAP:   ldapFields,
}

// authFields lists the fields of each SCIM authentication type.
var authFields = map[string][]string{
	AuthBearer: {"token", "tokenFile"},
	AuthOAuth2: {"clientId", "clientSecret", "clientSecretFile", "tokenUrl", "scopes"},
	AuthBasic:  {"username", "password", "passwordFile"},
}

func (d *decoder) connectors(f field) map[string]ConnectorConfig {
	out := map[string]ConnectorConfig{}
	o := f.object()
	if o.present() && len(o.keys) == 0 {
		f.errorf("want at least one connector")
	}
	for _, name := range o.keys {
		cf := o.get(name)
		if !idPattern.MatchString(name) {
			d.errorf(cf.key, cf.path, "invalid connector name %q: %s", name, idRule)
		}
		out[name] = d.connector(name, cf)
	}
	o.end()
	return out
}

func (d *decoder) connector(name string, f field) ConnectorConfig {
	c := ConnectorConfig{Name: name, Line: f.key.Line}
	if !f.present() {
		f.errorf("want a mapping with a type (file, scim, plugin or ldap), got an empty value")
		return c
	}
	o := f.object()
	if o.node == nil {
		return c
	}
	t := o.get("type")
	if t.need() {
		c.Type, _ = t.enum("connector type", TypeFile, TypeSCIM, TypePlugin, TypeLDAP)
	}
	if c.Type == "" {
		// Without a type, the other fields cannot be checked.
		o.ignoreRest()
		o.end()
		return c
	}
	o.notFor = func(key string) string {
		for typ, keys := range connectorFields {
			if typ != c.Type && slices.Contains(keys, key) {
				return fmt.Sprintf("not used by %s connectors", c.Type)
			}
		}
		return ""
	}
	switch c.Type {
	case TypeFile:
		c.File = d.fileConnector(o)
	case TypeSCIM:
		c.SCIM = d.scimConnector(o)
	case TypePlugin:
		c.Plugin = d.pluginConnector(o)
	case TypeLDAP:
		c.LDAP = d.ldapConnector(o)
	}
	o.end()
	return c
}

func (d *decoder) fileConnector(o *obj) *FileConnector {
	fc := &FileConnector{}
	if f := o.get("users"); f.need() {
		fc.Users, _ = f.filePath()
	}
	if f := o.get("groups"); f.present() {
		fc.Groups, _ = f.filePath()
	}
	if f := o.get("idAttribute"); f.present() {
		fc.IDAttribute, _ = f.nonEmpty()
	}
	if f := o.get("multiValueSeparator"); f.present() {
		if s, ok := f.str(); ok {
			if s == "" {
				f.errorf("must not be empty")
			}
			fc.MultiValueSeparator = s
		}
	}
	if f := o.get("multiValued"); f.present() {
		fc.MultiValued, _ = f.strings()
	}
	return fc
}

func (d *decoder) scimConnector(o *obj) *SCIMConnector {
	sc := &SCIMConnector{}
	if f := o.get("url"); f.need() {
		sc.URL, _ = f.url()
	}
	if f := o.get("auth"); f.need() {
		sc.Auth = d.scimAuth(f.object())
	}
	sc.TLS = d.scimTLS(o.get("tls").object())
	if f := o.get("timeout"); f.present() {
		sc.Timeout, _ = f.duration()
	}
	nonNegative := func(key string) float64 {
		f := o.get(key)
		if !f.present() {
			return 0
		}
		v, ok := f.float()
		if ok && v < 0 {
			f.errorf("must not be negative, got %g", v)
			return 0
		}
		return v
	}
	sc.MaxRequestsPerSecond = nonNegative("maxRequestsPerSecond")
	sc.MinRequestsPerSecond = nonNegative("minRequestsPerSecond")
	if sc.MaxRequestsPerSecond > 0 && sc.MinRequestsPerSecond > sc.MaxRequestsPerSecond {
		o.get("minRequestsPerSecond").errorf("must not exceed maxRequestsPerSecond (%g), got %g", sc.MaxRequestsPerSecond, sc.MinRequestsPerSecond)
	}
	if f := o.get("maxRetries"); f.present() {
		if v, ok := f.intIn(0, math.MaxInt32); ok {
			sc.MaxRetries = v
			if v == 0 {
				sc.MaxRetries = -1 // the connector's "no retries"; 0 is its default
			}
		}
	}
	for key, dst := range map[string]*int{"memberBatchSize": &sc.MemberBatchSize, "pageSize": &sc.PageSize} {
		if f := o.get(key); f.present() {
			*dst, _ = f.intIn(1, math.MaxInt32)
		}
	}
	if f := o.get("disableMode"); f.present() {
		sc.DisableMode, _ = f.enum("disable mode", DisableModes...)
	}
	return sc
}

// url returns f as an absolute http(s) URL without credentials.
func (f field) url() (string, bool) {
	t, ok := f.scalar("a string")
	if !ok {
		return "", false
	}
	u, err := url.Parse(strings.TrimSpace(t.s))
	switch {
	case err == nil && u.User != nil:
		// The URL is not quoted: it holds a password.
		f.errorf("the URL must not contain credentials: use auth")
	case err != nil && strings.Contains(t.s, "@") && len(t.vars) == 0:
		f.errorf(`invalid URL: want an absolute http or https URL, e.g. "https://example.com/scim/v2"`)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		f.errorf(`invalid URL %s: want an absolute http or https URL, e.g. "https://example.com/scim/v2"`, t.q())
	case u.Fragment != "":
		f.errorf("invalid URL %s: a fragment (#...) is not allowed", t.q())
	default:
		return u.String(), true
	}
	return "", false
}

func (d *decoder) scimAuth(o *obj) SCIMAuth {
	a := SCIMAuth{Type: AuthBearer}
	if t := o.get("type"); t.present() {
		a.Type, _ = t.enum("auth type", AuthBearer, AuthOAuth2, AuthBasic)
	}
	if a.Type == "" {
		o.ignoreRest()
		o.end()
		return a
	}
	for typ, keys := range authFields {
		if typ == a.Type {
			continue
		}
		for _, k := range keys {
			o.get(k).notWith("auth type %s", a.Type)
		}
	}
	switch a.Type {
	case AuthBearer:
		a.Token = o.secret("token", true, "")
		if hasSpace(a.Token.Value()) {
			f := o.get("token")
			if !f.present() {
				f = o.get("tokenFile")
			}
			f.errorf("the token contains white space or control characters")
		}
	case AuthOAuth2:
		if f := o.get("clientId"); f.need() {
			a.ClientID, _ = f.nonEmpty()
		}
		a.ClientSecret = o.secret("clientSecret", true, "")
		if f := o.get("tokenUrl"); f.need() {
			a.TokenURL, _ = f.url()
		}
		if f := o.get("scopes"); f.present() {
			a.Scopes, _ = f.strings()
		}
	case AuthBasic:
		if f := o.get("username"); f.need() {
			if s, ok := f.nonEmpty(); ok && (strings.Contains(s, ":") || hasSpace(s)) {
				f.errorf("must not contain ':', white space or control characters")
			} else {
				a.Username = s
			}
		}
		a.Password = o.secret("password", true, "")
	}
	o.end()
	return a
}

func (d *decoder) scimTLS(o *obj) SCIMTLS {
	t := SCIMTLS{}
	if f := o.get("caFile"); f.present() {
		t.CAFile, _ = f.readableFile("CA file")
	}
	cert, key := o.get("certFile"), o.get("keyFile")
	if cert.present() {
		t.CertFile, _ = cert.readableFile("certificate file")
	}
	if key.present() {
		t.KeyFile, _ = key.readableFile("key file")
	}
	switch {
	case cert.present() && !key.present():
		key.errorf("required with certFile")
	case key.present() && !cert.present():
		cert.errorf("required with keyFile")
	}
	if f := o.get("insecureSkipVerify"); f.present() {
		t.InsecureSkipVerify, _ = f.bool()
	}
	o.end()
	return t
}

func (d *decoder) pluginConnector(o *obj) *PluginConnector {
	pc := &PluginConnector{}
	if f := o.get("path"); f.need() {
		if p, ok := f.filePath(); ok {
			pc.Path = p
			st, err := os.Stat(p)
			switch {
			case err != nil:
				f.errorf("cannot use plugin %q: %s", p, pathErr(err))
			case st.IsDir():
				f.errorf("cannot use plugin %q: is a directory", p)
			case runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0:
				f.errorf("cannot use plugin %q: not executable", p)
			}
		}
	}
	if f := o.get("args"); f.present() {
		if items, ok := f.list(); ok {
			for _, it := range items {
				if s, ok := it.scalar("a string"); ok {
					pc.Args = append(pc.Args, s.s)
				} else if !it.present() {
					pc.Args = append(pc.Args, "")
				}
			}
		}
	}
	return pc
}

// hasSpace reports whether s holds white space or control characters.
func hasSpace(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) {
			return true
		}
	}
	return false
}
