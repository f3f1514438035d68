// Package memory holds an in-memory source and target for engine tests. Both are safe for
// concurrent use, copy what goes in and out, and behave like real connectors where the
// engine can tell: sorted, resumable reads with watermarks on the source; generated ids,
// case-insensitive matching, uniqueness conflicts, membership and failures on demand on
// the target.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/connectors"
)

// Source is an in-memory source. Every mutation bumps a version; the watermark of a read
// is the version it saw.
type Source struct {
	mu      sync.Mutex
	version uint64
	objs    map[connectors.ObjectType]map[string]srcEntry
	gone    map[connectors.ObjectType]map[string]tombstone
	err     error
}

type srcEntry struct {
	obj connectors.Object
	ver uint64 // version of the last Put
}

type tombstone struct {
	ver  uint64 // version of the Delete
	name string
}

var (
	_ connectors.Source    = (*Source)(nil)
	_ connectors.Estimator = (*Source)(nil)
)

// NewSource returns an empty source.
func NewSource() *Source {
	return &Source{
		objs: map[connectors.ObjectType]map[string]srcEntry{},
		gone: map[connectors.ObjectType]map[string]tombstone{},
	}
}

// Put creates or replaces an object (a copy of obj). It panics on an object without a
// type or ID: that is a broken test.
func (s *Source) Put(obj connectors.Object) {
	if obj.Type == "" || obj.ID == "" {
		panic(fmt.Sprintf("memory.Source.Put: object without type or ID: %+v", obj))
	}
	obj.Attributes = obj.Attributes.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	m := s.objs[obj.Type]
	if m == nil {
		m = map[string]srcEntry{}
		s.objs[obj.Type] = m
	}
	m[obj.ID] = srcEntry{obj: obj, ver: s.version}
	delete(s.gone[obj.Type], obj.ID)
}

// Delete removes an object; deleting a missing object changes nothing.
func (s *Source) Delete(typ connectors.ObjectType, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.objs[typ][id]
	if !ok {
		return
	}
	s.version++
	delete(s.objs[typ], id)
	g := s.gone[typ]
	if g == nil {
		g = map[string]tombstone{}
		s.gone[typ] = g
	}
	g[id] = tombstone{ver: s.version, name: nameOf(e.obj)}
}

func nameOf(o connectors.Object) string {
	n, _ := o.Attributes[connectors.AttrDisplayName].(string)
	return n
}

// SetError makes Test, Read, Estimate and Get fail with err while it is set (nil clears).
func (s *Source) SetError(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Watermark returns the current version as a Read would return it.
func (s *Source) Watermark() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatUint(s.version, 10)
}

// Test fails with the error set by SetError.
func (s *Source) Test(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// changes computes what a Read of req returns, under the lock.
func (s *Source) changes(req connectors.ReadRequest) ([]connectors.Change, connectors.ReadResult, error) {
	if s.err != nil {
		return nil, connectors.ReadResult{}, s.err
	}
	if !req.Type.Valid() {
		return nil, connectors.ReadResult{}, connectors.Errorf(connectors.ClassInvalid, "memory source: unknown object type %q", req.Type)
	}
	res := connectors.ReadResult{Watermark: strconv.FormatUint(s.version, 10)}
	since, err := strconv.ParseUint(req.Watermark, 10, 64)
	res.Full = req.Watermark == "" || err != nil || since > s.version // unknown watermark: full read
	var out []connectors.Change
	for _, e := range s.objs[req.Type] {
		if res.Full || e.ver > since {
			out = append(out, connectors.Change{Kind: connectors.ChangeUpsert, Object: e.obj})
		}
	}
	slices.SortFunc(out, func(a, b connectors.Change) int { return strings.Compare(a.Object.ID, b.Object.ID) })
	if !res.Full {
		var dels []connectors.Change
		for id, g := range s.gone[req.Type] {
			if g.ver > since {
				obj := connectors.Object{Type: req.Type, ID: id}
				if g.name != "" {
					obj.Attributes = connectors.Attributes{connectors.AttrDisplayName: g.name}
				}
				dels = append(dels, connectors.Change{Kind: connectors.ChangeDelete, Object: obj})
			}
		}
		slices.SortFunc(dels, func(a, b connectors.Change) int { return strings.Compare(a.Object.ID, b.Object.ID) })
		out = append(out, dels...)
	}
	return out, res, nil
}

// Read emits every object sorted by ID (full read: no watermark, or one that is not a
// version of this source), or the objects put since the watermark's version (sorted by
// ID) followed by the objects deleted since then (sorted by ID). An object put and deleted
// after the watermark is reported as deleted. The new watermark is the current version.
// Objects are copies; emit runs without the source's lock held.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	s.mu.Lock()
	changes, res, err := s.changes(req)
	s.mu.Unlock()
	if err != nil {
		return connectors.ReadResult{}, err
	}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return connectors.ReadResult{}, err
		}
		c.Object.Attributes = c.Object.Attributes.Clone()
		if err := emit(c); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	return res, nil
}

// Estimate returns the number of changes Read would emit now.
func (s *Source) Estimate(ctx context.Context, req connectors.ReadRequest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changes, _, err := s.changes(req)
	return int64(len(changes)), err
}

// Get returns a copy of one object, or an *connectors.Error of ClassNotFound.
func (s *Source) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return connectors.Object{}, s.err
	}
	e, ok := s.objs[typ][id]
	if !ok {
		return connectors.Object{}, &connectors.Error{Class: connectors.ClassNotFound, Message: fmt.Sprintf("%s %q not found", typ, id)}
	}
	obj := e.obj
	obj.Attributes = obj.Attributes.Clone()
	return obj, nil
}

// Close does nothing.
func (s *Source) Close() error { return nil }
