package file

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/provisiond/provisiond/connectors"
)

// parseRecord parses one CSV record (RFC 4180: comma-separated, fields optionally quoted
// with "" for a quote, quoted fields may span lines, records end with \n or \r\n) at the
// start of b. atEOF says that b ends the input; otherwise a record that reaches the end of
// b returns errShort. It returns the fields (appended to dst[:0]; nil for an empty line; they alias b and
// scratch)
// and the bytes consumed, including the line ending. base is the file offset of b[0].
//
// The same function parses the first pass (indexing) and the second (reading one record
// at its offset), so both always agree.
func parseRecord(b []byte, atEOF bool, base int64, dst [][]byte, scratch *[]byte) ([][]byte, int, error) {
	switch {
	case len(b) == 0:
		if !atEOF {
			return nil, 0, errShort
		}
		return nil, 0, nil
	case b[0] == '\n':
		return nil, 1, nil // an empty line is no record
	case b[0] == '\r' && len(b) == 1:
		if !atEOF {
			return nil, 0, errShort
		}
		return nil, 1, nil // a trailing \r is dropped before EOF, as encoding/csv does
	case b[0] == '\r' && len(b) > 1 && b[1] == '\n':
		return nil, 2, nil
	}
	fields := dst[:0]
	*scratch = (*scratch)[:0]
	i := 0
	for {
		if i < len(b) && b[i] == '"' {
			// Quoted field, unescaped into scratch.
			out := *scratch
			o0 := len(out)
			j := i + 1
			for {
				k := bytes.IndexByte(b[j:], '"')
				if k < 0 {
					if atEOF {
						return nil, 0, &syntaxError{off: base + int64(i), msg: "quoted field is not terminated"}
					}
					return nil, 0, errShort
				}
				out = appendCRLF(out, b[j:j+k])
				j += k + 1
				if j < len(b) && b[j] == '"' { // "" is a quote
					out = append(out, '"')
					j++
					continue
				}
				break
			}
			*scratch = out
			fields = append(fields, out[o0:len(out):len(out)])
			switch {
			case j >= len(b):
				if !atEOF {
					return nil, 0, errShort
				}
				return fields, j, nil
			case b[j] == ',':
				i = j + 1
			case b[j] == '\n':
				return fields, j + 1, nil
			case b[j] == '\r' && j+1 >= len(b):
				if !atEOF {
					return nil, 0, errShort
				}
				return fields, j + 1, nil
			case b[j] == '\r' && b[j+1] == '\n':
				return fields, j + 2, nil
			default:
				return nil, 0, &syntaxError{off: base + int64(j), msg: fmt.Sprintf("extraneous %s after a quoted field", quoteByte(b[j]))}
			}
			continue
		}
		// Unquoted field: up to the next comma or line end.
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '\n' {
			if b[j] == '"' {
				return nil, 0, &syntaxError{off: base + int64(j), msg: `bare " in an unquoted field (quote the field and double the quote)`}
			}
			j++
		}
		if j >= len(b) && !atEOF {
			return nil, 0, errShort
		}
		f := b[i:j]
		if (j >= len(b) || b[j] == '\n') && len(f) > 0 && f[len(f)-1] == '\r' {
			f = f[:len(f)-1]
		}
		fields = append(fields, f)
		switch {
		case j >= len(b):
			return fields, j, nil
		case b[j] == '\n':
			return fields, j + 1, nil
		}
		i = j + 1 // after a comma
	}
}

// appendCRLF appends s with \r\n turned into \n (as encoding/csv does in quoted fields).
func appendCRLF(out, s []byte) []byte {
	for {
		k := bytes.Index(s, []byte("\r\n"))
		if k < 0 {
			return append(out, s...)
		}
		out = append(out, s[:k]...)
		out = append(out, '\n')
		s = s[k+2:]
	}
}

// csvLayout is a CSV file's header and how each column converts.
type csvLayout struct {
	cols    []csvColumn
	sorted  []int // column indexes by name, for the canonical encoding
	idCol   int
	nameCol int // displayName column, -1 if none
	mgrCol  int // a user's manager column, -1 if none
	sep     string
}

type colKind uint8

const (
	colString colKind = iota
	colMulti          // split on the separator into []string
	colBool           // "true"/"false", case-insensitive
)

type csvColumn struct {
	name string
	kind colKind
}

func newCSVLayout(header [][]byte, typ connectors.ObjectType, cfg *Config) (*csvLayout, error) {
	l := &csvLayout{sep: cfg.MultiValueSeparator, idCol: -1, nameCol: -1, mgrCol: -1}
	seen := map[string]bool{}
	for k, h := range header {
		name := strings.TrimSpace(string(h))
		if name == "" {
			return nil, fmt.Errorf("empty column name in the header (column %d)", k+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate column %q in the header", name)
		}
		seen[name] = true
		c := csvColumn{name: name}
		switch {
		case name == cfg.IDAttribute:
			l.idCol = k
		case typ == connectors.TypeGroup && strings.EqualFold(name, connectors.AttrMembers):
			c.kind = colMulti
		case strings.EqualFold(name, connectors.AttrAccountEnabled):
			c.kind = colBool
		case slices.Contains(cfg.MultiValued, name):
			c.kind = colMulti
		}
		if name == connectors.AttrDisplayName {
			l.nameCol = k
		}
		if name == "manager" && typ == connectors.TypeUser && c.kind == colString {
			l.mgrCol = k
		}
		l.cols = append(l.cols, c)
		l.sorted = append(l.sorted, k)
	}
	if l.idCol < 0 {
		return nil, fmt.Errorf("no %q (anchor) column in the header", cfg.IDAttribute)
	}
	slices.SortFunc(l.sorted, func(a, b int) int { return strings.Compare(l.cols[a].name, l.cols[b].name) })
	return l, nil
}

// multi splits a multi-valued cell.
func (l *csvLayout) multi(f []byte, each func([]byte)) {
	for v := range bytes.SplitSeq(f, []byte(l.sep)) {
		if v = bytes.TrimSpace(v); len(v) > 0 {
			each(v)
		}
	}
}

func (l *csvLayout) boolean(c *csvColumn, f []byte) (bool, error) {
	switch t := bytes.TrimSpace(f); {
	case bytes.EqualFold(t, []byte("true")):
		return true, nil
	case bytes.EqualFold(t, []byte("false")):
		return false, nil
	}
	return false, fmt.Errorf("%s is %q, want true or false", c.name, f)
}

// attributes converts a record's fields; an empty cell is no value.
func (l *csvLayout) attributes(fields [][]byte) (connectors.Attributes, error) {
	a := make(connectors.Attributes, len(fields))
	for k, f := range fields {
		if len(f) == 0 {
			continue
		}
		c := &l.cols[k]
		switch c.kind {
		case colString:
			a[c.name] = string(f)
		case colMulti:
			var vals []string
			l.multi(f, func(v []byte) { vals = append(vals, string(v)) })
			if len(vals) > 0 {
				a[c.name] = vals
			}
		case colBool:
			v, err := l.boolean(c, f)
			if err != nil {
				return nil, err
			}
			a[c.name] = v
		}
	}
	return a, nil
}

// encode appends the canonical encoding of the object a record holds (what attributes
// returns, encoded by canonAttrs) without building it.
func (l *csvLayout) encode(out []byte, fields [][]byte) ([]byte, error) {
	out = append(out, 'o')
	for _, k := range l.sorted {
		f := fields[k]
		if len(f) == 0 {
			continue
		}
		c := &l.cols[k]
		switch c.kind {
		case colString:
			out = appendCanonKey(out, c.name)
			out = appendCanonStr(out, f)
		case colMulti:
			m0 := len(out)
			out = appendCanonKey(out, c.name)
			out = append(out, 'a')
			n := 0
			l.multi(f, func(v []byte) { out = appendCanonStr(out, v); n++ })
			if n == 0 {
				out = out[:m0] // no values: no attribute
				continue
			}
			out = append(out, 'e')
		case colBool:
			v, err := l.boolean(c, f)
			if err != nil {
				return nil, err
			}
			out = appendCanonKey(out, c.name)
			out = appendCanonBool(out, v)
		}
	}
	return append(out, 'e'), nil
}
