package mapping

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// Env gives expressions access to the target (SelectUniqueValue).
type Env interface {
	Exists(ctx context.Context, attr string, value any) (bool, error)
}

// Ignored is what Eval returns when IgnoreFlowIfNullOrEmpty saw a null or empty value: the
// target attribute must not flow at all (not even as an empty value).
var Ignored any = ignoredFlow{}

type ignoredFlow struct{}

// IsIgnored reports whether v is Ignored.
func IsIgnored(v any) bool {
	_, ok := v.(ignoredFlow)
	return ok
}

func (ignoredFlow) String() string { return "<ignored: IgnoreFlowIfNullOrEmpty>" }

// ErrNoUniqueValue is wrapped by the error SelectUniqueValue returns when every candidate
// value already exists in the target (Entra escrows the entry).
var ErrNoUniqueValue = errors.New("no unique value")

// Eval evaluates the expression against a source object. Missing attributes are null
// (nil). DateTime results are returned as strings in Entra's M/d/yyyy h:mm:ss tt form.
// When IgnoreFlowIfNullOrEmpty suppressed the value, Eval returns Ignored. env may be nil.
func (e *Expr) Eval(ctx context.Context, src connectors.Attributes, env Env) (any, error) {
	st := evalState{ctx: ctx, src: src, env: env, expr: e}
	v, err := e.root.eval(&st)
	if err != nil {
		return nil, err
	}
	if st.ignored {
		return Ignored, nil
	}
	return normalizeOut(v), nil
}

// evalState is the per-evaluation state; one is reused across a Map call's mappings.
type evalState struct {
	ctx      context.Context
	src      connectors.Attributes
	env      Env
	expr     *Expr
	ignored  bool // IgnoreFlowIfNullOrEmpty saw null/empty
	redacted bool // Redact was applied
}

func (st *evalState) fail(pos int, format string, a ...any) error {
	src := ""
	if st.expr != nil {
		src = st.expr.src
	}
	return newExprError(src, pos, fmt.Sprintf(format, a...))
}

type node interface {
	eval(st *evalState) (any, error)
	position() int
}

type litNode struct {
	v       any
	pos     int
	omitted bool // an empty argument slot: null
}

func (n *litNode) eval(*evalState) (any, error) { return n.v, nil }
func (n *litNode) position() int                { return n.pos }

type attrNode struct {
	name   string
	pos    int
	dotted bool
}

func (n *attrNode) eval(st *evalState) (any, error) { return lookupAttr(st.src, n.name, n.dotted), nil }
func (n *attrNode) position() int                   { return n.pos }

// lookupAttr returns a source attribute's value: the exact key first; for dotted names
// missing as a key, the path through nested objects ("name.givenName").
func lookupAttr(src connectors.Attributes, name string, dotted bool) any {
	if v, ok := src[name]; ok || !dotted {
		return v
	}
	var cur any = map[string]any(src)
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

type callNode struct {
	fn   *funcSpec
	args []node
	pos  int
	data any // compile-time precomputed data (regexes, formats…)
}

func (n *callNode) eval(st *evalState) (any, error) { return n.fn.eval(st, n) }
func (n *callNode) position() int                   { return n.pos }

// omitted reports whether argument i is absent or an empty slot.
func (n *callNode) omitted(i int) bool {
	if i >= len(n.args) {
		return true
	}
	l, ok := n.args[i].(*litNode)
	return ok && l.omitted
}

// literal returns argument i's value when it is a literal (not omitted).
func (n *callNode) literal(i int) (any, bool) {
	if i >= len(n.args) {
		return nil, false
	}
	l, ok := n.args[i].(*litNode)
	if !ok || l.omitted {
		return nil, false
	}
	return l.v, true
}

type cmpOp uint8

const (
	cmpEQ cmpOp = iota
	cmpNE
	cmpGT
	cmpGE
	cmpLT
	cmpLE
)

type cmpNode struct {
	op   cmpOp
	l, r node
	pos  int
}

func (n *cmpNode) position() int { return n.pos }

// eval compares two values: numerically when both are numbers (or one is a number and the
// other a numeric string), as dates when either is a DateTime, otherwise as case-sensitive
// strings. A comparison involving null is False (Entra: "the condition check fails").
func (n *cmpNode) eval(st *evalState) (any, error) {
	l, err := n.l.eval(st)
	if err != nil {
		return nil, err
	}
	r, err := n.r.eval(st)
	if err != nil {
		return nil, err
	}
	if isNull(l) || isNull(r) {
		return false, nil
	}
	c, err := compareValues(l, r)
	if err != nil {
		return nil, st.fail(n.pos, "comparison: %v", err)
	}
	switch n.op {
	case cmpEQ:
		return c == 0, nil
	case cmpNE:
		return c != 0, nil
	case cmpGT:
		return c > 0, nil
	case cmpGE:
		return c >= 0, nil
	case cmpLT:
		return c < 0, nil
	default:
		return c <= 0, nil
	}
}

func compareValues(l, r any) (int, error) {
	lt, lIsT := l.(time.Time)
	rt, rIsT := r.(time.Time)
	if lIsT || rIsT {
		var err error
		if !lIsT {
			if lt, err = toDate(l); err != nil {
				return 0, err
			}
		}
		if !rIsT {
			if rt, err = toDate(r); err != nil {
				return 0, err
			}
		}
		return lt.Compare(rt), nil
	}
	lf, lNum := numberOf(l)
	rf, rNum := numberOf(r)
	if lNum && rNum && (isNumeric(l) || isNumeric(r)) {
		switch {
		case lf < rf:
			return -1, nil
		case lf > rf:
			return 1, nil
		}
		return 0, nil
	}
	ls, _, err := toStr(l)
	if err != nil {
		return 0, err
	}
	rs, _, err := toStr(r)
	if err != nil {
		return 0, err
	}
	return strings.Compare(ls, rs), nil
}

func isNumeric(v any) bool {
	switch v.(type) {
	case int64, int, float64:
		return true
	}
	return false
}

func numberOf(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// isNull: nil, or an empty multi-valued attribute.
func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func isNullOrEmpty(v any) bool {
	if s, ok := v.(string); ok {
		return s == ""
	}
	return isNull(v)
}

type multiValuedError int

func (e multiValuedError) Error() string {
	return fmt.Sprintf("value is multi-valued (%d values); use Item, Join or Count", int(e))
}

// toStr converts a single value to a string. null reports true. A multi-valued value with
// one element is that element; with more it is an error.
func toStr(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		return x, false, nil
	case bool:
		if x {
			return "True", false, nil
		}
		return "False", false, nil
	case int64:
		return strconv.FormatInt(x, 10), false, nil
	case int:
		return strconv.Itoa(x), false, nil
	case float64:
		return formatFloat(x), false, nil
	case time.Time:
		return formatDefaultDate(x), false, nil
	case []string:
		switch len(x) {
		case 0:
			return "", true, nil
		case 1:
			return x[0], false, nil
		}
		return "", false, multiValuedError(len(x))
	case []any:
		switch len(x) {
		case 0:
			return "", true, nil
		case 1:
			return toStr(x[0])
		}
		return "", false, multiValuedError(len(x))
	case map[string]any:
		return "", false, errors.New("value is an object, not a string")
	case ignoredFlow:
		return "", true, nil
	}
	return fmt.Sprint(v), false, nil
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// toInt converts a value to an integer: integers, integral floats and integer strings.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 9e18 {
			return int64(x), true
		}
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 9e18 {
			return int64(f), true
		}
	case []string:
		if len(x) == 1 {
			return toInt(x[0])
		}
	case []any:
		if len(x) == 1 {
			return toInt(x[0])
		}
	}
	return 0, false
}

// toBool converts a value to a Boolean the way CBool does: Booleans, "True"/"False" in any
// case, and numbers (non-zero is True).
func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case int:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case string:
		s := strings.TrimSpace(x)
		switch {
		case s == "":
			return false, nil
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"):
			return false, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f != 0, nil
		}
		return false, fmt.Errorf("cannot convert %q to a Boolean", x)
	case []string, []any:
		if isNull(x) {
			return false, nil
		}
		s, _, err := toStr(x)
		if err != nil {
			return false, err
		}
		return toBool(s)
	}
	return false, fmt.Errorf("cannot convert %T to a Boolean", v)
}

// toDate converts a DateTime or a date string to a UTC time.
func toDate(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		return parseAnyDate(x)
	}
	s, null, err := toStr(v)
	if err != nil {
		return time.Time{}, err
	}
	if null {
		return time.Time{}, errors.New("date is null")
	}
	return parseAnyDate(s)
}

// values flattens a value into its elements: nil → none, multi-valued → each element,
// anything else → itself.
func forEachValue(v any, f func(any) error) error {
	switch x := v.(type) {
	case nil:
		return nil
	case []string:
		for _, s := range x {
			if err := f(s); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, e := range x {
			if err := f(e); err != nil {
				return err
			}
		}
		return nil
	}
	return f(v)
}

// normalizeOut turns an evaluated value into plain connector data: DateTimes become
// strings, other integer types int64, empty multi-valued values null; slices are copied so
// the result never aliases the source object.
func normalizeOut(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case time.Time:
		return formatDefaultDate(x)
	case []string:
		if len(x) == 0 {
			return nil
		}
		return append([]string(nil), x...)
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeOut(e)
		}
		return out
	case ignoredFlow:
		return nil
	}
	return v
}
