package scim

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// canned serves a fixed answer on /scim/v2/Users/..., and a minimal ServiceProviderConfig.
func canned(status int, header map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
			writeJSON(w, 200, map[string]any{"patch": map[string]any{"supported": true}, "filter": map[string]any{"supported": true}})
			return
		}
		if !strings.Contains(r.URL.Path, "/Users") {
			http.NotFound(w, r)
			return
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func errBody(status any, scimType, detail string) string {
	s := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":`
	switch v := status.(type) {
	case string:
		s += `"` + v + `"`
	case int:
		s += strconv.Itoa(v)
	}
	if scimType != "" {
		s += `,"scimType":"` + scimType + `"`
	}
	return s + `,"detail":"` + detail + `"}`
}

func TestErrorMapping(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		class      connectors.ErrorClass
		code       string
		detail     string // substring of Detail
		retryAfter time.Duration
	}{
		{"uniqueness 400", 400, nil, errBody("400", "uniqueness", "userName taken"), connectors.ClassConflict, "EntryConflict", "uniqueness: userName taken", 0},
		{"conflict 409", 409, nil, errBody("409", "uniqueness", "dup"), connectors.ClassConflict, "EntryConflict", "uniqueness: dup", 0},
		{"409 numeric status", 409, nil, errBody(409, "uniqueness", "dup"), connectors.ClassConflict, "EntryConflict", "uniqueness: dup", 0},
		{"invalidFilter", 400, nil, errBody("400", "invalidFilter", "bad"), connectors.ClassInvalid, "InvalidFilter", "invalidFilter: bad", 0},
		{"tooMany", 400, nil, errBody("400", "tooMany", "too many"), connectors.ClassInvalid, CodeMultipleEntries, "tooMany", 0},
		{"mutability", 400, nil, errBody("400", "mutability", "immutable"), connectors.ClassInvalid, "MutabilityViolation", "mutability: immutable", 0},
		{"invalidValue", 400, nil, errBody("400", "invalidValue", "expected boolean"), connectors.ClassInvalid, "InvalidValue", "invalidValue", 0},
		{"invalidValue required", 400, nil, errBody("400", "invalidValue", "userName is required"), connectors.ClassInvalid, "MandatoryFieldsMissing", "required", 0},
		{"invalidValue RFC generic text", 400, nil, errBody("400", "invalidValue", "A required value was missing, or the value specified was not compatible with the operation or attribute type, or resource schema."), connectors.ClassInvalid, "InvalidValue", "invalidValue", 0},
		{"invalidValue missing", 400, nil, errBody("400", "invalidValue", "Missing attribute"), connectors.ClassInvalid, "MandatoryFieldsMissing", "Missing", 0},
		{"invalidPath", 400, nil, errBody("400", "invalidPath", "no such attr"), connectors.ClassInvalid, "SchemaAttributeNotFound", "invalidPath", 0},
		{"noTarget", 400, nil, errBody("400", "noTarget", "nothing"), connectors.ClassInvalid, "NoTarget", "noTarget", 0},
		{"invalidSyntax", 400, nil, errBody("400", "invalidSyntax", "json"), connectors.ClassInvalid, "InvalidSyntax", "invalidSyntax", 0},
		{"invalidVers", 400, nil, errBody("400", "invalidVers", "v1"), connectors.ClassInvalid, CodeServiceIncompatible, "invalidVers", 0},
		{"expiredCursor", 400, nil, errBody("400", "expiredCursor", "old"), connectors.ClassRetryable, "InvalidCursor", "expiredCursor", 0},
		{"400 plain", 400, nil, `oops`, connectors.ClassInvalid, "BadRequest", "", 0},
		{"401", 401, nil, errBody("401", "", "no"), connectors.ClassUnauthorized, "Unauthorized", "no", 0},
		{"403", 403, nil, errBody("403", "", "denied"), connectors.ClassForbidden, "InsufficientRights", "denied", 0},
		{"404", 404, nil, errBody("404", "", "Resource x not found"), connectors.ClassNotFound, "InvalidAnchor", "not found", 0},
		{"405", 405, nil, ``, connectors.ClassInvalid, "MethodNotAllowed", "", 0},
		{"412", 412, nil, errBody("412", "", "stale"), connectors.ClassPrecondition, "PreconditionFailed", "stale", 0},
		{"413", 413, nil, ``, connectors.ClassInvalid, "PayloadTooLarge", "", 0},
		{"429 seconds", 429, map[string]string{"Retry-After": "120"}, errBody("429", "", "slow down"), connectors.ClassThrottled, "TooManyRequests", "slow down", 120 * time.Second},
		{"429 http-date", 429, map[string]string{"Retry-After": httpDate}, ``, connectors.ClassThrottled, "TooManyRequests", "", 90 * time.Second},
		{"503 retry-after", 503, map[string]string{"Retry-After": "120"}, ``, connectors.ClassThrottled, "TooManyRequests", "", 120 * time.Second},
		{"503 bare", 503, nil, ``, connectors.ClassRetryable, "InternalServerError", "", 0},
		{"500", 500, nil, errBody("500", "", "boom"), connectors.ClassRetryable, "InternalServerError", "boom", 0},
		{"502", 502, nil, `<html>bad gateway</html>`, connectors.ClassRetryable, "InternalServerError", "", 0},
		{"504", 504, nil, ``, connectors.ClassRetryable, "InternalServerError", "", 0},
		{"501", 501, nil, errBody("501", "", "nope"), connectors.ClassInvalid, "NotImplemented", "nope", 0},
		{"418", 418, nil, ``, connectors.ClassInvalid, CodeProtocolError, "", 0},
		{"200 garbage", 200, nil, `<html>login page</html>`, connectors.ClassInvalid, CodeServiceIncompatible, "", 0},
		{"200 no id", 200, nil, `{"userName":"x"}`, connectors.ClassInvalid, CodeServiceIncompatible, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, canned(tc.status, tc.header, tc.body), func(cfg *Config) {
				cfg.MaxRetries = -1
				cfg.MaxRetryAfter = time.Second // long Retry-Afters return at once
			})
			_, err := c.Get(context.Background(), connectors.TypeUser, "abc")
			ce := mustErr(t, err)
			if ce.Class != tc.class || ce.Code != tc.code {
				t.Fatalf("class/code = %s/%s, want %s/%s (%v)", ce.Class, ce.Code, tc.class, tc.code, ce)
			}
			if ce.Status != tc.status {
				t.Errorf("Status = %d, want %d", ce.Status, tc.status)
			}
			if want := "GET /scim/v2/Users/abc"; ce.Request != want {
				t.Errorf("Request = %q, want %q", ce.Request, want)
			}
			if !strings.Contains(ce.Detail, tc.detail) {
				t.Errorf("Detail = %q, want it to contain %q", ce.Detail, tc.detail)
			}
			if tc.body != "" && !strings.HasPrefix(tc.body, ce.Response) || (len(tc.body) > 0 && ce.Response == "") {
				t.Errorf("Response = %q, want the start of the body %q", ce.Response, tc.body)
			}
			if tc.retryAfter > 0 {
				if d := ce.RetryAfter - tc.retryAfter; d < -2*time.Second || d > time.Second {
					t.Errorf("RetryAfter = %v, want about %v", ce.RetryAfter, tc.retryAfter)
				}
			} else if ce.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want 0", ce.RetryAfter)
			}
			if !strings.Contains(ce.Error(), string(tc.class)) {
				t.Errorf("Error() = %q lacks the class", ce.Error())
			}
		})
	}
}

func TestResponseSnippetIsBounded(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2,000 bytes
	c, _ := newClient(t, canned(400, nil, long), func(cfg *Config) { cfg.MaxRetries = -1 })
	_, err := c.Get(context.Background(), connectors.TypeUser, "abc")
	ce := mustErr(t, err)
	if len(ce.Response) > maxResponseSnippet || len(ce.Response) < maxResponseSnippet-1 {
		t.Fatalf("len(Response) = %d, want about %d", len(ce.Response), maxResponseSnippet)
	}
	if strings.ContainsRune(ce.Response, '\uFFFD') {
		t.Fatal("Response was cut inside a UTF-8 sequence")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"5", 5 * time.Second, true},
		{" 17 ", 17 * time.Second, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{"Tue, 24 Nov 2026 12:01:00 GMT", time.Minute, true},
		{"Tuesday, 24-Nov-26 12:00:10 GMT", 10 * time.Second, true}, // RFC 850
		{"Tue Nov 24 12:00:20 2026", 20 * time.Second, true},        // asctime
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},    // in the past: no wait
		{"99999999", 24 * time.Hour, true},                          // capped
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, err := New(ctx, Config{BaseURL: "http://" + addr + "/scim/v2", Auth: AuthConfig{Token: "tok-refused"}, MaxRetries: 2})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Test(ctx)
		ce := mustErr(t, err)
		if ce.Class != connectors.ClassConnection || ce.Code != CodeConnectionFailed {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
		if ce.Request != "GET /scim/v2/Users" {
			t.Errorf("Request = %q", ce.Request)
		}
		if strings.Contains(ce.Message, "filter") || strings.Contains(ce.Message, "http://") {
			t.Errorf("message repeats the URL: %q", ce.Message)
		}
		if got := c.Stats().Requests; got != 1 {
			t.Errorf("a refused connection was retried inline: %d requests", got)
		}
	})
	t.Run("dns", func(t *testing.T) {
		c, err := New(ctx, Config{BaseURL: "http://scim.does-not-exist.invalid/scim/v2", Auth: AuthConfig{Token: "tok-dns"}})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ce := mustErr(t, c.Test(cctx))
		if ce.Class != connectors.ClassConnection {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
	})
	t.Run("tls unknown authority", func(t *testing.T) {
		ts := httptest.NewUnstartedServer(newFake())
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		defer ts.Close()
		c, err := New(ctx, Config{BaseURL: ts.URL + "/scim/v2", Auth: AuthConfig{Token: "tok-tls"}})
		if err != nil {
			t.Fatal(err)
		}
		ce := mustErr(t, c.Test(ctx))
		if ce.Class != connectors.ClassConnection || !strings.Contains(ce.Message, "TLS") {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
	})
	t.Run("http to https server", func(t *testing.T) {
		ts := httptest.NewServer(newFake())
		defer ts.Close()
		c, err := New(ctx, Config{BaseURL: strings.Replace(ts.URL, "http://", "https://", 1) + "/scim/v2", Auth: AuthConfig{Token: "tok-x"}})
		if err != nil {
			t.Fatal(err)
		}
		ce := mustErr(t, c.Test(ctx))
		if ce.Class != connectors.ClassConnection {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c, _ := newClient(t, h, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond; cfg.MaxRetries = 2 })
		start := time.Now()
		ce := mustErr(t, c.Test(ctx))
		if ce.Class != connectors.ClassRetryable || ce.Code != CodeTimeout {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
		if got := c.Stats().Requests; got != 3 {
			t.Errorf("GET after timeouts: %d requests, want 3 (1 + 2 retries)", got)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
	})
	t.Run("connection reset", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		c, _ := newClient(t, h, func(cfg *Config) { cfg.MaxRetries = -1 })
		ce := mustErr(t, c.Test(ctx))
		if ce.Class != connectors.ClassRetryable || ce.Code != CodeConnectionReset {
			t.Fatalf("got %s/%s: %v", ce.Class, ce.Code, ce)
		}
	})
	t.Run("cancelled context stays a context error", func(t *testing.T) {
		c, _ := newClient(t, newFake(), nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := c.Test(cctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTestConnection(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		h     http.Handler
		class connectors.ErrorClass
		code  string
	}{
		{"ok", newFake(), "", ""},
		{"401", canned(401, nil, errBody("401", "", "bad token")), connectors.ClassUnauthorized, "Unauthorized"},
		{"403", canned(403, nil, errBody("403", "", "forbidden")), connectors.ClassUnauthorized, "Unauthorized"},
		{"404", canned(404, nil, "not found"), connectors.ClassInvalid, CodeServiceIncompatible},
		{"ignores filter", canned(200, nil, `{"totalResults":3,"Resources":[{"id":"1"},{"id":"2"},{"id":"3"}]}`), connectors.ClassInvalid, CodeServiceIncompatible},
		{"not a list", canned(200, nil, `{"hello":"world"}`), connectors.ClassInvalid, CodeServiceIncompatible},
		{"html", canned(200, nil, `<html></html>`), connectors.ClassInvalid, CodeServiceIncompatible},
		{"throttled is not unauthorized", canned(429, map[string]string{"Retry-After": "600"}, ""), connectors.ClassThrottled, "TooManyRequests"},
		{"500", canned(500, nil, ""), connectors.ClassRetryable, "InternalServerError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, tc.h, func(cfg *Config) { cfg.MaxRetries = -1 })
			err := c.Test(ctx)
			if tc.class == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				return
			}
			ce := mustErr(t, err)
			if ce.Class != tc.class || ce.Code != tc.code {
				t.Fatalf("got %s/%s, want %s/%s: %v", ce.Class, ce.Code, tc.class, tc.code, ce)
			}
			if tc.code == CodeServiceIncompatible && !strings.Contains(ce.Message, "quarantine") {
				t.Errorf("message does not flag the quarantine cause: %q", ce.Message)
			}
		})
	}
	// The probe is a filter on a random userName.
	f := newFake()
	c, _ := newClient(t, f, nil)
	if err := c.Test(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Test(ctx); err != nil {
		t.Fatal(err)
	}
	var filters []string
	for _, r := range f.requests() {
		if r.Path == "/scim/v2/Users" {
			filters = append(filters, r.RawQuery)
		}
	}
	if len(filters) != 2 || filters[0] == filters[1] || !strings.Contains(filters[0], "filter=userName+eq+%22") {
		t.Fatalf("probe queries = %q", filters)
	}
}
