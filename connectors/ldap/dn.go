package ldap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// dnTemplate is a parsed DN template: "uid={uid},ou=People,dc=example,dc=org". Literal text
// is DN syntax written by the operator; each {attribute} is replaced by the attribute's
// value escaped as an RFC 4514 attribute value, so that no value can add an RDN, change the
// parent or inject a multi-valued RDN.
type dnTemplate struct {
	// rdn and parent are the segments of the first RDN and of the rest (the parent DN).
	rdn, parent []segment
}

// segment is literal DN text (name == "") or a placeholder.
type segment struct {
	lit  string
	name string
}

// parseTemplate parses tmpl. The first RDN must contain a placeholder.
func parseTemplate(tmpl string) (*dnTemplate, error) {
	var segs []segment
	split := -1 // index in segs of the literal segment holding the first unescaped ','
	splitAt := 0
	for rest := tmpl; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			segs = append(segs, segment{lit: rest})
			break
		}
		if rest[i] == '}' {
			return nil, errors.New("unbalanced '}'")
		}
		if i > 0 {
			segs = append(segs, segment{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, errors.New("unterminated placeholder '{'")
		}
		name := rest[i+1 : i+j]
		if !validAttrName(name) {
			return nil, fmt.Errorf("placeholder {%s} does not name an attribute", name)
		}
		segs = append(segs, segment{name: name})
		rest = rest[i+j+1:]
	}
	// Find the first unescaped ',' in literal text: it ends the first RDN.
	for i, s := range segs {
		if s.name != "" {
			continue
		}
		if k := unescapedComma(s.lit); k >= 0 {
			split, splitAt = i, k
			break
		}
	}
	t := &dnTemplate{}
	if split < 0 {
		t.rdn = segs
	} else {
		head, tail := segs[split].lit[:splitAt], strings.TrimLeft(segs[split].lit[splitAt+1:], " ")
		t.rdn = append(slices.Clone(segs[:split]), segment{lit: head})
		t.parent = append([]segment{{lit: tail}}, segs[split+1:]...)
	}
	hasPlaceholder := false
	for _, s := range t.rdn {
		if s.name != "" {
			hasPlaceholder = true
		}
	}
	if !hasPlaceholder {
		return nil, errors.New("the first RDN has no {attribute} placeholder, so every entry would get the same DN")
	}
	if _, err := goldap.ParseDN(t.sample()); err != nil {
		return nil, fmt.Errorf("not a valid DN: %v", err)
	}
	return t, nil
}

// unescapedComma returns the index of the first ',' in s not preceded by a backslash escape.
func unescapedComma(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped character (or the first hex digit: neither is ',')
		case ',':
			return i
		}
	}
	return -1
}

// sample renders the template with a dummy value for every placeholder.
func (t *dnTemplate) sample() string {
	rdn, parent, _ := t.render(func(string) (string, error) { return "x", nil })
	return join(rdn, parent)
}

// attrs returns the placeholder names, each once, in order.
func (t *dnTemplate) attrs() []string {
	var out []string
	for _, s := range append(slices.Clone(t.rdn), t.parent...) {
		if s.name != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, s.name) }) {
			out = append(out, s.name)
		}
	}
	return out
}

// uses reports whether the template has a placeholder for attr.
func (t *dnTemplate) uses(attr string) bool {
	return slices.ContainsFunc(t.attrs(), func(o string) bool { return strings.EqualFold(o, attr) })
}

// render fills in the placeholders with value(name), escaped, and returns the first RDN and
// the parent DN.
func (t *dnTemplate) render(value func(name string) (string, error)) (rdn, parent string, err error) {
	do := func(segs []segment) (string, error) {
		var b strings.Builder
		for _, s := range segs {
			if s.name == "" {
				b.WriteString(s.lit)
				continue
			}
			v, err := value(s.name)
			if err != nil {
				return "", err
			}
			b.WriteString(goldap.EscapeDN(v))
		}
		return b.String(), nil
	}
	if rdn, err = do(t.rdn); err != nil {
		return "", "", err
	}
	if parent, err = do(t.parent); err != nil {
		return "", "", err
	}
	// No trimming: a trailing space of a value is escaped ("\ ") and must stay so.
	return rdn, parent, nil
}

func join(rdn, parent string) string {
	if parent == "" {
		return rdn
	}
	return rdn + "," + parent
}

// foldDN returns a comparison key for a DN: attribute types and values case-folded, RDN
// components sorted, escaping normalised. An unparsable DN is returned case-folded.
func foldDN(dn string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, r := range d.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = strings.ToLower(a.Type) + "=" + goldap.EscapeDN(strings.ToLower(a.Value))
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, "+"))
	}
	return b.String()
}

// sameDN reports whether a and b name the same entry (case-insensitively).
func sameDN(a, b string) bool { return foldDN(a) == foldDN(b) }

// under reports whether dn lies in the subtree of base (or is base).
func under(base *goldap.DN, dn string) bool {
	d, err := goldap.ParseDN(dn)
	if err != nil {
		return false
	}
	return base.EqualFold(d) || base.AncestorOfFold(d)
}

// parentOf returns the parent DN of dn ("" for a single RDN).
func parentOf(dn string) string {
	k := unescapedComma(dn)
	if k < 0 {
		return ""
	}
	return strings.TrimSpace(dn[k+1:])
}
