package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxExpressionLength is Entra's limit on the length of an expression, in characters.
const MaxExpressionLength = 10000

// maxNesting bounds how deeply function calls may nest.
const maxNesting = 100

// ExprError is an error in an expression, located by position. Offset is the 0-based byte
// offset into the expression; Line and Col are 1-based, Col counted in characters.
type ExprError struct {
	Offset    int
	Line, Col int
	Msg       string
	// Err is the underlying cause, if any (for errors.Is/As).
	Err       error
	multiline bool
}

// Unwrap returns the underlying cause.
func (e *ExprError) Unwrap() error { return e.Err }

func (e *ExprError) Error() string {
	if e.multiline {
		return fmt.Sprintf("expression: line %d col %d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("expression: col %d: %s", e.Col, e.Msg)
}

func newExprError(src string, off int, msg string) *ExprError {
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &ExprError{Offset: off, Line: line, Col: col, Msg: msg, multiline: strings.ContainsRune(src, '\n')}
}

// Expr is a parsed and checked expression, ready to evaluate any number of times
// (concurrently too).
type Expr struct {
	src  string
	root node
	// target is the target attribute the expression maps to (set by Compile); it is what
	// SelectUniqueValue asks Env.Exists about.
	target string
	// topFn is the outermost function call, if the expression is one.
	topFn *funcSpec
}

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// ParseExpression parses s in Entra's expression syntax and checks it: function names and
// argument counts, literal arguments (regular expressions, date formats, intervals,
// integers). Errors are *ExprError and name the position.
func ParseExpression(s string) (*Expr, error) {
	if n := utf8.RuneCountInString(s); n > MaxExpressionLength {
		return nil, &ExprError{Offset: 0, Line: 1, Col: 1, Msg: fmt.Sprintf("expression is %d characters long; the maximum is %d", n, MaxExpressionLength)}
	}
	if !utf8.ValidString(s) {
		return nil, newExprError(s, invalidUTF8At(s), "invalid UTF-8")
	}
	p := &parser{src: s}
	p.skipSpace()
	if p.pos >= len(s) {
		return nil, p.errAt(p.pos, "empty expression")
	}
	root, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(s) {
		return nil, p.errAt(p.pos, fmt.Sprintf("unexpected %s after the end of the expression", p.describe()))
	}
	e := &Expr{src: s, root: root}
	if c, ok := root.(*callNode); ok {
		e.topFn = c.fn
	}
	return e, nil
}

func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			return i
		}
		i += w
	}
	return 0
}

type parser struct {
	src string
	pos int
}

func (p *parser) errAt(off int, msg string) *ExprError { return newExprError(p.src, off, msg) }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

// describe names what is at the current position, for error messages.
func (p *parser) describe() string {
	if p.pos >= len(p.src) {
		return "end of expression"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.Quote(string(r))
}

// parseExpr: operand [comparison operand].
func (p *parser) parseExpr(depth int) (node, error) {
	left, err := p.parseOperand(depth)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	opPos := p.pos
	op, ok := p.comparison()
	if !ok {
		return left, nil
	}
	p.skipSpace()
	right, err := p.parseOperand(depth)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if _, more := p.peekComparison(); more {
		return nil, p.errAt(p.pos, "comparisons cannot be chained; nest them in IIF instead")
	}
	return &cmpNode{op: op, l: left, r: right, pos: opPos}, nil
}

func (p *parser) peekComparison() (cmpOp, bool) {
	save := p.pos
	op, ok := p.comparison()
	p.pos = save
	return op, ok
}

func (p *parser) comparison() (cmpOp, bool) {
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "<>"):
		p.pos += 2
		return cmpNE, true
	case strings.HasPrefix(rest, ">="):
		p.pos += 2
		return cmpGE, true
	case strings.HasPrefix(rest, "<="):
		p.pos += 2
		return cmpLE, true
	case strings.HasPrefix(rest, "="):
		p.pos++
		return cmpEQ, true
	case strings.HasPrefix(rest, ">"):
		p.pos++
		return cmpGT, true
	case strings.HasPrefix(rest, "<"):
		p.pos++
		return cmpLT, true
	}
	return 0, false
}

const operandHint = `a function call, an [attribute], a "string", a number, True or False`

func (p *parser) parseOperand(depth int) (node, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errAt(p.pos, "expected "+operandHint+", found end of expression")
	}
	start := p.pos
	c := p.src[p.pos]
	switch {
	case c == '[':
		return p.parseAttr()
	case c == '"':
		return p.parseString()
	case c >= '0' && c <= '9', c == '-' && p.pos+1 < len(p.src) && (isDigit(p.src[p.pos+1]) || p.src[p.pos+1] == '.'), c == '.':
		return p.parseNumber()
	case c == '&' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == 'H' || p.src[p.pos+1] == 'h'):
		return p.parseHex()
	case isIdentStart(c):
		for p.pos < len(p.src) && isIdentPart(p.src[p.pos]) {
			p.pos++
		}
		name := p.src[start:p.pos]
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == '(' {
			return p.parseCall(name, start, depth)
		}
		if v, ok := identConstants[strings.ToLower(name)]; ok {
			return &litNode{v: v, pos: start}, nil
		}
		if _, ok := lookupFunc(name); ok {
			return nil, p.errAt(p.pos, fmt.Sprintf("expected \"(\" after function name %s", name))
		}
		return nil, p.errAt(start, fmt.Sprintf("unknown identifier %q (function calls need parentheses, attribute names need [brackets], strings need \"quotes\")", name))
	}
	return nil, p.errAt(start, fmt.Sprintf("unexpected %s, expected %s", p.describe(), operandHint))
}

// identConstants are the bare words an expression may use.
var identConstants = map[string]any{
	"true":            true,
	"false":           false,
	"vbbinarycompare": int64(0),
	"vbtextcompare":   int64(1),
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func (p *parser) parseAttr() (node, error) {
	start := p.pos
	p.pos++ // [
	depth := 1
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '[':
			depth++
		case ']':
			depth--
		case '\n':
			return nil, p.errAt(start, `unterminated attribute reference: expected "]" before the end of the line`)
		}
		if depth == 0 {
			name := strings.TrimSpace(p.src[start+1 : p.pos])
			p.pos++
			if name == "" {
				return nil, p.errAt(start, "empty attribute name in []")
			}
			return &attrNode{name: name, pos: start, dotted: strings.IndexByte(name, '.') >= 0}, nil
		}
		p.pos++
	}
	return nil, p.errAt(start, `unterminated attribute reference: expected "]"`)
}

func (p *parser) parseString() (node, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	chunk := p.pos
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '"':
			b.WriteString(p.src[chunk:p.pos])
			p.pos++
			return &litNode{v: b.String(), pos: start}, nil
		case '\\':
			b.WriteString(p.src[chunk:p.pos])
			if p.pos+1 >= len(p.src) {
				return nil, p.errAt(start, `unterminated string literal: expected closing "`)
			}
			switch esc := p.src[p.pos+1]; esc {
			case '"', '\\':
				b.WriteByte(esc)
			default:
				r, _ := utf8.DecodeRuneInString(p.src[p.pos+1:])
				return nil, p.errAt(p.pos, fmt.Sprintf(`invalid escape "\%c" in string: only \" and \\ are allowed (write \\ for a backslash)`, r))
			}
			p.pos += 2
			chunk = p.pos
		default:
			p.pos++
		}
	}
	return nil, p.errAt(start, `unterminated string literal: expected closing "`)
}

func (p *parser) parseNumber() (node, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	digits := 0
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.pos++
		digits++
	}
	isFloat := false
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		isFloat = true
		p.pos++
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
			digits++
		}
	}
	text := p.src[start:p.pos]
	if digits == 0 {
		return nil, p.errAt(start, fmt.Sprintf("invalid number %q", text))
	}
	if p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || p.src[p.pos] == '.') {
		return nil, p.errAt(p.pos, fmt.Sprintf("unexpected %s after number %s", p.describe(), text))
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.errAt(start, fmt.Sprintf("invalid number %q", text))
		}
		return &litNode{v: f, pos: start}, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, p.errAt(start, fmt.Sprintf("number %s is out of range", text))
	}
	return &litNode{v: n, pos: start}, nil
}

// parseHex parses a VB hexadecimal literal such as &HF7.
func (p *parser) parseHex() (node, error) {
	start := p.pos
	p.pos += 2
	ds := p.pos
	for p.pos < len(p.src) && strings.IndexByte("0123456789abcdefABCDEF", p.src[p.pos]) >= 0 {
		p.pos++
	}
	if p.pos == ds {
		return nil, p.errAt(p.pos, "expected hexadecimal digits after &H")
	}
	n, err := strconv.ParseUint(p.src[ds:p.pos], 16, 64)
	if err != nil {
		return nil, p.errAt(start, fmt.Sprintf("hexadecimal number %s is out of range", p.src[start:p.pos]))
	}
	return &litNode{v: int64(n), pos: start}, nil
}

func (p *parser) parseCall(name string, start, depth int) (node, error) {
	fn, ok := lookupFunc(name)
	if !ok {
		msg := fmt.Sprintf("unknown function %q", name)
		if s := suggestFunc(name); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return nil, p.errAt(start, msg)
	}
	if depth >= maxNesting {
		return nil, p.errAt(start, fmt.Sprintf("functions are nested more than %d deep", maxNesting))
	}
	if fn.topLevelOnly && depth > 0 {
		return nil, p.errAt(start, fmt.Sprintf("%s must be the outermost function of the expression; it cannot be nested", fn.name))
	}
	open := p.pos
	p.pos++ // (
	call := &callNode{fn: fn, pos: start}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.pos < len(p.src) && (p.src[p.pos] == ',' || p.src[p.pos] == ')') {
				// An omitted argument, as in FormatDateTime([x], , "yyyy", "yyyy-MM-dd").
				call.args = append(call.args, &litNode{pos: p.pos, omitted: true})
			} else {
				if p.pos >= len(p.src) {
					return nil, p.errAt(p.pos, fmt.Sprintf(`expected an argument or ")" to close %s( opened at col %d, found end of expression`, fn.name, newExprError(p.src, open, "").Col))
				}
				arg, err := p.parseExpr(depth + 1)
				if err != nil {
					return nil, err
				}
				call.args = append(call.args, arg)
			}
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, p.errAt(p.pos, fmt.Sprintf(`expected "," or ")" after argument %d of %s, found end of expression`, len(call.args), fn.name))
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.errAt(p.pos, fmt.Sprintf(`expected "," or ")" after argument %d of %s, found %s`, len(call.args), fn.name, p.describe()))
		}
	}
	n := len(call.args)
	if n < fn.min || (fn.max >= 0 && n > fn.max) {
		return nil, p.errAt(start, fmt.Sprintf("%s takes %s, got %d", fn.name, fn.arity(), n))
	}
	if fn.check != nil {
		if err := fn.check(call); err != nil {
			off := start
			if ae, ok := err.(*argError); ok {
				off = call.args[ae.i].position()
				err = fmt.Errorf("%s argument %d: %s", fn.name, ae.i+1, ae.msg)
			} else {
				err = fmt.Errorf("%s: %v", fn.name, err)
			}
			return nil, p.errAt(off, err.Error())
		}
	}
	return call, nil
}

// argError is a compile-time problem with one argument (0-based index i).
type argError struct {
	i   int
	msg string
}

func (e *argError) Error() string { return e.msg }

func argErrf(i int, format string, a ...any) error {
	return &argError{i: i, msg: fmt.Sprintf(format, a...)}
}

// suggestFunc returns the known function name closest to name, if any is close.
func suggestFunc(name string) string {
	best, bestD := "", 3
	ln := strings.ToLower(name)
	for k, f := range funcs {
		if d := editDistance(ln, k); d < bestD {
			best, bestD = f.name, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus adjacent
// transpositions) between a and b.
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[0] {
		rows[0][j] = j // row i lives in rows[i%3]
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[(i+1)%3], rows[(i+2)%3], rows[i%3]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
	}
	return rows[len(a)%3][len(b)]
}
