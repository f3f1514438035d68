package ldap

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
)

// secretAttributes are never returned by reads (their values are password hashes).
var secretAttributes = []string{"userPassword", "unicodePwd", "sambaNTPassword", "sambaLMPassword", "authPassword"}

func isSecretAttr(name string) bool {
	for _, s := range secretAttributes {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// toValues converts an attribute value of the SPI to LDAP values: strings as they are,
// booleans as TRUE/FALSE (LDAP Boolean syntax), integers in decimal, lists element by
// element. Empty strings are no value. Nested objects are rejected.
func toValues(name string, v any) ([]string, error) {
	scalar := func(x any) (string, bool, error) {
		switch s := x.(type) {
		case nil:
			return "", false, nil
		case string:
			return s, s != "", nil
		case bool:
			if s {
				return "TRUE", true, nil
			}
			return "FALSE", true, nil
		case int:
			return strconv.Itoa(s), true, nil
		case int64:
			return strconv.FormatInt(s, 10), true, nil
		case int32:
			return strconv.FormatInt(int64(s), 10), true, nil
		case float64:
			if s == math.Trunc(s) && math.Abs(s) < 1<<53 {
				return strconv.FormatInt(int64(s), 10), true, nil
			}
			return strconv.FormatFloat(s, 'g', -1, 64), true, nil
		case fmt.Stringer:
			return s.String(), s.String() != "", nil
		}
		return "", false, invalid(CodeInvalidValue, "attribute %s: a %T value cannot be written to LDAP", name, x)
	}
	switch list := v.(type) {
	case []string:
		out := make([]string, 0, len(list))
		for _, s := range list {
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(list))
		for _, x := range list {
			s, ok, err := scalar(x)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, s)
			}
		}
		return out, nil
	}
	s, ok, err := scalar(v)
	if err != nil || !ok {
		return nil, err
	}
	return []string{s}, nil
}

// singleValue returns the one value of v for a DN template or a filter.
func singleValue(name string, v any) (string, error) {
	vals, err := toValues(name, v)
	if err != nil {
		return "", err
	}
	switch len(vals) {
	case 0:
		return "", invalid(CodeInvalidValue, "attribute %s has no value", name)
	case 1:
		return vals[0], nil
	}
	return "", invalid(CodeInvalidValue, "attribute %s has %d values; one is needed", name, len(vals))
}

// lookup returns attrs[name] with the name matched case-insensitively.
func lookup(attrs connectors.Attributes, name string) (any, bool) {
	if v, ok := attrs[name]; ok {
		return v, true
	}
	for k, v := range attrs {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// entryAttributes converts an entry's attributes: a single value as a string, several as
// []string, objectGUID as a GUID string, other binary values (not UTF-8) as base64.
// Password attributes are dropped. multi names attributes always returned as []string.
func entryAttributes(e *goldap.Entry, multi ...string) connectors.Attributes {
	out := make(connectors.Attributes, len(e.Attributes))
	for _, a := range e.Attributes {
		if isSecretAttr(a.Name) || len(a.Values) == 0 {
			continue
		}
		vals := make([]string, len(a.Values))
		for i := range a.Values {
			vals[i] = textValue(a.Name, a.ByteValues[i])
		}
		forceList := strings.EqualFold(a.Name, "objectClass")
		for _, m := range multi {
			if strings.EqualFold(a.Name, m) {
				forceList = true
			}
		}
		if len(vals) == 1 && !forceList {
			out[a.Name] = vals[0]
		} else {
			out[a.Name] = vals
		}
	}
	return out
}

// textValue renders one attribute value as text.
func textValue(name string, b []byte) string {
	if strings.EqualFold(name, "objectGUID") && len(b) == 16 {
		return formatGUID(b)
	}
	if !utf8.Valid(b) {
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

// formatGUID renders Active Directory's objectGUID (little-endian first three fields) in
// the usual form, e.g. "3f2504e0-4f89-11d3-9a0c-0305e82c3301".
func formatGUID(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16]))
}

// guidFilterValue turns a GUID string back into objectGUID bytes escaped for a filter.
func guidFilterValue(s string) (string, bool) {
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return "", false
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String(), true
}

// firstValue returns the first value of attribute name of e, as text.
func firstValue(e *goldap.Entry, name string) string {
	for _, a := range e.Attributes {
		if strings.EqualFold(a.Name, name) && len(a.ByteValues) > 0 {
			return textValue(a.Name, a.ByteValues[0])
		}
	}
	return ""
}

// values returns the values of attribute name of e.
func values(e *goldap.Entry, name string) []string {
	for _, a := range e.Attributes {
		if strings.EqualFold(a.Name, name) {
			return a.Values
		}
	}
	return nil
}
