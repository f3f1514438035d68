package mapping

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// funcSpec describes one expression function.
type funcSpec struct {
	name     string
	min, max int // argument count; max < 0: no upper bound
	// topLevelOnly: the function must be the outermost call (SelectUniqueValue).
	topLevelOnly bool
	// check validates literal arguments at compile time and may set callNode.data.
	check func(n *callNode) error
	eval  func(st *evalState, n *callNode) (any, error)
}

func (f *funcSpec) arity() string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case f.max < 0:
		return "at least " + plural(f.min)
	case f.min == f.max:
		if f.min == 0 {
			return "no arguments"
		}
		return plural(f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

var funcs = map[string]*funcSpec{}

func lookupFunc(name string) (*funcSpec, bool) {
	f, ok := funcs[strings.ToLower(name)]
	return f, ok
}

// FunctionNames lists the supported expression functions (Entra's spelling).
func FunctionNames() []string {
	out := make([]string, 0, len(funcs))
	for _, f := range funcs {
		out = append(out, f.name)
	}
	slices.Sort(out)
	return out
}

func def(f *funcSpec) { funcs[strings.ToLower(f.name)] = f }

// Argument helpers.

func (st *evalState) arg(n *callNode, i int) (any, error) {
	if i >= len(n.args) {
		return nil, nil
	}
	return n.args[i].eval(st)
}

func (st *evalState) argFail(n *callNode, i int, err error) error {
	pos := n.pos
	if i < len(n.args) {
		pos = n.args[i].position()
	}
	e := st.fail(pos, "%s argument %d: %v", n.fn.name, i+1, err)
	e.(*ExprError).Err = err
	return e
}

func (st *evalState) fnFail(n *callNode, format string, a ...any) error {
	return st.fail(n.pos, "%s: %s", n.fn.name, fmt.Sprintf(format, a...))
}

// str evaluates argument i as a single string; null reports true.
func (st *evalState) str(n *callNode, i int) (string, bool, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return "", false, err
	}
	s, null, err := toStr(v)
	if err != nil {
		return "", false, st.argFail(n, i, err)
	}
	return s, null, nil
}

// integer evaluates argument i as an integer; null reports true.
func (st *evalState) integer(n *callNode, i int) (int64, bool, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return 0, false, err
	}
	if isNull(v) {
		return 0, true, nil
	}
	k, ok := toInt(v)
	if !ok {
		return 0, false, st.argFail(n, i, fmt.Errorf("%s is not an integer", describeValue(v)))
	}
	return k, false, nil
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprintf("%v", v)
}

// checkInts verifies that the literal arguments at idx are integers no smaller than lo.
func checkInts(lo int64, idx ...int) func(n *callNode) error {
	return func(n *callNode) error {
		for _, i := range idx {
			v, ok := n.literal(i)
			if !ok {
				continue
			}
			k, ok := toInt(v)
			if !ok {
				return argErrf(i, "must be an integer, got %s", describeValue(v))
			}
			if k < lo {
				return argErrf(i, "must be at least %d, got %d", lo, k)
			}
		}
		return nil
	}
}

// strFn builds a one-string-in, one-value-out function that returns null for null.
func strFn(f func(s string) any) func(st *evalState, n *callNode) (any, error) {
	return func(st *evalState, n *callNode) (any, error) {
		s, null, err := st.str(n, 0)
		if err != nil || null {
			return nil, err
		}
		return f(s), nil
	}
}

func init() {
	def(&funcSpec{name: "Append", min: 2, max: 2, eval: fnAppend})
	def(&funcSpec{name: "BitAnd", min: 2, max: 2, check: checkInts(math.MinInt64, 0, 1), eval: fnBitAnd})
	def(&funcSpec{name: "CBool", min: 1, max: 1, eval: fnCBool})
	def(&funcSpec{name: "CDate", min: 1, max: 1, eval: fnCDate})
	def(&funcSpec{name: "Coalesce", min: 1, max: -1, eval: fnCoalesce})
	def(&funcSpec{name: "ConvertToBase64", min: 1, max: 1, eval: strFn(convertToBase64)})
	def(&funcSpec{name: "ConvertToUTF8Hex", min: 1, max: 1, eval: strFn(func(s string) any {
		return strings.ToUpper(hex.EncodeToString([]byte(s)))
	})})
	def(&funcSpec{name: "Count", min: 1, max: 1, eval: fnCount})
	def(&funcSpec{name: "CStr", min: 1, max: 1, eval: fnCStr})
	def(&funcSpec{name: "DateAdd", min: 3, max: 3, check: checkDateAdd, eval: fnDateAdd})
	def(&funcSpec{name: "DateDiff", min: 3, max: 3, check: checkInterval, eval: fnDateDiff})
	def(&funcSpec{name: "DateFromNum", min: 1, max: 1, check: checkInts(math.MinInt64, 0), eval: fnDateFromNum})
	def(&funcSpec{name: "FormatDateTime", min: 3, max: 4, check: checkFormatDateTime, eval: fnFormatDateTime})
	def(&funcSpec{name: "Guid", min: 0, max: 0, eval: fnGuid})
	def(&funcSpec{name: "IgnoreFlowIfNullOrEmpty", min: 1, max: 1, eval: fnIgnoreFlow})
	def(&funcSpec{name: "IIF", min: 3, max: 3, eval: fnIIF})
	def(&funcSpec{name: "InStr", min: 2, max: 4, check: checkInStr, eval: fnInStr})
	def(&funcSpec{name: "IsNull", min: 1, max: 1, eval: fnIsNull})
	def(&funcSpec{name: "IsNullOrEmpty", min: 1, max: 1, eval: fnIsNullOrEmpty})
	def(&funcSpec{name: "IsPresent", min: 1, max: 1, eval: fnIsPresent})
	def(&funcSpec{name: "IsString", min: 1, max: 1, eval: fnIsString})
	def(&funcSpec{name: "Item", min: 2, max: 2, check: checkInts(1, 1), eval: fnItem})
	def(&funcSpec{name: "Join", min: 2, max: -1, eval: fnJoin})
	def(&funcSpec{name: "Left", min: 2, max: 2, check: checkInts(math.MinInt64, 1), eval: fnLeft})
	def(&funcSpec{name: "Mid", min: 3, max: 3, check: checkMid, eval: fnMid})
	def(&funcSpec{name: "NormalizeDiacritics", min: 1, max: 1, eval: fnNormalizeDiacritics})
	def(&funcSpec{name: "Not", min: 1, max: 1, eval: fnNot})
	def(&funcSpec{name: "Now", min: 0, max: 0, eval: func(*evalState, *callNode) (any, error) {
		return now().UTC().Truncate(time.Second), nil
	}})
	def(&funcSpec{name: "NumFromDate", min: 1, max: 1, eval: fnNumFromDate})
	def(&funcSpec{name: "PCase", min: 1, max: 2, eval: fnPCase})
	def(&funcSpec{name: "RandomString", min: 5, max: 6, check: checkRandomString, eval: fnRandomString})
	def(&funcSpec{name: "Redact", min: 1, max: 1, eval: fnRedact})
	def(&funcSpec{name: "RemoveDuplicates", min: 1, max: 1, eval: fnRemoveDuplicates})
	def(&funcSpec{name: "Replace", min: 5, max: 7, check: checkReplace, eval: fnReplace})
	def(&funcSpec{name: "SelectUniqueValue", min: 2, max: -1, topLevelOnly: true, eval: fnSelectUniqueValue})
	def(&funcSpec{name: "Split", min: 2, max: 2, eval: fnSplit})
	def(&funcSpec{name: "StripSpaces", min: 1, max: 1, eval: fnStripSpaces})
	def(&funcSpec{name: "Switch", min: 4, max: -1, check: checkSwitch, eval: fnSwitch})
	def(&funcSpec{name: "ToLower", min: 1, max: 2, eval: caseFn(strings.ToLower, unicode.TurkishCase.ToLower)})
	def(&funcSpec{name: "ToUpper", min: 1, max: 2, eval: caseFn(strings.ToUpper, unicode.TurkishCase.ToUpper)})
	def(&funcSpec{name: "Word", min: 3, max: 3, check: checkInts(math.MinInt64, 1), eval: fnWord})
}

func fnAppend(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	suffix, _, err := st.str(n, 1)
	if err != nil {
		return nil, err
	}
	return s + suffix, nil
}

func fnBitAnd(st *evalState, n *callNode) (any, error) {
	a, null, err := st.integer(n, 0)
	if err != nil || null {
		return nil, err
	}
	b, null, err := st.integer(n, 1)
	if err != nil || null {
		return nil, err
	}
	return a & b, nil
}

func fnCBool(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	b, err := toBool(v)
	if err != nil {
		return nil, st.argFail(n, 0, err)
	}
	return b, nil
}

func fnCDate(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil || isNullOrEmpty(v) {
		return nil, err
	}
	t, err := toDate(v)
	if err != nil {
		return nil, st.argFail(n, 0, err)
	}
	return t, nil
}

func fnCoalesce(st *evalState, n *callNode) (any, error) {
	for i := range n.args {
		v, err := n.args[i].eval(st)
		if err != nil {
			return nil, err
		}
		if !isNull(v) {
			return v, nil
		}
	}
	return nil, nil
}

// convertToBase64 encodes the UTF-16LE bytes of s (.NET's "Unicode" encoding).
func convertToBase64(s string) any {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func fnCount(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return int64(0), nil
	case []string:
		return int64(len(x)), nil
	case []any:
		return int64(len(x)), nil
	}
	return int64(1), nil
}

func fnCStr(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	return s, nil
}

// Date intervals (VB's DateAdd/DateDiff).
var dateIntervals = map[string]bool{"yyyy": true, "q": true, "m": true, "y": true, "d": true,
	"w": true, "ww": true, "h": true, "n": true, "s": true}

func checkInterval(n *callNode) error {
	if v, ok := n.literal(0); ok {
		s, _, _ := toStr(v)
		if !dateIntervals[strings.ToLower(s)] {
			return argErrf(0, "unknown interval %q (use yyyy, q, m, y, d, w, ww, h, n or s)", s)
		}
	}
	return nil
}

func checkDateAdd(n *callNode) error {
	if err := checkInterval(n); err != nil {
		return err
	}
	if v, ok := n.literal(1); ok {
		if _, ok := numberOf(v); !ok {
			return argErrf(1, "must be a number, got %s", describeValue(v))
		}
	}
	return nil
}

func (st *evalState) interval(n *callNode) (string, error) {
	s, null, err := st.str(n, 0)
	if err != nil {
		return "", err
	}
	s = strings.ToLower(s)
	if null || !dateIntervals[s] {
		return "", st.argFail(n, 0, fmt.Errorf("unknown interval %q (use yyyy, q, m, y, d, w, ww, h, n or s)", s))
	}
	return s, nil
}

// dateArg evaluates argument i as a DateTime (UTC); null reports true.
func (st *evalState) dateArg(n *callNode, i int) (time.Time, bool, error) {
	v, err := st.arg(n, i)
	if err != nil {
		return time.Time{}, false, err
	}
	if isNullOrEmpty(v) {
		return time.Time{}, true, nil
	}
	t, err := toDate(v)
	if err != nil {
		return time.Time{}, false, st.argFail(n, i, err)
	}
	return t, false, nil
}

func fnDateAdd(st *evalState, n *callNode) (any, error) {
	iv, err := st.interval(n)
	if err != nil {
		return nil, err
	}
	v, err := st.arg(n, 1)
	if err != nil || isNull(v) {
		return nil, err
	}
	f, ok := numberOf(v)
	if !ok {
		return nil, st.argFail(n, 1, fmt.Errorf("%s is not a number", describeValue(v)))
	}
	k := int(math.Trunc(f))
	t, null, err := st.dateArg(n, 2)
	if err != nil || null {
		return nil, err
	}
	switch iv {
	case "yyyy":
		return addMonths(t, 12*k), nil
	case "q":
		return addMonths(t, 3*k), nil
	case "m":
		return addMonths(t, k), nil
	case "y", "d", "w":
		return t.AddDate(0, 0, k), nil
	case "ww":
		return t.AddDate(0, 0, 7*k), nil
	case "h":
		return t.Add(time.Duration(k) * time.Hour), nil
	case "n":
		return t.Add(time.Duration(k) * time.Minute), nil
	default:
		return t.Add(time.Duration(k) * time.Second), nil
	}
}

// fnDateDiff follows Microsoft.VisualBasic.DateAndTime.DateDiff: years, quarters and
// months count calendar boundaries; weeks (ww) count Sundays; the other intervals
// truncate the elapsed time.
func fnDateDiff(st *evalState, n *callNode) (any, error) {
	iv, err := st.interval(n)
	if err != nil {
		return nil, err
	}
	d1, null, err := st.dateArg(n, 1)
	if err != nil || null {
		return nil, err
	}
	d2, null, err := st.dateArg(n, 2)
	if err != nil || null {
		return nil, err
	}
	el := d2.Sub(d1)
	switch iv {
	case "yyyy":
		return int64(d2.Year() - d1.Year()), nil
	case "q":
		q := func(t time.Time) int { return t.Year()*4 + (int(t.Month())-1)/3 }
		return int64(q(d2) - q(d1)), nil
	case "m":
		return int64((d2.Year()-d1.Year())*12 + int(d2.Month()) - int(d1.Month())), nil
	case "y", "d":
		return int64(el.Hours() / 24), nil
	case "w":
		return int64(el.Hours() / 24 / 7), nil
	case "ww":
		sunday := func(t time.Time) int64 {
			y, m, d := t.Date()
			return time.Date(y, m, d-int(t.Weekday()), 0, 0, 0, 0, time.UTC).Unix() / 86400
		}
		return (sunday(d2) - sunday(d1)) / 7, nil
	case "h":
		return int64(el / time.Hour), nil
	case "n":
		return int64(el / time.Minute), nil
	default:
		return int64(el / time.Second), nil
	}
}

func fnDateFromNum(st *evalState, n *callNode) (any, error) {
	k, null, err := st.integer(n, 0)
	if err != nil || null {
		return nil, err
	}
	return fromFileTime(k), nil
}

type formatDateTimeData struct {
	styles  dtStyles
	haveSty bool
	in, out *dateFormat
}

// FormatDateTime(source, [dateTimeStyles,] inputFormat, outputFormat).
func fdtIndexes(n *callNode) (sty, in, out int) {
	if len(n.args) == 4 {
		return 1, 2, 3
	}
	return -1, 1, 2
}

func checkFormatDateTime(n *callNode) error {
	d := &formatDateTimeData{}
	sty, in, out := fdtIndexes(n)
	if sty < 0 || n.omitted(sty) {
		d.styles, d.haveSty = defaultStyles, true
	} else if v, ok := n.literal(sty); ok {
		s, _, _ := toStr(v)
		st, err := parseStyles(s)
		if err != nil {
			return argErrf(sty, "%v", err)
		}
		d.styles, d.haveSty = st, true
	}
	for _, i := range []int{in, out} {
		if n.omitted(i) {
			return argErrf(i, "a date format is required")
		}
		v, ok := n.literal(i)
		if !ok {
			continue
		}
		s, _, _ := toStr(v)
		f, err := compileDateFormat(s)
		if err != nil {
			return argErrf(i, "%v", err)
		}
		if i == in {
			d.in = f
		} else {
			d.out = f
		}
	}
	n.data = d
	return nil
}

func (st *evalState) dateFormatArg(n *callNode, i int, pre *dateFormat) (*dateFormat, error) {
	if pre != nil {
		return pre, nil
	}
	s, _, err := st.str(n, i)
	if err != nil {
		return nil, err
	}
	f, err := compileDateFormat(s)
	if err != nil {
		return nil, st.argFail(n, i, err)
	}
	return f, nil
}

func fnFormatDateTime(st *evalState, n *callNode) (any, error) {
	d := n.data.(*formatDateTimeData)
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if isNull(v) {
		return nil, nil
	}
	si, in, out := fdtIndexes(n)
	outF, err := st.dateFormatArg(n, out, d.out)
	if err != nil {
		return nil, err
	}
	t, isTime := v.(time.Time)
	if !isTime {
		styles := d.styles
		if !d.haveSty {
			s, _, err := st.str(n, si)
			if err != nil {
				return nil, err
			}
			if styles, err = parseStyles(s); err != nil {
				return nil, st.argFail(n, si, err)
			}
		}
		inF, err := st.dateFormatArg(n, in, d.in)
		if err != nil {
			return nil, err
		}
		s, _, err := toStr(v)
		if err != nil {
			return nil, st.argFail(n, 0, err)
		}
		if t, err = inF.parse(s, styles); err != nil {
			return nil, st.argFail(n, 0, err)
		}
	}
	return outF.format(t), nil
}

func fnGuid(*evalState, *callNode) (any, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	return id.String(), nil
}

func fnIgnoreFlow(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	if isNullOrEmpty(v) {
		st.ignored = true
		return nil, nil
	}
	return v, nil
}

func fnIIF(st *evalState, n *callNode) (any, error) {
	c, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	b, err := toBool(c)
	if err != nil {
		return nil, st.argFail(n, 0, err)
	}
	if b {
		return st.arg(n, 1)
	}
	return st.arg(n, 2)
}

func compareMode(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case string:
		switch strings.ToLower(x) {
		case "vbtextcompare", "1":
			return true, nil
		case "vbbinarycompare", "0", "":
			return false, nil
		}
	default:
		if k, ok := toInt(v); ok && (k == 0 || k == 1) {
			return k == 1, nil
		}
	}
	return false, fmt.Errorf("compareType must be vbBinaryCompare or vbTextCompare, got %s", describeValue(v))
}

func checkInStr(n *callNode) error {
	if err := checkInts(1, 2)(n); err != nil {
		return err
	}
	if v, ok := n.literal(3); ok {
		if _, err := compareMode(v); err != nil {
			return argErrf(3, "%v", err)
		}
	}
	return nil
}

// fnInStr returns the 1-based character position of the first occurrence of value2 in
// value1 at or after start, or 0.
func fnInStr(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	sub, null, err := st.str(n, 1)
	if err != nil || null {
		return nil, err
	}
	start := int64(1)
	if !n.omitted(2) {
		var null bool
		if start, null, err = st.integer(n, 2); err != nil || null {
			return nil, err
		}
		if start < 1 {
			return nil, st.argFail(n, 2, fmt.Errorf("start must be at least 1, got %d", start))
		}
	}
	text := false
	if !n.omitted(3) {
		v, err := st.arg(n, 3)
		if err != nil {
			return nil, err
		}
		if text, err = compareMode(v); err != nil {
			return nil, st.argFail(n, 3, err)
		}
	}
	rs, subr := []rune(s), []rune(sub)
	if start > int64(len(rs)) {
		if len(subr) == 0 && start == int64(len(rs))+1 {
			return start, nil
		}
		return int64(0), nil
	}
	for i := int(start - 1); i+len(subr) <= len(rs); i++ {
		match := true
		for j, r := range subr {
			c := rs[i+j]
			if c != r && (!text || unicode.ToLower(c) != unicode.ToLower(r)) {
				match = false
				break
			}
		}
		if match {
			return int64(i + 1), nil
		}
	}
	return int64(0), nil
}

func fnIsNull(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	return err == nil && isNull(v), err
}

func fnIsNullOrEmpty(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	return err == nil && isNullOrEmpty(v), err
}

func fnIsPresent(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	return err == nil && !isNullOrEmpty(v), err
}

func fnIsString(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	_, ok := v.(string)
	return err == nil && ok, err
}

// fnItem returns the index-th (1-based) value of a multi-valued attribute, or null.
func fnItem(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil || isNull(v) {
		return nil, err
	}
	k, null, err := st.integer(n, 1)
	if err != nil || null || k < 1 {
		return nil, err
	}
	switch x := v.(type) {
	case []string:
		if k <= int64(len(x)) {
			return x[k-1], nil
		}
		return nil, nil
	case []any:
		if k <= int64(len(x)) {
			return x[k-1], nil
		}
		return nil, nil
	}
	if k == 1 {
		return v, nil
	}
	return nil, nil
}

// fnJoin joins the non-empty values of its sources (multi-valued sources contribute every
// value) with the separator. It returns null when every source is null.
func fnJoin(st *evalState, n *callNode) (any, error) {
	sep, _, err := st.str(n, 0)
	if err != nil {
		return nil, err
	}
	var buf [128]byte
	b := buf[:0]
	anyValue := false
	for i := 1; i < len(n.args); i++ {
		v, err := n.args[i].eval(st)
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case []string:
			for _, s := range x {
				anyValue = true
				b = joinAppend(b, s, sep)
			}
		case []any:
			for _, e := range x {
				s, null, err := toStr(e)
				if err != nil {
					return nil, st.argFail(n, i, err)
				}
				anyValue = anyValue || !null
				b = joinAppend(b, s, sep)
			}
		default:
			s, null, err := toStr(v)
			if err != nil {
				return nil, st.argFail(n, i, err)
			}
			anyValue = anyValue || !null
			b = joinAppend(b, s, sep)
		}
	}
	if !anyValue {
		return nil, nil
	}
	return string(b), nil
}

// joinAppend appends s to a Join result, after sep unless b is empty. Empty values are
// skipped. (Separators are only written between non-empty values, so b is empty exactly
// while nothing has been written.)
func joinAppend(b []byte, s, sep string) []byte {
	if s == "" {
		return b
	}
	if len(b) > 0 {
		b = append(b, sep...)
	}
	return append(b, s...)
}

// fnLeft: numChars = 0 → ""; numChars < 0 → the input; null → "" (Entra's documented
// behaviour).
func fnLeft(st *evalState, n *callNode) (any, error) {
	s, _, err := st.str(n, 0)
	if err != nil {
		return nil, err
	}
	k, null, err := st.integer(n, 1)
	if err != nil {
		return nil, err
	}
	if null || k < 0 {
		return s, nil
	}
	return prefixRunes(s, int(min(k, int64(len(s))))), nil
}

// prefixRunes returns the first k characters of s.
func prefixRunes(s string, k int) string {
	i := 0
	for ; k > 0 && i < len(s); k-- {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i]
}

func checkMid(n *callNode) error {
	if err := checkInts(1, 1)(n); err != nil {
		return err
	}
	return checkInts(0, 2)(n)
}

// fnMid returns length characters from the 1-based start; past the end it stops at the
// end.
func fnMid(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	start, null, err := st.integer(n, 1)
	if err != nil || null {
		return nil, err
	}
	length, null, err := st.integer(n, 2)
	if err != nil || null {
		return nil, err
	}
	if start < 1 {
		return nil, st.argFail(n, 1, fmt.Errorf("start must be at least 1, got %d", start))
	}
	if length < 0 {
		return nil, st.argFail(n, 2, fmt.Errorf("length must not be negative, got %d", length))
	}
	i := 0
	for k := start - 1; k > 0 && i < len(s); k-- {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return prefixRunes(s[i:], int(min(length, int64(len(s))))), nil
}

func fnNormalizeDiacritics(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	s, null, err := toStr(v)
	if err != nil {
		return nil, st.argFail(n, 0, err)
	}
	if null {
		return nil, nil
	}
	out, changed := normalizeDiacritics(s)
	if !changed {
		return v, nil
	}
	return out, nil
}

// fnNot: True (Boolean or the string "True") → False; anything else → True.
func fnNot(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case bool:
		return !x, nil
	case string:
		return !strings.EqualFold(strings.TrimSpace(x), "true"), nil
	}
	return true, nil
}

func fnNumFromDate(st *evalState, n *callNode) (any, error) {
	t, null, err := st.dateArg(n, 0)
	if err != nil || null {
		return nil, err
	}
	return toFileTime(t), nil
}

// fnPCase upper-cases the first letter of each word and lower-cases the rest. Without
// wordSeparators, words are separated by anything that is not a letter, digit or mark
// (.NET ToTitleCase's separator categories).
func fnPCase(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	seps, _, err := st.str(n, 1)
	if err != nil {
		return nil, err
	}
	isSep := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) }
	if seps != "" {
		isSep = func(r rune) bool { return strings.ContainsRune(seps, r) }
	}
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		switch {
		case isSep(r):
			start = true
			b.WriteRune(r)
		case start:
			start = false
			b.WriteRune(unicode.ToTitle(r))
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String(), nil
}

// Character classes for RandomString (Windows password complexity categories).
const (
	rsDigits  = "0123456789"
	rsUpper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	rsLower   = "abcdefghijklmnopqrstuvwxyz"
	rsSpecial = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
)

const maxRandomString = 256

func randomStringLimits(length, nums, specials, caps, lowers int64) error {
	if length < 1 || length > maxRandomString {
		return fmt.Errorf("length must be between 1 and %d, got %d", maxRandomString, length)
	}
	if nums < 0 || specials < 0 || caps < 0 || lowers < 0 {
		return errors.New("minimum counts must not be negative")
	}
	if sum := nums + specials + caps + lowers; sum > length {
		return fmt.Errorf("length %d is less than the sum of the minimum counts (%d)", length, sum)
	}
	return nil
}

func checkRandomString(n *callNode) error {
	var v [5]int64
	for i := range 5 {
		lit, ok := n.literal(i)
		if !ok {
			return nil
		}
		k, ok := toInt(lit)
		if !ok {
			return argErrf(i, "must be an integer, got %s", describeValue(lit))
		}
		v[i] = k
	}
	if err := randomStringLimits(v[0], v[1], v[2], v[3], v[4]); err != nil {
		return err
	}
	return nil
}

func randIndex(n int) (int, error) {
	k, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(k.Int64()), nil
}

func fnRandomString(st *evalState, n *callNode) (any, error) {
	var v [5]int64
	for i := range 5 {
		k, null, err := st.integer(n, i)
		if err != nil {
			return nil, err
		}
		if null {
			return nil, st.argFail(n, i, errors.New("must not be null"))
		}
		v[i] = k
	}
	if err := randomStringLimits(v[0], v[1], v[2], v[3], v[4]); err != nil {
		return nil, st.fnFail(n, "%v", err)
	}
	avoid, _, err := st.str(n, 5)
	if err != nil {
		return nil, err
	}
	strip := func(set string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(avoid, r) {
				return -1
			}
			return r
		}, set)
	}
	classes := []struct {
		set string
		min int64
	}{{strip(rsDigits), v[1]}, {strip(rsSpecial), v[2]}, {strip(rsUpper), v[3]}, {strip(rsLower), v[4]}}
	var all string
	out := make([]byte, 0, v[0])
	for _, c := range classes {
		if c.min > 0 && c.set == "" {
			return nil, st.fnFail(n, "charactersToAvoid excludes every character of a required class")
		}
		all += c.set
		for range c.min {
			k, err := randIndex(len(c.set))
			if err != nil {
				return nil, err
			}
			out = append(out, c.set[k])
		}
	}
	if all == "" {
		return nil, st.fnFail(n, "charactersToAvoid excludes every character")
	}
	for int64(len(out)) < v[0] {
		k, err := randIndex(len(all))
		if err != nil {
			return nil, err
		}
		out = append(out, all[k])
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIndex(i + 1)
		if err != nil {
			return nil, err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func fnRedact(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	st.redacted = true
	return v, nil
}

func fnRemoveDuplicates(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []string:
		seen := make(map[string]struct{}, len(x))
		out := make([]string, 0, len(x))
		for _, s := range x {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		seen := make(map[string]struct{}, len(x))
		out := make([]any, 0, len(x))
		for _, e := range x {
			key := fmt.Sprintf("%T\x00%v", e, e)
			if _, dup := seen[key]; !dup {
				seen[key] = struct{}{}
				out = append(out, e)
			}
		}
		return out, nil
	}
	return v, nil
}

// Replace(source, oldValue, regexPattern, regexGroupName, replacementValue,
// replacementAttributeName, template): the behaviour depends on which parameters are
// given, decided at compile time.
type replaceMode uint8

const (
	replaceTemplate      replaceMode = iota + 1 // oldValue + template
	replaceString                               // oldValue + replacementValue
	replaceRegexFallback                        // regexPattern + regexGroupName + replacementAttributeName
	replaceRegexGroup                           // regexPattern + regexGroupName + replacementValue
	replaceRegex                                // regexPattern + replacementValue
)

const (
	rpSource = iota
	rpOld
	rpPattern
	rpGroup
	rpReplacement
	rpAttr
	rpTemplate
)

type replaceData struct {
	mode  replaceMode
	re    *regexp.Regexp // when the pattern is a literal
	group string         // when the group name is a literal
}

func checkReplace(n *callNode) error {
	has := func(i int) bool { return !n.omitted(i) }
	d := &replaceData{}
	switch {
	case has(rpOld) && has(rpTemplate):
		d.mode = replaceTemplate
	case has(rpOld) && has(rpReplacement):
		d.mode = replaceString
	case has(rpPattern) && has(rpGroup) && has(rpAttr):
		d.mode = replaceRegexFallback
	case has(rpPattern) && has(rpGroup) && has(rpReplacement):
		d.mode = replaceRegexGroup
	case has(rpPattern) && has(rpReplacement):
		d.mode = replaceRegex
	default:
		return errors.New("give oldValue with replacementValue or template, or regexPattern with replacementValue (and optionally regexGroupName), or regexPattern, regexGroupName and replacementAttributeName")
	}
	if d.mode >= replaceRegexFallback {
		if v, ok := n.literal(rpPattern); ok {
			s, _, _ := toStr(v)
			re, err := regexp.Compile(s)
			if err != nil {
				return argErrf(rpPattern, "invalid regexPattern: %v", err)
			}
			d.re = re
		}
		if v, ok := n.literal(rpGroup); ok && d.mode != replaceRegex {
			d.group, _, _ = toStr(v)
			if d.re != nil && d.re.SubexpIndex(d.group) < 0 {
				return argErrf(rpGroup, "regexPattern has no group named %q", d.group)
			}
		}
	}
	n.data = d
	return nil
}

func (st *evalState) regexArg(n *callNode, d *replaceData) (*regexp.Regexp, error) {
	if d.re != nil {
		return d.re, nil
	}
	s, _, err := st.str(n, rpPattern)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, st.argFail(n, rpPattern, err)
	}
	return re, nil
}

func (st *evalState) groupArg(n *callNode, d *replaceData, re *regexp.Regexp) (int, error) {
	g := d.group
	if g == "" {
		var err error
		if g, _, err = st.str(n, rpGroup); err != nil {
			return 0, err
		}
	}
	k := re.SubexpIndex(g)
	if k < 0 {
		return 0, st.argFail(n, rpGroup, fmt.Errorf("regexPattern has no group named %q", g))
	}
	return k, nil
}

func fnReplace(st *evalState, n *callNode) (any, error) {
	d := n.data.(*replaceData)
	src, srcNull, err := st.str(n, rpSource)
	if err != nil {
		return nil, err
	}
	switch d.mode {
	case replaceTemplate:
		if srcNull {
			return nil, nil
		}
		old, _, err := st.str(n, rpOld)
		if err != nil {
			return nil, err
		}
		tmpl, tnull, err := st.str(n, rpTemplate)
		if err != nil || tnull {
			return nil, err
		}
		if old == "" {
			return tmpl, nil
		}
		return strings.ReplaceAll(tmpl, old, src), nil
	case replaceString:
		if srcNull {
			return nil, nil
		}
		old, _, err := st.str(n, rpOld)
		if err != nil {
			return nil, err
		}
		repl, _, err := st.str(n, rpReplacement)
		if err != nil {
			return nil, err
		}
		if old == "" {
			return src, nil
		}
		return strings.ReplaceAll(src, old, repl), nil
	case replaceRegexFallback:
		if !srcNull && src != "" {
			return src, nil
		}
		re, err := st.regexArg(n, d)
		if err != nil {
			return nil, err
		}
		g, err := st.groupArg(n, d, re)
		if err != nil {
			return nil, err
		}
		alt, anull, err := st.str(n, rpAttr)
		if err != nil || anull {
			return nil, err
		}
		m := re.FindStringSubmatchIndex(alt)
		if m == nil || m[2*g] < 0 {
			return nil, nil
		}
		return alt[m[2*g]:m[2*g+1]], nil
	case replaceRegexGroup:
		if srcNull {
			return nil, nil
		}
		re, err := st.regexArg(n, d)
		if err != nil {
			return nil, err
		}
		g, err := st.groupArg(n, d, re)
		if err != nil {
			return nil, err
		}
		repl, _, err := st.str(n, rpReplacement)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(src, -1) {
			if m[2*g] < 0 || m[2*g] < last {
				continue
			}
			b.WriteString(src[last:m[2*g]])
			b.WriteString(repl)
			last = m[2*g+1]
		}
		b.WriteString(src[last:])
		return b.String(), nil
	default: // replaceRegex
		if srcNull {
			return nil, nil
		}
		re, err := st.regexArg(n, d)
		if err != nil {
			return nil, err
		}
		repl, _, err := st.str(n, rpReplacement)
		if err != nil {
			return nil, err
		}
		return re.ReplaceAllString(src, repl), nil
	}
}

// fnSelectUniqueValue returns the first candidate (in order) that is not null or empty
// and does not already exist in the target for the mapping's target attribute. Without an
// Env the first such candidate wins.
func fnSelectUniqueValue(st *evalState, n *callNode) (any, error) {
	var tried []string
	for i := range n.args {
		v, err := n.args[i].eval(st)
		if err != nil {
			return nil, err
		}
		if isNullOrEmpty(v) {
			continue
		}
		v = normalizeOut(v)
		if st.env == nil {
			return v, nil
		}
		target := ""
		if st.expr != nil {
			target = st.expr.target
		}
		exists, err := st.env.Exists(st.ctx, target, v)
		if err != nil {
			e := st.argFail(n, i, fmt.Errorf("checking whether %s exists in the target: %w", describeValue(v), err))
			return nil, e
		}
		if !exists {
			return v, nil
		}
		s, _, _ := toStr(v)
		tried = append(tried, fmt.Sprintf("%q", s))
	}
	if len(tried) == 0 {
		return nil, nil
	}
	e := st.fnFail(n, "every candidate value already exists in the target (%s)", strings.Join(tried, ", "))
	e.(*ExprError).Err = ErrNoUniqueValue
	return nil, e
}

func fnSplit(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil || null {
		return nil, err
	}
	sep, _, err := st.str(n, 1)
	if err != nil {
		return nil, err
	}
	if sep == "" {
		return []string{s}, nil
	}
	return strings.Split(s, sep), nil
}

func fnStripSpaces(st *evalState, n *callNode) (any, error) {
	v, err := st.arg(n, 0)
	if err != nil {
		return nil, err
	}
	s, null, err := toStr(v)
	if err != nil {
		return nil, st.argFail(n, 0, err)
	}
	if null {
		return nil, nil
	}
	if strings.IndexByte(s, ' ') < 0 {
		return v, nil
	}
	return strings.ReplaceAll(s, " ", ""), nil
}

func checkSwitch(n *callNode) error {
	if len(n.args)%2 != 0 {
		return fmt.Errorf("takes source, defaultValue and then key/value pairs (an even number of arguments), got %d", len(n.args))
	}
	return nil
}

// fnSwitch compares source (null counts as "") with each key, case-sensitively, and
// returns the value of the first match, else defaultValue.
func fnSwitch(st *evalState, n *callNode) (any, error) {
	src, _, err := st.str(n, 0)
	if err != nil {
		return nil, err
	}
	for i := 2; i+1 < len(n.args); i += 2 {
		key, _, err := st.str(n, i)
		if err != nil {
			return nil, err
		}
		if key == src {
			return n.args[i+1].eval(st)
		}
	}
	return n.args[1].eval(st)
}

// caseFn builds ToLower/ToUpper: the culture argument selects Turkish/Azeri casing (tr,
// az); every other culture uses invariant rules.
func caseFn(invariant func(string) string, turkish func(rune) rune) func(st *evalState, n *callNode) (any, error) {
	return func(st *evalState, n *callNode) (any, error) {
		v, err := st.arg(n, 0)
		if err != nil {
			return nil, err
		}
		s, null, err := toStr(v)
		if err != nil {
			return nil, st.argFail(n, 0, err)
		}
		if null {
			return nil, nil
		}
		culture, _, err := st.str(n, 1)
		if err != nil {
			return nil, err
		}
		c := strings.ToLower(culture)
		var out string
		if c == "tr" || c == "az" || strings.HasPrefix(c, "tr-") || strings.HasPrefix(c, "az-") {
			out = strings.Map(turkish, s)
		} else {
			out = invariant(s)
		}
		if out == s {
			if _, isStr := v.(string); isStr {
				return v, nil
			}
		}
		return out, nil
	}
}

// fnWord returns the n-th (1-based) word of a string split at any of the delimiter
// characters; empty words are skipped. Null, n < 1 or too few words → "".
func fnWord(st *evalState, n *callNode) (any, error) {
	s, null, err := st.str(n, 0)
	if err != nil {
		return nil, err
	}
	k, knull, err := st.integer(n, 1)
	if err != nil {
		return nil, err
	}
	delims, _, err := st.str(n, 2)
	if err != nil {
		return nil, err
	}
	if null || knull || k < 1 {
		return "", nil
	}
	words := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if k > int64(len(words)) {
		return "", nil
	}
	return words[k-1], nil
}
