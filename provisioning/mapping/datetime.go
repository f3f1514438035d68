package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file implements the subset of .NET date and time handling that Entra's expression
// functions expose: custom format strings (yyyy, MM, dd, HH, hh, mm, ss, f…, F…, tt, z…, K,
// quoted literals, escapes), the invariant-culture standard format strings (d, D, f, F, g,
// G, o, r, s, t, T, u), DateTimeStyles, and a lenient "any date" parser for CDate.
//
// A parsed DateTime keeps its .NET kind in its location: time.UTC for Kind=Utc, unspecLoc
// for Kind=Unspecified, and a fixed zone for values parsed with an offset (Kind=Local in
// .NET; provisiond runs with UTC as the local zone, like Entra's service).

// unspecLoc marks a DateTime whose kind is Unspecified (no zone information).
var unspecLoc = time.FixedZone("unspecified", 0) // a distinct *Location, compared by pointer

// DefaultDateFormat is the format Entra uses for DateTime values converted to strings
// (CDate, DateAdd, Now): M/d/yyyy h:mm:ss tt, in UTC.
const DefaultDateFormat = "M/d/yyyy h:mm:ss tt"

var defaultDateToks = mustTokens(DefaultDateFormat)

func mustTokens(f string) []dtTok {
	t, err := parseDateFormat(f)
	if err != nil {
		panic(err)
	}
	return t
}

// formatDefaultDate renders t the way Entra renders DateTime values: in UTC, M/d/yyyy
// h:mm:ss tt.
func formatDefaultDate(t time.Time) string {
	return formatDate(t.UTC(), defaultDateToks)
}

type dtTok struct {
	kind byte // specifier letter, or 'L' for a literal, 'Z' for the UTC designator
	n    int  // repeat count
	lit  string
}

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	dayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
		"Saturday"}
)

// Invariant-culture standard format patterns.
var standardFormats = map[byte]string{
	'd': "MM/dd/yyyy",
	'D': "dddd, dd MMMM yyyy",
	'f': "dddd, dd MMMM yyyy HH:mm",
	'F': "dddd, dd MMMM yyyy HH:mm:ss",
	'g': "MM/dd/yyyy HH:mm",
	'G': "MM/dd/yyyy HH:mm:ss",
	'o': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'O': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'r': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	'R': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	's': "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
	't': "HH:mm",
	'T': "HH:mm:ss",
	'u': "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
}

// dateFormat is a compiled .NET format string.
type dateFormat struct {
	toks []dtTok
	// utcOut: the standard formats r/R/u convert the value to UTC before formatting.
	utcOut bool
}

func compileDateFormat(f string) (*dateFormat, error) {
	if f == "" {
		return nil, errors.New("empty date format")
	}
	df := &dateFormat{}
	if len(f) == 1 {
		p, ok := standardFormats[f[0]]
		if !ok {
			return nil, fmt.Errorf("%q is not a standard date format; use a custom format such as \"yyyy-MM-dd\"", f)
		}
		df.utcOut = f[0] == 'r' || f[0] == 'R' || f[0] == 'u'
		f = p
	}
	toks, err := parseDateFormat(f)
	if err != nil {
		return nil, err
	}
	df.toks = toks
	return df, nil
}

func parseDateFormat(f string) ([]dtTok, error) {
	var toks []dtTok
	lit := func(s string) {
		if n := len(toks); n > 0 && toks[n-1].kind == 'L' {
			toks[n-1].lit += s
			return
		}
		toks = append(toks, dtTok{kind: 'L', lit: s})
	}
	for i := 0; i < len(f); {
		c := f[i]
		switch c {
		case 'y', 'M', 'd', 'h', 'H', 'm', 's', 'f', 'F', 't', 'z', 'g':
			n := 1
			for i+n < len(f) && f[i+n] == c {
				n++
			}
			i += n
			if (c == 'f' || c == 'F') && n > 7 {
				return nil, fmt.Errorf("invalid date format %q: at most 7 %c specifiers", f, c)
			}
			toks = append(toks, dtTok{kind: c, n: n})
		case 'K', 'Z':
			toks = append(toks, dtTok{kind: c, n: 1})
			i++
		case ':', '/':
			lit(string(c))
			i++
		case '\'', '"':
			q := c
			j := i + 1
			var b strings.Builder
			for ; j < len(f) && f[j] != q; j++ {
				if f[j] == '\\' && j+1 < len(f) {
					j++
				}
				b.WriteByte(f[j])
			}
			if j >= len(f) {
				return nil, fmt.Errorf("invalid date format %q: unterminated quoted literal", f)
			}
			s := b.String()
			if s == "Z" || s == "GMT" {
				// UTC designators: parsing them marks the value as UTC.
				toks = append(toks, dtTok{kind: 'Z', n: 1, lit: s})
			} else if s != "" {
				lit(s)
			}
			i = j + 1
		case '\\':
			if i+1 >= len(f) {
				return nil, fmt.Errorf("invalid date format %q: trailing backslash", f)
			}
			_, w := utf8.DecodeRuneInString(f[i+1:])
			lit(f[i+1 : i+1+w])
			i += 1 + w
		case '%':
			if i+1 >= len(f) || f[i+1] == '%' {
				return nil, fmt.Errorf("invalid date format %q: %% must be followed by a format specifier", f)
			}
			i++
		default:
			_, w := utf8.DecodeRuneInString(f[i:])
			lit(f[i : i+w])
			i += w
		}
	}
	return toks, nil
}

func pad(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	s := strconv.Itoa(v)
	for k := len(s); k < width; k++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func (df *dateFormat) format(t time.Time) string {
	if df.utcOut {
		t = t.UTC()
	}
	return formatDate(t, df.toks)
}

func formatDate(t time.Time, toks []dtTok) string {
	b := make([]byte, 0, 32)
	for _, tk := range toks {
		switch tk.kind {
		case 'L':
			b = append(b, tk.lit...)
		case 'Z':
			if tk.lit != "" {
				b = append(b, tk.lit...)
			} else {
				b = append(b, 'Z')
			}
		case 'y':
			y := t.Year()
			switch {
			case tk.n == 1:
				b = strconv.AppendInt(b, int64(y%100), 10)
			case tk.n == 2:
				b = pad(b, y%100, 2)
			default:
				b = pad(b, y, tk.n)
			}
		case 'M':
			switch tk.n {
			case 1, 2:
				b = pad(b, int(t.Month()), tk.n)
			case 3:
				b = append(b, monthNames[t.Month()-1][:3]...)
			default:
				b = append(b, monthNames[t.Month()-1]...)
			}
		case 'd':
			switch tk.n {
			case 1, 2:
				b = pad(b, t.Day(), tk.n)
			case 3:
				b = append(b, dayNames[t.Weekday()][:3]...)
			default:
				b = append(b, dayNames[t.Weekday()]...)
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b = pad(b, h, min(tk.n, 2))
		case 'H':
			b = pad(b, t.Hour(), min(tk.n, 2))
		case 'm':
			b = pad(b, t.Minute(), min(tk.n, 2))
		case 's':
			b = pad(b, t.Second(), min(tk.n, 2))
		case 'f', 'F':
			frac := t.Nanosecond()
			for k := tk.n; k < 9; k++ {
				frac /= 10
			}
			digits := pad(nil, frac, tk.n)
			if tk.kind == 'F' {
				for len(digits) > 0 && digits[len(digits)-1] == '0' {
					digits = digits[:len(digits)-1]
				}
				if len(digits) == 0 {
					// .NET drops the decimal point when F prints nothing.
					if len(b) > 0 && b[len(b)-1] == '.' {
						b = b[:len(b)-1]
					}
					continue
				}
			}
			b = append(b, digits...)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if tk.n == 1 {
				ampm = ampm[:1]
			}
			b = append(b, ampm...)
		case 'z':
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign = '-'
				off = -off
			}
			b = append(b, sign)
			switch tk.n {
			case 1:
				b = strconv.AppendInt(b, int64(off/3600), 10)
			case 2:
				b = pad(b, off/3600, 2)
			default:
				b = pad(b, off/3600, 2)
				b = append(b, ':')
				b = pad(b, off%3600/60, 2)
			}
		case 'K':
			switch t.Location() {
			case time.UTC:
				b = append(b, 'Z')
			case unspecLoc:
			default:
				_, off := t.Zone()
				sign := byte('+')
				if off < 0 {
					sign = '-'
					off = -off
				}
				b = append(b, sign)
				b = pad(b, off/3600, 2)
				b = append(b, ':')
				b = pad(b, off%3600/60, 2)
			}
		case 'g':
			b = append(b, "A.D."...)
		}
	}
	return string(b)
}

// dtStyles is a set of .NET DateTimeStyles flags.
type dtStyles uint16

const (
	styleAllowLeadingWhite dtStyles = 1 << iota
	styleAllowTrailingWhite
	styleAllowInnerWhite
	styleNoCurrentDateDefault
	styleAdjustToUniversal
	styleAssumeLocal
	styleAssumeUniversal
	styleRoundtripKind
)

// Entra's default when dateTimeStyles is left empty.
const defaultStyles = styleRoundtripKind | styleAllowLeadingWhite | styleAllowTrailingWhite

var styleNames = map[string]dtStyles{
	"none":                 0,
	"allowleadingwhite":    styleAllowLeadingWhite,
	"allowtrailingwhite":   styleAllowTrailingWhite,
	"allowinnerwhite":      styleAllowInnerWhite,
	"allowwhitespaces":     styleAllowLeadingWhite | styleAllowTrailingWhite | styleAllowInnerWhite,
	"nocurrentdatedefault": styleNoCurrentDateDefault,
	"adjusttouniversal":    styleAdjustToUniversal,
	"assumelocal":          styleAssumeLocal,
	"assumeuniversal":      styleAssumeUniversal,
	"roundtripkind":        styleRoundtripKind,
}

// parseStyles parses a DateTimeStyles list such as "AssumeUniversal, AdjustToUniversal"
// (separators: comma, |, +, space; an optional "DateTimeStyles." prefix). Empty means
// Entra's default.
func parseStyles(s string) (dtStyles, error) {
	if strings.TrimSpace(s) == "" {
		return defaultStyles, nil
	}
	var st dtStyles
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == '|' || r == '+' || unicode.IsSpace(r)
	}) {
		name := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(f, "DateTimeStyles."), "System.Globalization.DateTimeStyles."))
		v, ok := styleNames[name]
		if !ok {
			return 0, fmt.Errorf("unknown dateTimeStyles value %q (use None, AllowLeadingWhite, AllowTrailingWhite, AllowInnerWhite, AllowWhiteSpaces, NoCurrentDateDefault, AdjustToUniversal, AssumeLocal, AssumeUniversal or RoundtripKind)", f)
		}
		st |= v
	}
	if st&styleAssumeLocal != 0 && st&styleAssumeUniversal != 0 {
		return 0, errors.New("dateTimeStyles: AssumeLocal and AssumeUniversal cannot be combined")
	}
	if st&styleRoundtripKind != 0 && st&(styleAssumeLocal|styleAssumeUniversal|styleAdjustToUniversal) != 0 {
		return 0, errors.New("dateTimeStyles: RoundtripKind cannot be combined with AssumeLocal, AssumeUniversal or AdjustToUniversal")
	}
	return st, nil
}

// now is the clock; tests replace it.
var now = time.Now

// parseDate parses s with the compiled format and styles, the way .NET's
// DateTime.ParseExact does.
func (df *dateFormat) parse(s string, styles dtStyles) (time.Time, error) {
	t, err := parseDateToks(s, df.toks, styles)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

type dtParse struct {
	s   string
	i   int
	sty dtStyles
}

func (p *dtParse) digits(minN, maxN int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && n < maxN && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	return v, n >= minN
}

// name matches one of names (case-insensitive, longest first) and returns its index.
func (p *dtParse) name(names []string, abbr bool) (int, bool) {
	best, bestLen := -1, 0
	for k, nm := range names {
		if abbr {
			nm = nm[:3]
		}
		if len(p.s)-p.i >= len(nm) && strings.EqualFold(p.s[p.i:p.i+len(nm)], nm) && len(nm) > bestLen {
			best, bestLen = k, len(nm)
		}
	}
	if best < 0 {
		return 0, false
	}
	p.i += bestLen
	return best, true
}

func (p *dtParse) skipWhite() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// offset parses ±h, ±hh, ±hh:mm or ±hhmm; full requires minutes to be allowed.
func (p *dtParse) offset(hourDigits int, full bool) (int, bool) {
	if p.i >= len(p.s) || (p.s[p.i] != '+' && p.s[p.i] != '-') {
		return 0, false
	}
	neg := p.s[p.i] == '-'
	p.i++
	minD := 2
	if hourDigits == 1 {
		minD = 1
	}
	h, ok := p.digits(minD, 2)
	if !ok || h > 14 {
		return 0, false
	}
	m := 0
	if full {
		if p.i < len(p.s) && p.s[p.i] == ':' {
			p.i++
			if m, ok = p.digits(2, 2); !ok {
				return 0, false
			}
		} else if mm, ok := p.digits(2, 2); ok {
			m = mm
		}
		if m > 59 {
			return 0, false
		}
	}
	off := h*3600 + m*60
	if neg {
		off = -off
	}
	return off, true
}

func parseDateToks(s string, toks []dtTok, sty dtStyles) (time.Time, error) {
	orig := s
	if sty&styleAllowLeadingWhite != 0 {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if sty&styleAllowTrailingWhite != 0 {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	p := &dtParse{s: s, sty: sty}
	year, month, day := -1, -1, -1
	hour, minute, sec, nsec := 0, 0, 0, 0
	twelve, ampm := false, -1
	hasOff, utc := false, false
	off := 0
	at := 0 // where the current token starts, for errors
	fail := func(what string) (time.Time, error) {
		return time.Time{}, &dateMismatchError{input: orig, expected: what, pos: at + 1}
	}
	for k := 0; k < len(toks); k++ {
		tk := toks[k]
		if sty&styleAllowInnerWhite != 0 && tk.kind != 'L' {
			p.skipWhite()
		}
		at = p.i
		var ok bool
		switch tk.kind {
		case 'L':
			lit := tk.lit
			// ".F" makes the decimal point optional when the fraction is absent.
			if lit == "." && k+1 < len(toks) && toks[k+1].kind == 'F' {
				if p.i < len(p.s) && p.s[p.i] == '.' {
					p.i++
				} else {
					k++
				}
				continue
			}
			for _, r := range lit {
				if unicode.IsSpace(r) && sty&styleAllowInnerWhite != 0 {
					p.skipWhite()
					continue
				}
				at = p.i
				c, w := utf8.DecodeRuneInString(p.s[p.i:])
				if w == 0 || c != r {
					return fail(strconv.Quote(string(r)))
				}
				p.i += w
			}
			continue
		case 'Z':
			if p.i < len(p.s) && (p.s[p.i] == 'Z' || p.s[p.i] == 'z') {
				p.i++
				hasOff, utc, off = true, true, 0
				continue
			}
			if strings.HasPrefix(p.s[p.i:], "GMT") {
				p.i += 3
				hasOff, utc, off = true, true, 0
				continue
			}
			return fail(`"Z" or "GMT"`)
		case 'y':
			if tk.n <= 2 {
				year, ok = p.digits(tk.n, 2)
				if ok {
					// .NET's two-digit year window (TwoDigitYearMax = 2049).
					if year < 50 {
						year += 2000
					} else {
						year += 1900
					}
				}
			} else {
				year, ok = p.digits(tk.n, tk.n)
			}
			if !ok {
				return fail(fmt.Sprintf("a %d-digit year", max(tk.n, 1)))
			}
		case 'M':
			if tk.n >= 3 {
				var mi int
				mi, ok = p.name(monthNames[:], tk.n == 3)
				month = mi + 1
				if !ok {
					return fail("a month name")
				}
			} else if month, ok = p.digits(tk.n, 2); !ok || month < 1 || month > 12 {
				return fail("a month (1-12)")
			}
		case 'd':
			if tk.n >= 3 {
				if _, ok = p.name(dayNames[:], tk.n == 3); !ok {
					return fail("a day name")
				}
			} else if day, ok = p.digits(tk.n, 2); !ok || day < 1 || day > 31 {
				return fail("a day (1-31)")
			}
		case 'h', 'H':
			hour, ok = p.digits(min(tk.n, 2), 2)
			if tk.kind == 'h' {
				twelve = true
				ok = ok && hour >= 1 && hour <= 12
			} else {
				ok = ok && hour <= 23
			}
			if !ok {
				return fail("an hour")
			}
		case 'm':
			if minute, ok = p.digits(min(tk.n, 2), 2); !ok || minute > 59 {
				return fail("minutes (0-59)")
			}
		case 's':
			if sec, ok = p.digits(min(tk.n, 2), 2); !ok || sec > 59 {
				return fail("seconds (0-59)")
			}
		case 'f', 'F':
			start := p.i
			minN := tk.n
			if tk.kind == 'F' {
				minN = 0
			}
			var v int
			if v, ok = p.digits(minN, tk.n); !ok {
				return fail(fmt.Sprintf("%d fraction digits", tk.n))
			}
			for d := p.i - start; d < 9; d++ {
				v *= 10
			}
			nsec = v
		case 't':
			if p.i < len(p.s) {
				switch p.s[p.i] {
				case 'A', 'a':
					ampm, ok = 0, true
				case 'P', 'p':
					ampm, ok = 1, true
				}
			}
			if !ok {
				return fail("AM or PM")
			}
			p.i++
			if tk.n >= 2 {
				if p.i >= len(p.s) || (p.s[p.i] != 'M' && p.s[p.i] != 'm') {
					return fail("AM or PM")
				}
				p.i++
			}
		case 'z':
			if off, ok = p.offset(tk.n, tk.n >= 3); !ok {
				return fail("a UTC offset such as -07:00")
			}
			hasOff, utc = true, false
		case 'K':
			if p.i < len(p.s) && (p.s[p.i] == 'Z' || p.s[p.i] == 'z') {
				p.i++
				hasOff, utc, off = true, true, 0
			} else if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
				if off, ok = p.offset(2, true); !ok {
					return fail("a UTC offset such as -07:00")
				}
				hasOff, utc = true, false
			}
		case 'g':
			for _, era := range []string{"A.D.", "AD"} {
				if strings.HasPrefix(p.s[p.i:], era) {
					p.i += len(era)
					break
				}
			}
		}
	}
	if p.i != len(p.s) {
		return time.Time{}, &dateMismatchError{input: orig, unexpected: p.s[p.i:], pos: p.i + 1}
	}
	if twelve && ampm >= 0 {
		if ampm == 1 && hour < 12 {
			hour += 12
		} else if ampm == 0 && hour == 12 {
			hour = 0
		}
	} else if !twelve && ampm >= 0 {
		if (ampm == 1) != (hour >= 12) && !(ampm == 0 && hour == 0) {
			return time.Time{}, fmt.Errorf("%q: hour %d contradicts the AM/PM designator", orig, hour)
		}
	}
	if year < 0 && month < 0 && day < 0 {
		if sty&styleNoCurrentDateDefault != 0 {
			year, month, day = 1, 1, 1
		} else {
			y, m, d := now().UTC().Date()
			year, month, day = y, int(m), d
		}
	} else {
		if year < 0 {
			year = now().UTC().Year()
		}
		if month < 0 {
			month = 1
		}
		if day < 0 {
			day = 1
		}
	}
	if day > daysIn(time.Month(month), year) {
		return time.Time{}, fmt.Errorf("%q: day %d is out of range for %04d-%02d", orig, day, year, month)
	}
	loc := unspecLoc
	if hasOff {
		if utc {
			loc = time.UTC
		} else {
			loc = time.FixedZone("", off)
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	switch {
	case sty&styleAdjustToUniversal != 0:
		t = t.In(time.UTC)
	case !hasOff && sty&styleAssumeUniversal != 0:
		t = t.In(time.UTC)
	case !hasOff && sty&styleAssumeLocal != 0:
		t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", 0))
	case hasOff && !utc && sty&styleRoundtripKind == 0:
		// Without RoundtripKind .NET converts to the (UTC) local zone.
		t = t.In(time.FixedZone("", 0))
	}
	return t, nil
}

// dateMismatchError says where an input did not match a date format. It is formatted
// lazily: CDate tries many formats and discards most failures.
type dateMismatchError struct {
	input, expected, unexpected string
	pos                         int
}

func (e *dateMismatchError) Error() string {
	if e.expected != "" {
		return fmt.Sprintf("%q does not match the date format: expected %s at position %d", e.input, e.expected, e.pos)
	}
	return fmt.Sprintf("%q does not match the date format: unexpected %q at position %d", e.input, e.unexpected, e.pos)
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Formats CDate (and the date functions) try, in order, for "any string that represents
// a date/time".
var anyDateFormats = func() [][]dtTok {
	fs := []string{
		"yyyy-MM-ddTHH:mm:ss.FFFFFFFK",
		"yyyy-MM-ddTHH:mmK",
		"yyyy-MM-dd HH:mm:ss.FFFFFFFK",
		"yyyy-MM-dd HH:mmK",
		"yyyy-MM-ddK",
		"yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz",
		"M/d/yyyy h:mm:ss tt",
		"M/d/yyyy h:mm tt",
		"M/d/yyyy H:mm:ss.FFFFFFFK",
		"M/d/yyyy H:mmK",
		"M/d/yyyy",
		"yyyyMMddHHmmss.FFFFFFFK",
		"yyyyMMddK",
		"ddd, d MMM yyyy H:mm:ss Z",
		"ddd, d MMM yyyy H:mm:ss zzz",
		"d MMM yyyy H:mm:ss K",
		"d MMMM yyyy",
		"MMMM d, yyyy",
		"MMMM d, yyyy h:mm:ss tt",
		"d MMM yyyy",
	}
	out := make([][]dtTok, len(fs))
	for i, f := range fs {
		out[i] = mustTokens(f)
	}
	return out
}()

// parseAnyDate parses a date/time string in any of the common formats and returns it in
// UTC (a value without zone information is taken as UTC).
func parseAnyDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, toks := range anyDateFormats {
		if t, err := parseDateToks(s, toks, styleAllowInnerWhite|styleAssumeUniversal|styleAdjustToUniversal); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a recognised date/time (use ISO 8601 such as 2024-03-16T07:00:00Z, or M/d/yyyy h:mm:ss tt)", s)
}

// ADFileTime helpers: Active Directory dates count 100 ns intervals since 1601-01-01 UTC.
const fileTimeEpochDelta = 11644473600 // seconds between 1601-01-01 and 1970-01-01

func fromFileTime(n int64) time.Time {
	sec := n / 10_000_000
	rem := n % 10_000_000
	if rem < 0 {
		rem += 10_000_000
		sec--
	}
	return time.Unix(sec-fileTimeEpochDelta, rem*100).UTC()
}

func toFileTime(t time.Time) int64 {
	return (t.Unix()+fileTimeEpochDelta)*10_000_000 + int64(t.Nanosecond()/100)
}

// addMonths adds n months the way .NET's DateTime.AddMonths does: the day is clamped to
// the last day of the resulting month (Jan 31 + 1 month = Feb 28/29).
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	total := int(m) - 1 + n
	ny := y + total/12
	nm := total % 12
	if nm < 0 {
		nm += 12
		ny--
	}
	month := time.Month(nm + 1)
	if dim := daysIn(month, ny); d > dim {
		d = dim
	}
	return time.Date(ny, month, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}
