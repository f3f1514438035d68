package scim

import (
	"context"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	const secret = "s3cr3t-VALUE-xyz"
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"valid bearer", Config{BaseURL: "https://scim.example/scim/v2", Auth: AuthConfig{Token: secret}}, ""},
		{"valid oauth2", Config{BaseURL: "https://scim.example/scim/v2", Auth: AuthConfig{Type: "OAuth2", ClientID: "id", ClientSecret: secret, TokenURL: "https://login.example/token"}}, ""},
		{"valid basic", Config{BaseURL: "http://127.0.0.1:1/scim", Auth: AuthConfig{Type: "basic", Username: "u", Password: secret}}, ""},
		{"tenant flag query kept", Config{BaseURL: "https://scim.example/scim/v2?aadOptscim062020", Auth: AuthConfig{Token: secret}}, ""},
		{"missing base", Config{Auth: AuthConfig{Token: secret}}, "BaseURL is required"},
		{"relative base", Config{BaseURL: "/scim/v2", Auth: AuthConfig{Token: secret}}, "scheme must be http or https"},
		{"ftp", Config{BaseURL: "ftp://x/scim", Auth: AuthConfig{Token: secret}}, "scheme"},
		{"userinfo", Config{BaseURL: "https://admin:" + secret + "@scim.example/v2", Auth: AuthConfig{Token: "t"}}, "credentials in the URL"},
		{"no token", Config{BaseURL: "https://x/v2"}, "Auth.Token is required"},
		{"token with newline", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret + "\nX-Evil: 1"}}, "control characters"},
		{"unknown auth", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Type: "kerberos", Token: secret}}, `"kerberos" is unknown`},
		{"oauth2 missing", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Type: "oauth2", ClientSecret: secret}}, "Auth.ClientID is required"},
		{"oauth2 bad token url", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Type: "oauth2", ClientID: "a", ClientSecret: secret, TokenURL: "token"}}, "Auth.TokenURL"},
		{"basic no password", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Type: "basic", Username: "u"}}, "Auth.Password is required"},
		{"basic colon", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Type: "basic", Username: "a:b", Password: secret}}, "must not contain ':'"},
		{"rates", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, MaxRequestsPerSecond: 5, MinRequestsPerSecond: 10}, "must not exceed"},
		{"nan rate", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, MaxRequestsPerSecond: math.NaN()}, "MaxRequestsPerSecond"},
		{"negative timeout", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, Timeout: -1}, "Timeout"},
		{"disable mode", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, DisableMode: "soft"}, "DisableMode"},
		{"bad attribute", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, UserAttributes: []string{"a b"}}, `attribute "a b"`},
		{"tls with client", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, HTTPClient: &http.Client{}, TLS: TLSConfig{InsecureSkipVerify: true}}, "NewHTTPClient"},
		{"missing CA", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, TLS: TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}}, "TLS.CAFile"},
		{"cert without key", Config{BaseURL: "https://x/v2", Auth: AuthConfig{Token: secret}, TLS: TLSConfig{CertFile: "c.pem"}}, "set together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(context.Background(), tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestDefaultsAndNoIO(t *testing.T) {
	// New must not contact the server: an unroutable address is fine.
	c, err := New(context.Background(), Config{BaseURL: "http://192.0.2.1:9/scim/v2/", Auth: AuthConfig{Token: "t0k3n"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Timeout != 30*time.Second || c.cfg.MaxRequestsPerSecond != 50 || c.cfg.MinRequestsPerSecond != 1 ||
		c.cfg.MaxRetries != 3 || c.cfg.MemberBatchSize != 100 || c.cfg.PageSize != 100 || c.cfg.DisableMode != "patch" {
		t.Fatalf("defaults: %+v", c.cfg)
	}
	if c.Rate() != 50 || c.Stats().Requests != 0 {
		t.Fatal("initial rate/stats")
	}
	if c.base != "http://192.0.2.1:9/scim/v2" || c.basePath != "/scim/v2" {
		t.Fatalf("base %q path %q", c.base, c.basePath)
	}
	tr := c.hc.Transport.(*http.Transport)
	if tr.MaxIdleConnsPerHost < 64 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatalf("transport: idle/host %d, insecure %v", tr.MaxIdleConnsPerHost, tr.TLSClientConfig.InsecureSkipVerify)
	}
	c2, _ := New(context.Background(), Config{BaseURL: "http://x/v2", Auth: AuthConfig{Token: "t0k3n"}, MaxRetries: -1})
	if c2.cfg.MaxRetries != 0 {
		t.Fatalf("negative MaxRetries should disable retries, got %d", c2.cfg.MaxRetries)
	}
	dir := filepath.Join(t.TempDir(), "state", "scim")
	if _, err := New(context.Background(), Config{BaseURL: "http://x/v2", Auth: AuthConfig{Token: "t0k3n"}, StateDir: dir}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("StateDir not created: %v", err)
	}
}

func TestBaseURLQueryIsKept(t *testing.T) {
	f := newFake()
	c, ts := newClient(t, f, nil)
	c2, err := New(context.Background(), Config{BaseURL: ts.URL + "/scim/v2?aadOptscim062020", Auth: AuthConfig{Token: "unit-token"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	if err := c2.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.requests() {
		if !strings.Contains(r.RawQuery, "aadOptscim062020") {
			t.Fatalf("request %s?%s lacks the tenant flag", r.Path, r.RawQuery)
		}
	}
}
