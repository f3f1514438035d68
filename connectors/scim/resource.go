package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/provisiond/provisiond/connectors"
)

// Schema URNs.
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// attrPath is a parsed attribute name: [urn:]attr[.sub] or [urn:]attr[<eq filter>][.sub].
type attrPath struct {
	raw  string
	urn  string // extension schema URN, "" for core attributes
	attr string
	sub  string
	// conds are the value filter's `name eq literal` conditions (joined by and).
	conds []cond
	// complexFilter is set when the value filter is more than eq/and (usable in PATCH paths
	// sent to the server as they are, not to build a resource).
	complexFilter bool
}

type cond struct {
	name  string
	value any
}

func (p *attrPath) hasFilter() bool { return len(p.conds) > 0 || p.complexFilter }

// topLevel is the attribute name for attributes= (no filter, no sub-attribute).
func (p *attrPath) topLevel() string {
	if p.urn != "" {
		return p.urn + ":" + p.attr
	}
	return p.attr
}

// isManager reports whether p is the enterprise extension's manager attribute itself.
func (p *attrPath) isManager() bool {
	return strings.EqualFold(p.urn, schemaEnterprise) && strings.EqualFold(p.attr, "manager") && p.sub == "" && !p.hasFilter()
}

func (p *attrPath) isMembers() bool {
	return p.urn == "" && strings.EqualFold(p.attr, "members")
}

// path returns the parsed form of name, cached.
func (c *Client) path(name string) (*attrPath, error) {
	if v, ok := c.paths.Load(name); ok {
		return v.(*attrPath), nil
	}
	p, err := parseAttrPath(name)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeSchemaAttributeMissing,
			Message: fmt.Sprintf("attribute name %q is not a SCIM attribute path: %v", name, err)}
	}
	c.paths.Store(name, p)
	return p, nil
}

func validateAttrName(name string) error {
	_, err := parseAttrPath(name)
	return err
}

func parseAttrPath(name string) (*attrPath, error) {
	if name == "" {
		return nil, errors.New("empty attribute name")
	}
	pp, err := filter.ParsePath(asciiFilter(name))
	if err != nil {
		return nil, errors.New("invalid path")
	}
	p := &attrPath{raw: name, attr: pp.AttributePath.AttributeName}
	if pp.AttributePath.URIPrefix != nil {
		p.urn = *pp.AttributePath.URIPrefix
		if strings.EqualFold(p.urn, schemaUser) || strings.EqualFold(p.urn, schemaGroup) {
			p.urn = "" // a core attribute written in full
		}
	}
	switch {
	case pp.ValueExpression != nil:
		if pp.AttributePath.SubAttribute != nil {
			return nil, errors.New("a sub-attribute cannot precede a value filter")
		}
		if !collectConds(pp.ValueExpression, &p.conds) {
			p.conds, p.complexFilter = nil, true
		}
		if pp.SubAttribute != nil {
			p.sub = *pp.SubAttribute
		}
	case pp.AttributePath.SubAttribute != nil:
		p.sub = *pp.AttributePath.SubAttribute
	}
	return p, nil
}

func collectConds(e filter.Expression, out *[]cond) bool {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ || x.AttributePath.SubAttribute != nil || x.AttributePath.URIPrefix != nil {
			return false
		}
		v := x.CompareValue
		if s, ok := v.(string); ok {
			// The parser keeps escapes as written; decode the JSON string literal.
			var dec string
			if json.Unmarshal([]byte(`"`+s+`"`), &dec) == nil {
				v = dec
			}
		}
		*out = append(*out, cond{name: x.AttributePath.AttributeName, value: v})
		return true
	case *filter.LogicalExpression:
		return x.Operator == filter.AND && collectConds(x.Left, out) && collectConds(x.Right, out)
	}
	return false
}

// ---- building resources ----

// buildResource turns attrs into a SCIM resource document for typ.
func (c *Client) buildResource(typ connectors.ObjectType, attrs connectors.Attributes) (map[string]any, error) {
	names := make([]string, 0, len(attrs))
	for k, v := range attrs {
		if v != nil {
			names = append(names, k)
		}
	}
	sort.Strings(names) // deterministic bodies (multi-valued element order)
	doc := make(map[string]any, len(names)+1)
	core := schemaUser
	if typ == connectors.TypeGroup {
		core = schemaGroup
	}
	schemas := []string{core}
	for _, name := range names {
		switch strings.ToLower(name) {
		case "id", "meta", "schemas":
			continue
		}
		p, err := c.path(name)
		if err != nil {
			return nil, err
		}
		if typ == connectors.TypeGroup && p.isMembers() {
			continue // members are added with AddMembers
		}
		if p.urn != "" && !containsFold(schemas, p.urn) {
			schemas = append(schemas, p.urn)
		}
		if err := setPath(doc, p, attrValue(p, attrs[name])); err != nil {
			return nil, err
		}
	}
	doc["schemas"] = schemas
	return doc, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// attrValue converts an engine value into the SCIM value for p: the manager reference
// becomes {"value": id}, group members []string become [{"value": id}, ...].
func attrValue(p *attrPath, v any) any {
	switch {
	case p.isManager():
		if s, ok := v.(string); ok {
			return map[string]any{"value": s}
		}
	case p.isMembers() && !p.hasFilter() && p.sub == "":
		if ids, ok := v.([]string); ok {
			return memberValues(ids)
		}
	}
	return v
}

func memberValues(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// lookupKey finds key in m case-insensitively (SCIM attribute names are case-insensitive).
func lookupKey(m map[string]any, key string) (string, bool) {
	if _, ok := m[key]; ok {
		return key, true
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return key, false
}

// container returns the object that holds p's attribute (the extension object for URN
// paths), creating it when create is set.
func container(doc map[string]any, p *attrPath, create bool) map[string]any {
	if p.urn == "" {
		return doc
	}
	k, ok := lookupKey(doc, p.urn)
	if ok {
		if m, isMap := doc[k].(map[string]any); isMap {
			return m
		}
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	doc[k] = m
	return m
}

// setPath sets p to v in doc.
func setPath(doc map[string]any, p *attrPath, v any) error {
	obj := container(doc, p, true)
	key, _ := lookupKey(obj, p.attr)
	switch {
	case p.complexFilter:
		return fmt.Errorf("attribute %q: only eq/and value filters can be written", p.raw)
	case len(p.conds) > 0:
		list, _ := obj[key].([]any)
		el := findElement(list, p.conds)
		if el == nil {
			el = map[string]any{}
			for _, c := range p.conds {
				el[c.name] = c.value
			}
			list = append(list, el)
		}
		if p.sub != "" {
			sk, _ := lookupKey(el, p.sub)
			el[sk] = v
		} else if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				el[k] = x
			}
		} else {
			return fmt.Errorf("attribute %q: a filtered path needs a sub-attribute or an object value", p.raw)
		}
		obj[key] = list
	case p.sub != "":
		m, ok := obj[key].(map[string]any)
		if !ok {
			m = map[string]any{}
			obj[key] = m
		}
		sk, _ := lookupKey(m, p.sub)
		m[sk] = v
	default:
		obj[key] = v
	}
	return nil
}

// removePath removes p from doc (used for PUT when PATCH is not supported).
func removePath(doc map[string]any, p *attrPath) {
	obj := container(doc, p, false)
	if obj == nil {
		return
	}
	key, ok := lookupKey(obj, p.attr)
	if !ok {
		return
	}
	switch {
	case len(p.conds) > 0:
		list, _ := obj[key].([]any)
		out := list[:0]
		for _, x := range list {
			m, isMap := x.(map[string]any)
			if !isMap || !matches(m, p.conds) {
				out = append(out, x)
				continue
			}
			if p.sub != "" {
				sk, _ := lookupKey(m, p.sub)
				delete(m, sk)
				out = append(out, m)
			}
		}
		if len(out) == 0 {
			delete(obj, key)
		} else {
			obj[key] = out
		}
	case p.sub != "":
		if m, isMap := obj[key].(map[string]any); isMap {
			sk, _ := lookupKey(m, p.sub)
			delete(m, sk)
		}
	default:
		delete(obj, key)
	}
}

func findElement(list []any, conds []cond) map[string]any {
	for _, x := range list {
		if m, ok := x.(map[string]any); ok && matches(m, conds) {
			return m
		}
	}
	return nil
}

func matches(m map[string]any, conds []cond) bool {
	for _, c := range conds {
		k, ok := lookupKey(m, c.name)
		if !ok {
			return false
		}
		a, b := m[k], c.value
		as, aok := a.(string)
		bs, bok := b.(string)
		if aok && bok {
			if !strings.EqualFold(as, bs) { // type/value sub-attributes are caseExact:false
				return false
			}
			continue
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			return false
		}
	}
	return true
}

// ---- reading resources ----

// resourceMeta is what every resource carries besides its attributes.
type resourceMeta struct {
	id, version, lastModified string
}

// decodeResource decodes one resource. (json.Unmarshal: a json.Decoder with UseNumber
// costs twice as much; plainValue turns integral numbers into int64.)
func decodeResource(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null resource")
	}
	return m, nil
}

// flatten turns a SCIM resource into connectors.Attributes with the attribute path names
// Create accepts: simple attributes by name, complex ones as "name.sub", multi-valued
// complex attributes with a type both as the raw list and as `name[type eq "t"].sub`,
// extension attributes as "<urn>:<attr>" (the manager as its id), and group members (and a
// user's groups) as []string of ids. It reuses res (the freshly decoded resource) as the
// result, so res must not be used afterwards.
func flatten(res map[string]any) (connectors.Attributes, resourceMeta) {
	var meta resourceMeta
	var add []attrKV // new keys, applied after the loop
	for k, v := range res {
		switch {
		case k == "id":
			meta.id, _ = v.(string)
			delete(res, k)
		case k == "schemas":
			delete(res, k)
		case k == "meta":
			if m, ok := v.(map[string]any); ok {
				meta.version, _ = m["version"].(string)
				meta.lastModified, _ = m["lastModified"].(string)
			}
			delete(res, k)
		case len(k) > 4 && strings.EqualFold(k[:4], "urn:"):
			delete(res, k)
			ext, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for ek, ev := range ext {
				if strings.EqualFold(ek, "manager") {
					if m, ok := ev.(map[string]any); ok {
						if id, ok := m["value"]; ok {
							add = append(add, attrKV{k + ":" + ek, plainValue(id)})
						}
						continue
					}
				}
				add = flattenValue(add, k+":"+ek, ev)
			}
		case strings.EqualFold(k, "members") || strings.EqualFold(k, "groups"):
			if ids, ok := refIDs(v); ok {
				res[k] = ids
			} else {
				res[k] = plainValue(v)
			}
		default:
			switch x := v.(type) {
			case map[string]any:
				delete(res, k)
				add = flattenValue(add, k, x)
			case []any:
				res[k] = plainValue(x)
				add = typedElements(add, k, x)
			case float64:
				res[k] = plainValue(x)
			}
		}
	}
	for _, kv := range add {
		if _, dup := res[kv.k]; !dup {
			res[kv.k] = kv.v
		}
	}
	return res, meta
}

type attrKV struct {
	k string
	v any
}

func refIDs(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	ids := make([]string, 0, len(list))
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		id, ok := m["value"].(string)
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// flattenValue adds name (or name.sub for a complex value) to add.
func flattenValue(add []attrKV, name string, v any) []attrKV {
	switch x := v.(type) {
	case map[string]any:
		for k, sv := range x {
			add = append(add, attrKV{name + "." + k, plainValue(sv)})
		}
	case []any:
		add = append(add, attrKV{name, plainValue(x)})
		add = typedElements(add, name, x)
	default:
		add = append(add, attrKV{name, plainValue(v)})
	}
	return add
}

// typedElements adds `name[type eq "t"].sub` for the elements of a multi-valued complex
// attribute that have a type (the first element of a type wins).
func typedElements(add []attrKV, name string, list []any) []attrKV {
	var seen []string
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		t, ok := m["type"].(string)
		if !ok || containsFold(seen, t) {
			continue
		}
		seen = append(seen, t)
		prefix := name + "[type eq " + quoteLiteral(t) + "]."
		for k, sv := range m {
			if k != "type" {
				add = append(add, attrKV{prefix + k, plainValue(sv)})
			}
		}
	}
	return add
}

// maxExactInt is the largest integer a float64 holds exactly (2^53).
const maxExactInt = 1 << 53

// plainValue converts decoded JSON into connectors' plain data: integral numbers become
// int64 (SCIM integer attributes; integers beyond ±2^53 are not exact after JSON decoding
// into float64), other numbers stay float64.
func plainValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && x >= -maxExactInt && x <= maxExactInt {
			return int64(x)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any: // converted in place: the value was just decoded and is ours
		for i, e := range x {
			x[i] = plainValue(e)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = plainValue(e)
		}
		return x
	}
	return v
}
