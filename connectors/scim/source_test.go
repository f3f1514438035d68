package scim

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

type readResult struct {
	changes []string // "upsert id" / "delete id"
	objs    map[string]connectors.Object
	res     connectors.ReadResult
}

func read(t *testing.T, s *Source, typ connectors.ObjectType, wm string) readResult {
	t.Helper()
	rr := readResult{objs: map[string]connectors.Object{}}
	res, err := s.Read(context.Background(), connectors.ReadRequest{Type: typ, Watermark: wm}, func(ch connectors.Change) error {
		if ch.Object.Type != typ {
			t.Fatalf("change of type %q", ch.Object.Type)
		}
		rr.changes = append(rr.changes, string(ch.Kind)+" "+ch.Object.ID)
		rr.objs[ch.Object.ID] = ch.Object
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%q): %v", wm, err)
	}
	rr.res = res
	return rr
}

func (f *fake) modify(ep, id string, k string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res[ep][id][k] = v
	f.touch(f.res[ep][id], false)
}

func TestSourceSnapshotMode(t *testing.T) {
	f := newFake() // no meta.lastModified filtering
	u1 := f.put("Users", user("u1"))
	u2 := f.put("Users", user("u2"))
	u3 := f.put("Users", user("u3"))
	c, _ := newClient(t, f, func(cfg *Config) { cfg.PageSize = 2 })
	s := c.Source()

	full := read(t, s, connectors.TypeUser, "")
	if !full.res.Full || !reflect.DeepEqual(full.changes, []string{"upsert " + u1, "upsert " + u2, "upsert " + u3}) {
		t.Fatalf("full read: %v %+v", full.changes, full.res)
	}
	if !strings.HasPrefix(full.res.Watermark, "scim1:snap:") || len(full.res.Watermark) > 64 {
		t.Fatalf("watermark %q", full.res.Watermark)
	}
	if o := full.objs[u1]; o.Attributes["userName"] != "u1" || o.Attributes[connectors.AttrAccountEnabled] != true {
		t.Fatalf("object %+v", o)
	}
	// Same content, same request: same emission.
	again := read(t, s, connectors.TypeUser, "")
	if !reflect.DeepEqual(again.changes, full.changes) {
		t.Fatalf("non-deterministic: %v vs %v", again.changes, full.changes)
	}

	f.modify("Users", u2, "displayName", "changed")
	f.remove("Users", u3)
	u4 := f.put("Users", user("u4"))
	inc := read(t, s, connectors.TypeUser, full.res.Watermark)
	if inc.res.Full || !reflect.DeepEqual(inc.changes, []string{"upsert " + u2, "upsert " + u4, "delete " + u3}) {
		t.Fatalf("incremental: %v %+v", inc.changes, inc.res)
	}
	if inc.objs[u2].Attributes["displayName"] != "changed" {
		t.Fatalf("u2 = %+v", inc.objs[u2])
	}
	none := read(t, s, connectors.TypeUser, inc.res.Watermark)
	if len(none.changes) != 0 || none.res.Full {
		t.Fatalf("no-change read: %v", none.changes)
	}
	// Unknown or malformed watermarks mean a full read.
	for _, wm := range []string{"garbage", "scim1:snap:0000000000000000deadbeef", "scim1:snap:../../etc/passwd", "scim1:lm:zz"} {
		r := read(t, s, connectors.TypeUser, wm)
		if !r.res.Full || len(r.changes) != 3 {
			t.Fatalf("watermark %q: %+v %v", wm, r.res, r.changes)
		}
	}
	for _, r := range f.requests() {
		if strings.Contains(r.RawQuery, "filter=meta.lastModified+gt") && !strings.Contains(r.RawQuery, "1970-01-01") {
			t.Fatalf("delta query against a server that cannot filter on lastModified: %s", r.RawQuery)
		}
	}
}

func TestSourceLastModifiedMode(t *testing.T) {
	f := newFake()
	f.lmFilter = true
	u1 := f.put("Users", user("u1"))
	u2 := f.put("Users", user("u2"))
	u3 := f.put("Users", user("u3"))
	dir := t.TempDir()
	c, _ := newClient(t, f, func(cfg *Config) { cfg.StateDir = dir })
	s := c.Source()
	full := read(t, s, connectors.TypeUser, "")
	if !full.res.Full || len(full.changes) != 3 {
		t.Fatalf("full: %+v", full)
	}
	if want := "scim1:lm:"; !strings.HasPrefix(full.res.Watermark, want) || !strings.HasSuffix(full.res.Watermark, ":2026-01-01T00:00:00.000Z") {
		t.Fatalf("watermark %q", full.res.Watermark)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "scim-*-user-*.json"))
	if len(files) != 1 {
		t.Fatalf("snapshot files %v", files)
	}

	f.tick(5 * time.Second)
	f.modify("Users", u2, "displayName", "two")
	f.remove("Users", u3)
	u4 := f.put("Users", user("u4"))
	nreq := len(f.requests())
	inc := read(t, s, connectors.TypeUser, full.res.Watermark)
	if inc.res.Full || !reflect.DeepEqual(inc.changes, []string{"upsert " + u2, "upsert " + u4, "delete " + u3}) {
		t.Fatalf("incremental: %v", inc.changes)
	}
	if !strings.HasSuffix(inc.res.Watermark, ":2026-01-01T00:00:05.000Z") {
		t.Fatalf("watermark %q", inc.res.Watermark)
	}
	// The delta asked for lastModified > watermark − 1s and listed only ids otherwise.
	var sawDelta, sawIDs bool
	for _, r := range f.requests()[nreq:] {
		q, _ := url.ParseQuery(r.RawQuery)
		if q.Get("filter") == `meta.lastModified gt "2025-12-31T23:59:59.000Z"` {
			sawDelta = true
		}
		if q.Get("attributes") == "id" && q.Get("filter") == "" {
			sawIDs = true
		}
		if q.Get("filter") == "" && q.Get("attributes") != "id" && r.Path == "/scim/v2/Users" {
			t.Fatalf("incremental read listed everything: %s", r.RawQuery)
		}
	}
	if !sawDelta || !sawIDs {
		t.Fatalf("delta %v ids %v", sawDelta, sawIDs)
	}
	_ = u1

	// An object the server reports with an old lastModified (clock skew) is still found.
	f.mu.Lock()
	f.now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.mu.Unlock()
	u5 := f.put("Users", user("u5"))
	skew := read(t, s, connectors.TypeUser, inc.res.Watermark)
	if !reflect.DeepEqual(skew.changes, []string{"upsert " + u5}) {
		t.Fatalf("skewed object: %v", skew.changes)
	}

	// Snapshots are pruned; a watermark whose snapshot is gone means a full read.
	for i := 0; i < 4; i++ {
		skew = read(t, s, connectors.TypeUser, skew.res.Watermark)
	}
	files, _ = filepath.Glob(filepath.Join(dir, "scim-*-user-*.json"))
	if len(files) != keepSnapshots {
		t.Fatalf("%d snapshot files, want %d", len(files), keepSnapshots)
	}
	for _, fn := range files {
		os.Remove(fn)
	}
	gone := read(t, s, connectors.TypeUser, skew.res.Watermark)
	if !gone.res.Full || len(gone.changes) != 4 {
		t.Fatalf("after losing the snapshot: %+v %v", gone.res, gone.changes)
	}
	// A new client (restart) with the same StateDir continues incrementally.
	c2, _ := newClient(t, f, func(cfg *Config) { cfg.StateDir = dir })
	c2.cfg.BaseURL = c.cfg.BaseURL
	c2.snaps = newSnapshotStore(dir, c.cfg.BaseURL)
	cont := read(t, c2.Source(), connectors.TypeUser, gone.res.Watermark)
	if cont.res.Full || len(cont.changes) != 0 {
		t.Fatalf("after restart: %+v %v", cont.res, cont.changes)
	}
}

func TestSourceGroupsAndGet(t *testing.T) {
	f := newFake()
	u1 := f.put("Users", user("u1", "active", false))
	g := f.put("Groups", map[string]any{"displayName": "g1", "members": []any{map[string]any{"value": u1, "display": "u1"}}})
	e := f.put("Groups", map[string]any{"displayName": "empty"})
	c, _ := newClient(t, f, nil)
	s := c.Source()
	r := read(t, s, connectors.TypeGroup, "")
	if got := r.objs[g].Attributes[connectors.AttrMembers]; !reflect.DeepEqual(got, []string{u1}) {
		t.Fatalf("members = %#v", got)
	}
	if _, ok := r.objs[e].Attributes[connectors.AttrMembers]; ok {
		t.Fatal("members invented for a group the server returned without members")
	}
	o, err := s.Get(context.Background(), connectors.TypeUser, u1)
	if err != nil || o.ID != u1 || o.Attributes[connectors.AttrAccountEnabled] != false || o.Type != connectors.TypeUser {
		t.Fatalf("Get = %+v, %v", o, err)
	}
	if _, err := s.Get(context.Background(), connectors.TypeUser, "missing"); !connectors.IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
	if err := s.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSourceEmitErrorKeepsWatermark(t *testing.T) {
	f := newFake()
	f.put("Users", user("u1"))
	f.put("Users", user("u2"))
	c, _ := newClient(t, f, nil)
	s := c.Source()
	full := read(t, s, connectors.TypeUser, "")
	f.put("Users", user("u3"))
	boom := errors.New("boom")
	_, err := s.Read(context.Background(), connectors.ReadRequest{Type: connectors.TypeUser, Watermark: full.res.Watermark},
		func(connectors.Change) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// The failed read did not move anything: the same watermark still yields u3.
	again := read(t, s, connectors.TypeUser, full.res.Watermark)
	if len(again.changes) != 1 {
		t.Fatalf("changes = %v", again.changes)
	}
}

func TestSourceEstimate(t *testing.T) {
	f := newFake()
	f.lmFilter = true
	for i := 0; i < 7; i++ {
		f.put("Users", user(fmt.Sprintf("u%d", i)))
	}
	c, _ := newClient(t, f, nil)
	s := c.Source()
	ctx := context.Background()
	n, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser})
	if err != nil || n != 7 {
		t.Fatalf("full estimate = %d, %v", n, err)
	}
	full := read(t, s, connectors.TypeUser, "")
	f.tick(10 * time.Second)
	f.modify("Users", "id-0003", "title", "x")
	n, err = s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: full.res.Watermark})
	if err != nil || n != 1 {
		t.Fatalf("delta estimate = %d, %v", n, err)
	}
	reqs := f.requests()
	if q := reqs[len(reqs)-1].RawQuery; !strings.Contains(q, "count=1") || strings.Contains(q, "count=0") {
		t.Fatalf("estimate query %q", q)
	}
}
