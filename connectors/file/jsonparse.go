package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/provisiond/provisiond/connectors"
)

// errShort reports that a value continues past the end of the bytes given to the parser;
// the stream reads more and parses again.
var errShort = errors.New("unexpected end of input")

// syntaxError is a JSON (or CSV) syntax error at a byte offset of the file.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

const maxDepth = 100

// jsonParser parses JSON values held entirely in b into plain data: strings, bools, int64
// (integral numbers), float64, []string (arrays of strings), []any and map[string]any.
// A null member of an object is left out ("no value"). It is much faster than decoding
// into interfaces with encoding/json and allocates only what it returns.
type jsonParser struct {
	b       []byte
	i       int
	base    int64             // file offset of b[0], for errors
	keys    map[string]string // interned object keys
	frozen  bool              // keys is shared: look up only
	scratch []byte
	depth   int
	hint    int // members of the last top-level object (map size hint)

	fpool     [][]fspan // member lists of encObject, per depth
	learnKeys int       // encObject interns the keys of this many more top-level objects
	tmp       []byte
	num       []byte
}

func (p *jsonParser) reset(b []byte, base int64) {
	p.b, p.i, p.base, p.depth = b, 0, base, 0
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &syntaxError{off: p.base + int64(p.i), msg: "malformed JSON: " + fmt.Sprintf(format, args...)}
}

// unexpected is the error for the byte at p.i, or errShort at the end of the input.
func (p *jsonParser) unexpected(context string) error {
	if p.i >= len(p.b) {
		return errShort
	}
	return p.errorf("invalid character %s %s", quoteByte(p.b[p.i]), context)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("0x%02x", c)
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object parses the object at p.i (which must be '{').
func (p *jsonParser) object() (map[string]any, error) {
	p.i++ // '{'
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d", maxDepth)
	}
	hint := 0
	if p.depth == 1 {
		hint = p.hint
	}
	m := make(map[string]any, hint)
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return m, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.unexpected("looking for the beginning of an object key")
		}
		kb, err := p.stringBytes()
		if err != nil {
			return nil, err
		}
		key := p.intern(kb)
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.unexpected("after an object key")
		}
		p.i++
		p.ws()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, errShort
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			if p.depth == 0 {
				p.hint = len(m)
			}
			return m, nil
		default:
			return nil, p.unexpected("after an object member")
		}
	}
}

// value parses any value at p.i.
func (p *jsonParser) value() (any, error) {
	if p.i >= len(p.b) {
		return nil, errShort
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		b, err := p.stringBytes()
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		_, err := p.literal("null", nil)
		return nil, err
	default:
		return nil, p.unexpected("looking for the beginning of a value")
	}
}

func (p *jsonParser) literal(word string, v any) (any, error) {
	for k := 0; k < len(word); k++ {
		if p.i+k >= len(p.b) {
			return nil, errShort
		}
		if p.b[p.i+k] != word[k] {
			p.i += k
			return nil, p.unexpected("in literal " + word)
		}
	}
	p.i += len(word)
	return v, nil
}

// array parses an array: []string when every element is a string (or it is empty),
// []any otherwise.
func (p *jsonParser) array() (any, error) {
	p.i++ // '['
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d", maxDepth)
	}
	var strs []string
	var anys []any
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return []string{}, nil
	}
	for {
		p.ws()
		if anys == nil && p.i < len(p.b) && p.b[p.i] == '"' {
			b, err := p.stringBytes()
			if err != nil {
				return nil, err
			}
			strs = append(strs, string(b))
		} else {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if anys == nil {
				anys = make([]any, len(strs), len(strs)+4)
				for k, s := range strs {
					anys[k] = s
				}
			}
			anys = append(anys, v)
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, errShort
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			if anys != nil {
				return anys, nil
			}
			return strs, nil
		default:
			return nil, p.unexpected("after an array element")
		}
	}
}

// number parses a number: int64 when it is integral and fits, float64 otherwise.
func (p *jsonParser) number() (any, error) {
	integral, i, f, err := p.numberRaw()
	switch {
	case err != nil:
		return nil, err
	case integral:
		return i, nil
	default:
		return f, nil
	}
}

// numberRaw parses a number into an int64 (integral) or a float64.
func (p *jsonParser) numberRaw() (integral bool, iv int64, fv float64, err error) {
	b := p.b
	start := p.i
	i := p.i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i >= len(b) {
		return false, 0, 0, errShort
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		p.i = i
		return false, 0, 0, p.unexpected("in numeric literal")
	}
	integral = true
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			p.i = i
			return false, 0, 0, p.unexpected("after decimal point in numeric literal")
		}
		integral = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.i = i
			return false, 0, 0, p.unexpected("in exponent of numeric literal")
		}
		integral = false
	}
	if i >= len(b) {
		return false, 0, 0, errShort // a number is never the last byte of an object or array
	}
	p.i = i
	text := b[start:i]
	if integral && len(text) <= 18 {
		var v int64
		neg := text[0] == '-'
		for _, c := range text[btoi(neg):] {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return true, v, 0, nil
	}
	s := string(text)
	if integral {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return true, v, 0, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		p.i = start
		return false, 0, 0, p.errorf("number %s out of range", s)
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return true, int64(f), 0, nil
	}
	return false, 0, f, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// plainString marks the bytes that stand for themselves inside a JSON string.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringBytes parses the string at p.i (which must be '"'). The result aliases p.b or
// p.scratch: copy it before the next call.
func (p *jsonParser) stringBytes() ([]byte, error) {
	b := p.b
	start := p.i + 1
	i := start
	for i < len(b) && plainString[b[i]] {
		i++
	}
	if i >= len(b) {
		return nil, errShort
	}
	if b[i] == '"' {
		s := b[start:i]
		if isASCII(s) || utf8.Valid(s) {
			p.i = i + 1
			return s, nil
		}
	}
	return p.slowString(start)
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// slowString handles escapes, control characters and invalid UTF-8 (replaced by U+FFFD,
// as encoding/json does).
func (p *jsonParser) slowString(start int) ([]byte, error) {
	b := p.b
	out := p.scratch[:0]
	i := start
	for {
		if i >= len(b) {
			return nil, errShort
		}
		c := b[i]
		switch {
		case c == '"':
			p.i = i + 1
			p.scratch = out
			return out, nil
		case c < 0x20:
			p.i = i
			return nil, p.errorf("invalid control character %s in string literal", quoteByte(c))
		case c == '\\':
			if i+1 >= len(b) {
				return nil, errShort
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				i += 2
			case 'b':
				out = append(out, '\b')
				i += 2
			case 'f':
				out = append(out, '\f')
				i += 2
			case 'n':
				out = append(out, '\n')
				i += 2
			case 'r':
				out = append(out, '\r')
				i += 2
			case 't':
				out = append(out, '\t')
				i += 2
			case 'u':
				r, ok, short := hex4(b, i+2)
				if short {
					return nil, errShort
				}
				if !ok {
					p.i = i
					return nil, p.errorf(`invalid \u escape in string literal`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2, short2 := rune(0), false, false
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2, ok2, short2 = hex4(b, i+2)
					} else if i+1 >= len(b) {
						short2 = true
					}
					if short2 {
						return nil, errShort
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				p.i = i
				return nil, p.errorf("invalid escape %s in string literal", quoteByte(e))
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				if !utf8.FullRune(b[i:]) && len(b)-i < utf8.UTFMax {
					// might be a rune cut by the end of the buffer
					return nil, errShort
				}
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
}

// hex4 decodes the 4 hex digits at b[i:].
func hex4(b []byte, i int) (r rune, ok, short bool) {
	if i+4 > len(b) {
		return 0, false, true
	}
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false, false
		}
		r = r<<4 | rune(c)
	}
	return r, true, false
}

// intern returns a string for the key bytes, shared between objects.
func (p *jsonParser) intern(b []byte) string {
	if s, ok := p.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if p.frozen {
		return s
	}
	if p.keys == nil {
		p.keys = make(map[string]string)
	}
	if len(p.keys) < 10000 {
		p.keys[s] = s
	}
	return s
}

// The indexing pass: canonical encoding (see canon.go) straight from the bytes.

// fspan is one member of an object being encoded: its key and its whole encoding in out.
type fspan struct {
	k0, k1 int
	s0, s1 int
	null   bool
}

// topInfo collects, while an export element is encoded, what the index needs.
type topInfo struct {
	typ    connectors.ObjectType
	idAttr string
	idKind byte // 's' string, 'i' integral number, 0 none, else the canonical tag of its kind
	idStr  string
	idInt  int64
	name   string
	// manager is a user's "manager" anchor ("" when none or not a string or integral
	// number): a full read emits managers before their reports.
	manager string
}

// anchor returns the anchor's value as anchorValue takes it.
func (t *topInfo) anchor() any {
	switch t.idKind {
	case 's':
		return t.idStr
	case 'i':
		return t.idInt
	case 0:
		return nil
	case 'f':
		return 0.5
	case 'b':
		return false
	case 'a':
		return []any{}
	default:
		return map[string]any{}
	}
}

type encMode uint8

const (
	encID        encMode = 1 << iota // the value is the anchor
	encName                          // the value is the display name
	encRefScalar                     // a user's manager: integral numbers as strings
	encRefArray                      // a group's members: integral elements as strings
)

// encObject appends the canonical encoding of the object at p.i (which must be '{') to
// out. top is set for an export element.
func (p *jsonParser) encObject(out []byte, top *topInfo) ([]byte, error) {
	p.i++ // '{'
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d", maxDepth)
	}
	for len(p.fpool) < p.depth {
		p.fpool = append(p.fpool, nil)
	}
	fs := p.fpool[p.depth-1][:0]
	start := len(out)
	out = append(out, 'o')
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return append(out, 'e'), nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.unexpected("looking for the beginning of an object key")
		}
		kb, err := p.stringBytes()
		if err != nil {
			return nil, err
		}
		if p.depth == 1 && p.learnKeys > 0 {
			p.intern(kb) // for parsing the objects again later
		}
		m0 := len(out)
		out = binary.AppendUvarint(out, uint64(len(kb)))
		k0 := len(out)
		out = append(out, kb...)
		k1 := len(out)
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.unexpected("after an object key")
		}
		p.i++
		p.ws()
		var mode encMode
		if top != nil {
			key := out[k0:k1]
			if string(key) == top.idAttr {
				mode |= encID
			}
			if string(key) == connectors.AttrDisplayName {
				mode |= encName
			}
			if string(key) == "manager" && top.typ == connectors.TypeUser {
				mode |= encRefScalar
			}
			if string(key) == connectors.AttrMembers && top.typ == connectors.TypeGroup {
				mode |= encRefArray
			}
		}
		var null bool
		if out, null, err = p.encValue(out, mode, top); err != nil {
			return nil, err
		}
		fs = append(fs, fspan{k0: k0, k1: k1, s0: m0, s1: len(out), null: null})
		p.ws()
		if p.i >= len(p.b) {
			return nil, errShort
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] != '}' {
			return nil, p.unexpected("after an object member")
		}
		p.i++
		break
	}
	// Members in key order, once per key (the last one), without nulls.
	clean := true
	for i := range fs {
		if fs[i].null || (i > 0 && bytes.Compare(out[fs[i-1].k0:fs[i-1].k1], out[fs[i].k0:fs[i].k1]) >= 0) {
			clean = false
			break
		}
	}
	members := len(fs)
	if !clean {
		base := start + 1
		tmp := append(p.tmp[:0], out[base:]...)
		key := func(f fspan) []byte { return tmp[f.k0-base : f.k1-base] }
		slices.SortStableFunc(fs, func(a, b fspan) int { return bytes.Compare(key(a), key(b)) })
		out = out[:base]
		members = 0
		for i, f := range fs {
			if f.null || (i+1 < len(fs) && bytes.Equal(key(f), key(fs[i+1]))) {
				continue
			}
			out = append(out, tmp[f.s0-base:f.s1-base]...)
			members++
		}
		p.tmp = tmp
	}
	p.fpool[p.depth-1] = fs
	p.depth--
	if p.depth == 0 {
		p.hint = members
		p.learnKeys--
	}
	return append(out, 'e'), nil
}

// encValue appends the canonical encoding of the value at p.i; a null appends nothing
// and reports null.
func (p *jsonParser) encValue(out []byte, mode encMode, top *topInfo) (_ []byte, null bool, err error) {
	if p.i >= len(p.b) {
		return nil, false, errShort
	}
	var kind byte // the value's canonical tag
	var str string
	var num int64
	switch c := p.b[p.i]; {
	case c == '{':
		kind = 'o'
		out, err = p.encObject(out, nil)
	case c == '[':
		kind = 'a'
		out, err = p.encArray(out, mode&encRefArray != 0)
	case c == '"':
		kind = 's'
		var s []byte
		if s, err = p.stringBytes(); err == nil {
			if mode&(encID|encName) != 0 {
				str = string(s)
			}
			if mode&encRefScalar != 0 && top != nil {
				top.manager = string(s)
			}
			out = appendCanonStr(out, s)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		integral, iv, fv, nerr := p.numberRaw()
		switch {
		case nerr != nil:
			err = nerr
		case integral && mode&(encRefScalar|encRefArray) != 0:
			kind, num = 'i', iv
			p.num = strconv.AppendInt(p.num[:0], iv, 10)
			out = appendCanonStr(out, p.num)
			if mode&encRefScalar != 0 && top != nil {
				top.manager = string(p.num)
			}
		case integral:
			kind, num = 'i', iv
			out = appendCanonInt(out, iv)
		default:
			kind = 'f'
			out = appendCanonFloat(out, fv)
		}
	case c == 't':
		kind = 'b'
		_, err = p.literal("true", nil)
		out = appendCanonBool(out, true)
	case c == 'f':
		kind = 'b'
		_, err = p.literal("false", nil)
		out = appendCanonBool(out, false)
	case c == 'n':
		_, err = p.literal("null", nil)
		null = true
	default:
		err = p.unexpected("looking for the beginning of a value")
	}
	if err != nil {
		return nil, false, err
	}
	if mode&encID != 0 {
		top.idKind, top.idStr, top.idInt = kind, str, num
	}
	if mode&encName != 0 {
		top.name = str // "" unless a string
	}
	return out, null, nil
}

// encArray appends the canonical encoding of the array at p.i; refs: integral elements
// are encoded as strings (a group's members).
func (p *jsonParser) encArray(out []byte, refs bool) ([]byte, error) {
	p.i++ // '['
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d", maxDepth)
	}
	out = append(out, 'a')
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return append(out, 'e'), nil
	}
	mode := encMode(0)
	if refs {
		mode = encRefScalar
	}
	for {
		p.ws()
		var null bool
		var err error
		if out, null, err = p.encValue(out, mode, nil); err != nil {
			return nil, err
		}
		if null {
			out = append(out, 'n')
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, errShort
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return append(out, 'e'), nil
		default:
			return nil, p.unexpected("after an array element")
		}
	}
}
