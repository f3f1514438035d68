package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/provisioning"
)

// decoder walks the YAML node tree of one file and collects every problem it finds.
type decoder struct {
	file string
	// dir is the absolute directory of the file: relative paths resolve against it.
	dir  string
	env  func(string) (string, bool)
	errs []FieldError
}

// errorf records a problem with field at n's position (n may be nil).
func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	fe := FieldError{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		fe.Line, fe.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, fe)
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of a node for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	case n.Kind != yaml.ScalarNode:
		return "a YAML document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "an empty value"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a " + n.ShortTag() + " value"
}

// parseYAML parses data into its single document's root node; problems go to d.
func (d *decoder) parseYAML(data []byte) (root *yaml.Node) {
	defer func() {
		// A parser panic must not take the daemon down with it.
		if r := recover(); r != nil {
			d.errorf(nil, "", "YAML syntax error: the parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(nil, "", "the file is empty: want a mapping with connectors and jobs")
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errorf(&next, "", "the file holds more than one YAML document; want one")
	case !errors.Is(err, io.EOF):
		d.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		d.errorf(nil, "", "the file is empty: want a mapping with connectors and jobs")
		return nil
	}
	return doc.Content[0]
}

// syntaxError turns a YAML parser error ("yaml: line 3: message") into a FieldError.
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := FieldError{File: d.file, Message: "YAML syntax error: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				if parserError(text) {
					// yaml.v3 reports the parser's (not the scanner's) lines 0-based.
					line++
				}
				fe.Line, fe.Message = line, "YAML syntax error: "+text
			}
		}
	}
	d.errs = append(d.errs, fe)
}

// parserError reports whether msg is one of yaml.v3's parser errors (see its parserc.go),
// as opposed to its scanner errors.
func parserError(msg string) bool {
	for _, p := range []string{"did not find expected ", "found incompatible YAML document", "found undefined tag handle", "found duplicate "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// obj is a YAML mapping being decoded. Each lookup marks its key as known; end reports the
// keys nobody looked up.
type obj struct {
	d    *decoder
	path string
	// node is the mapping, nil when the value is absent, empty or not a mapping.
	node *yaml.Node
	// pos is where problems with the fields of an absent mapping are reported.
	pos   *yaml.Node
	keys  []string
	pairs map[string][2]*yaml.Node
	asked []string
	// notFor, when set, explains why a key is not used here (e.g. "not used by file
	// connectors"); it returns "" for keys that are simply unknown.
	notFor func(key string) string
	// extensions allows keys starting with "x-" (holders of YAML anchors), which are
	// ignored.
	extensions bool
}

// object starts decoding n, the value of the field at path, as a mapping. An absent or empty
// value gives an empty obj; a value of another kind is reported.
func (d *decoder) object(n *yaml.Node, path string) *obj {
	o := &obj{d: d, path: path, pairs: map[string][2]*yaml.Node{}}
	r := resolve(n)
	if isNull(r) {
		return o
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, "want a mapping, got %s", describe(r))
		return o
	}
	o.node, o.pos = r, r
	o.collect(r, false, 0)
	return o
}

// collect gathers the key/value pairs of m; merged ("<<") pairs never override.
func (o *obj) collect(m *yaml.Node, merged bool, depth int) {
	if depth > 20 {
		return
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		rk := resolve(k)
		if rk.Kind != yaml.ScalarNode {
			o.d.errorf(k, o.path, "field names must be plain strings, got %s", describe(rk))
			continue
		}
		name := rk.Value
		if prev, dup := o.pairs[name]; dup {
			if !merged {
				o.d.errorf(k, o.sub(name), "duplicate field %q (first at line %d)", name, prev[0].Line)
			}
			continue
		}
		o.keys = append(o.keys, name)
		o.pairs[name] = [2]*yaml.Node{k, v}
	}
	for _, mv := range merges {
		mv = resolve(mv)
		var sources []*yaml.Node
		switch mv.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{mv}
		case yaml.SequenceNode:
			sources = mv.Content
		}
		for _, s := range sources {
			if s = resolve(s); s.Kind == yaml.MappingNode {
				o.collect(s, true, depth+1)
			} else {
				o.d.errorf(s, o.path, "a merge (<<) takes a mapping or a sequence of mappings, got %s", describe(s))
			}
		}
		if mv.Kind != yaml.MappingNode && mv.Kind != yaml.SequenceNode {
			o.d.errorf(mv, o.path, "a merge (<<) takes a mapping or a sequence of mappings, got %s", describe(mv))
		}
	}
}

// sub is the path of the field key of o.
func (o *obj) sub(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// present reports whether the mapping exists (even if empty).
func (o *obj) present() bool { return o.node != nil }

// get looks key up and marks it known.
func (o *obj) get(key string) field {
	o.asked = append(o.asked, key)
	f := field{d: o.d, path: o.sub(key), parent: o.pos}
	if p, ok := o.pairs[key]; ok {
		f.key, f.val = p[0], resolve(p[1])
	}
	return f
}

// ignoreRest marks every key known (used when the keys cannot be checked, e.g. for a
// connector of unknown type).
func (o *obj) ignoreRest() { o.asked = append(o.asked, o.keys...) }

// end reports the keys that were not looked up.
func (o *obj) end() {
	known := map[string]bool{}
	for _, k := range o.asked {
		known[k] = true
	}
	for _, k := range o.keys {
		if known[k] || o.extensions && strings.HasPrefix(k, "x-") {
			continue
		}
		if o.notFor != nil {
			if why := o.notFor(k); why != "" {
				o.d.errorf(o.pairs[k][0], o.sub(k), "%s", why)
				continue
			}
		}
		o.d.errorf(o.pairs[k][0], o.sub(k), "unknown field %q%s", k, didYouMean(k, o.asked))
	}
}

// field is one field of a mapping: its key and value nodes, or nil when absent.
type field struct {
	d    *decoder
	path string
	key  *yaml.Node
	// val is the resolved value node.
	val    *yaml.Node
	parent *yaml.Node
}

// present reports whether the field has a non-empty value.
func (f field) present() bool { return f.val != nil && !isNull(f.val) }

// at is the node that problems with f are reported at.
func (f field) at() *yaml.Node {
	switch {
	case f.val != nil && f.present():
		return f.val
	case f.key != nil:
		return f.key
	}
	return f.parent
}

func (f field) errorf(format string, args ...any) { f.d.errorf(f.at(), f.path, format, args...) }

// need reports a missing or empty field and returns whether it is present.
func (f field) need() bool {
	switch {
	case f.present():
		return true
	case f.key == nil:
		f.errorf("required")
	default:
		f.errorf("required (the value is empty)")
	}
	return false
}

// notWith reports a field set where it does not apply.
func (f field) notWith(format string, args ...any) {
	if f.present() {
		f.errorf("not used with %s", fmt.Sprintf(format, args...))
	}
}

// text is a scalar value after ${VAR} expansion.
type text struct {
	s string
	// raw is the value as written.
	raw string
	// vars are the environment variables it references.
	vars []string
}

// q quotes the value for a message: as written when it references environment variables,
// so that their values (possibly secret) never show.
func (t text) q() string {
	if len(t.vars) > 0 {
		return strconv.Quote(t.raw)
	}
	return strconv.Quote(t.s)
}

// scalar returns f's value as text, expanding ${VAR} references. want names the expected
// type for the message when the value is not a scalar. ok is false when f is absent, empty
// or wrong.
func (f field) scalar(want string) (text, bool) {
	if !f.present() {
		return text{}, false
	}
	if f.val.Kind != yaml.ScalarNode {
		f.errorf("want %s, got %s", want, describe(f.val))
		return text{}, false
	}
	x := expand(f.val.Value, f.d.env)
	for _, p := range x.problems {
		f.errorf("%s", p)
	}
	return text{s: x.s, raw: f.val.Value, vars: x.vars}, len(x.problems) == 0
}

// str returns f as a string.
func (f field) str() (string, bool) {
	t, ok := f.scalar("a string")
	return t.s, ok
}

// nonEmpty returns f as a string, reporting an empty one.
func (f field) nonEmpty() (string, bool) {
	t, ok := f.scalar("a string")
	if ok && strings.TrimSpace(t.s) == "" {
		if len(t.vars) > 0 {
			f.errorf("must not be empty (%s expands to an empty string)", t.q())
		} else {
			f.errorf("must not be empty")
		}
		return "", false
	}
	return t.s, ok
}

func (f field) int() (int, bool) {
	t, ok := f.scalar("an integer")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(t.s), "_", ""), 10, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			f.errorf("integer %s is out of range", t.q())
		} else {
			f.errorf("want an integer, got %s", t.q())
		}
		return 0, false
	}
	return int(v), true
}

func (f field) float() (float64, bool) {
	t, ok := f.scalar("a number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(t.s), "_", ""), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		f.errorf("want a number, got %s", t.q())
		return 0, false
	}
	return v, true
}

func (f field) bool() (bool, bool) {
	t, ok := f.scalar("true or false")
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(t.s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	f.errorf("want true or false, got %s", t.q())
	return false, false
}

// intIn returns f as an integer in [lo, hi].
func (f field) intIn(lo, hi int) (int, bool) {
	v, ok := f.int()
	if !ok {
		return 0, false
	}
	if v < lo || v > hi {
		switch {
		case hi == math.MaxInt32:
			f.errorf("must be at least %d, got %d", lo, v)
		default:
			f.errorf("must be between %d and %d, got %d", lo, hi, v)
		}
		return 0, false
	}
	return v, true
}

// duration returns f as a positive duration ("40m", "2d", "PT40M").
func (f field) duration() (time.Duration, bool) {
	t, ok := f.scalar("a duration")
	if !ok {
		return 0, false
	}
	v, err := provisioning.ParseDuration(strings.TrimSpace(t.s))
	if err != nil {
		f.errorf(`invalid duration %s: want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`, t.q())
		return 0, false
	}
	if v <= 0 {
		f.errorf("duration must be positive, got %s", t.q())
		return 0, false
	}
	return v, true
}

// durationOrZero is like duration but also accepts zero (a value that turns something
// off, such as retention.events: 0 to keep events forever).
func (f field) durationOrZero() (time.Duration, bool) {
	t, ok := f.scalar("a duration")
	if !ok {
		return 0, false
	}
	v, err := provisioning.ParseDuration(strings.TrimSpace(t.s))
	if err != nil {
		f.errorf(`invalid duration %s: want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`, t.q())
		return 0, false
	}
	if v < 0 {
		f.errorf("duration must not be negative, got %s", t.q())
		return 0, false
	}
	return v, true
}

// enum returns f as one of values, matched case-insensitively and returned in the
// canonical spelling. what names the value in the message ("driver").
func (f field) enum(what string, values ...string) (string, bool) {
	t, ok := f.scalar("a string")
	if !ok {
		return "", false
	}
	for _, v := range values {
		if strings.EqualFold(strings.TrimSpace(t.s), v) {
			return v, true
		}
	}
	f.errorf("invalid %s %s%s: want %s", what, t.q(), didYouMean(t.s, values), orList(values))
	return "", false
}

// list returns the items of a sequence, each as a field named path[i].
func (f field) list() ([]field, bool) {
	if !f.present() {
		return nil, false
	}
	if f.val.Kind != yaml.SequenceNode {
		f.errorf("want a sequence, got %s", describe(f.val))
		return nil, false
	}
	items := make([]field, len(f.val.Content))
	for i, n := range f.val.Content {
		items[i] = field{d: f.d, path: fmt.Sprintf("%s[%d]", f.path, i), key: n, val: resolve(n), parent: f.val}
	}
	return items, true
}

// strings returns a sequence of non-empty strings.
func (f field) strings() ([]string, bool) {
	items, ok := f.list()
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if !it.present() {
			it.errorf("must not be empty")
		} else if s, ok := it.nonEmpty(); ok {
			out = append(out, s)
		}
	}
	return out, len(out) == len(items)
}

// object decodes f as a mapping. When f is absent, problems with its fields are reported
// where f would be.
func (f field) object() *obj {
	o := f.d.object(f.val, f.path)
	o.pos = f.at()
	return o
}

// path resolves a file path against the configuration file's directory.
func (d *decoder) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

// filePath returns f as an absolute path.
func (f field) filePath() (string, bool) {
	s, ok := f.nonEmpty()
	if !ok {
		return "", false
	}
	return f.d.abs(s), true
}

// readableFile returns f as an absolute path to a readable regular file.
func (f field) readableFile(what string) (string, bool) {
	p, ok := f.filePath()
	if !ok {
		return "", false
	}
	fh, err := os.Open(p)
	if err != nil {
		f.errorf("cannot read %s %q: %s", what, p, pathErr(err))
		return "", false
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || st.IsDir() {
		f.errorf("cannot read %s %q: is a directory", what, p)
		return "", false
	}
	return p, true
}

// pathErr is the reason of a file error without the path (which the caller quotes).
func pathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
