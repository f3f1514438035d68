package ldap

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
)

// syncRequestOID is RFC 4533's Sync Request control, looked for in the root DSE.
const syncRequestOID = "1.3.6.1.4.1.4203.1.9.1.1"

// Watermark prefixes: a watermark says which incremental mode produced it, so that a mode
// change leads to a full read.
const (
	wmSyncrepl  = "syncrepl:"
	wmTimestamp = "timestamp:"
	// epoch is the timestamp watermark of a full read that saw no entry.
	epoch = "19700101000000Z"
)

// Source reads users and groups from the directory. It implements connectors.Source and is
// safe for concurrent use. Get one with Client.Source or NewSource.
type Source struct {
	c *Client

	modeMu sync.Mutex
	mode   string // resolved incremental mode

	index *dnIndex
	// known holds the IDs each type's reads returned since its last full read in this
	// process: syncrepl reports deletes (and entries that left the search's scope) by
	// entryUUID without saying of which type, so only those known to be of the type read
	// are passed on.
	known map[connectors.ObjectType]*idSet
}

var _ connectors.Source = (*Source)(nil)

// Source returns the source view of c.
func (c *Client) Source() *Source { return c.src }

// NewSource is New followed by Source.
func NewSource(cfg Config) (*Source, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c.Source(), nil
}

// Client returns the underlying client.
func (s *Source) Client() *Client { return s.c }

// Test checks connectivity, credentials and the base DNs (as Client.Test).
func (s *Source) Test(ctx context.Context) error { return s.c.Test(ctx) }

// Close closes the client.
func (s *Source) Close() error { return s.c.Close() }

// Mode returns the incremental read mode in use (auto resolved against the server's root
// DSE: syncrepl or timestamp).
func (s *Source) Mode(ctx context.Context) (string, error) {
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	if s.mode != "" {
		return s.mode, nil
	}
	m := s.c.cfg.Incremental
	if m == IncrementalAuto {
		m = IncrementalTimestamp
		if strings.EqualFold(s.c.cfg.IDAttribute, "entryUUID") {
			dse, err := s.c.readRootDSE(ctx)
			if err != nil {
				return "", err
			}
			if dse.supports(syncRequestOID) {
				m = IncrementalSyncrepl
			}
		}
	}
	s.mode = m
	return m, nil
}

// emitError carries an error returned by the engine's emit through LDAP code unchanged.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// readAttrs are the attributes a source read requests for ti.
func (s *Source) readAttrs(ti *typeInfo) []string {
	cfg := &s.c.cfg
	attrs := slices.Clone(ti.attrs)
	if !strings.EqualFold(cfg.IDAttribute, "dn") {
		attrs = appendAttr(attrs, cfg.IDAttribute)
	}
	attrs = appendAttr(attrs, cfg.TimestampAttribute)
	if ti.typ == connectors.TypeUser {
		switch cfg.Disable.Mode {
		case DisableAttribute:
			attrs = appendAttr(attrs, cfg.Disable.Attribute)
		case DisableUserAccountControl:
			attrs = appendAttr(attrs, "userAccountControl")
		}
		for _, r := range cfg.ReferenceAttributes {
			attrs = appendAttr(attrs, r)
		}
	} else {
		attrs = appendAttr(attrs, cfg.MemberAttribute)
	}
	return attrs
}

// Read emits every user or group (full read: a paged subtree search of the type's base DN
// with its filter) or the changes since req.Watermark:
//
//   - syncrepl: an RFC 4533 refreshOnly search with the cookie as watermark; reports
//     changed entries and deleted ones (by entryUUID). When the server answers
//     e-syncRefreshRequired, or with a present phase (it cannot list the deletes since the
//     cookie), the read becomes a full read.
//   - timestamp: a search for TimestampAttribute >= the highest timestamp seen. Deletes
//     cannot be seen this way, so these reads are never Full; a full read (restart scope
//     Watermark, or an unknown watermark) reconciles them.
//
// syncrepl reports deleted entries, and entries that left the search's scope, by entryUUID
// without saying of which type they were; only IDs this process has read for the type are
// passed on as deletes, so until a full read of the type since the process started, a
// refresh that reports deletes becomes a full read.
//
// A watermark of another mode (the configuration changed) gives a full read. Changes of an
// incremental read come sorted by ID, upserts before deletes; a full read comes in the
// server's order, which is stable for the same content.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	ti, err := s.c.typeInfo(req.Type)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	mode, err := s.Mode(ctx)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	var res connectors.ReadResult
	switch {
	case mode == IncrementalSyncrepl && strings.HasPrefix(req.Watermark, wmSyncrepl):
		res, err = s.syncrepl(ctx, ti, strings.TrimPrefix(req.Watermark, wmSyncrepl), emit)
	case mode == IncrementalTimestamp && strings.HasPrefix(req.Watermark, wmTimestamp):
		res, err = s.sinceTimestamp(ctx, ti, strings.TrimPrefix(req.Watermark, wmTimestamp), emit)
	default:
		res, err = s.full(ctx, ti, mode, emit)
	}
	var ee emitError
	if errors.As(err, &ee) {
		return res, ee.err
	}
	return res, err
}

// readConn dials a connection of its own for a read (a long paged search must not hold a
// pooled connection, and its lookups use the pool). done closes it.
func (s *Source) readConn(ctx context.Context) (conn *goldap.Conn, done func(), err error) {
	conn, err = s.c.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	var once sync.Once
	return conn, func() { once.Do(func() { stop(); _ = conn.Close() }) }, nil
}

// full is a full read. In syncrepl mode the cookie is taken first (changes during the read
// come again in the next incremental read).
func (s *Source) full(ctx context.Context, ti *typeInfo, mode string, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	conn, done, err := s.readConn(ctx)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	defer done()
	res := connectors.ReadResult{Full: true}
	if mode == IncrementalSyncrepl {
		cookie, err := s.latestCookie(ctx, conn, ti)
		if err != nil {
			return res, err
		}
		res.Watermark = wmSyncrepl + base64.RawURLEncoding.EncodeToString(cookie)
	}
	if err := s.prepare(ctx, conn, ti); err != nil {
		return res, err
	}
	rs := s.newRefs(ctx)
	maxTS := epoch
	fresh := newDNIndex()
	seen := newIDSet()
	tsAttr := s.c.cfg.TimestampAttribute
	err = s.c.searchOn(conn, ti.cfg.BaseDN, goldap.ScopeWholeSubtree, ti.cfg.Filter, s.readAttrs(ti), 0, func(e *goldap.Entry) error {
		if ts := firstValue(e, tsAttr); ts > maxTS {
			maxTS = ts
		}
		obj := s.object(ti, e, rs)
		if ti.typ == connectors.TypeUser {
			fresh.put(e.DN, obj.ID)
		}
		seen.add(obj.ID)
		if err := emit(connectors.Change{Kind: connectors.ChangeUpsert, Object: obj}); err != nil {
			return emitError{err}
		}
		return nil
	})
	if err != nil {
		return res, s.readError(ctx, ti, err)
	}
	if ti.typ == connectors.TypeUser {
		fresh.complete = true
		s.index.replace(fresh)
	}
	seen.complete = true
	s.known[ti.typ].replace(seen)
	if mode == IncrementalTimestamp {
		res.Watermark = wmTimestamp + maxTS
	}
	return res, nil
}

func (s *Source) readError(ctx context.Context, ti *typeInfo, err error) error {
	var ee emitError
	if errors.As(err, &ee) {
		return ee
	}
	if ctxErr(ctx, err) {
		return ctx.Err()
	}
	return s.c.errorFor(ctx, "search "+ti.cfg.BaseDN, err)
}

// prepare fills the DN index (DN → source ID of every user) when references must be
// resolved and it has not been filled yet: one paged listing of the users' DNs and IDs.
func (s *Source) prepare(ctx context.Context, conn *goldap.Conn, ti *typeInfo) error {
	if ti.typ == connectors.TypeUser && len(s.c.cfg.ReferenceAttributes) == 0 || s.index.isComplete() {
		return nil
	}
	idAttr := s.c.cfg.IDAttribute
	attrs := []string{"1.1"}
	if !strings.EqualFold(idAttr, "dn") {
		attrs = []string{idAttr}
	}
	fresh := newDNIndex()
	u := s.c.users
	err := s.c.searchOn(conn, u.cfg.BaseDN, goldap.ScopeWholeSubtree, u.cfg.Filter, attrs, 0, func(e *goldap.Entry) error {
		fresh.put(e.DN, s.idOf(e))
		return nil
	})
	if err != nil {
		return s.readError(ctx, u, err)
	}
	fresh.complete = true
	s.index.replace(fresh)
	return nil
}

// sinceTimestamp reads the entries changed at or after ts.
func (s *Source) sinceTimestamp(ctx context.Context, ti *typeInfo, ts string, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	if ts == "" || strings.ContainsAny(ts, "()*\\\x00") {
		return s.full(ctx, ti, IncrementalTimestamp, emit)
	}
	conn, done, err := s.readConn(ctx)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	defer done()
	if err := s.prepare(ctx, conn, ti); err != nil {
		return connectors.ReadResult{}, err
	}
	tsAttr := s.c.cfg.TimestampAttribute
	filter := "(&" + ti.cfg.Filter + "(" + tsAttr + ">=" + goldap.EscapeFilter(ts) + "))"
	var entries []*goldap.Entry
	maxTS := ts
	err = s.c.searchOn(conn, ti.cfg.BaseDN, goldap.ScopeWholeSubtree, filter, s.readAttrs(ti), 0, func(e *goldap.Entry) error {
		if t := firstValue(e, tsAttr); t > maxTS {
			maxTS = t
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return connectors.ReadResult{}, s.readError(ctx, ti, err)
	}
	done()
	changes := s.upserts(ctx, ti, entries)
	for _, ch := range changes {
		if err := emit(ch); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	return connectors.ReadResult{Watermark: wmTimestamp + maxTS}, nil
}

// upserts converts entries to upserts sorted by ID (the user index is updated).
func (s *Source) upserts(ctx context.Context, ti *typeInfo, entries []*goldap.Entry) []connectors.Change {
	rs := s.newRefs(ctx)
	out := make([]connectors.Change, 0, len(entries))
	for _, e := range entries {
		obj := s.object(ti, e, rs)
		if ti.typ == connectors.TypeUser {
			s.index.put(e.DN, obj.ID)
		}
		s.known[ti.typ].add(obj.ID)
		out = append(out, connectors.Change{Kind: connectors.ChangeUpsert, Object: obj})
	}
	slices.SortFunc(out, func(a, b connectors.Change) int { return strings.Compare(a.Object.ID, b.Object.ID) })
	return out
}

// latestCookie returns the server's current sync cookie for ti's search: a refreshOnly
// search whose filter matches nothing.
func (s *Source) latestCookie(ctx context.Context, conn *goldap.Conn, ti *typeInfo) ([]byte, error) {
	filter := "(&" + ti.cfg.Filter + "(!(objectClass=*)))"
	r, err := s.syncSearch(ctx, conn, ti, filter, []string{"1.1"}, nil)
	if err != nil {
		return nil, err
	}
	if len(r.cookie) == 0 {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeProtocolError,
			Message: "the server answered a syncrepl refresh without a cookie", Request: "search " + ti.cfg.BaseDN}
	}
	return r.cookie, nil
}

// syncResult is what one refreshOnly search returned.
type syncResult struct {
	entries []*goldap.Entry // added or modified
	deleted []string        // entryUUIDs
	// present is true when the server answered with a present phase: entries not listed
	// as present were deleted, which only a full read can tell.
	present bool
	cookie  []byte
}

// syncSearch runs one RFC 4533 refreshOnly search on conn. A read that stays silent for
// longer than the timeout fails.
func (s *Source) syncSearch(ctx context.Context, conn *goldap.Conn, ti *typeInfo, filter string, attrs []string, cookie []byte) (*syncResult, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := goldap.NewSearchRequest(ti.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	s.c.requests.Add(1)
	r := conn.Syncrepl(sctx, req, 256, goldap.SyncRequestModeRefreshOnly, cookie, false)
	idle := time.AfterFunc(s.c.cfg.Timeout, cancel)
	defer idle.Stop()
	out := &syncResult{}
	doneSeen := false
	for r.Next() {
		idle.Reset(s.c.cfg.Timeout)
		for _, ctrl := range r.Controls() {
			switch c := ctrl.(type) {
			case *goldap.ControlSyncState:
				switch c.State {
				case goldap.SyncStateAdd, goldap.SyncStateModify:
					if e := r.Entry(); e != nil {
						out.entries = append(out.entries, e)
					}
				case goldap.SyncStateDelete:
					out.deleted = append(out.deleted, c.EntryUUID.String())
				case goldap.SyncStatePresent:
					out.present = true
				}
				if len(c.Cookie) > 0 {
					out.cookie = c.Cookie
				}
			case *goldap.ControlSyncInfo:
				switch {
				case c.NewCookie != nil:
					out.cookie = nonEmpty(c.NewCookie.Cookie, out.cookie)
				case c.RefreshDelete != nil:
					out.cookie = nonEmpty(c.RefreshDelete.Cookie, out.cookie)
				case c.RefreshPresent != nil:
					out.present = true
					out.cookie = nonEmpty(c.RefreshPresent.Cookie, out.cookie)
				case c.SyncIdSet != nil:
					out.cookie = nonEmpty(c.SyncIdSet.Cookie, out.cookie)
					if c.SyncIdSet.RefreshDeletes {
						for _, u := range c.SyncIdSet.SyncUUIDs {
							out.deleted = append(out.deleted, u.String())
						}
					} else {
						out.present = true
					}
				}
			case *goldap.ControlSyncDone:
				doneSeen = true
				out.cookie = nonEmpty(c.Cookie, out.cookie)
				if !c.RefreshDeletes && cookie != nil {
					out.present = true
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		return nil, s.readError(ctx, ti, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !doneSeen {
		// The watchdog cancelled a silent search, or the stream ended early.
		return nil, &connectors.Error{Class: connectors.ClassRetryable, Code: CodeTimeout,
			Message: "the syncrepl refresh did not complete within " + s.c.cfg.Timeout.String() + " of silence", Request: "search " + ti.cfg.BaseDN}
	}
	return out, nil
}

func nonEmpty(b, old []byte) []byte {
	if len(b) > 0 {
		return b
	}
	return old
}

// syncrepl is an incremental read with a sync cookie.
func (s *Source) syncrepl(ctx context.Context, ti *typeInfo, token string, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	cookie, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(cookie) == 0 {
		return s.full(ctx, ti, IncrementalSyncrepl, emit)
	}
	conn, done, err := s.readConn(ctx)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	defer done()
	r, err := s.syncSearch(ctx, conn, ti, ti.cfg.Filter, s.readAttrs(ti), cookie)
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Status == goldap.LDAPResultSyncRefreshRequired {
		done()
		return s.full(ctx, ti, IncrementalSyncrepl, emit)
	}
	if err != nil {
		return connectors.ReadResult{}, err
	}
	known := s.known[ti.typ]
	if r.present || len(r.deleted) > 0 && !known.isComplete() {
		// The server cannot list what was deleted since the cookie, or this process cannot
		// tell which reported deletes are of this type (no full read since it started):
		// read everything.
		done()
		return s.full(ctx, ti, IncrementalSyncrepl, emit)
	}
	if err := s.prepare(ctx, conn, ti); err != nil {
		return connectors.ReadResult{}, err
	}
	done()
	changes := s.upserts(ctx, ti, r.entries)
	slices.Sort(r.deleted)
	r.deleted = slices.Compact(r.deleted)
	for _, id := range r.deleted {
		if !known.remove(id) {
			continue // not of this type (syncprov reports every entry that left the search's scope)
		}
		changes = append(changes, connectors.Change{Kind: connectors.ChangeDelete, Object: connectors.Object{Type: ti.typ, ID: id}})
		if ti.typ == connectors.TypeUser {
			s.index.forget(id)
		}
	}
	for _, ch := range changes {
		if err := emit(ch); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	if len(r.cookie) == 0 {
		r.cookie = cookie
	}
	return connectors.ReadResult{Watermark: wmSyncrepl + base64.RawURLEncoding.EncodeToString(r.cookie)}, nil
}

// Get reads one object by source ID; a missing object is ClassNotFound.
func (s *Source) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	ti, err := s.c.typeInfo(typ)
	if err != nil {
		return connectors.Object{}, err
	}
	if id == "" {
		return connectors.Object{}, invalid(CodeInvalidAnchor, "empty source id")
	}
	idAttr := s.c.cfg.IDAttribute
	base, scope, filter := ti.cfg.BaseDN, goldap.ScopeWholeSubtree, ""
	if strings.EqualFold(idAttr, "dn") {
		if _, err := goldap.ParseDN(id); err != nil {
			return connectors.Object{}, invalid(CodeInvalidDN, "source id %q is not a DN: %v", id, err)
		}
		base, scope, filter = id, goldap.ScopeBaseObject, ti.cfg.Filter
	} else {
		filter = "(&" + ti.cfg.Filter + "(" + idAttr + "=" + s.c.filterValue(idAttr, id) + "))"
	}
	var found []*goldap.Entry
	err = s.c.search(ctx, base, scope, filter, s.readAttrs(ti), 2, func(e *goldap.Entry) error {
		found = append(found, e)
		return nil
	})
	if err != nil && !isCode(err, goldap.LDAPResultNoSuchObject) {
		return connectors.Object{}, s.c.errorFor(ctx, "search "+base, err)
	}
	switch len(found) {
	case 0:
		return connectors.Object{}, &connectors.Error{Class: connectors.ClassNotFound, Code: CodeInvalidAnchor,
			Message: "no " + strings.ToLower(string(typ)) + " with " + idAttr + " " + id, Request: "search " + base}
	case 1:
		return s.object(ti, found[0], s.newRefs(ctx)), nil
	}
	return connectors.Object{}, &connectors.Error{Class: connectors.ClassInvalid, Code: "DuplicateSourceEntries",
		Message: "several " + strings.ToLower(string(typ)) + "s have " + idAttr + " " + id, Request: "search " + base}
}

// idOf returns the source ID of an entry.
func (s *Source) idOf(e *goldap.Entry) string {
	if strings.EqualFold(s.c.cfg.IDAttribute, "dn") {
		return e.DN
	}
	return firstValue(e, s.c.cfg.IDAttribute)
}

// object converts an entry to a source object: its attributes (one value as a string,
// several as []string), "dn", for users accountEnabled (from the disable settings) and
// reference attributes as the source IDs of the users they name, for groups "members" as
// the source IDs of the member users (the membership attribute itself is left out; members
// that are not users of this source, such as the placeholder, are dropped).
func (s *Source) object(ti *typeInfo, e *goldap.Entry, rs *refs) connectors.Object {
	cfg := &s.c.cfg
	var multi []string
	if ti.typ == connectors.TypeGroup {
		multi = []string{cfg.MemberAttribute}
	}
	attrs := entryAttributes(e, multi...)
	attrs["dn"] = e.DN
	if ti.typ == connectors.TypeUser {
		attrs[connectors.AttrAccountEnabled] = s.enabled(e)
		for _, ref := range cfg.ReferenceAttributes {
			k, v := "", []string(nil)
			for _, a := range e.Attributes {
				if strings.EqualFold(a.Name, ref) {
					k, v = a.Name, a.Values
				}
			}
			if k == "" {
				continue
			}
			var ids []string
			for _, dn := range v {
				if id, ok := rs.resolve(dn); ok {
					ids = append(ids, id)
				}
			}
			switch len(ids) {
			case 0:
				delete(attrs, k)
			case 1:
				attrs[k] = ids[0]
			default:
				attrs[k] = ids
			}
		}
	} else {
		members := []string{}
		for _, a := range e.Attributes {
			if !strings.EqualFold(a.Name, cfg.MemberAttribute) {
				continue
			}
			delete(attrs, a.Name)
			for _, dn := range a.Values {
				if id, ok := rs.resolve(dn); ok {
					members = append(members, id)
				}
			}
		}
		attrs[connectors.AttrMembers] = members
	}
	return connectors.Object{Type: ti.typ, ID: s.idOf(e), Attributes: attrs}
}

// enabled tells whether a user entry is enabled per the disable settings.
func (s *Source) enabled(e *goldap.Entry) bool {
	d := s.c.cfg.Disable
	switch d.Mode {
	case DisableAttribute:
		for _, v := range values(e, d.Attribute) {
			if strings.EqualFold(v, d.Value) {
				return false
			}
		}
	case DisableUserAccountControl:
		if n, err := strconv.ParseInt(firstValue(e, "userAccountControl"), 10, 64); err == nil && n&uacDisabled != 0 {
			return false
		}
	}
	return true
}

// ---- references ----

// dnIndex maps user DNs (folded) to source IDs.
type dnIndex struct {
	mu       sync.Mutex
	byDN     map[string]string
	byID     map[string]string // id → folded DN
	complete bool              // filled by a full listing
}

func newDNIndex() *dnIndex {
	return &dnIndex{byDN: map[string]string{}, byID: map[string]string{}}
}

func (x *dnIndex) put(dn, id string) {
	if id == "" {
		return
	}
	k := foldDN(dn)
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[id]; ok && old != k {
		delete(x.byDN, old) // renamed
	}
	x.byDN[k] = id
	x.byID[id] = k
}

func (x *dnIndex) get(dn string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.byDN[foldDN(dn)]
	return id, ok
}

func (x *dnIndex) forget(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := x.byID[id]; ok {
		delete(x.byDN, k)
		delete(x.byID, id)
	}
}

func (x *dnIndex) isComplete() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.complete
}

// replace takes over the content of fresh.
func (x *dnIndex) replace(fresh *dnIndex) {
	fresh.mu.Lock()
	byDN, byID, complete := fresh.byDN, fresh.byID, fresh.complete
	fresh.mu.Unlock()
	x.mu.Lock()
	x.byDN, x.byID, x.complete = byDN, byID, complete
	x.mu.Unlock()
}

// idSet is a set of source IDs.
type idSet struct {
	mu       sync.Mutex
	ids      map[string]struct{}
	complete bool // filled by a full read
}

func newIDSet() *idSet { return &idSet{ids: map[string]struct{}{}} }

func (x *idSet) add(id string) {
	x.mu.Lock()
	x.ids[id] = struct{}{}
	x.mu.Unlock()
}

// remove removes id and reports whether it was there.
func (x *idSet) remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.ids[id]
	delete(x.ids, id)
	return ok
}

func (x *idSet) isComplete() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.complete
}

func (x *idSet) replace(fresh *idSet) {
	x.mu.Lock()
	x.ids, x.complete = fresh.ids, fresh.complete
	x.mu.Unlock()
}

// refs resolves DNs to user source IDs during one read: the index first, then (for DNs
// under the users base DN) one lookup on a pooled connection; misses are remembered.
type refs struct {
	ctx  context.Context
	s    *Source
	miss map[string]bool
}

func (s *Source) newRefs(ctx context.Context) *refs {
	return &refs{ctx: ctx, s: s, miss: map[string]bool{}}
}

func (r *refs) resolve(dn string) (string, bool) {
	s := r.s
	if id, ok := s.index.get(dn); ok {
		return id, true
	}
	k := foldDN(dn)
	if r.miss[k] || !under(s.c.users.base, dn) {
		return "", false
	}
	attrs := []string{"1.1"}
	if !strings.EqualFold(s.c.cfg.IDAttribute, "dn") {
		attrs = []string{s.c.cfg.IDAttribute}
	}
	var id string
	_ = s.c.search(r.ctx, dn, goldap.ScopeBaseObject, s.c.users.cfg.Filter, attrs, 0, func(e *goldap.Entry) error {
		id = s.idOf(e)
		return nil
	})
	if id == "" {
		r.miss[k] = true
		return "", false
	}
	s.index.put(dn, id)
	return id, true
}
