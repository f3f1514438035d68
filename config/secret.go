package config

import (
	"fmt"
	"log/slog"
	"strconv"
)

// redacted is what a non-empty Secret prints as.
const redacted = "REDACTED"

// Secret holds a credential (a token, a password, a DSN). Every way of printing it (fmt
// verbs including %v, %+v, %#v, %s and %q; String; GoString; JSON, text and YAML marshalling;
// log/slog) yields "REDACTED", or "" when the secret is empty, so that a secret never
// leaks through logs, errors or the API. Value returns the secret itself.
type Secret string

// Value returns the secret's value. Call it only where the secret is used.
func (s Secret) Value() string { return string(s) }

func (s Secret) masked() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.masked() }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return strconv.Quote(s.masked()) }

// Format implements fmt.Formatter, so that no verb prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, strconv.Quote(s.masked()))
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.masked())
	default:
		fmt.Fprint(f, s.masked())
	}
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.masked())), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.masked()), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.masked(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.masked()) }
