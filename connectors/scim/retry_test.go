package scim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// throttleFirst answers the first n requests to /Users with 429 (header ra if set).
func throttleFirst(f *fake, n int32, ra string) *atomic.Int32 {
	var seen atomic.Int32
	f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if !strings.Contains(r.URL.Path, "/Users") {
			return false
		}
		if seen.Add(1) <= n {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			scimErr(w, 429, "", "slow down")
			return true
		}
		return false
	}
	return &seen
}

func TestRetryAfterSecondsWaits(t *testing.T) {
	t.Parallel()
	f := newFake()
	throttleFirst(f, 1, "1")
	c, _ := newClient(t, f, nil)
	start := time.Now()
	if _, err := c.Find(context.Background(), connectors.TypeUser, "userName", "x"); err != nil {
		t.Fatalf("Find after one 429: %v", err)
	}
	if el := time.Since(start); el < 950*time.Millisecond {
		t.Fatalf("retried after %v, want >= 1s (Retry-After: 1)", el)
	}
	if s := c.Stats(); s.Throttled != 1 || s.Retries != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestRetryAfterHTTPDateWaits(t *testing.T) {
	t.Parallel()
	f := newFake()
	throttleFirst(f, 1, time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
	c, _ := newClient(t, f, nil)
	start := time.Now()
	if _, err := c.Find(context.Background(), connectors.TypeUser, "userName", "x"); err != nil {
		t.Fatalf("Find after one 429: %v", err)
	}
	// The date has second resolution: the wait is between 1 and 2 seconds.
	if el := time.Since(start); el < 900*time.Millisecond || el > 3*time.Second {
		t.Fatalf("retried after %v, want 1-2s", el)
	}
}

func TestRetryAfterIsSharedNotBefore(t *testing.T) {
	t.Parallel()
	f := newFake()
	throttleFirst(f, 1, "1")
	c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRetries = -1 })
	ctx := context.Background()
	_, err := c.Find(ctx, connectors.TypeUser, "userName", "a")
	if ce := mustErr(t, err); ce.Class != connectors.ClassThrottled || ce.RetryAfter != time.Second {
		t.Fatalf("got %v (RetryAfter %v)", ce, ce.RetryAfter)
	}
	// Another operation right after must not reach the target before Retry-After elapsed.
	start := time.Now()
	if _, err := c.Find(ctx, connectors.TypeUser, "userName", "b"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 800*time.Millisecond {
		t.Fatalf("next request left after %v, want ~1s", el)
	}
}

func TestLongRetryAfterReturnsThrottled(t *testing.T) {
	t.Parallel()
	f := newFake()
	throttleFirst(f, 100, "3600")
	c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRetryAfter = 50 * time.Millisecond })
	start := time.Now()
	_, err := c.Find(context.Background(), connectors.TypeUser, "userName", "a")
	ce := mustErr(t, err)
	if ce.Class != connectors.ClassThrottled || ce.RetryAfter != time.Hour {
		t.Fatalf("got %v RetryAfter=%v", ce, ce.RetryAfter)
	}
	if ce.Class == connectors.ClassUnauthorized || ce.Class == connectors.ClassConnection {
		t.Fatal("throttling must not look like a credential or connection failure")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("waited for an hour-long Retry-After inside the operation")
	}
}

func TestAIMD(t *testing.T) {
	t.Parallel()
	f := newFake()
	throttleFirst(f, 3, "")
	c, _ := newClient(t, f, func(cfg *Config) {
		cfg.MaxRequestsPerSecond = 100
		cfg.MinRequestsPerSecond = 10
		cfg.MaxRetries = 5
	})
	ctx := context.Background()
	if got := c.Rate(); got != 100 {
		t.Fatalf("initial rate %v", got)
	}
	if _, err := c.Find(ctx, connectors.TypeUser, "userName", "a"); err != nil {
		t.Fatal(err)
	}
	// Three sequential 429s, each in a new epoch: 100 → 50 → 25 → 12.5.
	if got := c.Rate(); got != 12.5 {
		t.Fatalf("rate after 3 throttles = %v, want 12.5", got)
	}
	if s := c.Stats(); s.Throttled != 3 || s.Retries != 3 {
		t.Fatalf("stats = %+v", s)
	}
	// Recovery: +10 (max/10) per window of successes.
	c.lim.window = 3
	prev := c.Rate()
	for i := 0; i < 60 && c.Rate() < 100; i++ {
		if _, err := c.Find(ctx, connectors.TypeUser, "userName", "a"); err != nil {
			t.Fatal(err)
		}
		if r := c.Rate(); r < prev {
			t.Fatalf("rate went down on success: %v → %v", prev, r)
		}
		prev = c.Rate()
	}
	if got := c.Rate(); got != 100 {
		t.Fatalf("rate did not recover to max: %v", got)
	}
}

func TestAIMDFloorAndBurstCountsOnce(t *testing.T) {
	t.Run("floor", func(t *testing.T) {
		f := newFake()
		throttleFirst(f, 1000, "")
		c, _ := newClient(t, f, func(cfg *Config) {
			cfg.MaxRequestsPerSecond = 1000
			cfg.MinRequestsPerSecond = 200
			cfg.MaxRetries = 6
		})
		_, err := c.Find(context.Background(), connectors.TypeUser, "userName", "a")
		if ce := mustErr(t, err); ce.Class != connectors.ClassThrottled {
			t.Fatalf("got %v", ce)
		}
		if got := c.Rate(); got != 200 {
			t.Fatalf("rate = %v, want the floor 200", got)
		}
	})
	t.Run("concurrent 429s halve once", func(t *testing.T) {
		const n = 16
		var arrived sync.WaitGroup
		arrived.Add(n)
		f := newFake()
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if !strings.Contains(r.URL.Path, "/Users") {
				return false
			}
			arrived.Done()
			arrived.Wait() // all n requests are in flight before any answer
			scimErr(w, 429, "", "slow down")
			return true
		}
		c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRequestsPerSecond = 1000; cfg.MaxRetries = -1 })
		if _, err := c.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = c.Find(context.Background(), connectors.TypeUser, "userName", "a")
			}()
		}
		wg.Wait()
		if got := c.Rate(); got != 500 {
			t.Fatalf("rate = %v after one burst of %d 429s, want 500 (one halving)", got, n)
		}
		if got := c.Stats().Throttled; got != n {
			t.Fatalf("throttled = %d", got)
		}
	})
}

func TestRetry5xxIdempotentOnly(t *testing.T) {
	f := newFake()
	var n atomic.Int32
	f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/Users") && n.Add(1) <= 2 {
			scimErr(w, 502, "", "bad gateway")
			return true
		}
		return false
	}
	c, _ := newClient(t, f, nil)
	if _, err := c.Find(context.Background(), connectors.TypeUser, "userName", "a"); err != nil {
		t.Fatalf("GET after two 502s: %v", err)
	}
	if s := c.Stats(); s.Retries != 2 {
		t.Fatalf("retries = %d", s.Retries)
	}
}

func postCount(f *fake) int { return f.count(http.MethodPost, "/scim/v2/Users") }

func TestCreateRetrySafety(t *testing.T) {
	ctx := context.Background()
	attrs := connectors.Attributes{"userName": "alice", "externalId": "e-1"}
	t.Run("timeout after the server created it: rematch, no second POST", func(t *testing.T) {
		f := newFake()
		var once sync.Once
		f.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.Method != http.MethodPost {
				return false
			}
			handled := false
			once.Do(func() {
				var doc map[string]any
				_ = json.Unmarshal(body, &doc)
				f.put("Users", doc)  // the server acts on it...
				<-r.Context().Done() // ...but answers too late
				handled = true
			})
			return handled
		}
		c, _ := newClient(t, f, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
		obj, err := c.Create(ctx, connectors.TypeUser, attrs)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if obj.ID == "" || f.get("Users", obj.ID) == nil {
			t.Fatalf("rematched object %+v does not exist", obj)
		}
		if got := postCount(f); got != 1 {
			t.Fatalf("POSTs = %d, want 1", got)
		}
		if got := c.Stats().Rematched; got != 1 {
			t.Fatalf("Rematched = %d", got)
		}
	})
	t.Run("500 without creating: rematch finds nothing, POST again", func(t *testing.T) {
		f := newFake()
		var n atomic.Int32
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if r.Method == http.MethodPost && n.Add(1) == 1 {
				scimErr(w, 500, "", "boom")
				return true
			}
			return false
		}
		c, _ := newClient(t, f, nil)
		obj, err := c.Create(ctx, connectors.TypeUser, attrs)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := postCount(f); got != 2 {
			t.Fatalf("POSTs = %d, want 2", got)
		}
		if f.count(http.MethodGet, "/scim/v2/Users") < 1 {
			t.Fatal("no rematch GET between the POSTs")
		}
		// The GETs must come before the second POST.
		reqs := f.requests()
		var order []string
		for _, r := range reqs {
			if strings.HasPrefix(r.Path, "/scim/v2/Users") {
				order = append(order, r.Method)
			}
		}
		if strings.Join(order, ",") != "POST,GET,GET,POST" { // userName, then externalId
			t.Fatalf("request order = %v", order)
		}
		if obj.ID == "" {
			t.Fatal("no id")
		}
	})
	t.Run("503 after creating: rematch", func(t *testing.T) {
		f := newFake()
		var once sync.Once
		f.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			handled := false
			if r.Method == http.MethodPost {
				once.Do(func() {
					var doc map[string]any
					_ = json.Unmarshal(body, &doc)
					f.put("Users", doc)
					scimErr(w, 503, "", "overloaded")
					handled = true
				})
			}
			return handled
		}
		c, _ := newClient(t, f, nil)
		if _, err := c.Create(ctx, connectors.TypeUser, attrs); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := postCount(f); got != 1 {
			t.Fatalf("POSTs = %d, want 1", got)
		}
	})
	t.Run("connection lost after creating: rematch", func(t *testing.T) {
		f := newFake()
		var once sync.Once
		f.hook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			handled := false
			if r.Method == http.MethodPost {
				once.Do(func() {
					var doc map[string]any
					_ = json.Unmarshal(body, &doc)
					f.put("Users", doc)
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					handled = true
				})
			}
			return handled
		}
		c, _ := newClient(t, f, nil)
		if _, err := c.Create(ctx, connectors.TypeUser, attrs); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := postCount(f); got != 1 {
			t.Fatalf("POSTs = %d, want 1", got)
		}
	})
	t.Run("rematch impossible: original error, no second POST", func(t *testing.T) {
		f := newFake()
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if strings.Contains(r.URL.Path, "/Users") {
				scimErr(w, 502, "", "gateway down")
				return true
			}
			return false
		}
		c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRetries = 2 })
		_, err := c.Create(ctx, connectors.TypeUser, attrs)
		ce := mustErr(t, err)
		if ce.Class != connectors.ClassRetryable || ce.Request != "POST /scim/v2/Users" {
			t.Fatalf("got %v", ce)
		}
		if got := postCount(f); got != 1 {
			t.Fatalf("POSTs = %d, want 1", got)
		}
	})
	t.Run("429 is repeated without rematch", func(t *testing.T) {
		f := newFake()
		var n atomic.Int32
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if r.Method == http.MethodPost && n.Add(1) == 1 {
				scimErr(w, 429, "", "slow")
				return true
			}
			return false
		}
		c, _ := newClient(t, f, nil)
		if _, err := c.Create(ctx, connectors.TypeUser, attrs); err != nil {
			t.Fatal(err)
		}
		if got, gets := postCount(f), f.count(http.MethodGet, "/scim/v2/Users"); got != 2 || gets != 0 {
			t.Fatalf("POSTs = %d (want 2), rematch GETs = %d (want 0)", got, gets)
		}
	})
	t.Run("409 on the first attempt is a conflict, never adopted", func(t *testing.T) {
		f := newFake()
		f.put("Users", user("alice"))
		c, _ := newClient(t, f, nil)
		_, err := c.Create(ctx, connectors.TypeUser, attrs)
		ce := mustErr(t, err)
		if ce.Class != connectors.ClassConflict || ce.Code != "EntryConflict" {
			t.Fatalf("got %v", ce)
		}
		if got, gets := postCount(f), f.count(http.MethodGet, "/scim/v2/Users"); got != 1 || gets != 0 {
			t.Fatalf("POSTs = %d, GETs = %d", got, gets)
		}
	})
	t.Run("persistent 500 gives up after MaxRetries", func(t *testing.T) {
		f := newFake()
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if r.Method == http.MethodPost {
				scimErr(w, 500, "", "boom")
				return true
			}
			return false
		}
		c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRetries = 2 })
		ce := mustErr(t, func() error { _, err := c.Create(ctx, connectors.TypeUser, attrs); return err }())
		if ce.Class != connectors.ClassRetryable {
			t.Fatalf("got %v", ce)
		}
		if got := postCount(f); got != 3 {
			t.Fatalf("POSTs = %d, want 3", got)
		}
	})
}

func TestETagPreconditionRetry(t *testing.T) {
	ctx := context.Background()
	newETagClient := func(t *testing.T, mod func(*Config)) (*fake, *Client, string) {
		f := newFake()
		f.etag = true
		c, _ := newClient(t, f, mod)
		obj, err := c.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "bob", "displayName": "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		if obj.Version == "" {
			t.Fatal("no version from a server with ETags")
		}
		// Someone else changes the user: our remembered version is stale.
		f.mu.Lock()
		f.res["Users"][obj.ID]["title"] = "changed elsewhere"
		f.touch(f.res["Users"][obj.ID], false)
		f.mu.Unlock()
		return f, c, obj.ID
	}
	t.Run("PATCH", func(t *testing.T) {
		f, c, id := newETagClient(t, nil)
		err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: "Robert"}})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		var seq []string
		for _, r := range f.requests() {
			if strings.HasPrefix(r.Path, "/scim/v2/Users/") {
				seq = append(seq, r.Method+" "+r.IfMatch)
			}
		}
		if len(seq) != 3 || !strings.HasPrefix(seq[0], "PATCH W/") || !strings.HasPrefix(seq[1], "GET") || !strings.HasPrefix(seq[2], "PATCH W/") || seq[0] == seq[2] {
			t.Fatalf("requests = %q, want PATCH(stale), GET, PATCH(fresh)", seq)
		}
		if got := f.get("Users", id); got["displayName"] != "Robert" || got["title"] != "changed elsewhere" {
			t.Fatalf("user = %v", got)
		}
	})
	t.Run("DELETE", func(t *testing.T) {
		f, c, id := newETagClient(t, nil)
		if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if f.get("Users", id) != nil {
			t.Fatal("not deleted")
		}
		if n := f.count(http.MethodDelete, "/scim/v2/Users/"); n != 2 {
			t.Fatalf("DELETEs = %d, want 2", n)
		}
	})
	t.Run("PUT re-merges", func(t *testing.T) {
		f, c, id := newETagClient(t, func(cfg *Config) { cfg.DisableMode = DisablePut })
		var once sync.Once
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if r.Method == http.MethodPut {
				once.Do(func() { // a concurrent change between our GET and PUT
					f.mu.Lock()
					f.res["Users"][id]["nickName"] = "bobby"
					f.touch(f.res["Users"][id], false)
					f.mu.Unlock()
				})
			}
			return false
		}
		if err := c.Disable(ctx, connectors.TypeUser, id); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		got := f.get("Users", id)
		if got["active"] != false || got["nickName"] != "bobby" {
			t.Fatalf("user = %v, want active false with the concurrent change kept", got)
		}
		if n := f.count(http.MethodPut, "/scim/v2/Users/"); n != 2 {
			t.Fatalf("PUTs = %d, want 2", n)
		}
	})
	t.Run("a second 412 is returned", func(t *testing.T) {
		f, c, id := newETagClient(t, nil)
		f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if r.Method == http.MethodPatch {
				scimErr(w, 412, "", "always stale")
				return true
			}
			return false
		}
		err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: "X"}})
		if ce := mustErr(t, err); ce.Class != connectors.ClassPrecondition || ce.Code != "PreconditionFailed" {
			t.Fatalf("got %v", ce)
		}
		if n := f.count(http.MethodPatch, "/scim/v2/Users/"); n != 2 {
			t.Fatalf("PATCHes = %d, want 2", n)
		}
	})
	t.Run("no If-Match without etag support", func(t *testing.T) {
		f := newFake()
		c, _ := newClient(t, f, nil)
		obj, err := c.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "carol"})
		if err != nil {
			t.Fatal(err)
		}
		if obj.Version != "" {
			t.Fatalf("version %q from a server without ETag support", obj.Version)
		}
		_ = c.Update(ctx, connectors.TypeUser, obj.ID, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: "C"}})
		_ = c.Delete(ctx, connectors.TypeUser, obj.ID)
		for _, r := range f.requests() {
			if r.IfMatch != "" {
				t.Fatalf("%s sent If-Match %q", r.Method, r.IfMatch)
			}
		}
	})
}
