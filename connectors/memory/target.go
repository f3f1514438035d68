package memory

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/connectors"
)

// Operation names, as Call.Op and as the op passed to the FailWhen hook.
const (
	OpTest          = "test"
	OpFind          = "find"
	OpGet           = "get"
	OpCreate        = "create"
	OpUpdate        = "update"
	OpDisable       = "disable"
	OpEnable        = "enable"
	OpDelete        = "delete"
	OpAddMembers    = "addMembers"
	OpRemoveMembers = "removeMembers"
	OpList          = "list"
)

// Call is one operation the target received, whether it succeeded or not.
type Call struct {
	Op   string
	Type connectors.ObjectType
	// ID is the target ID (the group for membership calls); empty for create, find, list
	// and test.
	ID string
	// Attrs: the attributes of a create, {attr: value} of a find, the attribute names
	// (with nil values) of a list.
	Attrs   connectors.Attributes
	Mods    []connectors.Modification
	Members []string
	// Err is what the call returned.
	Err error
}

// FailFunc decides whether an operation fails: a non-nil error is returned to the caller
// before the operation takes effect. attrs are the create attributes, {attr: value} of a
// find, {name: value} of an update's modifications (nil for removals) or {"members": ids}
// of a membership change.
type FailFunc func(op string, typ connectors.ObjectType, id string, attrs connectors.Attributes) error

// Target is an in-memory target. Objects get IDs "t-1", "t-2", …; a group's membership is
// a set of target IDs, reported as the group's "members" attribute (sorted). Disable sets
// "active" to false and Enable to true.
type Target struct {
	mu      sync.Mutex
	next    int
	objs    map[connectors.ObjectType]map[string]*tgtEntry
	members map[string]map[string]bool
	unique  map[connectors.ObjectType][]string
	calls   []Call
	fail    FailFunc
}

type tgtEntry struct {
	attrs   connectors.Attributes
	version int
}

var (
	_ connectors.Target  = (*Target)(nil)
	_ connectors.Lister  = (*Target)(nil)
	_ connectors.Enabler = (*Target)(nil)
)

// NewTarget returns an empty target.
func NewTarget() *Target {
	return &Target{
		objs:    map[connectors.ObjectType]map[string]*tgtEntry{},
		members: map[string]map[string]bool{},
		unique:  map[connectors.ObjectType][]string{},
	}
}

// FailWhen sets the hook consulted before every operation (nil removes it).
func (t *Target) FailWhen(fn func(op string, typ connectors.ObjectType, id string, attrs connectors.Attributes) error) {
	t.mu.Lock()
	t.fail = fn
	t.mu.Unlock()
}

// SetUnique makes attr of typ unique (case-insensitively): a Create or Update that would
// duplicate a value fails with a ClassConflict error (EntryConflict, 409).
func (t *Target) SetUnique(typ connectors.ObjectType, attr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.unique[typ], attr) {
		t.unique[typ] = append(t.unique[typ], attr)
	}
}

// Seed stores an object as if it already existed in the target (no call is logged, no
// hook consulted, no uniqueness check) and returns it.
func (t *Target) Seed(typ connectors.ObjectType, attrs connectors.Attributes) connectors.TargetObject {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.store(typ, attrs)
	return t.object(typ, id, nil)
}

// Objects returns a snapshot of the objects of typ, sorted by ID.
func (t *Target) Objects(typ connectors.ObjectType) []connectors.TargetObject {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []connectors.TargetObject
	for _, id := range t.ids(typ) {
		out = append(out, t.object(typ, id, nil))
	}
	return out
}

// Members returns a group's member IDs, sorted.
func (t *Target) Members(groupID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.memberList(groupID)
}

// Calls returns the operations received so far, in order.
func (t *Target) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// ResetCalls forgets the operations received so far.
func (t *Target) ResetCalls() {
	t.mu.Lock()
	t.calls = nil
	t.mu.Unlock()
}

// call runs one operation: it checks ctx, consults the hook (outside the lock), runs op
// under the lock and logs the call with its result.
func (t *Target) call(ctx context.Context, c Call, hookAttrs connectors.Attributes, op func() error) error {
	err := ctx.Err()
	if err == nil {
		t.mu.Lock()
		fail := t.fail
		t.mu.Unlock()
		if fail != nil {
			err = fail(c.Op, c.Type, c.ID, hookAttrs)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		err = op()
	}
	c.Err = err
	t.calls = append(t.calls, c)
	return err
}

func (t *Target) ids(typ connectors.ObjectType) []string {
	ids := make([]string, 0, len(t.objs[typ]))
	for id := range t.objs[typ] {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	return ids
}

// compareIDs orders "t-2" before "t-10"; other IDs (from Seed callers' own maps) by string.
func compareIDs(a, b string) int {
	na, ea := strconv.Atoi(strings.TrimPrefix(a, "t-"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(b, "t-"))
	if ea == nil && eb == nil && strings.HasPrefix(a, "t-") && strings.HasPrefix(b, "t-") {
		return na - nb
	}
	return strings.Compare(a, b)
}

// store saves a new object (members of a group go into its membership) and returns its ID.
func (t *Target) store(typ connectors.ObjectType, attrs connectors.Attributes) string {
	t.next++
	id := "t-" + strconv.Itoa(t.next)
	attrs = attrs.Clone()
	if attrs == nil {
		attrs = connectors.Attributes{}
	}
	if typ == connectors.TypeGroup {
		if m, ok := attrs[connectors.AttrMembers]; ok {
			set := map[string]bool{}
			for _, v := range stringsOf(m) {
				set[v] = true
			}
			t.members[id] = set
			delete(attrs, connectors.AttrMembers)
		}
	}
	if t.objs[typ] == nil {
		t.objs[typ] = map[string]*tgtEntry{}
	}
	t.objs[typ][id] = &tgtEntry{attrs: attrs, version: 1}
	return id
}

// object returns a copy of an object, with only the named attributes if names is not
// empty.
func (t *Target) object(typ connectors.ObjectType, id string, names []string) connectors.TargetObject {
	e := t.objs[typ][id]
	attrs := e.attrs.Clone()
	if typ == connectors.TypeGroup {
		if m := t.memberList(id); len(m) > 0 {
			attrs[connectors.AttrMembers] = m
		}
	}
	if len(names) > 0 {
		sel := connectors.Attributes{}
		for _, n := range names {
			if k, ok := lookupKey(attrs, n); ok {
				sel[k] = attrs[k]
			}
		}
		attrs = sel
	}
	return connectors.TargetObject{ID: id, Attributes: attrs, Version: fmt.Sprintf(`W/"%d"`, e.version)}
}

func (t *Target) memberList(groupID string) []string {
	var out []string
	for m := range t.members[groupID] {
		out = append(out, m)
	}
	slices.SortFunc(out, compareIDs)
	return out
}

func notFound(typ connectors.ObjectType, id, request string) *connectors.Error {
	return &connectors.Error{Class: connectors.ClassNotFound, Status: 404, Message: fmt.Sprintf("%s %s not found", typ, id), Request: request}
}

// Test consults the hook only.
func (t *Target) Test(ctx context.Context) error {
	return t.call(ctx, Call{Op: OpTest}, nil, func() error { return nil })
}

// Find returns the objects of typ whose attribute attr equals value, sorted by ID. Names
// match case-insensitively, strings compare case-insensitively, numbers by value, and a
// multi-valued attribute matches when one of its values does. "id" matches the target ID.
func (t *Target) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	q := connectors.Attributes{attr: value}
	var out []connectors.TargetObject
	err := t.call(ctx, Call{Op: OpFind, Type: typ, Attrs: q.Clone()}, q, func() error {
		for _, id := range t.ids(typ) {
			obj := t.object(typ, id, nil)
			if matches(id, obj.Attributes, attr, value) {
				out = append(out, obj)
			}
		}
		return nil
	})
	return out, err
}

func matches(id string, attrs connectors.Attributes, attr string, value any) bool {
	if strings.EqualFold(attr, "id") {
		return equalValues(id, value)
	}
	k, ok := lookupKey(attrs, attr)
	if !ok {
		return false
	}
	switch v := attrs[k].(type) {
	case []string:
		for _, e := range v {
			if equalValues(e, value) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range v {
			if equalValues(e, value) {
				return true
			}
		}
		return false
	default:
		return equalValues(v, value)
	}
}

// lookupKey finds the key of attrs named name, exactly or else case-insensitively.
func lookupKey(attrs connectors.Attributes, name string) (string, bool) {
	if _, ok := attrs[name]; ok {
		return name, true
	}
	for k := range attrs {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// equalValues compares plain values: strings case-insensitively, numbers by value.
func equalValues(a, b any) bool {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && strings.EqualFold(as, bs)
	}
	if af, ok := number(a); ok {
		bf, ok := number(b)
		return ok && af == bf
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// Get returns an object by ID.
func (t *Target) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	var out connectors.TargetObject
	err := t.call(ctx, Call{Op: OpGet, Type: typ, ID: id}, nil, func() error {
		if t.objs[typ][id] == nil {
			return notFound(typ, id, fmt.Sprintf("GET %s/%s", typ, id))
		}
		out = t.object(typ, id, nil)
		return nil
	})
	return out, err
}

// Create stores a new object; a group's "members" attribute, if given, becomes its
// membership.
func (t *Target) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	var out connectors.TargetObject
	err := t.call(ctx, Call{Op: OpCreate, Type: typ, Attrs: attrs.Clone()}, attrs.Clone(), func() error {
		if err := t.checkUnique(typ, "", attrs, "POST "+string(typ)); err != nil {
			return err
		}
		if typ == connectors.TypeGroup {
			if err := t.checkMembers(stringsOf(attrs[connectors.AttrMembers]), "POST "+string(typ)); err != nil {
				return err
			}
		}
		out = t.object(typ, t.store(typ, attrs), nil)
		return nil
	})
	return out, err
}

// checkUnique fails when attrs would duplicate a unique attribute of another object.
func (t *Target) checkUnique(typ connectors.ObjectType, self string, attrs connectors.Attributes, request string) error {
	for _, u := range t.unique[typ] {
		k, ok := lookupKey(attrs, u)
		if !ok || attrs[k] == nil {
			continue
		}
		for _, id := range t.ids(typ) {
			if id == self {
				continue
			}
			if k2, ok := lookupKey(t.objs[typ][id].attrs, u); ok && equalValues(t.objs[typ][id].attrs[k2], attrs[k]) {
				return &connectors.Error{Class: connectors.ClassConflict, Code: "EntryConflict", Status: 409,
					Message: fmt.Sprintf("%s %s %v is already used by %s", typ, u, attrs[k], id),
					Detail:  "uniqueness", Request: request}
			}
		}
	}
	return nil
}

// checkMembers fails when a member ID is neither a user nor a group of the target.
func (t *Target) checkMembers(ids []string, request string) error {
	for _, m := range ids {
		if t.objs[connectors.TypeUser][m] == nil && t.objs[connectors.TypeGroup][m] == nil {
			return &connectors.Error{Class: connectors.ClassInvalid, Status: 400,
				Message: fmt.Sprintf("member %s does not exist", m), Detail: "invalidValue", Request: request}
		}
	}
	return nil
}

// cloneValue copies slices so that later changes by the caller do not reach the target.
func cloneValue(v any) any {
	switch v := v.(type) {
	case []string:
		return slices.Clone(v)
	case []any:
		return slices.Clone(v)
	}
	return v
}

func stringsOf(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Update applies modifications: replace sets a value (nil removes the attribute), remove
// drops the attribute, or only the given values of a multi-valued one. On a group,
// "members" changes its membership. Nothing is applied when one modification fails.
func (t *Target) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	hook := connectors.Attributes{}
	for _, m := range mods {
		if m.Op == connectors.ModReplace {
			hook[m.Name] = m.Value
		} else {
			hook[m.Name] = nil
		}
	}
	logged := slices.Clone(mods)
	return t.call(ctx, Call{Op: OpUpdate, Type: typ, ID: id, Mods: logged}, hook, func() error {
		req := fmt.Sprintf("PATCH %s/%s", typ, id)
		e := t.objs[typ][id]
		if e == nil {
			return notFound(typ, id, req)
		}
		attrs := e.attrs.Clone()
		var members map[string]bool
		if typ == connectors.TypeGroup {
			members = map[string]bool{}
			for m := range t.members[id] {
				members[m] = true
			}
		}
		for _, m := range mods {
			isMembers := typ == connectors.TypeGroup && strings.EqualFold(m.Name, connectors.AttrMembers)
			switch {
			case m.Op == connectors.ModReplace && isMembers:
				ids := stringsOf(m.Value)
				if err := t.checkMembers(ids, req); err != nil {
					return err
				}
				clear(members)
				for _, v := range ids {
					members[v] = true
				}
			case m.Op == connectors.ModRemove && isMembers:
				if m.Value == nil {
					clear(members)
				}
				for _, v := range stringsOf(m.Value) {
					delete(members, v)
				}
			case m.Op == connectors.ModReplace:
				k, ok := lookupKey(attrs, m.Name)
				if !ok {
					k = m.Name
				}
				if m.Value == nil {
					delete(attrs, k)
				} else {
					attrs[k] = cloneValue(m.Value)
				}
			case m.Op == connectors.ModRemove:
				k, ok := lookupKey(attrs, m.Name)
				if !ok {
					continue
				}
				if m.Value == nil {
					delete(attrs, k)
					continue
				}
				cur, isList := attrs[k].([]string)
				if !isList {
					delete(attrs, k)
					continue
				}
				drop := stringsOf(m.Value)
				kept := slices.DeleteFunc(slices.Clone(cur), func(s string) bool { return slices.Contains(drop, s) })
				if len(kept) == 0 {
					delete(attrs, k)
				} else {
					attrs[k] = kept
				}
			default:
				return &connectors.Error{Class: connectors.ClassInvalid, Status: 400, Message: fmt.Sprintf("unknown modification op %q", m.Op), Request: req}
			}
		}
		if err := t.checkUnique(typ, id, attrs, req); err != nil {
			return err
		}
		e.attrs = attrs
		e.version++
		if members != nil {
			t.members[id] = members
		}
		return nil
	})
}

// Disable sets "active" to false.
func (t *Target) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return t.setActive(ctx, OpDisable, typ, id, false)
}

// Enable sets "active" to true.
func (t *Target) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return t.setActive(ctx, OpEnable, typ, id, true)
}

func (t *Target) setActive(ctx context.Context, op string, typ connectors.ObjectType, id string, active bool) error {
	return t.call(ctx, Call{Op: op, Type: typ, ID: id}, nil, func() error {
		e := t.objs[typ][id]
		if e == nil {
			return notFound(typ, id, fmt.Sprintf("PATCH %s/%s", typ, id))
		}
		e.attrs["active"] = active
		e.version++
		return nil
	})
}

// Delete removes an object (a missing one is not an error); a deleted user leaves every
// group, a deleted group's membership goes.
func (t *Target) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	return t.call(ctx, Call{Op: OpDelete, Type: typ, ID: id}, nil, func() error {
		if t.objs[typ][id] == nil {
			return nil
		}
		delete(t.objs[typ], id)
		delete(t.members, id)
		for _, set := range t.members {
			delete(set, id)
		}
		return nil
	})
}

// AddMembers adds existing users or groups to a group.
func (t *Target) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	ids := slices.Clone(memberIDs)
	return t.call(ctx, Call{Op: OpAddMembers, Type: connectors.TypeGroup, ID: groupID, Members: ids},
		connectors.Attributes{connectors.AttrMembers: slices.Clone(ids)}, func() error {
			req := fmt.Sprintf("PATCH %s/%s", connectors.TypeGroup, groupID)
			e := t.objs[connectors.TypeGroup][groupID]
			if e == nil {
				return notFound(connectors.TypeGroup, groupID, req)
			}
			if err := t.checkMembers(ids, req); err != nil {
				return err
			}
			set := t.members[groupID]
			if set == nil {
				set = map[string]bool{}
				t.members[groupID] = set
			}
			for _, m := range ids {
				set[m] = true
			}
			e.version++
			return nil
		})
}

// RemoveMembers removes members from a group (absent ones are ignored).
func (t *Target) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	ids := slices.Clone(memberIDs)
	return t.call(ctx, Call{Op: OpRemoveMembers, Type: connectors.TypeGroup, ID: groupID, Members: ids},
		connectors.Attributes{connectors.AttrMembers: slices.Clone(ids)}, func() error {
			e := t.objs[connectors.TypeGroup][groupID]
			if e == nil {
				return notFound(connectors.TypeGroup, groupID, fmt.Sprintf("PATCH %s/%s", connectors.TypeGroup, groupID))
			}
			for _, m := range ids {
				delete(t.members[groupID], m)
			}
			e.version++
			return nil
		})
}

// List emits every object of typ sorted by ID, with only the named attributes (all when
// attrs is empty). emit runs without the target's lock held.
func (t *Target) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	names := connectors.Attributes{}
	for _, a := range attrs {
		names[a] = nil
	}
	var objs []connectors.TargetObject
	if err := t.call(ctx, Call{Op: OpList, Type: typ, Attrs: names}, names.Clone(), func() error {
		for _, id := range t.ids(typ) {
			objs = append(objs, t.object(typ, id, attrs))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(o); err != nil {
			return err
		}
	}
	return nil
}

// Close does nothing.
func (t *Target) Close() error { return nil }
