package scim

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// Source is the connectors.Source (and connectors.Estimator) view of a Client: it reads
// users and groups from a SCIM server. (One Go type cannot implement both Target.Get and
// Source.Get, so the source is a thin view sharing the client: limiter, connections,
// capabilities and counters.)
//
// Objects: ID is the SCIM id; Attributes are the flattened attribute paths Target uses
// (see flatten); a group's members are Attributes["members"] as []string of member ids
// (absent when the server did not return members); a user's active is also reported as
// Attributes["accountEnabled"].
//
// Reads: a full read pages through the endpoint (cursor pagination when advertised) and
// emits ChangeUpsert in server order — the server's order is assumed stable for the same
// content, which makes the emission deterministic. Each read records a snapshot (id →
// content hash) in Config.StateDir (or in memory); the watermark names the snapshot and is
// small:
//
//	scim1:snap:<snapshot>                  snapshot diffing
//	scim1:lm:<snapshot>:<max lastModified> lastModified delta + id-set diff
//
// When the server filters on meta.lastModified (probed once per type: a `meta.lastModified
// gt "1970-01-01T00:00:00Z"` filter must answer 200) and every resource carries
// meta.lastModified, incremental reads fetch only `meta.lastModified gt "<max seen − 1s>"`
// (the second of overlap catches writes in the same instant; unchanged hashes are not
// re-emitted) plus the id list, whose diff against the snapshot yields deletes. Otherwise
// an incremental read re-lists everything and emits only new or changed objects (by hash)
// and deletes. Deletes come last, sorted by id. An unknown, malformed or expired watermark
// (snapshot gone) means a full read (ReadResult.Full).
type Source struct{ c *Client }

var (
	_ connectors.Source    = (*Source)(nil)
	_ connectors.Estimator = (*Source)(nil)
)

// Source returns the source view of c.
func (c *Client) Source() *Source { return &Source{c: c} }

// NewSource is New followed by Source.
func NewSource(ctx context.Context, cfg Config) (*Source, error) {
	c, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c.Source(), nil
}

// Client returns the underlying client (for Rate, Stats, Discover).
func (s *Source) Client() *Client { return s.c }

// Test checks connectivity and credentials (the same probe as the target's Test).
func (s *Source) Test(ctx context.Context) error { return s.c.Test(ctx) }

// Close releases idle connections.
func (s *Source) Close() error { return s.c.Close() }

// Get reads one object by SCIM id; a missing object is ClassNotFound.
func (s *Source) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	c := s.c
	if err := checkType(typ); err != nil {
		return connectors.Object{}, err
	}
	if err := checkID(id); err != nil {
		return connectors.Object{}, err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return connectors.Object{}, err
	}
	res, _, err := c.getDoc(ctx, &caps, typ, id, "")
	if err != nil {
		return connectors.Object{}, err
	}
	obj, _ := toObject(typ, res)
	return obj, nil
}

func toObject(typ connectors.ObjectType, res map[string]any) (connectors.Object, resourceMeta) {
	attrs, meta := flatten(res)
	if typ == connectors.TypeUser {
		if k, ok := lookupKey(map[string]any(attrs), "active"); ok {
			if b, ok := attrs[k].(bool); ok {
				attrs[connectors.AttrAccountEnabled] = b
			}
		}
	}
	return connectors.Object{Type: typ, ID: meta.id, Attributes: attrs}, meta
}

func contentHash(attrs connectors.Attributes) uint64 {
	b, _ := json.Marshal(attrs) // map keys are sorted: stable for the same content
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// Watermark parts.
const (
	wmPrefix = "scim1"
	modeSnap = "snap"
	modeLM   = "lm"
)

type watermark struct {
	mode, snapshot, lastModified string
}

func parseWatermark(s string) (watermark, bool) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 3 || parts[0] != wmPrefix || !validSnapshotID(parts[2]) {
		return watermark{}, false
	}
	w := watermark{mode: parts[1], snapshot: parts[2]}
	switch {
	case w.mode == modeSnap && len(parts) == 3:
		return w, true
	case w.mode == modeLM && len(parts) == 4 && parts[3] != "":
		w.lastModified = parts[3]
		return w, true
	}
	return watermark{}, false
}

func (w watermark) String() string {
	if w.mode == modeLM {
		return wmPrefix + ":" + modeLM + ":" + w.snapshot + ":" + w.lastModified
	}
	return wmPrefix + ":" + modeSnap + ":" + w.snapshot
}

// laterTime reports whether a is after b (RFC 3339 timestamps; strings compared when they
// do not parse).
func laterTime(a, b string) bool {
	if b == "" {
		return a != ""
	}
	ta, ea := time.Parse(time.RFC3339Nano, a)
	tb, eb := time.Parse(time.RFC3339Nano, b)
	if ea == nil && eb == nil {
		return ta.After(tb)
	}
	return a > b
}

// deltaOverlap is subtracted from the watermark's lastModified in incremental queries.
const deltaOverlap = time.Second

func sinceFilter(lastModified string) string {
	if t, err := time.Parse(time.RFC3339Nano, lastModified); err == nil {
		lastModified = t.Add(-deltaOverlap).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return "meta.lastModified gt " + quoteLiteral(lastModified)
}

// deltaSupported probes (once per type) whether the server filters on meta.lastModified.
func (c *Client) deltaSupported(ctx context.Context, caps *Capabilities, typ connectors.ObjectType) (bool, error) {
	c.deltaMu.Lock()
	ok, known := c.deltaModes[typ]
	c.deltaMu.Unlock()
	if known {
		return ok, nil
	}
	if !caps.Filter {
		ok = false
	} else {
		q := "filter=" + url.QueryEscape(`meta.lastModified gt "1970-01-01T00:00:00Z"`) + "&attributes=id&count=1"
		r, err := c.do(ctx, call{method: http.MethodGet, path: caps.endpoint(typ), query: q, idempotent: true})
		if err != nil {
			ce, isCE := asError(err)
			if !isCE || ce.Status == 0 || ce.Status == 401 || ce.Status == 403 || ce.Status == 429 || ce.Status >= 500 {
				return false, err // not an answer about filtering
			}
			ok = false
		} else {
			var lp struct {
				TotalResults *int `json:"totalResults"`
			}
			ok = json.Unmarshal(r.body(), &lp) == nil && lp.TotalResults != nil
			r.release()
		}
	}
	c.deltaMu.Lock()
	c.deltaModes[typ] = ok
	c.deltaMu.Unlock()
	return ok, nil
}

func (c *Client) readQuery(caps *Capabilities, typ connectors.ObjectType) listQuery {
	q := listQuery{endpoint: caps.endpoint(typ), pageSize: c.pageSize(caps), cursor: caps.Cursor}
	extra := c.cfg.UserAttributes
	if typ == connectors.TypeGroup {
		extra = c.cfg.GroupAttributes
	}
	if len(extra) > 0 {
		q.attributes = c.selectAttributes(caps, typ, extra, true)
		if typ == connectors.TypeGroup && !containsFold(q.attributes, "members") {
			q.attributes = append(q.attributes, "members")
		}
		if !containsFold(q.attributes, "meta") {
			q.attributes = append(q.attributes, "meta")
		}
	}
	return q
}

// Read emits every object of req.Type (full read) or the changes since req.Watermark.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	c := s.c
	if err := checkType(req.Type); err != nil {
		return connectors.ReadResult{}, err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	var prev *snapshot
	wm, valid := parseWatermark(req.Watermark)
	if valid {
		prev, err = c.snaps.load(req.Type, wm.snapshot)
		if err != nil {
			return connectors.ReadResult{}, err
		}
	}
	if prev != nil && wm.mode == modeLM {
		ok, err := c.deltaSupported(ctx, &caps, req.Type)
		if err != nil {
			return connectors.ReadResult{}, err
		}
		if ok {
			return s.readDelta(ctx, &caps, req.Type, prev, wm.lastModified, emit)
		}
	}
	return s.readAll(ctx, &caps, req.Type, prev, emit)
}

// readAll lists everything; with prev it emits only new/changed objects and deletes.
func (s *Source) readAll(ctx context.Context, caps *Capabilities, typ connectors.ObjectType, prev *snapshot, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	c := s.c
	next := newSnapshot(typ)
	allLM := true
	_, err := c.list(ctx, c.readQuery(caps, typ), func(res map[string]any) error {
		obj, meta := toObject(typ, res)
		h := contentHash(obj.Attributes)
		next.Entries[obj.ID] = h
		if meta.lastModified == "" {
			allLM = false
		} else if laterTime(meta.lastModified, next.MaxLastModified) {
			next.MaxLastModified = meta.lastModified
		}
		if prev != nil {
			if old, ok := prev.Entries[obj.ID]; ok && old == h {
				return nil
			}
		}
		return emit(connectors.Change{Kind: connectors.ChangeUpsert, Object: obj})
	})
	if err != nil {
		return connectors.ReadResult{}, err
	}
	if prev != nil {
		if err := emitDeletes(typ, prev, next.Entries, nil, emit); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	w := watermark{mode: modeSnap, snapshot: next.ID}
	if allLM && next.MaxLastModified != "" {
		ok, err := c.deltaSupported(ctx, caps, typ)
		if err != nil {
			return connectors.ReadResult{}, err
		}
		if ok {
			w.mode, w.lastModified = modeLM, next.MaxLastModified
		}
	}
	if !allLM {
		next.MaxLastModified = ""
	}
	if err := c.snaps.save(next); err != nil {
		return connectors.ReadResult{}, err
	}
	return connectors.ReadResult{Watermark: w.String(), Full: prev == nil}, nil
}

// readDelta fetches only what changed since lastModified, and the id list for deletes.
func (s *Source) readDelta(ctx context.Context, caps *Capabilities, typ connectors.ObjectType, prev *snapshot, lastModified string, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	c := s.c
	ep := caps.endpoint(typ)
	// 1. The ids that exist now (before the delta query: an object created in between is
	// then in the delta, an object deleted in between is caught by the next read).
	var ids []string
	present := map[string]struct{}{}
	_, err := c.list(ctx, listQuery{endpoint: ep, attributes: []string{"id"}, pageSize: c.pageSize(caps), cursor: caps.Cursor},
		func(res map[string]any) error {
			id, _ := res["id"].(string)
			ids = append(ids, id)
			present[id] = struct{}{}
			return nil
		})
	if err != nil {
		return connectors.ReadResult{}, err
	}
	// 2. What changed.
	next := newSnapshot(typ)
	next.MaxLastModified = lastModified
	changed := map[string]struct{}{}
	q := c.readQuery(caps, typ)
	q.filter = sinceFilter(lastModified)
	_, err = c.list(ctx, q, func(res map[string]any) error {
		obj, meta := toObject(typ, res)
		h := contentHash(obj.Attributes)
		next.Entries[obj.ID] = h
		changed[obj.ID] = struct{}{}
		if laterTime(meta.lastModified, next.MaxLastModified) {
			next.MaxLastModified = meta.lastModified
		}
		if old, ok := prev.Entries[obj.ID]; ok && old == h {
			return nil // re-read through the overlap, unchanged
		}
		return emit(connectors.Change{Kind: connectors.ChangeUpsert, Object: obj})
	})
	if err != nil {
		return connectors.ReadResult{}, err
	}
	// 3. Unchanged objects keep their hash; ids the snapshot never saw and the delta did not
	// return (clock skew on the server) are read one by one.
	for _, id := range ids {
		if _, ok := changed[id]; ok {
			continue
		}
		if h, ok := prev.Entries[id]; ok {
			next.Entries[id] = h
			continue
		}
		res, _, err := c.getDoc(ctx, caps, typ, id, "")
		if connectors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return connectors.ReadResult{}, err
		}
		obj, _ := toObject(typ, res)
		next.Entries[id] = contentHash(obj.Attributes)
		if err := emit(connectors.Change{Kind: connectors.ChangeUpsert, Object: obj}); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	// 4. Deletes.
	if err := emitDeletes(typ, prev, present, changed, emit); err != nil {
		return connectors.ReadResult{}, err
	}
	if err := c.snaps.save(next); err != nil {
		return connectors.ReadResult{}, err
	}
	w := watermark{mode: modeLM, snapshot: next.ID, lastModified: next.MaxLastModified}
	return connectors.ReadResult{Watermark: w.String()}, nil
}

// emitDeletes emits ChangeDelete for ids in prev that are neither in now nor in also,
// sorted by id.
func emitDeletes[V any](typ connectors.ObjectType, prev *snapshot, now map[string]V, also map[string]struct{}, emit func(connectors.Change) error) error {
	var gone []string
	for id := range prev.Entries {
		if _, ok := now[id]; ok {
			continue
		}
		if _, ok := also[id]; ok {
			continue
		}
		gone = append(gone, id)
	}
	sort.Strings(gone)
	for _, id := range gone {
		if err := emit(connectors.Change{Kind: connectors.ChangeDelete, Object: connectors.Object{Type: typ, ID: id}}); err != nil {
			return err
		}
	}
	return nil
}

// Estimate returns how many changes a Read with req will emit: the number of objects for a
// full read, the number of objects modified since the watermark in lastModified mode (deletes
// not included), and the number of objects (an upper bound) in snapshot mode. One request
// with count=1 (not count=0, which some servers ignore and answer with everything).
func (s *Source) Estimate(ctx context.Context, req connectors.ReadRequest) (int64, error) {
	c := s.c
	if err := checkType(req.Type); err != nil {
		return 0, err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return 0, err
	}
	q := "attributes=id&count=1"
	if wm, ok := parseWatermark(req.Watermark); ok && wm.mode == modeLM {
		if prev, err := c.snaps.load(req.Type, wm.snapshot); err == nil && prev != nil {
			if ok, err := c.deltaSupported(ctx, &caps, req.Type); err == nil && ok {
				// Without the read's overlap second: an estimate, not a guarantee.
				q = "filter=" + url.QueryEscape("meta.lastModified gt "+quoteLiteral(wm.lastModified)) + "&" + q
			}
		}
	}
	ep := caps.endpoint(req.Type)
	r, err := c.do(ctx, call{method: http.MethodGet, path: ep, query: q, idempotent: true})
	if err != nil {
		return 0, err
	}
	defer r.release()
	var lp struct {
		TotalResults *int64 `json:"totalResults"`
	}
	if json.Unmarshal(r.body(), &lp) != nil || lp.TotalResults == nil {
		return 0, c.incompatible(http.MethodGet, ep, r.status, r.body(), "the list response has no totalResults")
	}
	return *lp.TotalResults, nil
}
