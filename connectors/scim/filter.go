package scim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/provisiond/provisiond/connectors"
)

const hexUpper = "0123456789ABCDEF"

// appendLiteral appends s as a JSON string literal for a SCIM filter: '"' and '\' escaped,
// control characters as \u00XX, everything else (non-ASCII included) as UTF-8, the way
// Entra sends it. Invalid UTF-8 becomes U+FFFD.
func appendLiteral(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b < 0x20 || b == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexUpper[b>>4], hexUpper[b&0xf])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func quoteLiteral(s string) string { return string(appendLiteral(nil, s)) }

// asciiFilter rewrites non-ASCII characters as \uXXXX escapes (upper-case hex, surrogate
// pairs beyond the BMP). The filter parser accepts only ASCII; the server gets the original.
func asciiFilter(s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return []byte(s)
	}
	out := make([]byte, 0, len(s)+16)
	for _, r := range s {
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
			continue
		}
		if r > 0xFFFF {
			r -= 0x10000
			out = appendU(out, 0xD800+(r>>10))
			out = appendU(out, 0xDC00+(r&0x3FF))
			continue
		}
		out = appendU(out, r)
	}
	return out
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexUpper[r>>12&0xf], hexUpper[r>>8&0xf], hexUpper[r>>4&0xf], hexUpper[r&0xf])
}

// compValue renders v as a SCIM filter comparison value.
func compValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return quoteLiteral(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("cannot compare with %v", x)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case nil:
		return "", fmt.Errorf("cannot match on an empty value")
	}
	return "", fmt.Errorf("cannot match on a value of type %T", v)
}

// placeholder returns a literal of the same kind as lit (string, boolean or number): the
// filter built with it has the same grammar as the real one.
func placeholder(lit string) string {
	switch {
	case strings.HasPrefix(lit, `"`):
		return `"x"`
	case lit == "true" || lit == "false":
		return "true"
	}
	return "0"
}

// eqFilter builds `attr eq value` and a template of it with a placeholder literal. A
// value-filtered attribute such as `emails[type eq "work"].value` becomes
// `emails[type eq "work" and value eq "x"]`, the form RFC 7644's filter grammar allows.
func (c *Client) eqFilter(attr string, value any) (f, template string, err error) {
	p, err := c.path(attr)
	if err != nil {
		return "", "", err
	}
	lit, err := compValue(value)
	if err != nil {
		return "", "", &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidFilter,
			Message: fmt.Sprintf("matching attribute %q: %v", attr, err)}
	}
	if p.hasFilter() && p.sub != "" {
		i := strings.LastIndexByte(attr, ']')
		head := attr[:i] + " and " + p.sub + " eq "
		return head + lit + "]", head + placeholder(lit) + "]", nil
	}
	return attr + " eq " + lit, attr + " eq " + placeholder(lit), nil
}

// andFilter builds an `and` of eq comparisons, attribute names sorted, and its template.
func (c *Client) andFilter(match map[string]any) (string, string, error) {
	if len(match) == 0 {
		return "", "", &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidFilter, Message: "no matching attributes"}
	}
	names := make([]string, 0, len(match))
	for k := range match {
		names = append(names, k)
	}
	sort.Strings(names)
	var b, t strings.Builder
	for i, n := range names {
		f, tmpl, err := c.eqFilter(n, match[n])
		if err != nil {
			return "", "", err
		}
		if i > 0 {
			b.WriteString(" and ")
			t.WriteString(" and ")
		}
		b.WriteString(f)
		t.WriteString(tmpl)
	}
	return b.String(), t.String(), nil
}

// checkFilter validates f with the SCIM filter grammar before it is sent.
func checkFilter(f string) error {
	if _, err := filter.ParseFilter(asciiFilter(f)); err != nil {
		return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidFilter,
			Message: fmt.Sprintf("filter %s is not valid SCIM filter syntax", f)}
	}
	return nil
}

// checkTemplate validates a matching filter through its template (the filter with a
// placeholder literal), caching the verdict: the grammar of `attr eq <literal>` depends on
// the attribute and the literal's kind only, and appendLiteral always produces a valid
// JSON string literal (TestFilterLiteralEscaping parses each kind). Parsing every filter
// with the PEG parser cost more than the rest of a Find.
func (c *Client) checkTemplate(template, f string) error {
	if v, ok := c.filterOK.Load(template); ok {
		if v.(bool) {
			return nil
		}
		return checkFilter(f)
	}
	err := checkFilter(template)
	c.filterOK.Store(template, err == nil)
	if err != nil {
		return checkFilter(f)
	}
	return nil
}
