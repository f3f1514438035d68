package scim

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

// TestConcurrentUse runs every operation from many goroutines (meaningful with -race) while
// the server throttles some requests, and checks the outcome.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.etag = true
	var n atomic.Int64
	f.hook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if n.Add(1)%17 == 0 && r.Method != http.MethodPost {
			scimErr(w, 429, "", "busy")
			return true
		}
		return false
	}
	c, _ := newClient(t, f, func(cfg *Config) { cfg.MaxRetries = 10; cfg.MinRequestsPerSecond = 2000 })
	ctx := context.Background()
	gid := f.put("Groups", map[string]any{"displayName": "all"})
	const workers, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	var ids sync.Map
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("w%d-u%d", w, i)
				obj, err := c.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": name})
				if err != nil {
					errs <- err
					continue
				}
				ids.Store(obj.ID, name)
				if got, err := c.Find(ctx, connectors.TypeUser, "userName", name); err != nil || len(got) != 1 {
					errs <- fmt.Errorf("find %s: %v %v", name, got, err)
				}
				if err := c.Update(ctx, connectors.TypeUser, obj.ID, []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: name}}); err != nil {
					errs <- err
				}
				if err := c.AddMembers(ctx, gid, []string{obj.ID}); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					if err := c.Delete(ctx, connectors.TypeUser, obj.ID); err != nil {
						errs <- err
					}
				}
				_ = c.Rate()
				_ = c.Stats()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	members, _ := refIDs(f.get("Groups", gid)["members"])
	if len(members) != workers*each {
		t.Fatalf("%d members, want %d", len(members), workers*each)
	}
	if s := c.Stats(); s.Throttled == 0 || s.Retries < s.Throttled {
		t.Fatalf("stats %+v", s)
	}
}
