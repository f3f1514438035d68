package scim

import (
	"encoding/json"
	"github.com/provisiond/provisiond/internal/jsonenc"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/provisiond/provisiond/connectors"
)

// Create bodies are encoded straight from the attributes through a plan cached per set of
// attribute names (the engine's mapping gives every user the same names): no intermediate
// maps, no reflection for the common value types. Anything the plan does not cover (a
// filtered path without a sub-attribute, an attribute that is both a value and an object)
// falls back to buildResource + json.Marshal, which defines the semantics; the two are
// compared in TestEncodePlanMatchesBuildResource.

type encPlan struct {
	typ    connectors.ObjectType
	names  []string // sorted
	prefix []byte   // `{"schemas":[...]`
	root   *objNode
}

type objNode struct {
	fields []*field // sorted by lower-case key
}

type field struct {
	lower string
	key   []byte // `,"name":`
	// exactly one of:
	attr string    // leaf: the attribute name in Attributes
	p    *attrPath // the leaf's path (value conversion)
	obj  *objNode  // complex attribute or extension object
	arr  []*elem   // multi-valued attribute built from value-filtered paths
}

type elem struct {
	conds  []cond
	consts []byte   // `"type":"work"` (the filter's eq conditions)
	obj    *objNode // sub-attributes
}

type planKey struct {
	typ  connectors.ObjectType
	hash uint64 // order-independent hash of the attribute names
}

var noPlan = &encPlan{}

// namesHash is an order-independent hash of the names with a value in attrs.
func namesHash(attrs connectors.Attributes) (uint64, int) {
	var h uint64
	n := 0
	for k, v := range attrs {
		if v == nil {
			continue
		}
		x := idHash(k)
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		h += x
		n++
	}
	return h, n
}

// plan returns the encoding plan for attrs' names, or nil when the map-based path must be
// used.
func (c *Client) plan(typ connectors.ObjectType, attrs connectors.Attributes) *encPlan {
	h, n := namesHash(attrs)
	key := planKey{typ, h}
	if v, ok := c.plans.Load(key); ok {
		p := v.(*encPlan)
		if p == noPlan || len(p.names) != n {
			return nil
		}
		for _, name := range p.names {
			if attrs[name] == nil {
				return nil // a hash collision: use the general path
			}
		}
		return p
	}
	names := make([]string, 0, n)
	for k, v := range attrs {
		if v != nil {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	p := c.buildPlan(typ, names)
	if p == nil {
		c.plans.Store(key, noPlan)
		return nil
	}
	c.plans.Store(key, p)
	return p
}

func (c *Client) buildPlan(typ connectors.ObjectType, names []string) *encPlan {
	core := schemaUser
	if typ == connectors.TypeGroup {
		core = schemaGroup
	}
	schemas := []string{core}
	root := &objNode{}
	for _, name := range names {
		switch strings.ToLower(name) {
		case "id", "meta", "schemas":
			continue
		}
		p, err := c.path(name)
		if err != nil || p.complexFilter || (len(p.conds) > 0 && p.sub == "") {
			return nil
		}
		if typ == connectors.TypeGroup && p.isMembers() {
			continue
		}
		obj := root
		if p.urn != "" {
			if !containsFold(schemas, p.urn) {
				schemas = append(schemas, p.urn)
			}
			f := obj.get(p.urn)
			if f.attr != "" || f.arr != nil {
				return nil
			}
			if f.obj == nil {
				f.obj = &objNode{}
			}
			obj = f.obj
		}
		f := obj.get(p.attr)
		switch {
		case len(p.conds) > 0:
			if f.attr != "" || f.obj != nil {
				return nil
			}
			var el *elem
			for _, e := range f.arr {
				if e.matches(p.conds) {
					el = e
				}
			}
			if el == nil {
				el = &elem{conds: p.conds, obj: &objNode{}}
				for i, cd := range p.conds {
					if i > 0 {
						el.consts = append(el.consts, ',')
					}
					el.consts = jsonenc.AppendString(el.consts, cd.name)
					el.consts = append(el.consts, ':')
					b, err := json.Marshal(cd.value)
					if err != nil {
						return nil
					}
					el.consts = append(el.consts, b...)
				}
				f.arr = append(f.arr, el)
			}
			for _, cd := range p.conds {
				if strings.EqualFold(cd.name, p.sub) {
					return nil // the sub-attribute is also a condition: general path
				}
			}
			sf := el.obj.get(p.sub)
			if sf.attr != "" || sf.obj != nil || sf.arr != nil {
				return nil
			}
			sf.attr, sf.p = name, p
		case p.sub != "":
			if f.attr != "" || f.arr != nil {
				return nil
			}
			if f.obj == nil {
				f.obj = &objNode{}
			}
			sf := f.obj.get(p.sub)
			if sf.attr != "" || sf.obj != nil || sf.arr != nil {
				return nil
			}
			sf.attr, sf.p = name, p
		default:
			if f.attr != "" || f.obj != nil || f.arr != nil {
				return nil
			}
			f.attr, f.p = name, p
		}
	}
	b, _ := json.Marshal(schemas)
	prefix := append([]byte(`{"schemas":`), b...)
	return &encPlan{typ: typ, names: names, prefix: prefix, root: root}
}

func (e *elem) matches(conds []cond) bool {
	if len(e.conds) != len(conds) {
		return false
	}
	m := make(map[string]any, len(e.conds))
	for _, cd := range e.conds {
		m[cd.name] = cd.value
	}
	return matches(m, conds)
}

// get returns the field for key (case-insensitive), adding it in key order.
func (o *objNode) get(key string) *field {
	lower := strings.ToLower(key)
	i := sort.Search(len(o.fields), func(i int) bool { return o.fields[i].lower >= lower })
	if i < len(o.fields) && o.fields[i].lower == lower {
		return o.fields[i]
	}
	f := &field{lower: lower, key: jsonenc.AppendString([]byte{','}, key)}
	f.key = append(f.key, ':')
	o.fields = append(o.fields, nil)
	copy(o.fields[i+1:], o.fields[i:])
	o.fields[i] = f
	return f
}

// encode writes the resource for attrs. ok is false when a value needs the general path.
func (p *encPlan) encode(dst []byte, attrs connectors.Attributes) ([]byte, bool) {
	dst = append(dst, p.prefix...)
	dst, ok := p.root.encodeFields(dst, attrs)
	return append(dst, '}'), ok
}

// encodeFields writes `,"k":v` for each field with a value.
func (o *objNode) encodeFields(dst []byte, attrs connectors.Attributes) ([]byte, bool) {
	for _, f := range o.fields {
		mark := len(dst)
		dst = append(dst, f.key...)
		switch {
		case f.attr != "":
			var ok bool
			if dst, ok = appendValue(dst, attrValue(f.p, attrs[f.attr])); !ok {
				return dst, false
			}
		case f.obj != nil:
			start := len(dst)
			inner, ok := f.obj.encodeFields(dst, attrs)
			if !ok {
				return inner, false
			}
			if len(inner) == start {
				dst = dst[:mark]
				continue
			}
			inner[start] = '{' // the first field's leading comma opens the object
			dst = append(inner, '}')
		default:
			dst = append(dst, '[')
			for i, e := range f.arr {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, '{')
				dst = append(dst, e.consts...)
				var ok bool
				if dst, ok = e.obj.encodeFields(dst, attrs); !ok {
					return dst, false
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
	}
	return dst, true
}

// appendValue encodes the common value types directly; others go through json.Marshal.
func appendValue(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return jsonenc.AppendString(dst, x), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, false
		}
	case []string:
		dst = append(dst, '[')
		for i, s := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonenc.AppendString(dst, s)
		}
		return append(dst, ']'), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}
