package scimserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	efilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// compiledFilter is a parsed, validated filter for one resource kind.
type compiledFilter struct {
	expr      filter.Expression
	validator efilter.Validator // the library's evaluator
	// needsView is set when the filter reads meta.* or extension attributes, which are not at the
	// top level of the stored attribute map (see kind.view).
	needsView bool
}

// compileFilter parses raw (RFC 7644 §3.4.2.2 filter syntax), accepting also the form Entra
// uses for matching on a multi-valued sub-attribute, `emails[type eq "work"].value eq "x"`
// (not in the RFC grammar; evaluated as `emails[type eq "work" and value eq "x"]`). It
// normalises `emails.value op v` and `emails op v` to value paths (the library cannot evaluate
// a sub-attribute of a multi-valued attribute), and validates every comparison against the
// kind's schemas.
func (k *kind) compileFilter(raw string) (*compiledFilter, error) {
	expr, ok := parseEqConjunction(raw)
	if !ok {
		var err error
		expr, err = filter.ParseFilter([]byte(raw))
		if err != nil {
			var err2 error
			if expr, err2 = parseSubAttrValuePathFilter(raw); err2 != nil {
				return nil, err
			}
		}
		unescapeLiterals(expr)
	}
	expr = k.normaliseFilter(expr)
	if err := k.validateFilter(expr); err != nil {
		return nil, err
	}
	normaliseMetaTimes(expr)
	cf := &compiledFilter{
		expr:      expr,
		validator: efilter.NewFilterValidator(expr, k.evalSchema, k.exts...),
	}
	cf.needsView = k.filterNeedsView(expr)
	return cf, nil
}

// parseEqConjunction is a fast path for the filters provisioning clients send to match
// (Entra uses only eq and and): `attr eq "v"`, `attr.sub eq "v"` and conjunctions of those,
// with single spaces and string literals without escapes or control characters. It returns
// exactly the AST filter.ParseFilter returns for such input (and chains left-associative), or
// ok=false for anything else, which then goes to filter.ParseFilter. The library parser
// allocates about 80 KB per filter; this one a few hundred bytes.
func parseEqConjunction(raw string) (filter.Expression, bool) {
	var expr filter.Expression
	rest := raw
	for {
		cmp, n, ok := parseEqComparison(rest)
		if !ok {
			return nil, false
		}
		if expr == nil {
			expr = cmp
		} else {
			expr = &filter.LogicalExpression{Left: expr, Right: cmp, Operator: filter.AND}
		}
		rest = rest[n:]
		if rest == "" {
			return expr, true
		}
		if len(rest) < 5 || rest[0] != ' ' || !strings.EqualFold(rest[1:4], "and") || rest[4] != ' ' {
			return nil, false
		}
		rest = rest[5:]
	}
}

// parseEqComparison parses `name[.sub] eq "literal"` at the start of s and returns it and the
// number of bytes consumed.
func parseEqComparison(s string) (*filter.AttributeExpression, int, bool) {
	name := attrNameLen(s)
	if name == 0 {
		return nil, 0, false
	}
	ap := filter.AttributePath{AttributeName: s[:name]}
	i := name
	if i < len(s) && s[i] == '.' {
		sub := attrNameLen(s[i+1:])
		if sub == 0 {
			return nil, 0, false
		}
		subName := s[i+1 : i+1+sub]
		ap.SubAttribute = &subName
		i += 1 + sub
	}
	if len(s) < i+5 || s[i] != ' ' || !strings.EqualFold(s[i+1:i+3], "eq") || s[i+3] != ' ' || s[i+4] != '"' {
		return nil, 0, false
	}
	start := i + 5
	end := start
	for ; end < len(s); end++ {
		c := s[end]
		if c == '"' {
			break
		}
		if c < 0x20 || c == '\\' || c == 0x7f {
			return nil, 0, false
		}
	}
	if end == len(s) || !utf8.ValidString(s[start:end]) {
		return nil, 0, false
	}
	return &filter.AttributeExpression{AttributePath: ap, Operator: filter.EQ, CompareValue: s[start:end]}, end + 1, true
}

// attrNameLen returns the length of the ATTRNAME (ALPHA *(ALPHA / DIGIT / "-" / "_")) at the
// start of s, or 0.
func attrNameLen(s string) int {
	if s == "" || !isAlpha(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && (isAlpha(s[n]) || (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_') {
		n++
	}
	return n
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// unescapeLiterals decodes JSON escapes in string comparison values. The library's parser
// keeps them verbatim (`"a\"b"` compares against the four characters a\"b), but RFC 7644
// §3.4.2.2 takes compValue from JSON, and clients escape with a JSON encoder.
func unescapeLiterals(e filter.Expression) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if s, ok := e.CompareValue.(string); ok && strings.IndexByte(s, '\\') >= 0 {
			var v string
			if json.Unmarshal([]byte(`"`+s+`"`), &v) == nil {
				e.CompareValue = v
			}
		}
	case *filter.ValuePath:
		unescapeLiterals(e.ValueFilter)
	case *filter.LogicalExpression:
		unescapeLiterals(e.Left)
		unescapeLiterals(e.Right)
	case *filter.NotExpression:
		unescapeLiterals(e.Expression)
	}
}

// normaliseMetaTimes rewrites the literals compared with meta.created and meta.lastModified
// into the server's own fixed-width form (UTC, milliseconds: formatTime). The filter is then
// evaluated against kind.evalSchema, where those two are strings, so the comparison is a
// byte-wise one of equal-width timestamps. The library's dateTime parser cannot be used: it
// drops leading zeros of fractional seconds (".011" parses as .110 s), which misorders
// times within a second and made `meta.lastModified gt` deltas miss changes. A literal that
// is not RFC 3339 is left as is (validation already accepted it as a dateTime).
func normaliseMetaTimes(e filter.Expression) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		p := e.AttributePath
		if !strings.EqualFold(p.AttributeName, "meta") || p.SubAttribute == nil {
			return
		}
		if sub := *p.SubAttribute; !strings.EqualFold(sub, "created") && !strings.EqualFold(sub, "lastModified") {
			return
		}
		if s, ok := e.CompareValue.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				e.CompareValue = formatTime(t.Truncate(time.Millisecond))
			}
		}
	case *filter.ValuePath:
		normaliseMetaTimes(e.ValueFilter)
	case *filter.LogicalExpression:
		normaliseMetaTimes(e.Left)
		normaliseMetaTimes(e.Right)
	case *filter.NotExpression:
		normaliseMetaTimes(e.Expression)
	}
}

// parseSubAttrValuePathFilter parses `attr[valFilter].sub op value` into the value path
// `attr[(valFilter) and sub op value]`.
func parseSubAttrValuePathFilter(raw string) (filter.Expression, error) {
	end := closingBracket(raw)
	if end < 0 || end+1 >= len(raw) || raw[end+1] != '.' {
		return nil, errors.New("not a value path with a sub-attribute")
	}
	rest := raw[end+2:]
	n := 0
	for n < len(rest) && isNameChar(rest[n]) {
		n++
	}
	if n == 0 || n == len(rest) || rest[n] != ' ' {
		return nil, errors.New("not a value path with a sub-attribute")
	}
	path, err := filter.ParsePath([]byte(raw[:end+2+n]))
	if err != nil {
		return nil, err
	}
	cmp, err := filter.ParseAttrExp([]byte(rest))
	if err != nil {
		return nil, err
	}
	if path.ValueExpression == nil || cmp.AttributePath.URIPrefix != nil || cmp.AttributePath.SubAttribute != nil {
		return nil, errors.New("not a value path with a sub-attribute")
	}
	return &filter.ValuePath{
		AttributePath: path.AttributePath,
		ValueFilter:   &filter.LogicalExpression{Left: path.ValueExpression, Right: &cmp, Operator: filter.AND},
	}, nil
}

// closingBracket returns the index of the first ']' outside a string literal, or -1.
func closingBracket(s string) int {
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ']':
			return i
		}
	}
	return -1
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// resolveAttr finds the attribute a filter path refers to, in the core schema (with common
// attributes) or an extension, the way the library's evaluator does.
func (k *kind) resolveAttr(ap filter.AttributePath) (schema.Schema, schema.CoreAttribute, bool) {
	uri := ap.URI()
	if uri == "" || strings.EqualFold(uri, k.core.ID) {
		if a, ok := k.withCommon.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return k.withCommon, a, true
		}
		if uri != "" {
			return schema.Schema{}, schema.CoreAttribute{}, false
		}
	}
	for _, e := range k.exts {
		if uri != "" && !strings.EqualFold(uri, e.ID) {
			continue
		}
		if a, ok := e.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return e, a, true
		}
	}
	return schema.Schema{}, schema.CoreAttribute{}, false
}

// normaliseFilter rewrites comparisons on multi-valued complex attributes into value paths:
// `emails.value eq "x"` → `emails[value eq "x"]` and `emails eq "x"` → `emails[value eq "x"]`
// (RFC 7644 §3.4.2.2: a complex multi-valued attribute without a sub-attribute compares its
// "value").
func (k *kind) normaliseFilter(e filter.Expression) filter.Expression {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		_, attr, ok := k.resolveAttr(e.AttributePath)
		if !ok || !attr.MultiValued() || !attr.HasSubAttributes() {
			return e
		}
		sub := e.AttributePath.SubAttributeName()
		if sub == "" {
			if e.Operator == filter.PR {
				return e
			}
			sub = "value"
		}
		return &filter.ValuePath{
			AttributePath: filter.AttributePath{URIPrefix: e.AttributePath.URIPrefix, AttributeName: e.AttributePath.AttributeName},
			ValueFilter: &filter.AttributeExpression{
				AttributePath: filter.AttributePath{AttributeName: sub},
				Operator:      e.Operator,
				CompareValue:  e.CompareValue,
			},
		}
	case *filter.LogicalExpression:
		return &filter.LogicalExpression{Left: k.normaliseFilter(e.Left), Right: k.normaliseFilter(e.Right), Operator: e.Operator}
	case *filter.NotExpression:
		return &filter.NotExpression{Expression: k.normaliseFilter(e.Expression)}
	default:
		return e
	}
}

// validateFilter validates each comparison on its own (the library validates a whole compound
// filter against one schema at a time, so it rejects `userName eq "a" and
// urn:…:enterprise:2.0:User:department eq "b"`), and validates value filters against the
// attribute's sub-attributes (the library does not).
func (k *kind) validateFilter(e filter.Expression) error {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		return efilter.NewFilterValidator(e, k.withCommon, k.exts...).Validate()
	case *filter.ValuePath:
		_, attr, ok := k.resolveAttr(e.AttributePath)
		if !ok {
			return fmt.Errorf("unknown attribute %s", e.AttributePath)
		}
		if !attr.MultiValued() {
			return fmt.Errorf("%s is not multi-valued", e.AttributePath)
		}
		if e.AttributePath.SubAttribute != nil {
			return fmt.Errorf("unexpected sub-attribute in %s", e.AttributePath)
		}
		return efilter.NewFilterValidator(e.ValueFilter, schema.Schema{Attributes: efilter.MultiValuedFilterAttributes(attr)}).Validate()
	case *filter.LogicalExpression:
		if err := k.validateFilter(e.Left); err != nil {
			return err
		}
		return k.validateFilter(e.Right)
	case *filter.NotExpression:
		return k.validateFilter(e.Expression)
	default:
		return fmt.Errorf("unsupported filter expression %T", e)
	}
}

func (k *kind) filterNeedsView(e filter.Expression) bool {
	var ap filter.AttributePath
	switch e := e.(type) {
	case *filter.AttributeExpression:
		ap = e.AttributePath
	case *filter.ValuePath:
		ap = e.AttributePath
	case *filter.LogicalExpression:
		return k.filterNeedsView(e.Left) || k.filterNeedsView(e.Right)
	case *filter.NotExpression:
		return k.filterNeedsView(e.Expression)
	default:
		return true
	}
	s, attr, ok := k.resolveAttr(ap)
	return !ok || s.ID != k.core.ID || attr.Name() == "meta"
}

// matches reports whether snap passes the filter. The library's evaluator panics on some type
// mismatches (e.g. a string compared with `gt` against a non-string value); such a resource
// does not match.
func (k *kind) matches(cf *compiledFilter, snap *snapshot) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	res := snap.attrs
	if cf.needsView {
		res = k.view(snap)
	}
	return cf.validator.PassesFilter(res) == nil
}

// view returns the resource as the library's evaluator expects it: the stored attributes plus
// meta and every extension attribute under its fully qualified name.
func (k *kind) view(snap *snapshot) map[string]any {
	v := make(map[string]any, len(snap.attrs)+8)
	for key, val := range snap.attrs {
		v[key] = val
		if ext := k.ext(key); ext != nil {
			if m, ok := val.(map[string]any); ok {
				for sub, sv := range m {
					v[ext.ID+":"+sub] = sv
				}
			}
		}
	}
	v["meta"] = map[string]any{
		"resourceType": k.name,
		"created":      formatTime(snap.created),
		"lastModified": formatTime(snap.modified),
		"version":      etagValue(snap.version),
	}
	return v
}

// plan returns the candidate entries for e from the indexes, in insertion order, or ok=false
// if e cannot be answered from an index. Candidates are a superset of the matches; the caller
// evaluates the full filter on each.
func (k *kind) plan(e filter.Expression) ([]*entry, bool) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		name, v, ok := eqLiteral(k, e)
		if !ok {
			return nil, false
		}
		switch {
		case name == "id":
			if ent, _ := k.st.get(v); ent != nil {
				return []*entry{ent}, true
			}
			return nil, true
		case k.st.index(name) != nil:
			return k.st.lookup(name, v), true
		}
		return nil, false
	case *filter.ValuePath:
		_, attr, ok := k.resolveAttr(e.AttributePath)
		if !ok || (e.AttributePath.URIPrefix != nil && !strings.EqualFold(e.AttributePath.URI(), k.core.ID)) {
			return nil, false
		}
		return k.planValueFilter(attr.Name(), e.ValueFilter)
	case *filter.LogicalExpression:
		l, lok := k.plan(e.Left)
		r, rok := k.plan(e.Right)
		switch {
		case e.Operator == filter.AND && lok && rok:
			if len(r) < len(l) {
				return r, true
			}
			return l, true
		case e.Operator == filter.AND && lok:
			return l, true
		case e.Operator == filter.AND && rok:
			return r, true
		case e.Operator == filter.OR && lok && rok:
			return k.st.union(l, r), true
		}
	}
	return nil, false
}

// planValueFilter plans attr[valueFilter], using the "attr.sub" index (emails.value).
func (k *kind) planValueFilter(attr string, e filter.Expression) ([]*entry, bool) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil || e.AttributePath.URIPrefix != nil {
			return nil, false
		}
		v, ok := e.CompareValue.(string)
		if !ok {
			return nil, false
		}
		name := attr + "." + strings.ToLower(e.AttributePath.AttributeName)
		for _, ix := range k.st.indexes {
			if strings.EqualFold(ix.spec.name, name) {
				return k.st.lookup(ix.spec.name, v), true
			}
		}
	case *filter.LogicalExpression:
		l, lok := k.planValueFilter(attr, e.Left)
		r, rok := k.planValueFilter(attr, e.Right)
		switch {
		case e.Operator == filter.AND && lok:
			return l, true
		case e.Operator == filter.AND && rok:
			return r, true
		case e.Operator == filter.OR && lok && rok:
			return k.st.union(l, r), true
		}
	}
	return nil, false
}

// eqLiteral recognises `attr eq "string"` on a core attribute without sub-attribute and
// returns the canonical attribute name.
func eqLiteral(k *kind, e *filter.AttributeExpression) (string, string, bool) {
	if e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil {
		return "", "", false
	}
	if uri := e.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, k.core.ID) {
		return "", "", false
	}
	v, ok := e.CompareValue.(string)
	if !ok {
		return "", "", false
	}
	s, attr, ok := k.resolveAttr(e.AttributePath)
	if !ok || s.ID != k.core.ID {
		return "", "", false
	}
	return attr.Name(), v, true
}
