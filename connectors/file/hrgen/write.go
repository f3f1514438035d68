package hrgen

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/provisiond/provisiond/internal/jsonenc"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes {"users":[...],"groups":[...]} to path atomically (a temporary file in
// the same directory, synced, then renamed). Keys are sorted and every object is on its
// own line, so the bytes depend only on the dataset.
func (d *Dataset) WriteJSON(path string) error {
	return writeAtomic(path, func(w *bufio.Writer) error {
		var buf []byte
		var scratch []kv
		section := func(name string, objs []map[string]any) error {
			buf = append(buf[:0], '"')
			buf = append(buf, name...)
			buf = append(buf, `":[`...)
			for i, o := range objs {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '\n')
				var err error
				if buf, scratch, err = appendObject(buf, scratch, o); err != nil {
					return err
				}
				if len(buf) > 64<<10 {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
			buf = append(buf, "\n]"...)
			_, err := w.Write(buf)
			return err
		}
		w.WriteByte('{')
		if err := section("users", d.Users); err != nil {
			return err
		}
		w.WriteByte(',')
		if err := section("groups", d.Groups); err != nil {
			return err
		}
		_, err := w.WriteString("}\n")
		return err
	})
}

// userColumns is the column order of the users CSV.
var userColumns = []string{
	"id", "userName", "givenName", "surname", "displayName", "mail", "department", "jobTitle",
	"employeeType", "manager", "costCenter", "country", "accountEnabled", "hireDate", "employeeNumber",
}

var groupColumns = []string{"id", "displayName", "description", "members"}

// WriteCSV writes the users to usersPath and, unless groupsPath is empty, the groups to
// groupsPath, each atomically. Multi-valued fields (members) are joined with ";"; absent
// and empty values are empty cells.
func (d *Dataset) WriteCSV(usersPath, groupsPath string) error {
	if err := writeCSV(usersPath, userColumns, d.Users); err != nil {
		return err
	}
	if groupsPath == "" {
		return nil
	}
	return writeCSV(groupsPath, groupColumns, d.Groups)
}

func writeCSV(path string, base []string, objs []map[string]any) error {
	err := writeCSVColumns(path, base, objs)
	if err != errExtraKeys {
		return err
	}
	// Some object has other keys: the standard columns, then every other key, sorted.
	extra := map[string]bool{}
	for _, o := range objs {
		for k := range o {
			if !slices.Contains(base, k) {
				extra[k] = true
			}
		}
	}
	return writeCSVColumns(path, slices.Concat(base, slices.Sorted(maps.Keys(extra))), objs)
}

var errExtraKeys = errors.New("keys outside the columns")

func writeCSVColumns(path string, cols []string, objs []map[string]any) error {
	return writeAtomic(path, func(w *bufio.Writer) error {
		buf := appendCSVRecord(nil, cols)
		for _, o := range objs {
			found := 0
			for i, c := range cols {
				if i > 0 {
					buf = append(buf, ',')
				}
				v, ok := o[c]
				if ok {
					found++
				}
				var err error
				if buf, err = appendCell(buf, v); err != nil {
					return fmt.Errorf("%s: %s: %w", o["id"], c, err)
				}
			}
			if found != len(o) {
				return errExtraKeys
			}
			buf = append(buf, '\n')
			if len(buf) > 64<<10 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

func appendCSVRecord(buf []byte, fields []string) []byte {
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendCSVField(buf, f)
	}
	return append(buf, '\n')
}

// appendCSVField appends f, quoted when needed (as encoding/csv.Writer does).
func appendCSVField(buf []byte, f string) []byte {
	if f == "" || !(strings.ContainsAny(f, "\",\r\n") || f[0] == ' ' || f[0] == '\t' || f == `\.`) {
		return append(buf, f...)
	}
	buf = append(buf, '"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		buf = append(buf, f[:i+1]...)
		buf = append(buf, '"')
		f = f[i+1:]
	}
	buf = append(buf, f...)
	return append(buf, '"')
}

func appendCell(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendCSVField(buf, v), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case []string:
		return appendCSVField(buf, strings.Join(v, ";")), nil
	}
	s, err := cell(v)
	return appendCSVField(buf, s), err
}

func cell(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case []string:
		return strings.Join(v, ";"), nil
	}
	return "", fmt.Errorf("unsupported value %T in CSV", v)
}

// appendObject appends o as a JSON object with sorted keys.
func appendObject(buf []byte, scratch []kv, o map[string]any) ([]byte, []kv, error) {
	fields := scratch[:0]
	for k, v := range o {
		fields = append(fields, kv{k, v})
	}
	// Insertion sort: objects are small.
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].k < fields[j-1].k; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	buf = append(buf, '{')
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonenc.AppendString(buf, f.k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendValue(buf, f.v); err != nil {
			return buf, fields, err
		}
	}
	return append(buf, '}'), fields, nil
}

type kv struct {
	k string
	v any
}

func appendValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return jsonenc.AppendString(buf, v), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case int:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return buf, fmt.Errorf("unsupported number %v", v)
		}
		return strconv.AppendFloat(buf, v, 'g', -1, 64), nil
	case []string:
		buf = append(buf, '[')
		for i, s := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = jsonenc.AppendString(buf, s)
		}
		return append(buf, ']'), nil
	default:
		b, err := json.Marshal(v)
		return append(buf, b...), err
	}
}

// plain marks the bytes appendString copies as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// writeAtomic writes path through a synced temporary file in the same directory and a
// rename, so that readers see either the old or the new file, never a partial one.
func writeAtomic(path string, write func(*bufio.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	if err = write(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
