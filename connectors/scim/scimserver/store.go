package scimserver

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// snapshot is one immutable version of a stored resource. Once published through entry.cur it
// is never modified: updates build a new snapshot (copying only the containers they change), so
// readers can marshal a snapshot without holding any lock.
type snapshot struct {
	attrs    map[string]any // validated attributes with canonical names, plus "id"
	created  time.Time      // UTC, millisecond precision
	modified time.Time      // UTC, millisecond precision
	version  uint64         // ETag is W/"version"
}

// entry is the stable identity of a stored resource. Indexes point at entries, so an update
// only swaps entry.cur and touches the index keys that changed.
type entry struct {
	id  string
	pos int                      // index in store.order; guarded by store.mu
	cur atomic.Pointer[snapshot] // nil once deleted
}

// indexSpec describes a secondary index over one attribute.
type indexSpec struct {
	name    string // canonical attribute name used by the filter planner, e.g. "userName", "emails.value"
	unique  bool   // at most one entry per key; a second one is a uniqueness conflict
	fold    bool   // keys are lower-cased (caseExact:false attributes)
	extract func(attrs map[string]any) []string
}

type index struct {
	spec  indexSpec
	uniq  map[string]*entry   // unique indexes
	multi map[string][]*entry // non-unique indexes
}

func (ix *index) key(v string) string {
	if ix.spec.fold {
		return strings.ToLower(v)
	}
	return v
}

func (ix *index) keys(attrs map[string]any) []string {
	vals := ix.spec.extract(attrs)
	for i, v := range vals {
		vals[i] = ix.key(v)
	}
	return vals
}

func (ix *index) add(k string, e *entry) {
	if ix.spec.unique {
		ix.uniq[k] = e
		return
	}
	ix.multi[k] = append(ix.multi[k], e)
}

func (ix *index) remove(k string, e *entry) {
	if ix.spec.unique {
		if ix.uniq[k] == e {
			delete(ix.uniq, k)
		}
		return
	}
	list := ix.multi[k]
	for i, x := range list {
		if x == e {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(ix.multi, k)
	} else {
		ix.multi[k] = list
	}
}

func (ix *index) lookup(v string) []*entry {
	k := ix.key(v)
	if ix.spec.unique {
		if e := ix.uniq[k]; e != nil {
			return []*entry{e}
		}
		return nil
	}
	return slices.Clone(ix.multi[k])
}

func (ix *index) reset() {
	if ix.spec.unique {
		ix.uniq = make(map[string]*entry)
	} else {
		ix.multi = make(map[string][]*entry)
	}
}

// conflictError reports a uniqueness violation on an indexed attribute.
type conflictError struct{ attr, value string }

// store holds the resources of one resource type: insertion-ordered, indexed by id and by the
// index specs. A single RWMutex guards the maps and the order slice; snapshots are read
// lock-free through entry.cur.
type store struct {
	mu         sync.RWMutex
	byID       map[string]*entry
	order      []*entry // insertion order; nil holes are deleted entries until compaction
	live       int
	tombstones int
	indexes    []*index
}

func newStore(specs ...indexSpec) *store {
	s := &store{}
	for _, sp := range specs {
		s.indexes = append(s.indexes, &index{spec: sp})
	}
	s.resetLocked()
	return s
}

func (s *store) resetLocked() {
	s.byID = make(map[string]*entry)
	s.order = nil
	s.live = 0
	s.tombstones = 0
	for _, ix := range s.indexes {
		ix.reset()
	}
}

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *store) index(name string) *index {
	for _, ix := range s.indexes {
		if ix.spec.name == name {
			return ix
		}
	}
	return nil
}

func (s *store) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live
}

// get returns the entry and its current snapshot, or nil if there is none.
func (s *store) get(id string) (*entry, *snapshot) {
	s.mu.RLock()
	e := s.byID[id]
	s.mu.RUnlock()
	if e == nil {
		return nil, nil
	}
	snap := e.cur.Load()
	if snap == nil {
		return nil, nil
	}
	return e, snap
}

// lookup returns the entries whose index key equals v, in insertion order.
func (s *store) lookup(indexName, v string) []*entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix := s.index(indexName)
	if ix == nil {
		return nil
	}
	list := ix.lookup(v)
	sortByPos(list)
	return list
}

// union merges two candidate lists without duplicates, in insertion order.
func (s *store) union(a, b []*entry) []*entry {
	seen := make(map[*entry]struct{}, len(a)+len(b))
	out := make([]*entry, 0, len(a)+len(b))
	for _, list := range [][]*entry{a, b} {
		for _, e := range list {
			if _, dup := seen[e]; !dup {
				seen[e] = struct{}{}
				out = append(out, e)
			}
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sortByPos(out)
	return out
}

// sortByPos sorts entries by insertion order. Must hold s.mu.
func sortByPos(list []*entry) {
	if len(list) > 1 {
		slices.SortFunc(list, func(a, b *entry) int { return a.pos - b.pos })
	}
}

// keysFor computes every index's keys for attrs and checks the unique ones against entries
// other than self. Must hold s.mu.
func (s *store) keysFor(attrs map[string]any, self *entry) ([][]string, *conflictError) {
	keys := make([][]string, len(s.indexes))
	for i, ix := range s.indexes {
		keys[i] = ix.keys(attrs)
		if !ix.spec.unique {
			continue
		}
		for _, k := range keys[i] {
			if other := ix.uniq[k]; other != nil && other != self {
				return nil, &conflictError{attr: ix.spec.name, value: k}
			}
		}
	}
	return keys, nil
}

// insert adds a new resource. It fails with a conflict if a unique key is taken.
func (s *store) insert(id string, snap *snapshot) *conflictError {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys, cerr := s.keysFor(snap.attrs, nil)
	if cerr != nil {
		return cerr
	}
	e := &entry{id: id, pos: len(s.order)}
	e.cur.Store(snap)
	s.byID[id] = e
	s.order = append(s.order, e)
	s.live++
	for i, ix := range s.indexes {
		for _, k := range keys[i] {
			ix.add(k, e)
		}
	}
	return nil
}

// errNotFound and errPrecondition are returned by update and remove.
type storeError int

const (
	errNotFound storeError = iota + 1
	errPrecondition
)

func (e storeError) Error() string {
	if e == errNotFound {
		return "not found"
	}
	return "precondition failed"
}

// update replaces the resource id with the attributes fn computes from the current snapshot,
// atomically: the If-Match check (ifMatch, "" for none), fn, the uniqueness checks and the index
// updates all run under the write lock. If fn returns attributes equal to the current ones
// (changed == false), nothing is written and the current snapshot is returned.
func (s *store) update(id, ifMatch string, now func() time.Time, nextVersion func() uint64,
	fn func(old *snapshot) (attrs map[string]any, changed bool, err error)) (*snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byID[id]
	if e == nil {
		return nil, errNotFound
	}
	old := e.cur.Load()
	if !etagMatches(ifMatch, old.version) {
		return old, errPrecondition
	}
	attrs, changed, err := fn(old)
	if err != nil {
		return old, err
	}
	if !changed {
		return old, nil
	}
	newKeys, cerr := s.keysFor(attrs, e)
	if cerr != nil {
		return old, cerr
	}
	oldKeys, _ := s.keysFor(old.attrs, e)
	for i, ix := range s.indexes {
		for _, k := range oldKeys[i] {
			if !slices.Contains(newKeys[i], k) {
				ix.remove(k, e)
			}
		}
		for _, k := range newKeys[i] {
			if !slices.Contains(oldKeys[i], k) {
				ix.add(k, e)
			}
		}
	}
	snap := &snapshot{attrs: attrs, created: old.created, modified: now(), version: nextVersion()}
	e.cur.Store(snap)
	return snap, nil
}

// remove deletes the resource id, honouring If-Match.
func (s *store) remove(id, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byID[id]
	if e == nil {
		return errNotFound
	}
	old := e.cur.Load()
	if !etagMatches(ifMatch, old.version) {
		return errPrecondition
	}
	keys, _ := s.keysFor(old.attrs, e)
	for i, ix := range s.indexes {
		for _, k := range keys[i] {
			ix.remove(k, e)
		}
	}
	delete(s.byID, id)
	e.cur.Store(nil)
	s.order[e.pos] = nil
	s.live--
	s.tombstones++
	if s.tombstones > 1024 && s.tombstones*4 > len(s.order) {
		s.compactLocked()
	}
	return nil
}

func (s *store) compactLocked() {
	order := make([]*entry, 0, s.live+s.live/4)
	for _, e := range s.order {
		if e != nil {
			e.pos = len(order)
			order = append(order, e)
		}
	}
	s.order = order
	s.tombstones = 0
}

// page returns the live snapshots at 0-based offset start, at most count of them, in
// insertion order, and the number of live resources.
func (s *store) page(start, count int) ([]*entry, []*snapshot, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	total := s.live
	if count <= 0 || start >= total {
		return nil, nil, total
	}
	entries := make([]*entry, 0, min(count, total-start))
	snaps := make([]*snapshot, 0, cap(entries))
	i := 0
	if s.tombstones == 0 {
		i = start // no holes: the offset is the position
		start = 0
	}
	for ; i < len(s.order) && len(entries) < count; i++ {
		e := s.order[i]
		if e == nil {
			continue
		}
		if start > 0 {
			start--
			continue
		}
		entries = append(entries, e)
		snaps = append(snaps, e.cur.Load())
	}
	return entries, snaps, total
}

// all returns every entry in insertion order (a copy of the order slice, holes included), so a
// scan can run without holding the lock.
func (s *store) all() []*entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

// etagMatches implements If-Match: "" (no header) and "*" always match; otherwise one of the
// comma-separated entity tags must equal the version (weak comparison, RFC 9110 §8.8.3.2).
func etagMatches(ifMatch string, version uint64) bool {
	ifMatch = strings.TrimSpace(ifMatch)
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	want := etagValue(version)
	for tag := range strings.SplitSeq(ifMatch, ",") {
		if opaqueTag(strings.TrimSpace(tag)) == opaqueTag(want) {
			return true
		}
	}
	return false
}

// opaqueTag strips the weakness indicator.
func opaqueTag(tag string) string {
	return strings.TrimPrefix(tag, "W/")
}
