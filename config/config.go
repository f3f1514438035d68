// Package config loads and validates provisiond's YAML configuration file: the data
// directory, the store, the API, retention, connectors and jobs.
//
// Validation is strict and complete: unknown fields, wrong types, missing or invalid values
// and broken references are all reported together, sorted by line, as a *ValidationError
// whose entries name the file, line and field. Values may reference environment variables
// as ${NAME}; secrets may also be read from files. A secret's value never appears in an
// error, and the Secret type keeps it out of logs and JSON.
//
// The package produces plain structs; the daemon turns them into connectors, a store and
// an API server.
package config

import (
	"encoding/json"
	"fmt"
	"github.com/provisiond/provisiond/connectors/scim"
	"os"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// Defaults.
const (
	// DefaultDataDir is the data directory, relative to the configuration file.
	DefaultDataDir = "data"
	// DefaultSQLitePath is the SQLite database, relative to the data directory.
	DefaultSQLitePath = "provisiond.db"
	// DefaultAddr is the API's listen address.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultEventRetention is how long provisioning events are kept (retention.events; 0
	// keeps them forever).
	DefaultEventRetention = 30 * 24 * time.Hour
)

// Environment variables that override the API tokens of the file.
const (
	EnvReaderToken = "PROVISIOND_READER_TOKEN"
	EnvAdminToken  = "PROVISIOND_ADMIN_TOKEN"
)

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// MinLeaseTTL is the least store.leaseTTL: a replica renews its leases every third of it.
const MinLeaseTTL = 3 * time.Second

// Connector types.
const (
	TypeFile   = "file"
	TypeSCIM   = "scim"
	TypePlugin = "plugin"
	TypeLDAP   = "ldap"
)

// SCIM authentication types and disable modes: the SCIM connector's own values, so the
// configuration accepts exactly what the connector understands.
const (
	AuthBearer = scim.AuthBearer
	AuthOAuth2 = scim.AuthOAuth2
	AuthBasic  = scim.AuthBasic

	// DisablePatch sends PATCH replace active=false (a boolean), as RFC 7644 wants.
	DisablePatch = scim.DisablePatch
	// DisablePatchLegacyString sends Entra's legacy PATCH with active "False" as a string.
	DisablePatchLegacyString = scim.DisablePatchLegacyString
	// DisablePut sends PUT with the full resource and active=false.
	DisablePut = scim.DisablePut
	// DisableDelete deletes the user instead of disabling it.
	DisableDelete = scim.DisableDelete
)

// DisableModes lists the valid SCIM disable modes.
var DisableModes = []string{DisablePatch, DisablePatchLegacyString, DisablePut, DisableDelete}

// Config is a loaded, validated and defaulted configuration.
type Config struct {
	// File is the configuration file as named to Load or Parse.
	File string `json:"file"`
	// DataDir is the absolute data directory.
	DataDir    string                     `json:"dataDir"`
	Store      StoreConfig                `json:"store"`
	API        APIConfig                  `json:"api"`
	Retention  RetentionConfig            `json:"retention"`
	Connectors map[string]ConnectorConfig `json:"connectors"`
	// Jobs in file order.
	Jobs []JobConfig `json:"jobs"`
}

// StoreConfig selects and configures the store.
type StoreConfig struct {
	// Driver is DriverSQLite or DriverPostgres.
	Driver string `json:"driver"`
	// Path is the absolute path of the SQLite database (sqlite only).
	Path string `json:"path,omitempty"`
	// DSN is the PostgreSQL connection string (postgres only).
	DSN Secret `json:"dsn,omitempty"`
	// LeaseTTL is how long a replica's job leases last without renewal (postgres only; 0:
	// the engine's default, provisioning.DefaultLeaseTTL). See docs/postgres.md.
	LeaseTTL time.Duration `json:"leaseTTL,omitempty"`
}

// MarshalJSON writes LeaseTTL as a string ("30s"), as RetentionConfig's durations.
func (s StoreConfig) MarshalJSON() ([]byte, error) {
	type plain StoreConfig
	var ttl string
	if s.LeaseTTL > 0 {
		ttl = s.LeaseTTL.String()
	}
	return json.Marshal(struct {
		plain
		LeaseTTL string `json:"leaseTTL,omitempty"`
	}{plain(s), ttl})
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	// Addr is the listen address, host:port.
	Addr string `json:"addr"`
	// ReaderToken grants read access, AdminToken read and admin access. Either may be
	// empty when not configured.
	ReaderToken Secret `json:"readerToken,omitempty"`
	AdminToken  Secret `json:"adminToken,omitempty"`
}

// RetentionConfig says how long the store keeps records.
type RetentionConfig struct {
	// Events is how long provisioning events (and their statistics) are kept; older ones
	// are pruned hourly. 0 keeps them forever.
	Events time.Duration `json:"events"`
}

// MarshalJSON writes durations as strings ("720h0m0s").
func (r RetentionConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Events string `json:"events"`
	}{r.Events.String()})
}

// ConnectorConfig is one named connector. Exactly one of File, SCIM, Plugin and LDAP is set,
// according to Type.
type ConnectorConfig struct {
	Name string `json:"name"`
	// Type is TypeFile, TypeSCIM, TypePlugin or TypeLDAP.
	Type string `json:"type"`
	// Line is where the connector is defined in the file.
	Line   int              `json:"line"`
	File   *FileConnector   `json:"file,omitempty"`
	SCIM   *SCIMConnector   `json:"scim,omitempty"`
	Plugin *PluginConnector `json:"plugin,omitempty"`
	LDAP   *LDAPConnector   `json:"ldap,omitempty"`
}

// FileConnector reads users and groups from JSON or CSV files (an HR export). It can only be
// a source.
type FileConnector struct {
	// Users and Groups are absolute paths; Groups may be empty.
	Users  string `json:"users"`
	Groups string `json:"groups,omitempty"`
	// IDAttribute names the attribute holding each object's ID (empty: the connector's
	// default).
	IDAttribute string `json:"idAttribute,omitempty"`
	// MultiValueSeparator splits the values of the MultiValued attributes in CSV files.
	MultiValueSeparator string   `json:"multiValueSeparator,omitempty"`
	MultiValued         []string `json:"multiValued,omitempty"`
}

// SCIMConnector talks to a SCIM 2.0 service provider. Zero values take the connector's
// defaults, as in the SCIM connector's Config.
type SCIMConnector struct {
	// URL is the base URL, e.g. https://example.com/scim/v2.
	URL                  string        `json:"url"`
	Auth                 SCIMAuth      `json:"auth"`
	TLS                  SCIMTLS       `json:"tls"`
	Timeout              time.Duration `json:"timeout,omitempty"`
	MaxRequestsPerSecond float64       `json:"maxRequestsPerSecond,omitempty"`
	MinRequestsPerSecond float64       `json:"minRequestsPerSecond,omitempty"`
	// MaxRetries is the number of immediate retries of a failed request: 0 takes the
	// connector's default and a negative value disables retries ("maxRetries: 0" in the
	// file gives -1).
	MaxRetries      int `json:"maxRetries,omitempty"`
	MemberBatchSize int `json:"memberBatchSize,omitempty"`
	PageSize        int `json:"pageSize,omitempty"`
	// DisableMode is one of DisableModes (empty: the connector's default).
	DisableMode string `json:"disableMode,omitempty"`
}

// MarshalJSON writes Timeout as a string ("30s").
func (s SCIMConnector) MarshalJSON() ([]byte, error) {
	type plain SCIMConnector
	out := struct {
		plain
		Timeout string `json:"timeout,omitempty"`
	}{plain: plain(s)}
	if s.Timeout != 0 {
		out.Timeout = s.Timeout.String()
	}
	return json.Marshal(out)
}

// SCIMAuth holds a SCIM connector's credentials, resolved from the file, the environment or
// secret files.
type SCIMAuth struct {
	// Type is AuthBearer (the default), AuthOAuth2 or AuthBasic.
	Type string `json:"type"`
	// Token is the bearer token (bearer).
	Token Secret `json:"token,omitempty"`
	// ClientID, ClientSecret, TokenURL and Scopes configure the OAuth 2.0 client
	// credentials grant (oauth2).
	ClientID     string   `json:"clientId,omitempty"`
	ClientSecret Secret   `json:"clientSecret,omitempty"`
	TokenURL     string   `json:"tokenUrl,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// Username and Password are for HTTP basic authentication (basic).
	Username string `json:"username,omitempty"`
	Password Secret `json:"password,omitempty"`
}

// SCIMTLS configures TLS. Paths are absolute; empty when not set.
type SCIMTLS struct {
	CAFile             string `json:"caFile,omitempty"`
	CertFile           string `json:"certFile,omitempty"`
	KeyFile            string `json:"keyFile,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// PluginConnector runs an out-of-process connector.
type PluginConnector struct {
	// Path is the absolute path of the plugin executable.
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
}

// JobConfig is one job: the engine's Job plus the names of its connectors.
type JobConfig struct {
	// Job has its defaults applied: Name (the ID), Schedule.Interval
	// (provisioning.DefaultInterval), Settings (Settings.Defaults), and SourceSystem and
	// TargetSystem (the connector names).
	Job provisioning.Job `json:"job"`
	// Source and Target name connectors of Config.Connectors.
	Source string `json:"source"`
	Target string `json:"target"`
	// Line is where the job is defined in the file.
	Line int `json:"line"`
}

// Load reads and validates the configuration file at path, taking ${VAR} references from
// the process environment. Problems in the file are returned as a *ValidationError.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse validates the configuration data read from file (used for messages and to resolve
// relative paths). env looks up environment variables; nil means os.LookupEnv. Problems are
// returned together as a *ValidationError.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", file, err)
	}
	d := &decoder{file: file, dir: dir, env: env}
	var cfg *Config
	if root := d.parseYAML(data); root != nil {
		cfg = d.config(root)
		cfg.File = file
	}
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, &ValidationError{Errors: d.errs}
	}
	return cfg, nil
}
