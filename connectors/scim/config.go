package scim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Authentication types accepted in AuthConfig.Type.
const (
	AuthBearer = "bearer"
	AuthOAuth2 = "oauth2"
	AuthBasic  = "basic"
)

// Disable modes accepted in Config.DisableMode.
const (
	// DisablePatch sends PATCH {"op":"replace","path":"active","value":false} (default).
	DisablePatch = "patch"
	// DisablePatchLegacyString sends the Entra legacy form "value":"False" (a string).
	DisablePatchLegacyString = "patchLegacyString"
	// DisablePut re-reads the resource and PUTs it back with active=false.
	DisablePut = "put"
	// DisableDelete deletes the resource instead.
	DisableDelete = "delete"
)

// Defaults applied by New to zero-valued fields.
const (
	DefaultTimeout              = 30 * time.Second
	DefaultMaxRequestsPerSecond = 50
	DefaultMinRequestsPerSecond = 1
	DefaultMaxRetries           = 3
	DefaultMemberBatchSize      = 100
	DefaultPageSize             = 100
	DefaultMaxRetryAfter        = time.Minute
	DefaultRetryBackoff         = 200 * time.Millisecond
)

// AuthConfig says how the client authenticates. Secrets never appear in errors.
type AuthConfig struct {
	// Type is "bearer" (default), "oauth2" (client credentials grant) or "basic".
	Type string
	// Token is the bearer token (Type bearer).
	Token string
	// ClientID, ClientSecret, TokenURL and Scopes configure the OAuth 2.0 client credentials
	// grant (Type oauth2), via golang.org/x/oauth2/clientcredentials.
	ClientID, ClientSecret, TokenURL string
	Scopes                           []string
	// Username and Password are the HTTP basic credentials (Type basic).
	Username, Password string
}

// TLSConfig configures TLS for the client New builds (ignored when Config.HTTPClient is set,
// which is then an error if any field is set).
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs to trust instead of the system roots (a private CA
	// then pins the target).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key (mutual TLS); both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify disables server certificate verification. Only when explicitly set.
	InsecureSkipVerify bool
}

func (t TLSConfig) isZero() bool {
	return t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" && !t.InsecureSkipVerify
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the SCIM base URL, e.g. http://127.0.0.1:8880/scim/v2. A query string (an
	// Entra-style tenant URL flag such as ?aadOptscim062020) is kept and sent on every request.
	BaseURL string
	Auth    AuthConfig
	TLS     TLSConfig
	// HTTPClient is used for every request when set (telemetry wraps its transport with
	// otelhttp; NewHTTPClient builds one from a TLSConfig). When nil, New builds one from TLS
	// with keep-alive and at least 64 idle connections per host.
	HTTPClient *http.Client
	// Timeout bounds each HTTP request (not the whole operation); default 30s.
	Timeout time.Duration
	// MaxRequestsPerSecond is the starting and maximum rate of the adaptive (AIMD) limiter;
	// default 50. MinRequestsPerSecond is its floor; default 1. 0 < Min <= Max.
	MaxRequestsPerSecond float64
	MinRequestsPerSecond float64
	// MaxRetries is the number of immediate retries of a throttled (429/503) or failed (5xx,
	// timeout) request within one operation. Zero means the default 3; a negative value
	// disables retries.
	MaxRetries int
	// RetryBackoff is the pause before the first retry of a failed request that came without
	// Retry-After; it doubles with every retry up to 5s, with ±20 % jitter. Default 200ms.
	RetryBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for inside an operation; a
	// longer one returns a ClassThrottled error at once (the engine escrows). Default 1m.
	MaxRetryAfter time.Duration
	// MemberBatchSize is the number of members per PATCH; default 100, further bounded by
	// the server's bulk.maxOperations and bulk.maxPayloadSize.
	MemberBatchSize int
	// PageSize is the listing page size; default 100, bounded by filter.maxResults and
	// pagination.maxPageSize.
	PageSize int
	// DisableMode is "patch" (default), "patchLegacyString", "put" or "delete".
	DisableMode string
	// UserAttributes and GroupAttributes, when set, are sent as attributes= when listing
	// (Lister, Source reads) and added to Find's attributes=.
	UserAttributes, GroupAttributes []string
	// StateDir holds the source's snapshots (id → content hash) used for incremental reads.
	// Empty keeps them in memory only (lost at restart: the next read is then a full read).
	StateDir string
}

// normalize validates cfg and fills in defaults. Errors never contain secrets.
func (cfg *Config) normalize() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	base := strings.TrimSpace(cfg.BaseURL)
	switch u, err := url.Parse(base); {
	case base == "":
		bad("BaseURL is required")
	case err != nil:
		bad("BaseURL is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		bad("BaseURL %s: scheme must be http or https", u.Redacted())
	case u.Host == "":
		bad("BaseURL %s: host is missing", u.Redacted())
	case u.User != nil:
		bad("BaseURL %s: credentials in the URL are not allowed; use Auth", u.Redacted())
	case u.Fragment != "":
		bad("BaseURL %s: a fragment is not allowed", u.Redacted())
	default:
		cfg.BaseURL = base
	}

	a := &cfg.Auth
	a.Type = strings.ToLower(strings.TrimSpace(a.Type))
	if a.Type == "" {
		a.Type = AuthBearer
	}
	switch a.Type {
	case AuthBearer:
		if a.Token == "" {
			bad("Auth.Token is required for bearer authentication")
		} else if hasCtl(a.Token) {
			bad("Auth.Token contains whitespace or control characters")
		}
	case AuthOAuth2:
		if a.ClientID == "" {
			bad("Auth.ClientID is required for oauth2 authentication")
		}
		if a.ClientSecret == "" {
			bad("Auth.ClientSecret is required for oauth2 authentication")
		}
		if u, err := url.Parse(a.TokenURL); a.TokenURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("Auth.TokenURL must be an absolute http(s) URL for oauth2 authentication")
		} else if u.User != nil {
			bad("Auth.TokenURL %s: credentials in the URL are not allowed", u.Redacted())
		}
	case AuthBasic:
		if a.Username == "" {
			bad("Auth.Username is required for basic authentication")
		} else if strings.Contains(a.Username, ":") || hasCtl(a.Username) {
			bad("Auth.Username must not contain ':' or control characters")
		}
		if a.Password == "" {
			bad("Auth.Password is required for basic authentication")
		}
	default:
		bad("Auth.Type %q is unknown (want bearer, oauth2 or basic)", a.Type)
	}

	if cfg.HTTPClient != nil && !cfg.TLS.isZero() {
		bad("TLS settings cannot be combined with HTTPClient; build the client with NewHTTPClient(TLS)")
	}

	switch {
	case cfg.Timeout < 0:
		bad("Timeout must not be negative")
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRequestsPerSecond == 0 {
		cfg.MaxRequestsPerSecond = DefaultMaxRequestsPerSecond
	}
	if cfg.MinRequestsPerSecond == 0 {
		cfg.MinRequestsPerSecond = math.Min(DefaultMinRequestsPerSecond, cfg.MaxRequestsPerSecond)
	}
	switch mx, mn := cfg.MaxRequestsPerSecond, cfg.MinRequestsPerSecond; {
	case math.IsNaN(mx) || math.IsInf(mx, 0) || mx < 0:
		bad("MaxRequestsPerSecond must be a positive number")
	case math.IsNaN(mn) || math.IsInf(mn, 0) || mn < 0:
		bad("MinRequestsPerSecond must be a positive number")
	case mn > mx:
		bad("MinRequestsPerSecond (%g) must not exceed MaxRequestsPerSecond (%g)", mn, mx)
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	switch {
	case cfg.RetryBackoff < 0:
		bad("RetryBackoff must not be negative")
	case cfg.RetryBackoff == 0:
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	switch {
	case cfg.MaxRetryAfter < 0:
		bad("MaxRetryAfter must not be negative")
	case cfg.MaxRetryAfter == 0:
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	switch {
	case cfg.MemberBatchSize < 0:
		bad("MemberBatchSize must not be negative")
	case cfg.MemberBatchSize == 0:
		cfg.MemberBatchSize = DefaultMemberBatchSize
	}
	switch {
	case cfg.PageSize < 0:
		bad("PageSize must not be negative")
	case cfg.PageSize == 0:
		cfg.PageSize = DefaultPageSize
	}
	switch cfg.DisableMode {
	case "":
		cfg.DisableMode = DisablePatch
	case DisablePatch, DisablePatchLegacyString, DisablePut, DisableDelete:
	default:
		bad("DisableMode %q is unknown (want patch, patchLegacyString, put or delete)", cfg.DisableMode)
	}
	for _, list := range [][]string{cfg.UserAttributes, cfg.GroupAttributes} {
		for _, a := range list {
			if err := validateAttrName(a); err != nil {
				bad("attribute %q: %v", a, err)
			}
		}
	}
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			bad("StateDir %s: %v", cfg.StateDir, unwrapPathError(err))
		}
	}
	return errors.Join(errs...)
}

func hasCtl(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return true
		}
	}
	return false
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// NewHTTPClient returns the HTTP client New builds when Config.HTTPClient is nil: keep-alive
// with at least 64 idle connections per host, HTTP/2 when offered, and the TLS settings of t.
// Telemetry can wrap its Transport (otelhttp.NewTransport) and pass it as Config.HTTPClient.
func NewHTTPClient(t TLSConfig) (*http.Client, error) {
	tc, err := t.build()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tc,
	}
	return &http.Client{Transport: tr}, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // only when explicitly configured
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
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The error of LoadX509KeyPair never includes key material.
			return nil, fmt.Errorf("TLS client certificate %s / key %s: %v", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("TLS.CertFile and TLS.KeyFile must be set together")
	}
	return tc, nil
}
