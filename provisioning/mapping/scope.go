package mapping

import (
	"fmt"
	"github.com/provisiond/provisiond/internal/jsonenc"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/provisiond/provisiond/connectors"
)

// ScopeResult is the outcome of scoping. Details are Entra-style step details:
// "ScopeEvaluationResult" (JSON describing each filter and clause: attribute, operator,
// value, actual value, result) and "IsInProvisioningScope" ("True"/"False"). Description
// is a sentence naming the filter that matched, or for each filter the clause that failed
// with the actual value.
type ScopeResult struct {
	InScope     bool
	Description string
	Details     map[string]string
}

// Scope detail keys.
const (
	DetailScopeEvaluationResult = "ScopeEvaluationResult"
	DetailIsInProvisioningScope = "IsInProvisioningScope"
)

var operatorsByKey = map[string]Operator{}

// Operators lists the scoping operators in Entra's spelling.
var Operators = []Operator{OpAnd, OpNotAnd, OpEndsWith, OpEquals, OpGreaterThan, OpGreaterEquals,
	OpIncludes, OpIsFalse, OpIsNotNull, OpIsNull, OpIsTrue, OpNotEquals, OpNotRegexMatch, OpRegexMatch}

func init() {
	for _, op := range Operators {
		operatorsByKey[operatorKey(string(op))] = op
	}
}

// operatorKey folds case and treats "_" like a space, so "ends with", "Ends_With" and
// "ENDS_WITH" are the same operator.
func operatorKey(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(strings.ReplaceAll(s, "_", " ")), " "))
}

// NormalizeOperator returns the operator in Entra's spelling; input is matched
// case-insensitively, with "_" and " " interchangeable.
func NormalizeOperator(op Operator) (Operator, bool) {
	o, ok := operatorsByKey[operatorKey(string(op))]
	return o, ok
}

func unaryOperator(op Operator) bool {
	switch op {
	case OpIsFalse, OpIsTrue, OpIsNull, OpIsNotNull:
		return true
	}
	return false
}

type compiledClause struct {
	attr   string
	dotted bool
	op     Operator
	value  string
	lower  string // lower-cased value, for non-ASCII Includes/ENDS_WITH
	num    int64  // integer value for &, !&, Greater_Than*
	re     *regexp.Regexp
	text   string // `department EQUALS "Sales"`
}

type compiledFilter struct {
	name    string
	label   string // `filter "Employees"`
	clauses []compiledClause
}

func compileFilters(fs []ScopingFilter) ([]compiledFilter, error) {
	out := make([]compiledFilter, 0, len(fs))
	for i, f := range fs {
		floc := fmt.Sprintf("scoping[%d]", i)
		label := fmt.Sprintf("filter #%d", i+1)
		if f.Name != "" {
			floc += fmt.Sprintf(" %q", f.Name)
			label = fmt.Sprintf("filter %q", f.Name)
		}
		if len(f.Clauses) == 0 {
			return nil, fmt.Errorf("%s: a scoping filter needs at least one clause", floc)
		}
		cf := compiledFilter{name: f.Name, label: label, clauses: make([]compiledClause, 0, len(f.Clauses))}
		for j, cl := range f.Clauses {
			cloc := fmt.Sprintf("%s clause[%d]", floc, j)
			attr := strings.TrimSpace(cl.Attribute)
			if attr == "" {
				return nil, fmt.Errorf("%s: attribute is required", cloc)
			}
			op, ok := NormalizeOperator(cl.Operator)
			if !ok {
				return nil, fmt.Errorf("%s: unknown operator %q (use one of %s)", cloc, cl.Operator, operatorList())
			}
			cc := compiledClause{attr: attr, dotted: strings.IndexByte(attr, '.') >= 0, op: op, value: cl.Value, lower: strings.ToLower(cl.Value)}
			switch op {
			case OpAnd, OpNotAnd, OpGreaterThan, OpGreaterEquals:
				n, err := strconv.ParseInt(strings.TrimSpace(cl.Value), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: operator %s needs an integer value, got %q", cloc, op, cl.Value)
				}
				cc.num = n
			case OpRegexMatch, OpNotRegexMatch:
				re, err := regexp.Compile(cl.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: invalid regular expression %q: %v", cloc, cl.Value, err)
				}
				cc.re = re
			}
			if unaryOperator(op) {
				cc.text = attr + " " + string(op)
			} else {
				cc.text = fmt.Sprintf("%s %s %q", attr, op, cl.Value)
			}
			cf.clauses = append(cf.clauses, cc)
		}
		out = append(out, cf)
	}
	return out, nil
}

// scopeJSONHint estimates the size of a ScopeEvaluationResult for the filters, so that
// Scope builds it without regrowing.
func scopeJSONHint(fs []compiledFilter) int {
	n := 48
	for _, f := range fs {
		n += 48 + len(f.name)
		for _, cl := range f.clauses {
			// Field names and punctuation, the clause, and room for the actual value.
			n += 96 + len(cl.attr) + len(cl.op) + 2*len(cl.value) + 32
		}
	}
	return n
}

func operatorList() string {
	parts := make([]string, len(Operators))
	for i, op := range Operators {
		parts[i] = string(op)
	}
	return strings.Join(parts, ", ")
}

// Reasons a clause is false regardless of its operator.
const (
	noteNull        = "the attribute is null or empty"
	noteMultiValued = "multi-valued attributes are not supported in scoping filters"
	noteNotInteger  = "the value is not an integer"
	noteNotBoolean  = "the value is not a Boolean"
	noteObject      = "the value is an object"
)

// eval evaluates the clause. Null or empty values make every clause false except IS NULL
// (true) and IS NOT NULL (false), as Entra documents ("Scoping filters will return false
// if the value is null / empty").
func (cc *compiledClause) eval(v any) (bool, string) {
	switch x := v.(type) {
	case []string, []any:
		if isNull(x) {
			v = nil
		} else {
			if cc.op == OpIsNull {
				return false, ""
			}
			if cc.op == OpIsNotNull {
				return true, ""
			}
			return false, noteMultiValued
		}
	case map[string]any:
		if cc.op == OpIsNull {
			return false, ""
		}
		if cc.op == OpIsNotNull {
			return true, ""
		}
		return false, noteObject
	}
	if isNullOrEmpty(v) {
		switch cc.op {
		case OpIsNull:
			return true, ""
		case OpIsNotNull:
			return false, ""
		}
		return false, noteNull
	}
	switch cc.op {
	case OpIsNull:
		return false, ""
	case OpIsNotNull:
		return true, ""
	case OpIsTrue, OpIsFalse:
		var b bool
		switch x := v.(type) {
		case bool:
			b = x
		case string:
			s := strings.TrimSpace(x)
			switch {
			case strings.EqualFold(s, "true"):
				b = true
			case strings.EqualFold(s, "false"):
				b = false
			default:
				return false, noteNotBoolean
			}
		default:
			return false, noteNotBoolean
		}
		return b == (cc.op == OpIsTrue), ""
	case OpAnd, OpNotAnd, OpGreaterThan, OpGreaterEquals:
		n, ok := scopeInt(v)
		if !ok {
			return false, noteNotInteger
		}
		switch cc.op {
		case OpAnd:
			return n&cc.num != 0, ""
		case OpNotAnd:
			return n&cc.num == 0, ""
		case OpGreaterThan:
			return n > cc.num, ""
		default:
			return n >= cc.num, ""
		}
	}
	s, _, err := toStr(v)
	if err != nil {
		return false, err.Error()
	}
	switch cc.op {
	case OpEquals:
		return strings.EqualFold(s, cc.value), ""
	case OpNotEquals:
		return !strings.EqualFold(s, cc.value), ""
	case OpEndsWith:
		return hasSuffixFold(s, cc.value, cc.lower), ""
	case OpIncludes:
		return containsFold(s, cc.value, cc.lower), ""
	case OpRegexMatch:
		return cc.re.MatchString(s), ""
	default: // OpNotRegexMatch
		return !cc.re.MatchString(s), ""
	}
}

func scopeInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 9e18 {
			return int64(x), true
		}
		return 0, false
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func hasSuffixFold(s, suffix, lowerSuffix string) bool {
	if isASCII(s) && isASCII(suffix) {
		return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
	}
	return strings.HasSuffix(strings.ToLower(s), lowerSuffix)
}

func containsFold(s, sub, lowerSub string) bool {
	if isASCII(s) && isASCII(sub) {
		n := len(sub)
		for i := 0; i+n <= len(s); i++ {
			if strings.EqualFold(s[i:i+n], sub) {
				return true
			}
		}
		return n == 0
	}
	return strings.Contains(strings.ToLower(s), lowerSub)
}

// Scope decides whether a source object is in scope: clauses are AND-ed within a filter,
// filters are OR-ed, and no filters means in scope. Every filter and clause is evaluated
// so that the details explain the whole decision.
func (c *Compiled) Scope(src connectors.Attributes) ScopeResult {
	who := "Object"
	if s, ok := src[connectors.AttrDisplayName].(string); ok && s != "" {
		who = "'" + s + "'"
	}
	if len(c.filters) == 0 {
		return ScopeResult{
			InScope:     true,
			Description: who + " is in scope: no scoping filters are configured",
			Details: map[string]string{
				DetailScopeEvaluationResult: `{"inScope":true,"filters":[]}`,
				DetailIsInProvisioningScope: "True",
			},
		}
	}
	js := make([]byte, 0, c.scopeJSONHint)
	js = append(js, `{"inScope":`...)
	inScopeAt := len(js)
	js = append(js, `false,"filters":[`...)
	// failed[fi] is the first failing clause of filter fi (-1: the filter matched).
	var failedBuf [8]int
	failed := failedBuf[:0]
	matched := -1
	for fi := range c.filters {
		f := &c.filters[fi]
		if fi > 0 {
			js = append(js, ',')
		}
		js = append(js, `{"name":`...)
		js = jsonenc.AppendString(js, f.name)
		js = append(js, `,"clauses":[`...)
		first := -1
		for ci := range f.clauses {
			cl := &f.clauses[ci]
			v := lookupAttr(src, cl.attr, cl.dotted)
			res, note := cl.eval(v)
			if ci > 0 {
				js = append(js, ',')
			}
			js = append(js, `{"attribute":`...)
			js = jsonenc.AppendString(js, cl.attr)
			js = append(js, `,"operator":`...)
			js = jsonenc.AppendString(js, string(cl.op))
			if !unaryOperator(cl.op) {
				js = append(js, `,"value":`...)
				js = jsonenc.AppendString(js, cl.value)
			}
			js = append(js, `,"actualValue":`...)
			js = appendJSONValue(js, v)
			js = append(js, `,"result":`...)
			js = strconv.AppendBool(js, res)
			if note != "" {
				js = append(js, `,"note":`...)
				js = jsonenc.AppendString(js, note)
			}
			js = append(js, '}')
			if !res && first < 0 {
				first = ci
			}
		}
		js = append(js, `],"result":`...)
		js = strconv.AppendBool(js, first < 0)
		js = append(js, '}')
		failed = append(failed, first)
		if first < 0 && matched < 0 {
			matched = fi
		}
	}
	js = append(js, "]}"...)
	res := ScopeResult{InScope: matched >= 0, Details: make(map[string]string, 2)}
	if res.InScope {
		// Rewrite the "false" reserved at inScopeAt as "true" (copy is a memmove).
		copy(js[inScopeAt:], "true")
		copy(js[inScopeAt+4:], js[inScopeAt+5:])
		js = js[:len(js)-1]
		f := &c.filters[matched]
		var b strings.Builder
		b.WriteString(who)
		b.WriteString(" is in scope: ")
		b.WriteString(f.label)
		b.WriteString(" matched (")
		for i := range f.clauses {
			if i > 0 {
				b.WriteString(" and ")
			}
			b.WriteString(f.clauses[i].text)
		}
		b.WriteByte(')')
		res.Description = b.String()
		res.Details[DetailIsInProvisioningScope] = "True"
	} else {
		var b strings.Builder
		b.WriteString(who)
		b.WriteString(" is out of scope: ")
		for fi := range c.filters {
			f := &c.filters[fi]
			cl := &f.clauses[failed[fi]]
			v := lookupAttr(src, cl.attr, cl.dotted)
			_, note := cl.eval(v)
			if fi > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.label)
			b.WriteString(" did not match: ")
			b.WriteString(cl.text)
			b.WriteString(" is false (actual value ")
			b.WriteString(displayValue(v))
			if note != "" && note != noteNull {
				b.WriteString(": ")
				b.WriteString(note)
			}
			b.WriteByte(')')
		}
		res.Description = b.String()
		res.Details[DetailIsInProvisioningScope] = "False"
	}
	res.Details[DetailScopeEvaluationResult] = string(js)
	return res
}

// displayValue renders an attribute value for descriptions.
func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []string:
		if len(x) == 0 {
			return "null"
		}
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		if len(x) == 0 {
			return "null"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = displayValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonenc.AppendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return jsonenc.AppendString(b, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, s)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, e)
		}
		return append(b, ']')
	}
	return jsonenc.AppendString(b, fmt.Sprint(v))
}
