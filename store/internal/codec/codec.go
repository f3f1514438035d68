// Package codec holds the encoding rules every provisiond store shares, so that the SQLite
// and PostgreSQL stores return the same values for the same input:
//
//   - Records are kept as JSON (encoding/json, without HTML escaping). Decoding returns every
//     time.Time in UTC and normalises connectors.Attributes values to the plain types the
//     connectors package documents: JSON integers become int64, other numbers float64,
//     non-empty arrays of strings []string, other arrays []any, objects map[string]any.
//     (JSON cannot tell an int64 2 from a float64 2.0, nor a []string from a []any of
//     strings; those two ambiguities are the only non-round-tripping cases.)
//     Events, the bulk of what is written, are encoded by AppendEvent, which writes the
//     same bytes as Marshal without reflection.
//   - Indexed times are integers of Unix nanoseconds (see Nanos); the zero time is
//     math.MinInt64 so that it sorts first.
//   - Case-insensitive matching compares Lower(s) (Unicode lower case, computed in Go, so
//     every database agrees).
package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Marshal returns the JSON text of v as a string (the form the stores bind to TEXT and
// JSONB columns). HTML characters are not escaped.
func Marshal(v any) (string, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bufPool.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	b := buf.Bytes()
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b), nil
}

// Unmarshal decodes JSON text into v (a pointer) and normalises it: times to UTC,
// connectors.Attributes values to their plain types.
func Unmarshal(data []byte, v any) error {
	if hasAttributes(reflect.TypeOf(v)) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // numbers in Attributes: int64 or float64, decided by Normalize
		if err := dec.Decode(v); err != nil {
			return err
		}
		if dec.More() {
			return errors.New("invalid JSON: data after the value")
		}
	} else if err := json.Unmarshal(data, v); err != nil { // faster: no Decoder buffer
		return err
	}
	Normalize(v)
	return nil
}

// attrsIn caches, by type, whether a value of the type can hold an Attributes map.
var attrsIn sync.Map

func hasAttributes(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if v, ok := attrsIn.Load(t); ok {
		return v.(bool)
	}
	attrsIn.Store(t, false) // breaks cycles of recursive types
	var r bool
	switch t.Kind() {
	case reflect.Map:
		r = t == attrsType || hasAttributes(t.Elem())
	case reflect.Pointer, reflect.Slice, reflect.Array:
		r = hasAttributes(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && hasAttributes(f.Type) {
				r = true
				break
			}
		}
	case reflect.Interface:
		r = true // could hold anything
	}
	attrsIn.Store(t, r)
	return r
}

// Normalize converts, in place, every time.Time reachable from v (a pointer) to UTC and
// every connectors.Attributes value to its plain type (see the package documentation).
func Normalize(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	walk(rv.Elem())
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	attrsType = reflect.TypeFor[connectors.Attributes]()
	// needsWalk caches, by type, whether a value of that type can hold a time.Time or an
	// Attributes map (so that strings, maps of strings and the like are skipped quickly).
	needsWalk sync.Map
)

func typeNeedsWalk(t reflect.Type) bool {
	if v, ok := needsWalk.Load(t); ok {
		return v.(bool)
	}
	needsWalk.Store(t, false) // breaks cycles of recursive types
	r := computeNeedsWalk(t)
	needsWalk.Store(t, r)
	return r
}

func computeNeedsWalk(t reflect.Type) bool {
	if t == timeType || t == attrsType {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return typeNeedsWalk(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && typeNeedsWalk(f.Type) {
				return true
			}
		}
	}
	return false
}

func walk(v reflect.Value) {
	if !typeNeedsWalk(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				walk(f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walk(v.Index(i))
		}
	case reflect.Map:
		if v.Type() == attrsType && !v.IsNil() {
			NormalizeAttributes(v.Interface().(connectors.Attributes))
		}
	}
}

// NormalizeAttributes converts, in place, JSON-decoded attribute values to the plain types
// connectors.Attributes documents.
func NormalizeAttributes(a connectors.Attributes) {
	for k, v := range a {
		a[k] = normalizeValue(v)
	}
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		allStrings := len(x) > 0
		for i := range x {
			x[i] = normalizeValue(x[i])
			if _, ok := x[i].(string); !ok {
				allStrings = false
			}
		}
		if allStrings {
			s := make([]string, len(x))
			for i := range x {
				s[i] = x[i].(string)
			}
			return s
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeValue(e)
		}
		return x
	}
	return v
}

// The range of times representable as int64 Unix nanoseconds.
var (
	minNanoTime = time.Unix(0, math.MinInt64+1)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// Nanos encodes t for an indexed integer column: Unix nanoseconds. The zero time is
// math.MinInt64 (it sorts before every other time); times outside the int64 range
// (before 1677-09-21 or after 2262-04-11) are clamped to its ends.
func Nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return math.MinInt64
	case t.Before(minNanoTime):
		return math.MinInt64 + 1
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Time decodes Nanos: math.MinInt64 is the zero time, anything else a UTC time.
func Time(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Lower is the case folding used for case-insensitive display-name matching.
func Lower(s string) string { return strings.ToLower(s) }
