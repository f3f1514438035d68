package scimserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/cputime"
)

// Benchmarks run through the real HTTP handler (ServeHTTP with a recorder, no network) against
// servers preloaded by direct insertion into the store. Run for example with
//
//	go test -run '^$' -bench . -benchtime 20000x ./connectors/scim/scimserver/
//
// ns/op should stay flat from 100k to 1M users; heapB/user is the heap growth per preloaded
// user (store, indexes and attribute maps).

var benchSizes = []int{100_000, 1_000_000}

type preloadedServer struct {
	s         *Server
	bytesUser float64
}

var (
	preloadMu sync.Mutex
	preloads  = map[int]*preloadedServer{}
)

// preloaded returns a server holding n users, built once per size and shared by benchmarks.
func preloaded(b *testing.B, n int) *preloadedServer {
	b.Helper()
	preloadMu.Lock()
	defer preloadMu.Unlock()
	if p := preloads[n]; p != nil {
		return p
	}
	s, err := New(Options{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	preloadUsers(s, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	p := &preloadedServer{s: s, bytesUser: float64(after.HeapAlloc-before.HeapAlloc) / float64(n)}
	preloads[n] = p
	return p
}

var departments = []string{"Research", "Sales", "Ops", "Finance", "Legal", "Support", "HR", "IT"}

func benchUserName(i int) string { return "user" + strconv.Itoa(i) + "@example.com" }

// preloadUsers inserts n users shaped like the ones POST stores (same attribute names and Go
// types as the library's validation produces), bypassing HTTP.
func preloadUsers(s *Server, n int) {
	for i := range n {
		id := newID()
		name := benchUserName(i)
		num := strconv.Itoa(i)
		attrs := map[string]any{
			"id":          id,
			"userName":    name,
			"externalId":  "E" + num,
			"displayName": "User " + num,
			"active":      true,
			"name":        map[string]any{"givenName": "User", "familyName": "Number" + num},
			"emails":      []any{map[string]any{"value": name, "type": "work", "primary": true}},
			enterpriseSchemaURI: map[string]any{
				"department":     departments[i%len(departments)],
				"employeeNumber": num,
			},
		}
		now := s.now()
		if cerr := s.users.st.insert(id, &snapshot{attrs: attrs, created: now, modified: now, version: s.nextVersion()}); cerr != nil {
			panic(cerr)
		}
	}
}

func sizeLabel(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("users=%dM", n/1_000_000)
	}
	return fmt.Sprintf("users=%dk", n/1000)
}

func benchRequest(method, target, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://scim.test"+target, rd)
	if err != nil {
		panic(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	return req
}

var oneResult = []byte(`"totalResults":1`)

// cpuMeter reports process CPU time per operation as the metric cpu-ns/op.
type cpuMeter struct {
	start time.Duration
	ok    bool
	ops   int
}

func startCPU() *cpuMeter {
	d, ok := cputime.Process()
	return &cpuMeter{start: d, ok: ok}
}

func (m *cpuMeter) report(b *testing.B) {
	if d, ok := cputime.Process(); ok && m.ok && m.ops > 0 {
		b.ReportMetric(float64(d-m.start)/float64(m.ops), "cpu-ns/op")
	}
}

// BenchmarkFilteredGet is Entra's matching request: GET /Users?filter=userName eq "…".
func BenchmarkFilteredGet(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeLabel(n), func(b *testing.B) {
			p := preloaded(b, n)
			h := p.s.Handler()
			b.ReportAllocs()
			i := 0
			cpu := startCPU()
			for b.Loop() {
				// Spread lookups over the whole store, with a different case than stored.
				name := "USER" + strconv.Itoa((i*7919)%n) + "@example.com"
				req := benchRequest("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), "")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), oneResult) {
					b.Fatalf("%s: %d %s", name, w.Code, w.Body.Bytes())
				}
				i++
			}
			cpu.ops = i
			cpu.report(b)
			b.ReportMetric(p.bytesUser, "heapB/user")
		})
	}
}

// BenchmarkPost creates users (uniqueness check, id generation, indexing) on a full store.
func BenchmarkPost(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeLabel(n), func(b *testing.B) {
			p := preloaded(b, n)
			h := p.s.Handler()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				cpu.ops++
				i := int(postSeq.Add(1))
				name := "new" + strconv.Itoa(i) + "@example.com"
				body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],` +
					`"userName":"` + name + `","externalId":"N` + strconv.Itoa(i) + `","displayName":"New ` + strconv.Itoa(i) + `","active":true,` +
					`"name":{"givenName":"New","familyName":"User"},"emails":[{"value":"` + name + `","type":"work","primary":true}],` +
					`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"` + strconv.Itoa(i) + `"}}`
				w := httptest.NewRecorder()
				h.ServeHTTP(w, benchRequest("POST", "/scim/v2/Users", body))
				if w.Code != http.StatusCreated {
					b.Fatalf("%d %s", w.Code, w.Body.Bytes())
				}
			}
			cpu.report(b)
			b.ReportMetric(p.bytesUser, "heapB/user")
		})
	}
}

// postSeq numbers the users BenchmarkPost creates, unique across runs (-count) that share a
// preloaded server.
var postSeq atomic.Int64

// BenchmarkScanFilter shows the cost of a filter no index answers (a full scan), for
// comparison; it grows linearly with the number of users.
func BenchmarkScanFilter(b *testing.B) {
	n := benchSizes[0]
	b.Run(sizeLabel(n), func(b *testing.B) {
		h := preloaded(b, n).s.Handler()
		for b.Loop() {
			req := benchRequest("GET", "/scim/v2/Users?count=10&filter="+url.QueryEscape(`name.familyName sw "Number9999"`), "")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"totalResults":11`)) {
				b.Fatalf("%d %.300s", w.Code, w.Body.Bytes())
			}
		}
	})
}
