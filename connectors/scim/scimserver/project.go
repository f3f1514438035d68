package scimserver

import (
	"maps"
	"net/http"
	"strings"
)

// attrRef is one entry of an attributes/excludedAttributes list, resolved to canonical names:
// container is "" for core attributes or an extension URN; name "" means the whole extension.
type attrRef struct {
	container, name, sub string
}

// projection is a request's attributes (include) or excludedAttributes (exclude) list
// (RFC 7644 §3.4.2.5). id, schemas and meta are always returned.
type projection struct {
	include, exclude []attrRef
}

func (p projection) empty() bool { return p.include == nil && p.exclude == nil }

func (k *kind) projection(r *http.Request) projection {
	q := r.URL.Query()
	return projection{
		include: k.parseAttrList(q.Get("attributes")),
		exclude: k.parseAttrList(q.Get("excludedAttributes")),
	}
}

// parseAttrList resolves a comma-separated attribute list; unknown names are ignored.
func (k *kind) parseAttrList(list string) []attrRef {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	refs := []attrRef{}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		sch := k.withCommon
		ref := attrRef{}
		if len(item) > len(k.core.ID) && strings.EqualFold(item[:len(k.core.ID)+1], k.core.ID+":") {
			item = item[len(k.core.ID)+1:]
		} else {
			for _, e := range k.exts {
				if strings.EqualFold(item, e.ID) {
					ref.container, item = e.ID, ""
					break
				}
				if len(item) > len(e.ID) && strings.EqualFold(item[:len(e.ID)+1], e.ID+":") {
					ref.container, item, sch = e.ID, item[len(e.ID)+1:], e
					break
				}
			}
		}
		if item == "" {
			if ref.container != "" {
				refs = append(refs, ref)
			}
			continue
		}
		name, sub, _ := strings.Cut(item, ".")
		attr, ok := sch.Attributes.ContainsAttribute(name)
		if !ok {
			continue
		}
		ref.name = attr.Name()
		if sub != "" {
			s, ok := attr.SubAttributes().ContainsAttribute(sub)
			if !ok {
				continue
			}
			ref.sub = s.Name()
		}
		refs = append(refs, ref)
	}
	return refs
}

// project applies p to attrs without modifying attrs (the result may share nested values).
func (k *kind) project(attrs map[string]any, p projection) map[string]any {
	if p.empty() {
		return attrs
	}
	if p.include != nil {
		out := map[string]any{"id": attrs["id"]}
		for _, ref := range p.include {
			src := attrs
			if ref.container != "" {
				src, _ = attrs[ref.container].(map[string]any)
				if ref.name == "" {
					if src != nil {
						out[ref.container] = src
					}
					continue
				}
			}
			v, ok := src[ref.name]
			if !ok {
				continue
			}
			dst := out
			if ref.container != "" {
				dst, _ = out[ref.container].(map[string]any)
				if dst == nil {
					dst = map[string]any{}
					out[ref.container] = dst
				}
			}
			if ref.sub == "" {
				dst[ref.name] = v
				continue
			}
			switch v := v.(type) {
			case map[string]any:
				if sv, ok := v[ref.sub]; ok {
					m, _ := dst[ref.name].(map[string]any)
					if m == nil {
						m = map[string]any{}
						dst[ref.name] = m
					}
					m[ref.sub] = sv
				}
			case []any:
				list := make([]any, 0, len(v))
				for _, el := range v {
					if m, ok := el.(map[string]any); ok {
						if sv, ok := m[ref.sub]; ok {
							list = append(list, map[string]any{ref.sub: sv})
						}
					}
				}
				if len(list) > 0 {
					dst[ref.name] = list
				}
			}
		}
		return out
	}
	out := maps.Clone(attrs)
	for _, ref := range p.exclude {
		dst := out
		if ref.container != "" {
			if ref.name == "" {
				delete(out, ref.container)
				continue
			}
			m, _ := out[ref.container].(map[string]any)
			if m == nil {
				continue
			}
			dst = maps.Clone(m)
			out[ref.container] = dst
		}
		if ref.name == "id" {
			continue
		}
		if ref.sub == "" {
			delete(dst, ref.name)
			continue
		}
		switch v := dst[ref.name].(type) {
		case map[string]any:
			m := maps.Clone(v)
			delete(m, ref.sub)
			dst[ref.name] = m
		case []any:
			list := make([]any, len(v))
			for i, el := range v {
				if m, ok := el.(map[string]any); ok {
					m = maps.Clone(m)
					delete(m, ref.sub)
					el = m
				}
				list[i] = el
			}
			dst[ref.name] = list
		}
	}
	return out
}
