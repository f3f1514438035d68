package mapping

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/provisiond/provisiond/connectors"
)

// Compiled is a validated, compiled ObjectMapping. It is immutable and safe for concurrent
// use.
type Compiled struct {
	attrs    []compiledAttr
	matching []int // indexes into attrs, in precedence order
	filters  []compiledFilter
	targets  []string
	// scopeJSONHint sizes the ScopeEvaluationResult buffer.
	scopeJSONHint int
}

type compiledAttr struct {
	loc        string // `attributes[3] (target "userName")`
	target     string
	typ        Type
	source     string
	dotted     bool
	constant   string
	expr       *Expr
	def        string
	onCreate   bool
	reference  bool
	precedence int
}

// MatchValue is one matching attribute's value for a source object.
type MatchValue struct {
	Target     string
	Value      any
	Precedence int
}

// Result of mapping a source object.
type Result struct {
	// Attributes: target attribute → value, for non-reference mappings. OnCreate
	// mappings only when creating; Default applied (creating only) when the value is
	// null or empty string; IgnoreFlowIfNullOrEmpty-suppressed and None mappings absent;
	// null values absent (Entra does not provision nulls).
	Attributes connectors.Attributes
	// References: for Reference mappings, target attribute → referenced source IDs (one
	// for single-valued like manager, many for members). Empty refs are absent.
	References map[string][]string
	// Redacted lists the target attributes whose expression used Redact: their values
	// must appear as "[Redact]" in provisioning logs and events.
	Redacted []string
}

// RedactedValue is what logs show instead of a redacted attribute's value.
const RedactedValue = "[Redact]"

func canonicalType(t Type) (Type, bool) {
	for _, k := range []Type{Direct, Constant, Expression, None} {
		if strings.EqualFold(string(t), string(k)) {
			return k, true
		}
	}
	return "", false
}

// Compile validates and compiles an object mapping. Errors name the attribute mapping (by
// index and target) or the filter/clause, and for expressions the position, e.g.
// `attributes[3] (target "userName"): expression: col 5: unknown function "Jion"`.
func Compile(m ObjectMapping) (*Compiled, error) {
	c := &Compiled{attrs: make([]compiledAttr, 0, len(m.Attributes))}
	targets := make(map[string]int, len(m.Attributes))
	precedences := map[int]int{}
	for i, am := range m.Attributes {
		target := strings.TrimSpace(am.Target)
		if target == "" {
			return nil, fmt.Errorf("attributes[%d]: target is required", i)
		}
		loc := fmt.Sprintf("attributes[%d] (target %q)", i, target)
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, a...))
		}
		if prev, dup := targets[strings.ToLower(target)]; dup {
			return nil, fail("duplicate target: attributes[%d] already maps %q", prev, m.Attributes[prev].Target)
		}
		targets[strings.ToLower(target)] = i
		if am.Type == "" {
			return nil, fail("type is required (Direct, Constant, Expression or None)")
		}
		typ, ok := canonicalType(am.Type)
		if !ok {
			return nil, fail("unknown type %q (use Direct, Constant, Expression or None)", am.Type)
		}
		ca := compiledAttr{loc: loc, target: target, typ: typ, def: am.Default, reference: am.Reference, precedence: am.MatchingPrecedence}
		switch {
		case am.Apply == "" || strings.EqualFold(string(am.Apply), string(Always)):
		case strings.EqualFold(string(am.Apply), string(OnCreate)):
			ca.onCreate = true
		default:
			return nil, fail("unknown apply %q (use Always or OnCreate)", am.Apply)
		}
		unused := func(field, value string) error {
			if value != "" {
				return fail("%s is not used by a %s mapping", field, typ)
			}
			return nil
		}
		var err error
		switch typ {
		case Direct:
			ca.source = strings.TrimSpace(am.Source)
			if ca.source == "" {
				return nil, fail("a Direct mapping needs a source attribute")
			}
			ca.dotted = strings.IndexByte(ca.source, '.') >= 0
			if err = unused("value", am.Value); err == nil {
				err = unused("expression", am.Expression)
			}
		case Constant:
			ca.constant = am.Value
			if err = unused("source", am.Source); err == nil {
				err = unused("expression", am.Expression)
			}
		case Expression:
			if strings.TrimSpace(am.Expression) == "" {
				return nil, fail("an Expression mapping needs an expression")
			}
			ca.expr, err = ParseExpression(am.Expression)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", loc, err)
			}
			ca.expr.target = target
			if err = unused("source", am.Source); err == nil {
				err = unused("value", am.Value)
			}
		case None:
			if err = unused("source", am.Source); err == nil {
				if err = unused("value", am.Value); err == nil {
					err = unused("expression", am.Expression)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if am.Reference {
			if typ != Direct && typ != Expression {
				return nil, fail("a reference mapping must be Direct or Expression, not %s", typ)
			}
			if am.Default != "" {
				return nil, fail("defaultValue is not supported on a reference mapping")
			}
		}
		suv := ca.expr != nil && ca.expr.topFn != nil && ca.expr.topFn.name == "SelectUniqueValue"
		if suv && !ca.onCreate {
			return nil, fail("SelectUniqueValue generates a value for new objects only: set apply to OnCreate")
		}
		switch p := am.MatchingPrecedence; {
		case p < 0:
			return nil, fail("matchingPrecedence must not be negative, got %d", p)
		case p > 0:
			if typ == None {
				return nil, fail("a None mapping cannot be a matching attribute")
			}
			if am.Reference {
				return nil, fail("a reference mapping cannot be a matching attribute")
			}
			if suv {
				return nil, fail("SelectUniqueValue cannot be used on a matching attribute")
			}
			if prev, dup := precedences[p]; dup {
				return nil, fail("matchingPrecedence %d is also used by attributes[%d]", p, prev)
			}
			precedences[p] = i
		}
		c.attrs = append(c.attrs, ca)
		if typ != None || ca.def != "" {
			c.targets = append(c.targets, target)
		}
	}
	for i := range c.attrs {
		if c.attrs[i].precedence > 0 {
			c.matching = append(c.matching, i)
		}
	}
	slices.SortStableFunc(c.matching, func(a, b int) int { return c.attrs[a].precedence - c.attrs[b].precedence })
	var err error
	if c.filters, err = compileFilters(m.Scoping); err != nil {
		return nil, err
	}
	c.scopeJSONHint = scopeJSONHint(c.filters)
	return c, nil
}

// value evaluates a mapping's raw value (st.ignored/st.redacted report the flags).
func (a *compiledAttr) value(st *evalState) (any, error) {
	switch a.typ {
	case Direct:
		return lookupAttr(st.src, a.source, a.dotted), nil
	case Constant:
		return a.constant, nil
	case Expression:
		st.expr = a.expr
		st.ignored, st.redacted = false, false
		v, err := a.expr.root.eval(st)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.loc, err)
		}
		return v, nil
	}
	return nil, nil
}

// MatchingValues returns the matching attributes (MatchingPrecedence > 0) in precedence
// order with their mapped values; attributes whose value is null are left out.
func (c *Compiled) MatchingValues(ctx context.Context, src connectors.Attributes) ([]MatchValue, error) {
	if len(c.matching) == 0 {
		return nil, nil
	}
	st := evalState{ctx: ctx, src: src}
	out := make([]MatchValue, 0, len(c.matching))
	for _, i := range c.matching {
		a := &c.attrs[i]
		v, err := a.value(&st)
		if err != nil {
			return nil, err
		}
		if a.typ == Expression && st.ignored {
			continue
		}
		if v = normalizeOut(v); v == nil {
			continue
		}
		out = append(out, MatchValue{Target: a.target, Value: v, Precedence: a.precedence})
	}
	return out, nil
}

// Map maps a source object to target attributes and references. creating selects the
// create-only behaviour (OnCreate mappings, default values, None mappings' defaults). env
// is what SelectUniqueValue consults; it may be nil.
func (c *Compiled) Map(ctx context.Context, src connectors.Attributes, creating bool, env Env) (Result, error) {
	res := Result{Attributes: make(connectors.Attributes, len(c.attrs))}
	st := evalState{ctx: ctx, src: src, env: env}
	for i := range c.attrs {
		a := &c.attrs[i]
		if a.onCreate && !creating {
			continue
		}
		if a.typ == None {
			// Entra: a None mapping leaves the target alone, but an empty target
			// attribute (as on a new object) receives the default value.
			if creating && a.def != "" {
				res.Attributes[a.target] = a.def
			}
			continue
		}
		v, err := a.value(&st)
		if err != nil {
			return Result{}, err
		}
		if a.typ == Expression {
			if st.ignored {
				continue
			}
			if st.redacted {
				res.Redacted = append(res.Redacted, a.target)
			}
		}
		if a.reference {
			if refs := referenceIDs(v); len(refs) > 0 {
				if res.References == nil {
					res.References = make(map[string][]string)
				}
				res.References[a.target] = refs
			}
			continue
		}
		if creating && a.def != "" && isNullOrEmpty(v) {
			v = a.def
		}
		if v = normalizeOut(v); v != nil {
			res.Attributes[a.target] = v
		}
	}
	return res, nil
}

// referenceIDs extracts the non-empty source IDs of a reference value.
func referenceIDs(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []string:
		out := make([]string, 0, len(x))
		for _, s := range x {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, null, err := toStr(e); err == nil && !null && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s, null, err := toStr(v); err == nil && !null && s != "" {
		return []string{s}
	}
	return nil
}

// TargetAttributes lists every target attribute the mapping can write (for listing), in
// configuration order.
func (c *Compiled) TargetAttributes() []string {
	return slices.Clone(c.targets)
}
