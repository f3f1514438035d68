package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
)

// The benchmarks compare the client with a bare net/http + encoding/json baseline that
// sends the same requests to the same embedded server over the same transport settings:
//
//	go test -run '^$' -bench 'Client|Baseline' -benchmem -cpu 2 ./connectors/scim/
//
// The ratio Client/Baseline is the client's overhead (goal ≤ 1.1).

type benchEnv struct {
	ts   *httptest.Server
	base string
	hc   *http.Client
	c    *Client
	seq  atomic.Int64
}

func newBenchEnv(b *testing.B, preload int) *benchEnv {
	b.Helper()
	srv, err := scimserver.New(scimserver.Options{Token: "bench-token"})
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{ts: httptest.NewServer(srv.Handler())}
	b.Cleanup(e.ts.Close)
	e.base = e.ts.URL + "/scim/v2"
	if e.hc, err = NewHTTPClient(TLSConfig{}); err != nil {
		b.Fatal(err)
	}
	e.c, err = New(context.Background(), Config{
		BaseURL: e.base, Auth: AuthConfig{Token: "bench-token"}, MaxRequestsPerSecond: 1e9,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.c.Close() })
	if _, err := e.c.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < preload; i++ {
		if _, err := e.c.Create(context.Background(), connectors.TypeUser, benchAttrs(fmt.Sprintf("pre%06d", i))); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func benchAttrs(name string) connectors.Attributes {
	return connectors.Attributes{
		"userName":                     name + "@example.com",
		"externalId":                   "src-" + name,
		"displayName":                  "User " + name,
		"name.givenName":               "Given",
		"name.familyName":              name,
		`emails[type eq "work"].value`: name + "@example.com",
		"active":                       true,
		ent + ":department":            "Engineering",
	}
}

// The baseline's hand-written resource type: what a minimal dedicated client would send.
type baseUser struct {
	Schemas     []string `json:"schemas"`
	UserName    string   `json:"userName"`
	ExternalID  string   `json:"externalId"`
	DisplayName string   `json:"displayName"`
	Active      bool     `json:"active"`
	Name        struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"emails"`
	Enterprise struct {
		Department string `json:"department"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

func (e *benchEnv) baselineCreate(name string) error {
	u := baseUser{Schemas: []string{schemaUser, ent}, UserName: name + "@example.com", ExternalID: "src-" + name,
		DisplayName: "User " + name, Active: true}
	u.Name.GivenName, u.Name.FamilyName = "Given", name
	u.Emails = append(u.Emails, struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}{"work", name + "@example.com"})
	u.Enterprise.Department = "Engineering"
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, e.base+"/Users", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer bench-token")
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Accept", "application/scim+json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var out struct {
		ID   string `json:"id"`
		Meta struct {
			Version string `json:"version"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return fmt.Errorf("bad body: %v", err)
	}
	return nil
}

func (e *benchEnv) baselineFind(name string) (int, error) {
	q := "filter=" + url.QueryEscape(`userName eq "`+name+`"`) + "&attributes=" + url.QueryEscape("id,userName,externalId,active,meta")
	req, err := http.NewRequest(http.MethodGet, e.base+"/Users?"+q, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer bench-token")
	req.Header.Set("Accept", "application/scim+json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var lr struct {
		TotalResults int              `json:"totalResults"`
		Resources    []map[string]any `json:"Resources"`
	}
	if err := json.Unmarshal(b, &lr); err != nil {
		return 0, err
	}
	return len(lr.Resources), nil
}

func (e *benchEnv) name() string { return fmt.Sprintf("u%09d", e.seq.Add(1)) }

const findPreload = 2000

func findName(i int64) string { return fmt.Sprintf("pre%06d@example.com", i%findPreload) }

func BenchmarkClientCreate(b *testing.B) {
	e := newBenchEnv(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.c.Create(ctx, connectors.TypeUser, benchAttrs(e.name())); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineCreate(b *testing.B) {
	e := newBenchEnv(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.baselineCreate(e.name()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientFind(b *testing.B) {
	e := newBenchEnv(b, findPreload)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := e.c.Find(ctx, connectors.TypeUser, "userName", findName(int64(i)))
		if err != nil || len(got) != 1 {
			b.Fatal(len(got), err)
		}
	}
}

func BenchmarkBaselineFind(b *testing.B) {
	e := newBenchEnv(b, findPreload)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := e.baselineFind(findName(int64(i))); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
}

// Parallel variants: the engine calls one client from many goroutines.

func BenchmarkClientCreateParallel(b *testing.B) {
	e := newBenchEnv(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.c.Create(ctx, connectors.TypeUser, benchAttrs(e.name())); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBaselineCreateParallel(b *testing.B) {
	e := newBenchEnv(b, 0)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := e.baselineCreate(e.name()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkClientFindParallel(b *testing.B) {
	e := newBenchEnv(b, findPreload)
	ctx := context.Background()
	var i atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			got, err := e.c.Find(ctx, connectors.TypeUser, "userName", findName(i.Add(1)))
			if err != nil || len(got) != 1 {
				b.Error(len(got), err)
				return
			}
		}
	})
}

func BenchmarkBaselineFindParallel(b *testing.B) {
	e := newBenchEnv(b, findPreload)
	var i atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if n, err := e.baselineFind(findName(i.Add(1))); err != nil || n != 1 {
				b.Error(n, err)
				return
			}
		}
	})
}

// Canned-server variants: the server answers with fixed bodies, so almost all the time is
// the client side (HTTP stack, encoding, decoding): the worst case for the ratio.

var (
	cannedUser = []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","externalId":"src-u1","userName":"u1@example.com","displayName":"User u1","active":true,"name":{"givenName":"Given","familyName":"u1"},"emails":[{"type":"work","value":"u1@example.com"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering"},"meta":{"resourceType":"User","created":"2026-11-24T22:06:31.123Z","lastModified":"2026-11-24T22:06:31.123Z","location":"http://127.0.0.1/scim/v2/Users/2819c223-7f76-453a-919d-413861904646","version":"W/\"1\""}}`)
	cannedList = []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"itemsPerPage":1,"startIndex":1,"Resources":[{"id":"2819c223-7f76-453a-919d-413861904646","userName":"u1@example.com","externalId":"src-u1","active":true,"meta":{"resourceType":"User","created":"2026-11-24T22:06:31.123Z","lastModified":"2026-11-24T22:06:31.123Z","location":"http://127.0.0.1/scim/v2/Users/2819c223-7f76-453a-919d-413861904646","version":"W/\"1\""}}]}`)
	cannedSPC  = []byte(`{"patch":{"supported":true},"filter":{"supported":true,"maxResults":1000},"etag":{"supported":true}}`)
)

func newCannedEnv(b *testing.B) *benchEnv {
	b.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/scim+json")
		switch {
		case r.URL.Path == "/scim/v2/ServiceProviderConfig":
			_, _ = w.Write(cannedSPC)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(cannedUser)
		case r.URL.Path == "/scim/v2/Users":
			_, _ = w.Write(cannedList)
		default:
			http.NotFound(w, r)
		}
	})
	e := &benchEnv{ts: httptest.NewServer(h)}
	b.Cleanup(e.ts.Close)
	e.base = e.ts.URL + "/scim/v2"
	var err error
	if e.hc, err = NewHTTPClient(TLSConfig{}); err != nil {
		b.Fatal(err)
	}
	if e.c, err = New(context.Background(), Config{BaseURL: e.base, Auth: AuthConfig{Token: "bench-token"}, MaxRequestsPerSecond: 1e9}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.c.Close() })
	if _, err := e.c.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

func BenchmarkClientCreateCanned(b *testing.B) {
	e := newCannedEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.c.Create(ctx, connectors.TypeUser, benchAttrs(e.name())); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineCreateCanned(b *testing.B) {
	e := newCannedEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.baselineCreate(e.name()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientFindCanned(b *testing.B) {
	e := newCannedEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := e.c.Find(ctx, connectors.TypeUser, "userName", findName(int64(i))); err != nil || len(got) != 1 {
			b.Fatal(len(got), err)
		}
	}
}

func BenchmarkBaselineFindCanned(b *testing.B) {
	e := newCannedEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := e.baselineFind(findName(int64(i))); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
}
