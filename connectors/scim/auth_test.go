package scim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

func TestBearerAndBasic(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	c, ts := newClient(t, f, nil)
	if err := c.Test(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.requests() {
		if r.Auth != "Bearer unit-token" {
			t.Fatalf("Authorization = %q", r.Auth)
		}
	}
	basic, err := New(ctx, Config{BaseURL: ts.URL + "/scim/v2", Auth: AuthConfig{Type: "basic", Username: "svc", Password: "p@ss:word"}})
	if err != nil {
		t.Fatal(err)
	}
	f.token = "" // the fake only checks bearer tokens
	if err := basic.Test(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:p@ss:word"))
	if got := reqs[len(reqs)-1].Auth; got != want {
		t.Fatalf("basic Authorization = %q, want %q", got, want)
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	f := newFake()
	f.token = "right"
	c, _ := newClient(t, f, nil)
	ce := mustErr(t, c.Test(context.Background()))
	if ce.Class != connectors.ClassUnauthorized || ce.Status != 401 {
		t.Fatalf("got %v", ce)
	}
}

// tokenServer is a tiny OAuth 2.0 token endpoint (client credentials grant).
type tokenServer struct {
	mu       sync.Mutex
	issued   []string
	requests int
	scopes   []string
	reject   bool
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	_ = r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if s.reject || id != "client-1" || secret != "oauth-client-secret-123" || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		// A careless endpoint that echoes what it got.
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"client %s with secret %s rejected"}`, id, secret)
		return
	}
	s.scopes = strings.Fields(r.PostForm.Get("scope"))
	tok := fmt.Sprintf("access-token-%d-abcdef", len(s.issued)+1)
	s.issued = append(s.issued, tok)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
}

func (s *tokenServer) valid(auth string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range s.issued {
		if auth == "Bearer "+tok {
			return true
		}
	}
	return false
}

func TestOAuth2ClientCredentials(t *testing.T) {
	ctx := context.Background()
	tsrv := &tokenServer{}
	tokTS := httptest.NewServer(tsrv)
	defer tokTS.Close()
	f := newFake()
	revoked := map[string]bool{}
	var mu sync.Mutex
	f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		a := r.Header.Get("Authorization")
		if !tsrv.valid(a) || revoked[a] {
			scimErr(w, 401, "", "invalid token")
			return true
		}
		return false
	}
	c, _ := newClient(t, f, func(cfg *Config) {
		cfg.Auth = AuthConfig{Type: "oauth2", ClientID: "client-1", ClientSecret: "oauth-client-secret-123", TokenURL: tokTS.URL + "/token", Scopes: []string{"scim.read", "scim.write"}}
	})
	if err := c.Test(ctx); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if tsrv.requests != 1 || strings.Join(tsrv.scopes, " ") != "scim.read scim.write" {
		t.Fatalf("token requests %d, scopes %v", tsrv.requests, tsrv.scopes)
	}
	// The token is cached across requests.
	if _, err := c.Find(ctx, connectors.TypeUser, "userName", "x"); err != nil {
		t.Fatal(err)
	}
	if tsrv.requests != 1 {
		t.Fatalf("token fetched %d times", tsrv.requests)
	}
	// Revoked before expiry: one 401, a new token, success.
	mu.Lock()
	revoked["Bearer access-token-1-abcdef"] = true
	mu.Unlock()
	if _, err := c.Find(ctx, connectors.TypeUser, "userName", "y"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if tsrv.requests != 2 {
		t.Fatalf("token requests = %d, want 2", tsrv.requests)
	}
	// Rejected client credentials: unauthorized, no secret anywhere.
	tsrv.reject = true
	mu.Lock()
	revoked["Bearer access-token-2-abcdef"] = true
	mu.Unlock()
	_, err := c.Find(ctx, connectors.TypeUser, "userName", "z")
	ce := mustErr(t, err)
	if ce.Class != connectors.ClassUnauthorized || ce.Code != "Unauthorized" {
		t.Fatalf("got %v", ce)
	}
	assertNoSecrets(t, err, "oauth-client-secret-123", "access-token-1-abcdef", "access-token-2-abcdef")
	if !strings.Contains(ce.Detail, "invalid_client") {
		t.Errorf("Detail = %q", ce.Detail)
	}
}

func TestOAuth2TokenEndpointDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, _ := newClient(t, newFake(), func(cfg *Config) {
		cfg.Auth = AuthConfig{Type: "oauth2", ClientID: "client-1", ClientSecret: "oauth-client-secret-123", TokenURL: "http://" + addr + "/token"}
	})
	err := c.Test(context.Background())
	ce := mustErr(t, err)
	if ce.Class != connectors.ClassConnection {
		t.Fatalf("got %v", ce)
	}
	assertNoSecrets(t, err, "oauth-client-secret-123")
}

// ---- TLS ----

type pki struct {
	dir                                      string
	caFile, srvCert, srvKey, cliCert, cliKey string
	caPool                                   *x509.CertPool
	srvPair                                  tls.Certificate
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provisiond test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.caFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, cf, "CERTIFICATE", der)
		writePEM(t, kf, "EC PRIVATE KEY", kder)
		return cf, kf
	}
	p.srvCert, p.srvKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.cliCert, p.cliKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	pair, err := tls.LoadX509KeyPair(p.srvCert, p.srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p.srvPair = pair
	return p
}

func (p *pki) server(t *testing.T, h http.Handler, mtls bool) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{p.srvPair}}
	if mtls {
		ts.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		ts.TLS.ClientCAs = p.caPool
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	ts := p.server(t, newFake(), false)
	mtlsTS := p.server(t, newFake(), true)
	cases := []struct {
		name  string
		url   string
		tls   TLSConfig
		class connectors.ErrorClass // "" = success
	}{
		{"system roots reject a private CA", ts.URL, TLSConfig{}, connectors.ClassConnection},
		{"CA file", ts.URL, TLSConfig{CAFile: p.caFile}, ""},
		{"insecure only when set", ts.URL, TLSConfig{InsecureSkipVerify: true}, ""},
		{"mTLS without client cert", mtlsTS.URL, TLSConfig{CAFile: p.caFile}, connectors.ClassConnection},
		{"mTLS with client cert", mtlsTS.URL, TLSConfig{CAFile: p.caFile, CertFile: p.cliCert, KeyFile: p.cliKey}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(ctx, Config{BaseURL: tc.url + "/scim/v2", Auth: AuthConfig{Token: "unit-token"}, TLS: tc.tls, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Test(ctx)
			if tc.class == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				return
			}
			if ce := mustErr(t, err); ce.Class != tc.class {
				t.Fatalf("got %v", ce)
			}
		})
	}
	// A wrong key pair is a configuration error naming the files, not the key.
	_, err := New(ctx, Config{BaseURL: ts.URL, Auth: AuthConfig{Token: "x"}, TLS: TLSConfig{CertFile: p.cliCert, KeyFile: p.srvKey}})
	if err == nil || !strings.Contains(err.Error(), "client.pem") {
		t.Fatalf("mismatched key pair: %v", err)
	}
	keyPEM, _ := os.ReadFile(p.srvKey)
	if strings.Contains(err.Error(), string(keyPEM[40:80])) {
		t.Fatal("key material in the error")
	}
	// NewHTTPClient is what telemetry wraps.
	hc, err := NewHTTPClient(TLSConfig{CAFile: p.caFile})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ctx, Config{BaseURL: ts.URL + "/scim/v2", Auth: AuthConfig{Token: "unit-token"}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Test(ctx); err != nil {
		t.Fatalf("injected client: %v", err)
	}
}
