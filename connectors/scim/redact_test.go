package scim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// assertNoSecrets fails if any secret appears in err's text or in any field of the
// *connectors.Error.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	if ce, ok := asError(err); ok {
		b, _ := json.Marshal(ce)
		texts = append(texts, string(b), ce.Message, ce.Detail, ce.Request, ce.Response, ce.Code)
	}
	for _, s := range secrets {
		for _, txt := range texts {
			if s != "" && strings.Contains(txt, s) {
				t.Fatalf("secret %q leaked in %q", s, txt)
			}
		}
	}
}

// echo answers every SCIM request with status and a body that repeats the request's
// Authorization header (and the whole header set) — the worst case for leaks.
func echo(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
			writeJSON(w, 200, map[string]any{"patch": map[string]any{"supported": true}, "filter": map[string]any{"supported": true}})
			return
		}
		auth := r.Header.Get("Authorization")
		w.Header().Set("WWW-Authenticate", auth)
		w.Header().Set("Retry-After", auth) // not a valid Retry-After: ignored, never echoed
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(status)
		hdr, _ := json.Marshal(r.Header)
		fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","scimType":"invalidValue","detail":"you sent %s","headers":%s}`,
			status, strings.ReplaceAll(auth, `"`, ``), hdr)
	})
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		token    = "bearer-SECRET-token-0123456789"
		password = "basic-SECRET-password-987"
		clientSc = "oauth-client-secret-123"
	)
	basicCred := base64.StdEncoding.EncodeToString([]byte("svc-user:" + password))
	tsrv := &tokenServer{}
	tokTS := newTokenTS(t, tsrv)
	auths := map[string]AuthConfig{
		"bearer": {Token: token},
		"basic":  {Type: "basic", Username: "svc-user", Password: password},
		"oauth2": {Type: "oauth2", ClientID: "client-1", ClientSecret: clientSc, TokenURL: tokTS + "/token"},
	}
	secrets := func() []string {
		s := []string{token, password, basicCred, clientSc}
		tsrv.mu.Lock()
		s = append(s, tsrv.issued...)
		tsrv.mu.Unlock()
		return s
	}
	ops := map[string]func(c *Client) error{
		"Test": func(c *Client) error { return c.Test(ctx) },
		"Find": func(c *Client) error { _, err := c.Find(ctx, connectors.TypeUser, "userName", "x"); return err },
		"Get":  func(c *Client) error { _, err := c.Get(ctx, connectors.TypeUser, "id1"); return err },
		"Create": func(c *Client) error {
			_, err := c.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "x"})
			return err
		},
		"Update": func(c *Client) error {
			return c.Update(ctx, connectors.TypeUser, "id1", []connectors.Modification{{Name: "title", Op: connectors.ModReplace, Value: "t"}})
		},
		"Delete":     func(c *Client) error { return c.Delete(ctx, connectors.TypeUser, "id1") },
		"AddMembers": func(c *Client) error { return c.AddMembers(ctx, "g1", []string{"u1"}) },
		"Read": func(c *Client) error {
			_, err := c.Source().Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error { return nil })
			return err
		},
	}
	handlers := map[string]http.Handler{}
	for _, st := range []int{400, 401, 403, 404, 409, 412, 429, 500, 503} {
		handlers[fmt.Sprint(st)] = echo(st)
	}
	handlers["200 garbage"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html>%s</html>", r.Header.Get("Authorization"))
	})
	handlers["slow"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	checked := 0
	for an, auth := range auths {
		for hn, h := range handlers {
			c, _ := newClient(t, h, func(cfg *Config) {
				cfg.Auth = auth
				cfg.MaxRetries = -1
				cfg.Timeout = 100 * time.Millisecond
			})
			for on, op := range ops {
				err := op(c)
				if err == nil && hn != "404" { // Delete of a missing object succeeds
					t.Fatalf("%s/%s/%s: no error", an, hn, on)
				}
				assertNoSecrets(t, err, secrets()...)
				checked++
			}
		}
		// Unreachable target.
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		c, err := New(ctx, Config{BaseURL: "http://" + addr + "/scim/v2", Auth: auth, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			assertNoSecrets(t, op(c), secrets()...)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d checks", checked)
	}
	// Secrets are in the requests (so the test above is meaningful)...
	tsrv.mu.Lock()
	issued := len(tsrv.issued)
	tsrv.mu.Unlock()
	if issued == 0 {
		t.Fatal("no OAuth token was issued")
	}
	// ...and the redactor does remove them from echoed bodies.
	c, _ := newClient(t, echo(400), func(cfg *Config) { cfg.Auth = auths["bearer"] })
	_, err := c.Get(ctx, connectors.TypeUser, "x")
	if ce := mustErr(t, err); !strings.Contains(ce.Detail, "[REDACTED]") || !strings.Contains(ce.Response, "[REDACTED]") {
		t.Fatalf("echoed token not marked as redacted: %q / %q", ce.Detail, ce.Response)
	}
}

func newTokenTS(t *testing.T, h http.Handler) string {
	t.Helper()
	_, ts := newClient(t, h, nil)
	return ts.URL
}
