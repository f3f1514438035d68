package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/provisiond/provisiond/connectors"
)

// Files in the directory.
const (
	usersFile   = "users.csv"
	groupsFile  = "groups.csv"
	membersFile = "members.csv"
)

// Column types: a header "name:type" (no suffix: string).
const (
	colString = ""
	colBool   = "bool"
	colInt    = "int"
	colFloat  = "float"
	colList   = "list"
	colJSON   = "json"
)

// unique is the attribute that must be unique (case-insensitively) per type.
var unique = map[connectors.ObjectType]string{connectors.TypeUser: "userName", connectors.TypeGroup: "displayName"}

// Target keeps users and groups in CSV files. Every change rewrites the file it touches
// atomically (temporary file, fsync, rename). Safe for concurrent use.
type Target struct {
	dir     string
	mu      sync.Mutex
	objs    map[connectors.ObjectType]*table
	members map[string][]string // group id → member ids, in insertion order
}

// table is the objects of one type, in file order.
type table struct {
	order []string
	rows  map[string]connectors.Attributes
}

var (
	_ connectors.Target  = (*Target)(nil)
	_ connectors.Lister  = (*Target)(nil)
	_ connectors.Enabler = (*Target)(nil)
)

// Open reads the directory (creating it when missing).
func Open(dir string) (*Target, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	t := &Target{dir: dir, objs: map[connectors.ObjectType]*table{}, members: map[string][]string{}}
	for typ, name := range map[connectors.ObjectType]string{connectors.TypeUser: usersFile, connectors.TypeGroup: groupsFile} {
		tb, err := readTable(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		t.objs[typ] = tb
	}
	rows, err := readCSV(filepath.Join(dir, membersFile))
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		if i == 0 || len(r) < 2 {
			continue
		}
		t.members[r[0]] = append(t.members[r[0]], r[1])
	}
	return t, nil
}

func (t *Target) count(typ connectors.ObjectType) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.objs[typ].order)
}

func readCSV(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// readTable reads a users or groups file: a header "id,<column>..." and one row per object.
func readTable(path string) (*table, error) {
	tb := &table{rows: map[string]connectors.Attributes{}}
	rows, err := readCSV(path)
	if err != nil || len(rows) == 0 {
		return tb, err
	}
	head := rows[0]
	if len(head) == 0 || head[0] != "id" {
		return nil, fmt.Errorf("%s: the first column must be id", path)
	}
	for n, r := range rows[1:] {
		if len(r) == 0 || r[0] == "" {
			continue
		}
		attrs := connectors.Attributes{}
		for i := 1; i < len(head) && i < len(r); i++ {
			if r[i] == "" {
				continue
			}
			name, typ := splitColumn(head[i])
			v, err := parseCell(typ, r[i])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %s: %w", path, n+2, head[i], err)
			}
			attrs[name] = v
		}
		tb.order = append(tb.order, r[0])
		tb.rows[r[0]] = attrs
	}
	return tb, nil
}

// splitColumn splits "name:type" (an attribute name may hold colons, as SCIM extension
// URNs do: only a known type after the last one counts).
func splitColumn(h string) (string, string) {
	if i := strings.LastIndexByte(h, ':'); i > 0 {
		switch typ := h[i+1:]; typ {
		case colBool, colInt, colFloat, colList, colJSON:
			return h[:i], typ
		}
	}
	return h, colString
}

func parseCell(typ, s string) (any, error) {
	switch typ {
	case colBool:
		return strconv.ParseBool(s)
	case colInt:
		return strconv.ParseInt(s, 10, 64)
	case colFloat:
		return strconv.ParseFloat(s, 64)
	case colList:
		var l []string
		err := json.Unmarshal([]byte(s), &l)
		return l, err
	case colJSON:
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		return plain(v), nil
	}
	return s, nil
}

// plain turns decoded JSON into the SPI's plain values (integers int64, other numbers
// float64).
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = plain(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = plain(x[k])
		}
	}
	return v
}

// columnType is the column type of a value (colJSON for anything else).
func columnType(v any) string {
	switch v.(type) {
	case string:
		return colString
	case bool:
		return colBool
	case int64, int, int32:
		return colInt
	case float64, float32:
		return colFloat
	case []string:
		return colList
	}
	return colJSON
}

func formatCell(typ string, v any) (string, error) {
	switch typ {
	case colString:
		return v.(string), nil
	case colBool:
		return strconv.FormatBool(v.(bool)), nil
	case colInt:
		return fmt.Sprint(v), nil
	case colFloat:
		f, _ := number(v)
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// writeTable rewrites a users or groups file.
func (t *Target) writeTable(typ connectors.ObjectType) error {
	tb := t.objs[typ]
	types := map[string]string{}
	for _, id := range tb.order {
		for k, v := range tb.rows[id] {
			if v == nil {
				continue
			}
			ct := columnType(v)
			if prev, ok := types[k]; ok && prev != ct {
				ct = colJSON
			}
			types[k] = ct
		}
	}
	names := make([]string, 0, len(types))
	for k := range types {
		names = append(names, k)
	}
	sort.Strings(names)
	head := []string{"id"}
	for _, n := range names {
		if types[n] == colString {
			head = append(head, n)
		} else {
			head = append(head, n+":"+types[n])
		}
	}
	rows := [][]string{head}
	for _, id := range tb.order {
		r := []string{id}
		for _, n := range names {
			v, ok := tb.rows[id][n]
			if !ok || v == nil {
				r = append(r, "")
				continue
			}
			s, err := formatCell(types[n], v)
			if err != nil {
				return fmt.Errorf("%s %s attribute %s: %w", typ, id, n, err)
			}
			r = append(r, s)
		}
		rows = append(rows, r)
	}
	name := usersFile
	if typ == connectors.TypeGroup {
		name = groupsFile
	}
	return t.writeFile(name, rows)
}

func (t *Target) writeMembers() error {
	rows := [][]string{{"group_id", "member_id"}}
	groups := make([]string, 0, len(t.members))
	for g := range t.members {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, m := range t.members[g] {
			rows = append(rows, []string{g, m})
		}
	}
	return t.writeFile(membersFile, rows)
}

// writeFile replaces a file atomically: a temporary file in the same directory, written
// and synced, renamed over the old one, then the directory synced.
func (t *Target) writeFile(name string, rows [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	f, err := os.CreateTemp(t.dir, "."+name+".tmp-*")
	if err != nil {
		return t.ioError("write "+name, err)
	}
	tmp := f.Name()
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(t.dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return t.ioError("write "+name, err)
	}
	if d, err := os.Open(t.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ioError classifies a file system failure: a missing directory or no permission means
// the target cannot be used at all (connection), anything else may pass (retryable).
func (t *Target) ioError(op string, err error) error {
	class := connectors.ClassRetryable
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		class = connectors.ClassConnection
	}
	return &connectors.Error{Class: class, Code: "", Message: err.Error(), Request: op}
}

func notFound(typ connectors.ObjectType, id, op string) error {
	return &connectors.Error{Class: connectors.ClassNotFound, Code: "InvalidAnchor", Status: 404,
		Message: fmt.Sprintf("%s %s not found", typ, id), Request: op}
}

func invalid(op, format string, args ...any) error {
	return &connectors.Error{Class: connectors.ClassInvalid, Status: 400, Message: fmt.Sprintf(format, args...), Request: op}
}

func (t *Target) table(typ connectors.ObjectType, op string) (*table, error) {
	tb := t.objs[typ]
	if tb == nil {
		return nil, invalid(op, "unknown object type %q (User or Group)", typ)
	}
	return tb, nil
}

// Test checks that the directory can be written.
func (t *Target) Test(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(t.dir, ".test-*")
	if err != nil {
		return t.ioError("test "+t.dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// object returns a copy of an object (a group with its members).
func (t *Target) object(typ connectors.ObjectType, id string, names []string) connectors.TargetObject {
	attrs := t.objs[typ].rows[id].Clone()
	if typ == connectors.TypeGroup {
		if m := t.members[id]; len(m) > 0 {
			attrs[connectors.AttrMembers] = slices.Clone(m)
		}
	}
	if len(names) > 0 {
		sel := connectors.Attributes{}
		for _, n := range names {
			if k, ok := lookup(attrs, n); ok {
				sel[k] = attrs[k]
			}
		}
		attrs = sel
	}
	return connectors.TargetObject{ID: id, Attributes: attrs}
}

// Find returns the objects whose attribute attr (any name case, "id" for the ID) equals
// value: strings case-insensitively, numbers by value, lists when one element does.
func (t *Target) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tb, err := t.table(typ, "find")
	if err != nil {
		return nil, err
	}
	var out []connectors.TargetObject
	for _, id := range tb.order {
		o := t.object(typ, id, nil)
		if strings.EqualFold(attr, "id") {
			if equal(id, value) {
				out = append(out, o)
			}
			continue
		}
		if k, ok := lookup(o.Attributes, attr); ok && matches(o.Attributes[k], value) {
			out = append(out, o)
		}
	}
	return out, nil
}

// Get returns an object by ID.
func (t *Target) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	if err := ctx.Err(); err != nil {
		return connectors.TargetObject{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tb, err := t.table(typ, "get")
	if err != nil {
		return connectors.TargetObject{}, err
	}
	if tb.rows[id] == nil {
		return connectors.TargetObject{}, notFound(typ, id, "get "+string(typ)+" "+id)
	}
	return t.object(typ, id, nil), nil
}

// Create adds an object with a new ID (a group's members attribute becomes its
// membership).
func (t *Target) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	if err := ctx.Err(); err != nil {
		return connectors.TargetObject{}, err
	}
	op := "create " + string(typ)
	t.mu.Lock()
	defer t.mu.Unlock()
	tb, err := t.table(typ, op)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	attrs = attrs.Clone()
	if attrs == nil {
		attrs = connectors.Attributes{}
	}
	var members []string
	if typ == connectors.TypeGroup {
		if k, ok := lookup(attrs, connectors.AttrMembers); ok {
			members = stringsOf(attrs[k])
			delete(attrs, k)
			if err := t.checkMembers(members, op); err != nil {
				return connectors.TargetObject{}, err
			}
		}
	}
	if err := t.checkUnique(typ, "", attrs, op); err != nil {
		return connectors.TargetObject{}, err
	}
	id := uuid.NewString()
	tb.order = append(tb.order, id)
	tb.rows[id] = attrs
	if len(members) > 0 {
		t.members[id] = dedupe(members)
	}
	if err := t.writeTable(typ); err != nil {
		tb.order = tb.order[:len(tb.order)-1]
		delete(tb.rows, id)
		delete(t.members, id)
		return connectors.TargetObject{}, err
	}
	if len(members) > 0 {
		if err := t.writeMembers(); err != nil {
			return connectors.TargetObject{}, err
		}
	}
	return t.object(typ, id, nil), nil
}

func (t *Target) checkUnique(typ connectors.ObjectType, self string, attrs connectors.Attributes, op string) error {
	u := unique[typ]
	k, ok := lookup(attrs, u)
	if !ok || attrs[k] == nil {
		return nil
	}
	for _, id := range t.objs[typ].order {
		if id == self {
			continue
		}
		if k2, ok := lookup(t.objs[typ].rows[id], u); ok && equal(t.objs[typ].rows[id][k2], attrs[k]) {
			return &connectors.Error{Class: connectors.ClassConflict, Code: "EntryConflict", Status: 409,
				Message: fmt.Sprintf("%s %s %v is already used by %s", typ, u, attrs[k], id), Request: op}
		}
	}
	return nil
}

func (t *Target) checkMembers(ids []string, op string) error {
	for _, m := range ids {
		if t.objs[connectors.TypeUser].rows[m] == nil && t.objs[connectors.TypeGroup].rows[m] == nil {
			return invalid(op, "member %s is neither a user nor a group", m)
		}
	}
	return nil
}

// Update applies modifications: replace sets a value (nil removes it), remove drops the
// attribute or only the given values of a list. A group's members attribute changes its
// membership. Nothing is applied when one modification fails.
func (t *Target) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := "update " + string(typ) + " " + id
	t.mu.Lock()
	defer t.mu.Unlock()
	tb, err := t.table(typ, op)
	if err != nil {
		return err
	}
	cur := tb.rows[id]
	if cur == nil {
		return notFound(typ, id, op)
	}
	attrs := cur.Clone()
	members := slices.Clone(t.members[id])
	membersChanged := false
	for _, m := range mods {
		if typ == connectors.TypeGroup && strings.EqualFold(m.Name, connectors.AttrMembers) {
			membersChanged = true
			ids := stringsOf(m.Value)
			switch m.Op {
			case connectors.ModReplace:
				if err := t.checkMembers(ids, op); err != nil {
					return err
				}
				members = dedupe(ids)
			case connectors.ModRemove:
				if m.Value == nil {
					members = nil
				}
				members = slices.DeleteFunc(members, func(s string) bool { return slices.Contains(ids, s) })
			default:
				return invalid(op, "unknown modification op %q", m.Op)
			}
			continue
		}
		k, ok := lookup(attrs, m.Name)
		if !ok {
			k = m.Name
		}
		switch m.Op {
		case connectors.ModReplace:
			if m.Value == nil {
				delete(attrs, k)
			} else {
				attrs[k] = m.Value
			}
		case connectors.ModRemove:
			list, isList := attrs[k].([]string)
			if m.Value == nil || !isList {
				delete(attrs, k)
				continue
			}
			drop := stringsOf(m.Value)
			kept := slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
			if len(kept) == 0 {
				delete(attrs, k)
			} else {
				attrs[k] = kept
			}
		default:
			return invalid(op, "unknown modification op %q", m.Op)
		}
	}
	if err := t.checkUnique(typ, id, attrs, op); err != nil {
		return err
	}
	tb.rows[id] = attrs
	if err := t.writeTable(typ); err != nil {
		tb.rows[id] = cur
		return err
	}
	if membersChanged {
		t.setMembers(id, members)
		return t.writeMembers()
	}
	return nil
}

func (t *Target) setMembers(group string, members []string) {
	if len(members) == 0 {
		delete(t.members, group)
	} else {
		t.members[group] = members
	}
}

// Disable sets active to false.
func (t *Target) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return t.Update(ctx, typ, id, []connectors.Modification{{Name: "active", Op: connectors.ModReplace, Value: false}})
}

// Enable sets active to true.
func (t *Target) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return t.Update(ctx, typ, id, []connectors.Modification{{Name: "active", Op: connectors.ModReplace, Value: true}})
}

// Delete removes an object (a missing one is not an error) and its memberships.
func (t *Target) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := "delete " + string(typ) + " " + id
	t.mu.Lock()
	defer t.mu.Unlock()
	tb, err := t.table(typ, op)
	if err != nil {
		return err
	}
	if tb.rows[id] == nil {
		return nil
	}
	delete(tb.rows, id)
	tb.order = slices.DeleteFunc(tb.order, func(s string) bool { return s == id })
	_, wasGroup := t.members[id]
	delete(t.members, id)
	changed := wasGroup
	for g, ms := range t.members {
		if slices.Contains(ms, id) {
			t.setMembers(g, slices.DeleteFunc(ms, func(s string) bool { return s == id }))
			changed = true
		}
	}
	if err := t.writeTable(typ); err != nil {
		return err
	}
	if changed {
		return t.writeMembers()
	}
	return nil
}

// AddMembers adds existing users or groups to a group.
func (t *Target) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return t.changeMembers(ctx, groupID, memberIDs, true)
}

// RemoveMembers removes members from a group (absent ones are ignored).
func (t *Target) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return t.changeMembers(ctx, groupID, memberIDs, false)
}

func (t *Target) changeMembers(ctx context.Context, groupID string, ids []string, add bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := "members " + groupID
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.objs[connectors.TypeGroup].rows[groupID] == nil {
		return notFound(connectors.TypeGroup, groupID, op)
	}
	cur := slices.Clone(t.members[groupID])
	if add {
		if err := t.checkMembers(ids, op); err != nil {
			return err
		}
		cur = dedupe(append(cur, ids...))
	} else {
		cur = slices.DeleteFunc(cur, func(s string) bool { return slices.Contains(ids, s) })
	}
	t.setMembers(groupID, cur)
	return t.writeMembers()
}

// List emits every object of typ in file order, with only the named attributes (all when
// attrs is empty).
func (t *Target) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	t.mu.Lock()
	tb, err := t.table(typ, "list")
	if err != nil {
		t.mu.Unlock()
		return err
	}
	objs := make([]connectors.TargetObject, 0, len(tb.order))
	for _, id := range tb.order {
		objs = append(objs, t.object(typ, id, attrs))
	}
	t.mu.Unlock()
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

// Close does nothing: every change is already on disk.
func (t *Target) Close() error { return nil }

func lookup(attrs connectors.Attributes, name string) (string, bool) {
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

func matches(v, want any) bool {
	switch l := v.(type) {
	case []string:
		for _, e := range l {
			if equal(e, want) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range l {
			if equal(e, want) {
				return true
			}
		}
		return false
	}
	return equal(v, want)
}

// equal compares strings case-insensitively, numbers by value, booleans with booleans or
// their text.
func equal(a, b any) bool {
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			return strings.EqualFold(as, bs)
		}
		return false
	}
	if af, ok := number(a); ok {
		bf, ok := number(b)
		return ok && af == bf
	}
	if ab, ok := a.(bool); ok {
		switch bv := b.(type) {
		case bool:
			return ab == bv
		case string:
			pb, err := strconv.ParseBool(bv)
			return err == nil && pb == ab
		}
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func dedupe(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
