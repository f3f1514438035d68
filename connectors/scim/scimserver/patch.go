package scimserver

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	efilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// patcher applies PATCH operations (RFC 7644 §3.5.2) that the library has already parsed and
// validated (op lower-cased, path parsed, value type-checked and reduced to known
// attributes with canonical names) to a copy of a resource's attributes.
//
// Copy-on-write: attrs is a fresh top-level map; every nested map or slice is cloned before it
// is changed, because the previous snapshot shares them.
type patcher struct {
	k     *kind
	attrs map[string]any
}

func scimErr(base scimerrors.ScimError, format string, args ...any) error {
	base.Detail = fmt.Sprintf(format, args...)
	return base
}

func (p *patcher) apply(ops []scim.PatchOperation) error {
	for i, op := range ops {
		if err := p.applyOp(op.Op, op.Path, op.Value, p.k.core); err != nil {
			if se, ok := err.(scimerrors.ScimError); ok {
				se.Detail = fmt.Sprintf("Operations[%d] (%s): %s", i, op.Op, se.Detail)
				return se
			}
			return err
		}
	}
	return nil
}

// applyOp applies one operation. def is the schema a path without URI prefix refers to: the
// core schema, or an extension inside a no-path value's extension container.
func (p *patcher) applyOp(op string, path *filter.Path, value any, def schema.Schema) error {
	if path == nil {
		// No path: value is an object of attribute paths (possibly dotted, possibly fully
		// qualified, possibly an extension URN holding an object of that extension's
		// attributes) to values.
		m, ok := value.(map[string]any)
		if !ok {
			return scimErr(scimerrors.ScimErrorInvalidValue, "a %s without path needs an object value", op)
		}
		keys := slices.Sorted(maps.Keys(m)) // "name" before "name.givenName"
		for _, key := range keys {
			if ext := p.k.ext(key); ext != nil {
				sub, _ := m[key].(map[string]any)
				for _, sk := range slices.Sorted(maps.Keys(sub)) {
					sp, err := filter.ParsePath([]byte(sk))
					if err != nil {
						return scimErr(scimerrors.ScimErrorInvalidPath, "invalid attribute %q: %v", sk, err)
					}
					if err := p.applyOp(op, &sp, sub[sk], *ext); err != nil {
						return err
					}
				}
				continue
			}
			sp, err := filter.ParsePath([]byte(key))
			if err != nil {
				return scimErr(scimerrors.ScimErrorInvalidPath, "invalid attribute %q: %v", key, err)
			}
			if err := p.applyOp(op, &sp, m[key], def); err != nil {
				return err
			}
		}
		return nil
	}

	// Find the container (top level, or an extension's object) and the attribute.
	sch := def
	container := ""
	if uri := path.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, p.k.core.ID) {
		ext := p.k.ext(uri)
		if ext == nil {
			return scimErr(scimerrors.ScimErrorInvalidPath, "unknown schema %q", uri)
		}
		sch = *ext
	} else if uri != "" {
		sch = p.k.core
	}
	if sch.ID != p.k.core.ID {
		container = sch.ID
	}
	attr, ok := sch.Attributes.ContainsAttribute(path.AttributePath.AttributeName)
	if !ok && container == "" && strings.EqualFold(path.AttributePath.AttributeName, "externalId") && path.AttributePath.SubAttribute == nil {
		attr, ok = externalIDAttr, true
	}
	if !ok {
		return scimErr(scimerrors.ScimErrorInvalidPath, "unknown attribute %q", path.AttributePath.String())
	}
	if attr.Mutability() == "readOnly" {
		return scimErr(scimerrors.ScimErrorMutability, "%s is readOnly", attr.Name())
	}

	c := p.attrs
	if container != "" {
		old, _ := p.attrs[container].(map[string]any)
		c = maps.Clone(old)
		if c == nil {
			c = map[string]any{}
		}
	}
	if err := p.applyAttr(c, op, attr, path, value); err != nil {
		return err
	}
	if container != "" {
		if len(c) == 0 {
			delete(p.attrs, container)
		} else {
			p.attrs[container] = c
		}
	}
	return nil
}

var externalIDAttr = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
	CaseExact: true,
	Name:      "externalId",
}))

// applyAttr applies op to attribute attr of container c (owned by the patcher).
func (p *patcher) applyAttr(c map[string]any, op string, attr schema.CoreAttribute, path *filter.Path, value any) error {
	name := attr.Name()
	sub := path.AttributePath.SubAttributeName()
	if path.ValueExpression != nil {
		return p.applyValuePath(c, op, attr, path.ValueExpression, path.SubAttributeName(), value)
	}

	if sub != "" {
		subAttr, ok := attr.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return scimErr(scimerrors.ScimErrorInvalidPath, "%s has no sub-attribute %q", name, sub)
		}
		if err := checkSubMutability(op, attr, subAttr); err != nil {
			return err
		}
		sub = subAttr.Name()
		if attr.MultiValued() {
			// e.g. "emails.type": applies to every value.
			list := slices.Clone(asList(c[name]))
			for i, el := range list {
				m, _ := el.(map[string]any)
				m = maps.Clone(m)
				if op == "remove" {
					delete(m, sub)
				} else {
					m[sub] = value
				}
				list[i] = m
			}
			if op != "remove" && len(list) == 0 {
				list = []any{map[string]any{sub: value}}
			}
			setOrDelete(c, name, list)
			return nil
		}
		m, _ := c[name].(map[string]any)
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		if op == "remove" {
			delete(m, sub)
		} else {
			m[sub] = value
		}
		if len(m) == 0 {
			delete(c, name)
		} else {
			c[name] = m
		}
		return nil
	}

	switch {
	case op == "remove" && attr.MultiValued() && value != nil:
		// Entra's legacy group member removal: {"op":"Remove","path":"members","value":[{"value":"id"}]}.
		remove := asList(value)
		var keep []any
		for _, el := range asList(c[name]) {
			if !slices.ContainsFunc(remove, func(r any) bool { return sameValue(el, r) }) {
				keep = append(keep, el)
			}
		}
		setOrDelete(c, name, keep)
	case op == "remove":
		delete(c, name)
	case attr.MultiValued():
		vals := asList(value)
		if op == "replace" {
			setOrDelete(c, name, slices.Clone(vals))
			return nil
		}
		old := asList(c[name])
		list := slices.Clone(old)
		var seen map[string]struct{}
		if name == "members" {
			// Members are unique by value; big groups get members added in batches, so use a
			// set rather than a quadratic scan.
			seen = make(map[string]struct{}, len(old)+len(vals))
			for _, el := range old {
				if v, ok := memberValue(el); ok {
					seen[v] = struct{}{}
				}
			}
		}
		for _, v := range vals {
			if seen != nil {
				if mv, ok := memberValue(v); ok {
					if _, dup := seen[mv]; dup {
						continue
					}
					seen[mv] = struct{}{}
					list = append(list, v)
					continue
				}
			}
			if !slices.ContainsFunc(list, func(x any) bool { return reflect.DeepEqual(x, v) }) {
				list = append(list, v)
			}
		}
		setOrDelete(c, name, list)
	case attr.HasSubAttributes():
		// add and replace on a complex attribute both set the given sub-attributes and leave the
		// others unchanged (RFC 7644 §3.5.2.1 and §3.5.2.3).
		m, _ := c[name].(map[string]any)
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		vm, ok := value.(map[string]any)
		if !ok {
			return scimErr(scimerrors.ScimErrorInvalidValue, "%s needs an object value", name)
		}
		maps.Copy(m, vm)
		if len(m) == 0 {
			delete(c, name)
		} else {
			c[name] = m
		}
	default:
		c[name] = value
	}
	return nil
}

// applyValuePath applies op to the values of multi-valued attr that match vf (and to their
// sub-attribute vsub, if given).
//
// When add or replace finds no matching value and vf is a conjunction of `eq` comparisons (as
// in Entra's `emails[type eq "work"].value`), a new value is added with those sub-attributes
// set; otherwise the operation fails with 400 noTarget (RFC 7644 §3.5.2.3). A remove that
// matches nothing succeeds without change.
func (p *patcher) applyValuePath(c map[string]any, op string, attr schema.CoreAttribute, vf filter.Expression, vsub string, value any) error {
	name := attr.Name()
	if !attr.MultiValued() {
		return scimErr(scimerrors.ScimErrorInvalidPath, "%s is not multi-valued", name)
	}
	if vsub != "" {
		subAttr, ok := attr.SubAttributes().ContainsAttribute(vsub)
		if !ok {
			return scimErr(scimerrors.ScimErrorInvalidPath, "%s has no sub-attribute %q", name, vsub)
		}
		vsub = subAttr.Name()
	}
	subs := efilter.MultiValuedFilterAttributes(attr)
	matcher := efilter.NewFilterValidator(vf, schema.Schema{Attributes: subs})
	old := asList(c[name])
	list := make([]any, 0, len(old)+1)
	matched := 0
	for _, el := range old {
		if !passes(matcher, el, attr) {
			list = append(list, el)
			continue
		}
		matched++
		switch {
		case op == "remove" && vsub == "":
			// drop el
		case vsub != "":
			if err := checkSubMutabilityName(op, attr, vsub); err != nil {
				return err
			}
			m, _ := el.(map[string]any)
			m = maps.Clone(m)
			if op == "remove" {
				delete(m, vsub)
			} else {
				m[vsub] = value
			}
			list = append(list, m)
		case op == "replace":
			list = append(list, value)
		default: // add: merge into the matched value
			m, _ := el.(map[string]any)
			m = maps.Clone(m)
			vm, ok := value.(map[string]any)
			if !ok || m == nil {
				list = append(list, value)
				continue
			}
			maps.Copy(m, vm)
			list = append(list, m)
		}
	}
	if matched == 0 && op != "remove" {
		fields, ok := eqAssignments(vf, subs)
		if !ok {
			return scimErr(scimerrors.ScimErrorNoTarget, "no value of %s matches the filter", name)
		}
		if vsub != "" {
			fields[vsub] = value
		} else if vm, ok := value.(map[string]any); ok {
			maps.Copy(fields, vm)
		} else {
			return scimErr(scimerrors.ScimErrorInvalidValue, "%s needs an object value", name)
		}
		list = append(list, fields)
	}
	setOrDelete(c, name, list)
	return nil
}

// passes evaluates a value filter on one value of a multi-valued attribute.
func passes(v efilter.Validator, el any, attr schema.CoreAttribute) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	m, isMap := el.(map[string]any)
	if !isMap {
		if attr.HasSubAttributes() {
			return false
		}
		m = map[string]any{"value": el}
	}
	return v.PassesFilter(m) == nil
}

// eqAssignments returns the sub-attribute values a conjunction of eq comparisons requires,
// e.g. {"type": "work"} for `type eq "work"`.
func eqAssignments(e filter.Expression, subs schema.Attributes) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch e := e.(type) {
		case *filter.AttributeExpression:
			if e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil || e.AttributePath.URIPrefix != nil {
				return false
			}
			a, ok := subs.ContainsAttribute(e.AttributePath.AttributeName)
			if !ok {
				return false
			}
			out[a.Name()] = e.CompareValue
			return true
		case *filter.LogicalExpression:
			return e.Operator == filter.AND && walk(e.Left) && walk(e.Right)
		}
		return false
	}
	return out, walk(e)
}

func checkSubMutability(op string, attr, sub schema.CoreAttribute) error {
	switch sub.Mutability() {
	case "readOnly":
		return scimErr(scimerrors.ScimErrorMutability, "%s.%s is readOnly", attr.Name(), sub.Name())
	case "immutable":
		if op != "add" {
			return scimErr(scimerrors.ScimErrorMutability, "%s.%s is immutable", attr.Name(), sub.Name())
		}
	}
	return nil
}

func checkSubMutabilityName(op string, attr schema.CoreAttribute, sub string) error {
	s, ok := attr.SubAttributes().ContainsAttribute(sub)
	if !ok {
		return nil
	}
	return checkSubMutability(op, attr, s)
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

func setOrDelete(c map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(c, name)
		return
	}
	c[name] = list
}

func memberValue(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	s, ok := m["value"].(string)
	return s, ok
}

// sameValue reports whether el is the value r designates for removal: equal "value"
// sub-attributes for complex values that have one, deep equality otherwise.
func sameValue(el, r any) bool {
	if ev, ok := memberValue(el); ok {
		if rv, ok := memberValue(r); ok {
			return ev == rv
		}
	}
	return reflect.DeepEqual(el, r)
}
