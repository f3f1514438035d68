package dashboards_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
)

// A small evaluator of Grafana's server-side expressions (grafana/grafana pkg/expr) for
// the alert rules' reduce, math and threshold steps, enough to say whether a rule fires
// for the numbers and series the datasource answers. It follows Grafana's semantics where
// the rules depend on them: reduce turns each series into a number (numbers pass
// through); math combines sets item by item when their labels are equal or one label set
// is a subset of the other (a single item on each side always combines), and drops
// unmatched items; comparisons and && || give 1 or 0; threshold gives 1 or 0.

// item is one number or series of a set, with its labels.
type item struct {
	labels data.Labels
	// series is nil for a number.
	series []float64
	num    float64
}

func (it item) String() string {
	if it.series != nil {
		return fmt.Sprintf("%s%v", it.labels, it.series)
	}
	return fmt.Sprintf("%s=%v", it.labels, it.num)
}

// set is what an expression or query yields; noData marks the typed "no data" answer.
type set struct {
	items  []item
	noData bool
}

// fromFrames turns a datasource answer into a set, after checking it the way
// server-side expressions do.
func fromFrames(frames data.Frames) (set, error) {
	r, err := framecheck.Alertable(frames)
	if err != nil {
		return set{}, err
	}
	if r.NoData {
		return set{noData: true}, nil
	}
	var s set
	for _, f := range frames {
		var tf, vf *data.Field
		for _, fld := range f.Fields {
			switch {
			case fld.Type().Time() && tf == nil:
				tf = fld
			case fld.Type().Numeric() && vf == nil:
				vf = fld
			}
		}
		if vf == nil {
			continue
		}
		it := item{labels: vf.Labels.Copy()}
		if it.labels == nil {
			it.labels = data.Labels{}
		}
		if r.Kind == data.KindNumeric {
			v, err := vf.NullableFloatAt(0)
			if err != nil {
				return set{}, err
			}
			it.num = math.NaN()
			if v != nil {
				it.num = *v
			}
		} else {
			it.series = make([]float64, vf.Len())
			for i := range it.series {
				v, err := vf.NullableFloatAt(i)
				if err != nil {
					return set{}, err
				}
				it.series[i] = math.NaN()
				if v != nil {
					it.series[i] = *v
				}
			}
		}
		s.items = append(s.items, it)
	}
	return s, nil
}

// reduce applies a reducer (sum, last, max, min, mean, count) to each series; mode dropNN
// leaves NaN and infinities out, "" (strict) lets them make the result NaN.
func reduce(in set, reducer, mode string) (set, error) {
	out := set{noData: in.noData}
	for _, it := range in.items {
		if it.series == nil {
			out.items = append(out.items, it)
			continue
		}
		vals := it.series
		if mode == "dropNN" {
			vals = slices.DeleteFunc(slices.Clone(vals), func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
		}
		var v float64
		switch reducer {
		case "sum":
			for _, x := range vals {
				v += x
			}
		case "last":
			v = math.NaN()
			if len(vals) > 0 {
				v = vals[len(vals)-1]
			}
		case "max", "min":
			v = math.NaN()
			for i, x := range vals {
				if i == 0 || (reducer == "max" && x > v) || (reducer == "min" && x < v) {
					v = x
				}
			}
		case "mean":
			v = math.NaN()
			if len(vals) > 0 {
				sum := 0.0
				for _, x := range vals {
					sum += x
				}
				v = sum / float64(len(vals))
			}
		case "count":
			v = float64(len(vals))
		default:
			return set{}, fmt.Errorf("reducer %q is not supported by the test evaluator", reducer)
		}
		out.items = append(out.items, item{labels: it.labels, num: v})
	}
	return out, nil
}

// threshold compares each number: gt, lt (one parameter), within_range, outside_range
// (two).
func threshold(in set, typ string, params []float64) (set, error) {
	out := set{noData: in.noData}
	for _, it := range in.items {
		if it.series != nil {
			return set{}, errors.New("threshold on a series: reduce it first")
		}
		var ok bool
		switch {
		case typ == "gt" && len(params) == 1:
			ok = it.num > params[0]
		case typ == "lt" && len(params) == 1:
			ok = it.num < params[0]
		case typ == "within_range" && len(params) == 2:
			ok = it.num > params[0] && it.num < params[1]
		case typ == "outside_range" && len(params) == 2:
			ok = it.num < params[0] || it.num > params[1]
		default:
			return set{}, fmt.Errorf("threshold %s%v is not supported", typ, params)
		}
		out.items = append(out.items, item{labels: it.labels, num: b2f(ok)})
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// operand is a math operand: a scalar or a set.
type operand struct {
	scalar *float64
	set    set
}

// mathExpr evaluates a math expression over the sets named $refId.
func mathExpr(expr string, vars map[string]set) (set, error) {
	p := &parser{src: expr, vars: vars}
	p.next()
	v, err := p.binary(0)
	if err != nil {
		return set{}, err
	}
	if p.tok != "" {
		return set{}, fmt.Errorf("math %q: unexpected %q", expr, p.tok)
	}
	if v.scalar != nil {
		return set{items: []item{{labels: data.Labels{}, num: *v.scalar}}}, nil
	}
	return v.set, nil
}

type parser struct {
	src  string
	pos  int
	tok  string
	vars map[string]set
}

// next reads the next token: a number, $ref, an operator or a parenthesis.
func (p *parser) next() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = ""
		return
	}
	start := p.pos
	c := rune(p.src[p.pos])
	switch {
	case c == '$' || unicode.IsDigit(c) || c == '.':
		p.pos++
		for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) ||
			p.src[p.pos] == '.' || p.src[p.pos] == '_') {
			p.pos++
		}
	default:
		for _, op := range []string{"&&", "||", ">=", "<=", "==", "!=", ">", "<", "+", "-", "*", "/", "(", ")", "!"} {
			if strings.HasPrefix(p.src[p.pos:], op) {
				p.pos += len(op)
				break
			}
		}
		if p.pos == start {
			p.pos++
		}
	}
	p.tok = p.src[start:p.pos]
}

// precedence of the binary operators (as Grafana's math, from loosest).
var precedence = map[string]int{"||": 1, "&&": 2, "==": 3, "!=": 3, ">": 4, "<": 4, ">=": 4, "<=": 4, "+": 5, "-": 5, "*": 6, "/": 6}

func (p *parser) binary(minPrec int) (operand, error) {
	left, err := p.unary()
	if err != nil {
		return operand{}, err
	}
	for {
		op := p.tok
		prec, ok := precedence[op]
		if !ok || prec <= minPrec {
			return left, nil
		}
		p.next()
		right, err := p.binary(prec)
		if err != nil {
			return operand{}, err
		}
		if left, err = combine(op, left, right); err != nil {
			return operand{}, err
		}
	}
}

func (p *parser) unary() (operand, error) {
	switch tok := p.tok; {
	case tok == "(":
		p.next()
		v, err := p.binary(0)
		if err != nil {
			return operand{}, err
		}
		if p.tok != ")" {
			return operand{}, fmt.Errorf("math %q: missing )", p.src)
		}
		p.next()
		return v, nil
	case tok == "-" || tok == "!":
		p.next()
		v, err := p.unary()
		if err != nil {
			return operand{}, err
		}
		zero := 0.0
		if tok == "-" {
			return combine("-", operand{scalar: &zero}, v)
		}
		return combine("==", v, operand{scalar: &zero})
	case strings.HasPrefix(tok, "$"):
		s, ok := p.vars[tok[1:]]
		if !ok {
			return operand{}, fmt.Errorf("math %q: unknown %s", p.src, tok)
		}
		p.next()
		return operand{set: s}, nil
	default:
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return operand{}, fmt.Errorf("math %q: unexpected %q", p.src, tok)
		}
		p.next()
		return operand{scalar: &f}, nil
	}
}

func apply(op string, a, b float64) float64 {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	case ">":
		return b2f(a > b)
	case "<":
		return b2f(a < b)
	case ">=":
		return b2f(a >= b)
	case "<=":
		return b2f(a <= b)
	case "==":
		return b2f(a == b)
	case "!=":
		return b2f(a != b)
	case "&&":
		return b2f(a != 0 && b != 0)
	case "||":
		return b2f(a != 0 || b != 0)
	}
	return math.NaN()
}

// subset says whether every label of a is in b with the same value.
func subset(a, b data.Labels) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// combine applies op to scalars and sets (numbers only: the rules reduce series first).
func combine(op string, a, b operand) (operand, error) {
	if a.scalar != nil && b.scalar != nil {
		v := apply(op, *a.scalar, *b.scalar)
		return operand{scalar: &v}, nil
	}
	for _, o := range []operand{a, b} {
		for _, it := range o.set.items {
			if it.series != nil {
				return operand{}, errors.New("math on series is not supported by the test evaluator: reduce first")
			}
		}
	}
	out := set{noData: a.set.noData || b.set.noData}
	switch {
	case a.scalar != nil:
		for _, it := range b.set.items {
			out.items = append(out.items, item{labels: it.labels, num: apply(op, *a.scalar, it.num)})
		}
	case b.scalar != nil:
		for _, it := range a.set.items {
			out.items = append(out.items, item{labels: it.labels, num: apply(op, it.num, *b.scalar)})
		}
	case len(a.set.items) == 1 && len(b.set.items) == 1:
		labels := a.set.items[0].labels
		if len(b.set.items[0].labels) > len(labels) {
			labels = b.set.items[0].labels
		}
		out.items = append(out.items, item{labels: labels, num: apply(op, a.set.items[0].num, b.set.items[0].num)})
	default:
		for _, x := range a.set.items {
			for _, y := range b.set.items {
				if !subset(x.labels, y.labels) && !subset(y.labels, x.labels) {
					continue
				}
				labels := x.labels
				if len(y.labels) > len(labels) {
					labels = y.labels
				}
				out.items = append(out.items, item{labels: labels, num: apply(op, x.num, y.num)})
			}
		}
	}
	return operand{set: out}, nil
}
