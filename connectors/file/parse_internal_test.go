package file

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

func TestXXH64(t *testing.T) {
	// Reference values of XXH64 with seed 0.
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"Nobody inspects the spammish repetition", 0xfbcea83c8a378bf1},
	} {
		if got := xxh64([]byte(tc.in)); got != tc.want {
			t.Errorf("xxh64(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

// fromStd converts what encoding/json decodes (with UseNumber) to the values the parser
// produces: null members dropped, arrays of strings as []string, numbers as int64 when
// integral. ok is false for numbers out of float64 range.
func fromStd(v any) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			c, ok := fromStd(e)
			if !ok {
				return nil, false
			}
			m[k] = c
		}
		return m, true
	case []any:
		strs := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				strs = append(strs, s)
			}
		}
		if len(strs) == len(v) {
			return strs, true
		}
		out := make([]any, len(v))
		for i, e := range v {
			c, ok := fromStd(e)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, false
		}
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return int64(f), true
		}
		return f, true
	default:
		return v, true
	}
}

// checkJSONObject holds the parser to encoding/json on b, and the canonical hash made
// from the bytes (indexing) to the one made from the parsed object (reading).
func checkJSONObject(t *testing.T, b []byte) {
	t.Helper()
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return
	}
	var p jsonParser
	p.reset(trimmed, 0)
	got, err := p.object()
	rest := bytes.TrimLeft(trimmed[min(p.i, len(trimmed)):], " \t\r\n")
	ours := err == nil && len(rest) == 0

	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var std map[string]any
	stdErr := dec.Decode(&std)
	if stdErr == nil {
		if _, err := dec.Token(); err != io.EOF {
			stdErr = errors.New("data after the value")
		}
	}
	if stdErr == nil && std == nil {
		stdErr = errors.New("null")
	}
	if stdErr != nil {
		if ours {
			t.Fatalf("%q: parser accepts what encoding/json rejects (%v): %#v", b, stdErr, got)
		}
		return
	}
	want, ok := fromStd(std)
	if !ok {
		return // a number out of range: the parser rejects it, encoding/json defers it
	}
	if !ours {
		var se *syntaxError
		if errors.As(err, &se) && strings.Contains(se.msg, "nesting deeper") {
			return
		}
		t.Fatalf("%q: parser rejects valid JSON: %v (rest %q)", b, err, rest)
	}
	if !reflect.DeepEqual(map[string]any(got), want) {
		t.Fatalf("%q:\nparser        %#v\nencoding/json %#v", b, got, want)
	}

	for _, typ := range []connectors.ObjectType{connectors.TypeUser, connectors.TypeGroup} {
		var q jsonParser
		q.reset(trimmed, 0)
		top := &topInfo{typ: typ, idAttr: "id"}
		enc, err := q.encObject(nil, top)
		if err != nil {
			t.Fatalf("%q: encObject: %v", b, err)
		}
		var r jsonParser
		r.reset(trimmed, 0)
		obj, _ := r.object()
		normalizeRefs(typ, obj)
		if want := canonAttrs(nil, obj); !bytes.Equal(enc, want) {
			t.Fatalf("%q (%s): canonical encoding from bytes\n%q\nfrom the object\n%q", b, typ, enc, want)
		}
		wantID, wantErr := anchorOf(obj, "id")
		gotID, gotErr := anchorValue(top.anchor(), "id")
		if gotID != wantID || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: anchor from bytes %q, %v; from the object %q, %v", b, gotID, gotErr, wantID, wantErr)
		}
		name, _ := obj[connectors.AttrDisplayName].(string)
		if top.name != name {
			t.Fatalf("%q: displayName from bytes %q, from the object %q", b, top.name, name)
		}
	}
}

var jsonSeeds = []string{
	`{}`,
	`{"id":"E1","displayName":"Zoë Müller","n":1,"f":2.5,"e":1e3,"neg":-0,"big":123456789012345678901,"b":true,"nb":false,"z":null}`,
	`{"a":["x","y"],"m":[1,"2",null,true],"o":{"k":{"j":[]}},"empty":[],"s":"\u00e9\ud83d\ude00\n\t\"\\\/"}`,
	`{"b":1,"a":2,"b":null}`,
	`{"b":1,"a":2,"b":3}`,
	`{"id":12,"manager":34,"members":[1,"2",3.5]}`,
	`{"id":"x","members":[1,2,3]}`,
	`{"id":1.5}`,
	`{"id":true,"displayName":7}`,
	`{"id":"\ud800","bad":"\ud800\u0041","inv":"` + "\xff\xfe" + `"}`,
	`{"a":1 , "b" : [ 1 , 2 ] }`,
	`{"a":1,}`,
	`{"a":01}`,
	`{"a":1.}`,
	`{"a":.5}`,
	`{"a":-}`,
	`{"a":"x` + "\x01" + `"}`,
	`{"a":tru}`,
	`{"a":1e400}`,
	`{"a" 1}`,
	`{a:1}`,
	`{"a":[1,]}`,
	`{"a":{"b":1}}}`,
	`{"a":"\q"}`,
	`{"a":"\u12"}`,
	`{"a":1}x`,
}

func TestJSONParserMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSONObject(t, []byte(s))
	}
	deep := strings.Repeat(`{"a":`, 150) + "1" + strings.Repeat("}", 150)
	var p jsonParser
	p.reset([]byte(deep), 0)
	if _, err := p.object(); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzJSONObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkJSONObject(t, b) })
}

// TestJSONParserShortInput: every proper prefix of an object is errShort (the stream
// then reads more), never a wrong value or another error.
func TestJSONParserShortInput(t *testing.T) {
	for _, s := range jsonSeeds[:10] {
		for i := 1; i < len(s); i++ {
			var p jsonParser
			p.reset([]byte(s[:i]), 0)
			if _, err := p.object(); err != errShort {
				t.Fatalf("%q: %v, want errShort", s[:i], err)
			}
			p.reset([]byte(s[:i]), 0)
			if _, err := p.encObject(nil, &topInfo{typ: connectors.TypeUser, idAttr: "id"}); err != errShort {
				t.Fatalf("encObject %q: %v, want errShort", s[:i], err)
			}
		}
	}
}

// checkCSV holds parseRecord to encoding/csv on data, and the canonical encoding made from
// the fields to the one of the attributes built from them.
func checkCSV(t *testing.T, data []byte) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var want [][]string
	var stdErr error
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			stdErr = err
			break
		}
		want = append(want, rec)
	}
	var got [][]string
	var ourErr error
	var scratch []byte
	for b, off := data, 0; len(b) > 0; {
		fields, n, err := parseRecord(b, true, int64(off), nil, &scratch)
		if err != nil {
			ourErr = err
			break
		}
		if fields != nil {
			rec := make([]string, len(fields))
			for i, f := range fields {
				rec[i] = string(f)
			}
			got = append(got, rec)
			// The same record, parsed alone from its bytes (as a read does), is the same.
			again, n2, err := parseRecord(b[:n], true, 0, nil, &scratch)
			if err != nil || n2 != n || len(again) != len(rec) {
				t.Fatalf("%q: record %q parsed alone: %q, %d, %v", data, b[:n], again, n2, err)
			}
		}
		b, off = b[n:], off+n
	}
	if (stdErr != nil) != (ourErr != nil) {
		t.Fatalf("%q: encoding/csv error %v, parseRecord error %v", data, stdErr, ourErr)
	}
	if stdErr == nil && !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Fatalf("%q:\nparseRecord   %q\nencoding/csv  %q", data, got, want)
	}
	// Canonical encodings agree for records read with a header.
	if stdErr != nil || len(want) < 2 {
		return
	}
	header := make([][]byte, len(want[0]))
	for i, h := range want[0] {
		header[i] = []byte(h)
	}
	cfg := &Config{IDAttribute: want[0][0], MultiValueSeparator: ";", MultiValued: []string{want[0][len(want[0])-1]}}
	l, err := newCSVLayout(header, connectors.TypeGroup, cfg)
	if err != nil {
		return
	}
	for _, rec := range want[1:] {
		if len(rec) != len(header) {
			continue
		}
		fields := make([][]byte, len(rec))
		for i, f := range rec {
			fields[i] = []byte(f)
		}
		enc, encErr := l.encode(nil, fields)
		attrs, attrErr := l.attributes(fields)
		if (encErr == nil) != (attrErr == nil) {
			t.Fatalf("%q: encode error %v, attributes error %v", rec, encErr, attrErr)
		}
		if encErr == nil && !bytes.Equal(enc, canonAttrs(nil, attrs)) {
			t.Fatalf("%q: canonical encodings differ:\n%q\n%q", rec, enc, canonAttrs(nil, attrs))
		}
	}
}

var csvSeeds = []string{
	"id,name,members\n1,a,x;y\n2,\"b,c\",\" z ; ;w\"\n",
	"id,accountEnabled\r\nE1,TRUE\r\nE2,false\r\nE3,\r\n",
	"id,n\n\n1,\"multi\nline \"\"quoted\"\"\"\n\n2,x\r",
	"id,n\n1,\"a\r\nb\"\n",
	"id,n\n1,a\"b\n",
	"id,n\n1,\"ab\"c\n",
	"id,n\n1,\"abc\n",
	"id,n\n1,\"a\"\r",
	"a\rb,c\n",
	"\r\n\r\nx\n",
	"id,a,b\n1,,\n2\n3,4,5,6\n",
	"id,accountEnabled\n1,yes\n",
	"x,\n,\n",
	"\"\"\n",
	"\"",
	"a,\"b\"\"\"\"\",c",
	"\r",
	"a\n\r",
}

func TestCSVParserMatchesEncodingCSV(t *testing.T) {
	for _, s := range csvSeeds {
		checkCSV(t, []byte(s))
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCSV(t, b) })
}

// TestCSVShortInput: a record cut anywhere before its end is errShort unless at EOF.
func TestCSVShortInput(t *testing.T) {
	rec := "1,\"a,\"\"b\"\"\r\nc\",d\r\n"
	var scratch []byte
	for i := 0; i < len(rec)-1; i++ {
		if _, _, err := parseRecord([]byte(rec[:i]), false, 0, nil, &scratch); err != errShort {
			t.Fatalf("%q: %v, want errShort", rec[:i], err)
		}
	}
	fields, n, err := parseRecord([]byte(rec), false, 0, nil, &scratch)
	if err != nil || n != len(rec) || len(fields) != 3 || string(fields[1]) != "a,\"b\"\nc" {
		t.Fatalf("%q, %d, %v", fields, n, err)
	}
}
