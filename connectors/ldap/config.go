package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Disable modes accepted in DisableConfig.Mode.
const (
	// DisableAttribute sets DisableConfig.Attribute to DisableConfig.Value (default: the
	// OpenLDAP ppolicy lock pwdAccountLockedTime=000001010000Z); Enable removes the attribute
	// or sets DisableConfig.EnableValue.
	DisableAttribute = "attribute"
	// DisableUserAccountControl sets bit 0x2 (ACCOUNTDISABLE) of Active Directory's
	// userAccountControl, read-modify-write; Enable clears it.
	DisableUserAccountControl = "userAccountControl"
	// DisableDelete deletes the entry instead.
	DisableDelete = "delete"
)

// Incremental read modes accepted in Config.Incremental.
const (
	// IncrementalAuto uses syncrepl when the server supports it (root DSE supportedControl
	// lists 1.3.6.1.4.1.4203.1.9.1.1) and IDAttribute is entryUUID, else timestamps.
	IncrementalAuto = "auto"
	// IncrementalSyncrepl uses RFC 4533 refreshOnly with the cookie as watermark: changes
	// and deletes.
	IncrementalSyncrepl = "syncrepl"
	// IncrementalTimestamp searches TimestampAttribute>=watermark: changes only, never
	// deletes (such reads are not Full; a full read reconciles deletes).
	IncrementalTimestamp = "timestamp"
	// IncrementalNone makes every read a full read.
	IncrementalNone = "none"
)

// Membership attributes accepted in Config.MemberAttribute.
const (
	MemberAttr       = "member"
	UniqueMemberAttr = "uniqueMember"
)

// Defaults applied by New to zero-valued fields.
const (
	DefaultTimeout               = 30 * time.Second
	DefaultMaxConnections        = 8
	DefaultPageSize              = 500
	DefaultMemberBatchSize       = 500
	DefaultEmptyGroupPlaceholder = "cn=empty-membership-placeholder"
	DefaultDisableAttribute      = "pwdAccountLockedTime"
	DefaultDisableValue          = "000001010000Z"
	DefaultIDAttribute           = "entryUUID"
	DefaultTimestampAttribute    = "modifyTimestamp"
)

// TLSConfig configures TLS for ldaps:// and StartTLS. Paths must be readable files.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs to trust instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key; both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify disables server certificate verification (a warning is logged).
	InsecureSkipVerify bool
	// ServerName overrides the name verified in the server certificate (default: the URL's
	// host).
	ServerName string
}

// TypeConfig describes where and how one object type lives in the directory.
type TypeConfig struct {
	// BaseDN is the subtree searched for, and holding, objects of the type. Required for
	// users; without it for groups the connector has no groups.
	BaseDN string
	// ObjectClasses are the object classes Create sets (default users [inetOrgPerson],
	// groups [groupOfNames]).
	ObjectClasses []string
	// Filter selects the type's entries under BaseDN (default: (objectClass=<the first
	// object class>)). It is an LDAP filter written by the operator, used as is.
	Filter string
	// DNTemplate names a new entry: a DN with {attribute} placeholders replaced by the
	// mapped attribute values, escaped as RFC 4514 values (default users
	// "uid={uid},<BaseDN>", groups "cn={cn},<BaseDN>"). Every DN it yields must lie under
	// BaseDN. When an Update changes an attribute the template uses, the entry is renamed
	// (ModifyDN).
	DNTemplate string
	// MatchAttributes decide whether an existing entry at the DN a create would use is the
	// object being created (after a lost answer): default the template's placeholders.
	MatchAttributes []string
	// Attributes lists the attributes Get, Find, List and source reads return (default:
	// every user attribute, "*"). Operational attributes the connector needs are added.
	Attributes []string
}

// DisableConfig says how Disable and Enable work.
type DisableConfig struct {
	// Mode is DisableAttribute (default), DisableUserAccountControl or DisableDelete.
	Mode string
	// Attribute and Value are what DisableAttribute sets (default pwdAccountLockedTime =
	// 000001010000Z, OpenLDAP ppolicy's permanent lock; custom schemas use e.g.
	// employeeStatus = disabled).
	Attribute, Value string
	// EnableValue is what Enable sets Attribute to; empty removes the attribute.
	EnableValue string
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port]; no DN, no credentials.
	URL string
	// StartTLS upgrades an ldap:// connection with the StartTLS extended operation before
	// binding.
	StartTLS bool
	TLS      TLSConfig
	// BindDN and BindPassword are the simple-bind credentials; an empty BindDN binds
	// anonymously. The password never appears in logs, errors, events or calls.
	BindDN, BindPassword string
	// Timeout bounds dialing, binding and every single request (each page of a paged
	// search); default 30s.
	Timeout time.Duration
	// MaxConnections is the size of the connection pool (bound connections reused by
	// concurrent operations); default 8.
	MaxConnections int
	// MaxRequestsPerSecond caps the request rate (0: unlimited).
	MaxRequestsPerSecond float64
	// PageSize is the Simple Paged Results page size; default 500.
	PageSize int
	// MemberBatchSize is the number of member values per Modify; default 500.
	MemberBatchSize int
	// Users and Groups describe the two object types.
	Users, Groups TypeConfig
	// MemberAttribute is the group membership attribute: "member" (default) or
	// "uniqueMember". Its values are DNs.
	MemberAttribute string
	// EmptyGroupPlaceholder is the DN put into a group whose object class requires a member
	// (groupOfNames, groupOfUniqueNames) while it has no real member: at Create, and when
	// the last member is removed; it is removed once a real member is added. Default
	// "cn=empty-membership-placeholder" for those object classes, none otherwise.
	EmptyGroupPlaceholder string
	Disable               DisableConfig
	// IDAttribute is the source anchor of each entry: entryUUID (default), objectGUID
	// (Active Directory, formatted as a GUID), "dn", or any single-valued attribute.
	IDAttribute string
	// Incremental is the source's incremental read mode: auto (default), syncrepl,
	// timestamp or none.
	Incremental string
	// TimestampAttribute is the attribute of timestamp incremental reads (default
	// modifyTimestamp; Active Directory also has whenChanged).
	TimestampAttribute string
	// ReferenceAttributes are user attributes holding DNs of other users (default
	// [manager]); source reads return them as the source IDs of those users.
	ReferenceAttributes []string
	// StateDir, when set, keeps a journal of the renames Update made (old DN → new DN), so
	// that operations on an old DN still reach the entry after a restart. Empty keeps them
	// in memory only.
	StateDir string
	// Logger receives warnings (insecureSkipVerify); default slog.Default().
	Logger *slog.Logger
}

// normalize validates cfg and fills in defaults. Errors never contain the password.
func (cfg *Config) normalize() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	raw := strings.TrimSpace(cfg.URL)
	switch u, err := url.Parse(raw); {
	case raw == "":
		bad("URL is required")
	case err != nil:
		bad("URL is not a valid URL")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("URL %s: scheme must be ldap or ldaps", u.Redacted())
	case u.Host == "":
		bad("URL %s: host is missing", u.Redacted())
	case u.User != nil:
		bad("URL %s: credentials in the URL are not allowed; use BindDN and BindPassword", u.Redacted())
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		bad("URL %s: a DN, query or fragment is not allowed; set the base DNs of Users and Groups", u.Redacted())
	default:
		cfg.URL = u.Scheme + "://" + u.Host
		if cfg.StartTLS && u.Scheme == "ldaps" {
			bad("StartTLS cannot be used with an ldaps:// URL (the connection is TLS already)")
		}
	}
	if cfg.BindDN != "" {
		if err := CheckBindName(cfg.BindDN); err != nil {
			bad("BindDN: %v", err)
		}
		if cfg.BindPassword == "" {
			bad("BindPassword is required with BindDN (an empty password would be an unauthenticated bind)")
		}
	} else if cfg.BindPassword != "" {
		bad("BindPassword is set without BindDN")
	}
	if t := cfg.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		bad("TLS.CertFile and TLS.KeyFile must be set together")
	}
	switch {
	case cfg.Timeout < 0:
		bad("Timeout must not be negative")
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxConnections < 0:
		bad("MaxConnections must not be negative")
	case cfg.MaxConnections == 0:
		cfg.MaxConnections = DefaultMaxConnections
	}
	if r := cfg.MaxRequestsPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad("MaxRequestsPerSecond must be a non-negative number")
	}
	switch {
	case cfg.PageSize < 0 || cfg.PageSize > math.MaxInt32:
		bad("PageSize must be between 1 and %d", math.MaxInt32)
	case cfg.PageSize == 0:
		cfg.PageSize = DefaultPageSize
	}
	switch {
	case cfg.MemberBatchSize < 0:
		bad("MemberBatchSize must not be negative")
	case cfg.MemberBatchSize == 0:
		cfg.MemberBatchSize = DefaultMemberBatchSize
	}

	switch strings.ToLower(cfg.MemberAttribute) {
	case "", strings.ToLower(MemberAttr):
		cfg.MemberAttribute = MemberAttr
	case strings.ToLower(UniqueMemberAttr):
		cfg.MemberAttribute = UniqueMemberAttr
	default:
		bad("MemberAttribute %q is unknown (want member or uniqueMember)", cfg.MemberAttribute)
	}

	if strings.TrimSpace(cfg.Users.BaseDN) == "" {
		bad("Users.BaseDN is required")
	}
	errs = append(errs, cfg.Users.normalize("Users", []string{"inetOrgPerson"}, "uid")...)
	if strings.TrimSpace(cfg.Groups.BaseDN) != "" {
		errs = append(errs, cfg.Groups.normalize("Groups", []string{"groupOfNames"}, "cn")...)
		if cfg.EmptyGroupPlaceholder == "" && needsMember(cfg.Groups.ObjectClasses) {
			cfg.EmptyGroupPlaceholder = DefaultEmptyGroupPlaceholder
		}
		if cfg.EmptyGroupPlaceholder != "" {
			if _, err := goldap.ParseDN(cfg.EmptyGroupPlaceholder); err != nil {
				bad("EmptyGroupPlaceholder %q is not a valid DN: %v", cfg.EmptyGroupPlaceholder, err)
			}
		}
	} else if cfg.Groups.DNTemplate != "" || cfg.Groups.Filter != "" || len(cfg.Groups.ObjectClasses) > 0 {
		bad("Groups.BaseDN is required when other Groups settings are set")
	}

	d := &cfg.Disable
	switch strings.ToLower(d.Mode) {
	case "", strings.ToLower(DisableAttribute):
		d.Mode = DisableAttribute
		if d.Attribute == "" {
			d.Attribute = DefaultDisableAttribute
			if d.Value == "" {
				d.Value = DefaultDisableValue
			}
		}
		if !validAttrName(d.Attribute) {
			bad("Disable.Attribute %q is not an attribute name", d.Attribute)
		}
		if d.Value == "" {
			bad("Disable.Value is required with Disable.Attribute %q", d.Attribute)
		}
	case strings.ToLower(DisableUserAccountControl):
		d.Mode = DisableUserAccountControl
		if d.Attribute != "" || d.Value != "" || d.EnableValue != "" {
			bad("Disable.Attribute, Value and EnableValue are not used with mode userAccountControl")
		}
	case strings.ToLower(DisableDelete):
		d.Mode = DisableDelete
		if d.Attribute != "" || d.Value != "" || d.EnableValue != "" {
			bad("Disable.Attribute, Value and EnableValue are not used with mode delete")
		}
	default:
		bad("Disable.Mode %q is unknown (want attribute, userAccountControl or delete)", d.Mode)
	}

	if cfg.IDAttribute == "" {
		cfg.IDAttribute = DefaultIDAttribute
	} else if !strings.EqualFold(cfg.IDAttribute, "dn") && !validAttrName(cfg.IDAttribute) {
		bad("IDAttribute %q is not an attribute name (or dn)", cfg.IDAttribute)
	}
	switch strings.ToLower(cfg.Incremental) {
	case "", IncrementalAuto:
		cfg.Incremental = IncrementalAuto
	case IncrementalSyncrepl:
		cfg.Incremental = IncrementalSyncrepl
		if !strings.EqualFold(cfg.IDAttribute, "entryUUID") {
			bad("Incremental syncrepl needs IDAttribute entryUUID (syncrepl reports deletes by entryUUID), got %q", cfg.IDAttribute)
		}
	case IncrementalTimestamp, "modifytimestamp":
		cfg.Incremental = IncrementalTimestamp
	case IncrementalNone:
		cfg.Incremental = IncrementalNone
	default:
		bad("Incremental %q is unknown (want auto, syncrepl, timestamp or none)", cfg.Incremental)
	}
	if cfg.TimestampAttribute == "" {
		cfg.TimestampAttribute = DefaultTimestampAttribute
	} else if !validAttrName(cfg.TimestampAttribute) {
		bad("TimestampAttribute %q is not an attribute name", cfg.TimestampAttribute)
	}
	if cfg.ReferenceAttributes == nil {
		cfg.ReferenceAttributes = []string{"manager"}
	}
	for _, a := range cfg.ReferenceAttributes {
		if !validAttrName(a) {
			bad("ReferenceAttributes: %q is not an attribute name", a)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// normalize validates one type's settings and fills in its defaults.
func (t *TypeConfig) normalize(name string, classes []string, rdnAttr string) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(name+"."+format, args...))
	}
	t.BaseDN = strings.TrimSpace(t.BaseDN)
	if _, err := goldap.ParseDN(t.BaseDN); err != nil {
		if t.BaseDN != "" {
			bad("BaseDN %q is not a valid DN: %v", t.BaseDN, plain(err))
		}
		return errs
	}
	if len(t.ObjectClasses) == 0 {
		t.ObjectClasses = classes
	}
	for _, oc := range t.ObjectClasses {
		if !validAttrName(oc) {
			bad("ObjectClasses: %q is not an object class name", oc)
		}
	}
	if t.Filter == "" && len(t.ObjectClasses) > 0 {
		t.Filter = "(objectClass=" + goldap.EscapeFilter(t.ObjectClasses[0]) + ")"
	}
	if err := CheckFilter(t.Filter); err != nil {
		bad("Filter: %v", err)
	}
	if t.DNTemplate == "" {
		t.DNTemplate = rdnAttr + "={" + rdnAttr + "}," + t.BaseDN
	}
	if err := CheckDNTemplate(t.DNTemplate, t.BaseDN); err != nil {
		bad("DNTemplate %q: %v", t.DNTemplate, err)
	}
	tmpl, _ := parseTemplate(t.DNTemplate)
	if len(t.MatchAttributes) == 0 && tmpl != nil {
		t.MatchAttributes = tmpl.attrs()
	}
	for _, a := range append(slices.Clone(t.MatchAttributes), t.Attributes...) {
		if a != "*" && a != "+" && !validAttrName(a) {
			bad("%q is not an attribute name", a)
		}
	}
	return errs
}

// needsMember reports whether one of the object classes requires the membership attribute.
func needsMember(classes []string) bool {
	for _, c := range classes {
		if strings.EqualFold(c, "groupOfNames") || strings.EqualFold(c, "groupOfUniqueNames") {
			return true
		}
	}
	return false
}

// validAttrName accepts an attribute description: a name (letters, digits, '-') or an OID,
// with options (;binary, ;lang-en).
func validAttrName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9', r == '-' && i > 0, r == '.' && i > 0, r == ';' && i > 0:
		default:
			return false
		}
	}
	return true
}

// tlsConfig builds the client TLS configuration; host is the URL's host name.
func (cfg *Config) tlsConfig(host string) (*tls.Config, error) {
	t := cfg.TLS
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // only when explicitly configured, with a warning
	if t.ServerName != "" {
		tc.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS.CAFile %s: %v", t.CAFile, unwrapPathError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS.CAFile %s: no PEM certificate found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate %s / key %s: %v", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CheckDN reports whether s is a valid DN (for configuration validation).
func CheckDN(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty DN")
	}
	if _, err := goldap.ParseDN(s); err != nil {
		return fmt.Errorf("invalid DN %q: %s", s, plain(err))
	}
	return nil
}

// CheckBindName reports whether s can be a simple-bind name: a DN, or for Active Directory a
// user principal name (user@example.com) or a down-level logon name (EXAMPLE\user).
func CheckBindName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty bind name")
	}
	_, err := goldap.ParseDN(s)
	if err == nil {
		return nil
	}
	if !strings.Contains(s, "=") && (strings.Count(s, "@") == 1 || strings.Count(s, `\`) == 1) && !strings.ContainsAny(s, " \t\r\n") {
		return nil
	}
	return fmt.Errorf("invalid bind DN %q: %s (or use a user principal name, user@example.com)", s, plain(err))
}

// CheckFilter reports whether s is a valid LDAP filter.
func CheckFilter(s string) error {
	if _, err := goldap.CompileFilter(s); err != nil {
		return fmt.Errorf("invalid LDAP filter %q: %s", s, plain(err))
	}
	return nil
}

// plain is the message of a go-ldap error without the result code wrapping.
func plain(err error) string {
	var le *goldap.Error
	if errors.As(err, &le) && le.Err != nil {
		err = le.Err
	}
	return strings.TrimPrefix(err.Error(), "ldap: ")
}

// CheckAttributeName reports whether s is an attribute description (a name or OID, with
// options).
func CheckAttributeName(s string) error {
	if !validAttrName(s) {
		return fmt.Errorf("%q is not an LDAP attribute name", s)
	}
	return nil
}

// CheckDNTemplate reports whether tmpl is a valid DN template whose DNs lie under baseDN.
func CheckDNTemplate(tmpl, baseDN string) error {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return err
	}
	base, err := goldap.ParseDN(baseDN)
	if err != nil {
		return nil // reported for the base DN
	}
	if dn, err := goldap.ParseDN(t.sample()); err == nil && !base.AncestorOfFold(dn) {
		return fmt.Errorf("the DNs it yields are not under the base DN %q", baseDN)
	}
	return nil
}
