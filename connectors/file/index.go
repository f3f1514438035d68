package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/provisiond/provisiond/connectors"
)

// The source never holds a whole export in memory. A first pass streams the file and
// keeps, per object, its anchor, display name, content hash and where its bytes are (the
// index, about 100 bytes per object); reads then parse the objects they emit again from
// those bytes. The index is cached until the file's identity, size or mtime changes.

// entry is one object of the index.
type entry struct {
	id   string
	name string // displayName, for delete changes and snapshots
	hash uint64 // content hash (canonical encoding), recorded in snapshots
	raw  uint64 // hash of the object's bytes, checked when they are parsed again
	off  int64  // where the object's bytes start in the file
	n    int32  // how many bytes
	// mgr is a user's manager anchor while the index is built (cleared by finish, which
	// turns the managers into typeIndex.order).
	mgr string
}

// typeIndex is the index of the objects of one type, sorted by id.
type typeIndex struct {
	entries []entry
	// ordered: the file holds the objects in id order, so reading them in id order reads
	// the file sequentially.
	ordered bool
	// order is the order of a full read (indexes into entries, see managerOrder); nil
	// for id order.
	order []int32
}

func (t *typeIndex) find(id string) (int, bool) {
	return slices.BinarySearchFunc(t.entries, id, func(e entry, id string) int { return strings.Compare(e.id, id) })
}

// fileIndex is the index of one export file, which it keeps open: objects are read back
// from the very file that was indexed, even if the path is replaced meanwhile.
type fileIndex struct {
	f     *os.File
	info  os.FileInfo
	csv   *csvLayout // nil for JSON
	types map[connectors.ObjectType]*typeIndex
	// keys interns the object keys of a JSON file (read only once built), hint is a
	// typical number of attributes: both for parsing objects again.
	keys map[string]string
	hint int
	// refs counts the slot's reference (while cached) and every open view; the file is
	// closed when the last one goes.
	refs atomic.Int32
}

func (x *fileIndex) acquire() { x.refs.Add(1) }

func (x *fileIndex) release() {
	if x.refs.Add(-1) == 0 {
		x.f.Close()
	}
}

// sameFile reports whether a and b describe the same file content as far as the file
// system tells: same file (device and inode), size and modification time.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// stream reads a file sequentially through a window that grows to hold the largest value.
type stream struct {
	r        io.Reader
	buf      []byte
	pos, end int   // buf[pos:end] is read but not consumed
	base     int64 // file offset of buf[0]
	eof      bool
	err      error
}

func newStream(r io.Reader) *stream { return &stream{r: r, buf: make([]byte, 1<<20)} }

func (s *stream) off() int64 { return s.base + int64(s.pos) }

// fill reads more input, keeping the unconsumed bytes; false at the end of the input.
func (s *stream) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		switch {
		case err == io.EOF:
			s.eof = true
			return n > 0
		case err != nil:
			s.err = err
			return n > 0
		case n > 0:
			return true
		}
	}
}

// atEnd reports whether all input is consumed.
func (s *stream) atEnd() bool {
	for s.pos >= s.end {
		if !s.fill() {
			return true
		}
	}
	return false
}

// peek skips JSON whitespace and returns the next byte.
func (s *stream) peek() (byte, bool) {
	for {
		for s.pos < s.end {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, true
			}
		}
		if !s.fill() {
			return 0, false
		}
	}
}

func (s *stream) skipBOM() {
	for s.end-s.pos < 3 && s.fill() {
	}
	if bytes.HasPrefix(s.buf[s.pos:s.end], []byte("\xef\xbb\xbf")) {
		s.pos += 3
	}
}

// parse runs fn on the unconsumed bytes, reading more while fn reports errShort, and
// consumes what fn used.
func (s *stream) parse(fn func(b []byte, base int64, atEOF bool) (int, error)) error {
	for {
		atEOF := s.eof
		n, err := fn(s.buf[s.pos:s.end], s.off(), atEOF)
		if err == errShort {
			if s.fill() {
				continue
			}
			if s.err != nil {
				return s.err
			}
			if !atEOF {
				continue // once more, knowing that the input ends here
			}
			return &syntaxError{off: s.base + int64(s.end), msg: "unexpected end of input"}
		}
		if err != nil {
			return err
		}
		s.pos += n
		return nil
	}
}

// skipValue consumes one JSON value without keeping it (a section the source does not
// read); it checks only the structure.
func (s *stream) skipValue() error {
	var k skipper
	for {
		n, done, err := k.feed(s.buf[s.pos:s.end], s.off())
		s.pos += n
		if err != nil || done {
			return err
		}
		if !s.fill() {
			if s.err != nil {
				return s.err
			}
			if k.scalar {
				return nil
			}
			return &syntaxError{off: s.off(), msg: "malformed JSON: unexpected end of input"}
		}
	}
}

type skipper struct {
	started, inStr, esc, scalar bool
	depth                       int
}

func (k *skipper) feed(b []byte, base int64) (int, bool, error) {
	i := 0
	if !k.started {
		if len(b) == 0 {
			return 0, false, nil
		}
		k.started = true
		switch c := b[0]; {
		case c == '{' || c == '[':
			k.depth, i = 1, 1
		case c == '"':
			k.inStr, i = true, 1
		case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
			k.scalar = true
		default:
			return 0, false, &syntaxError{off: base, msg: "malformed JSON: invalid character " + quoteByte(c) + " looking for the beginning of a value"}
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case k.scalar:
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				return i, true, nil
			}
		case k.inStr:
			if k.esc {
				k.esc = false
			} else if c == '\\' {
				k.esc = true
			} else if c == '"' {
				k.inStr = false
				if k.depth == 0 {
					return i + 1, true, nil
				}
			}
		case c == '"':
			k.inStr = true
		case c == '{' || c == '[':
			k.depth++
		case c == '}' || c == ']':
			k.depth--
			if k.depth == 0 {
				return i + 1, true, nil
			}
		}
	}
	return i, false, nil
}

// builder makes a fileIndex in one pass over a file.
type builder struct {
	ctx   context.Context
	cfg   *Config
	path  string
	f     *os.File
	s     *stream
	want  []connectors.ObjectType
	idx   *fileIndex
	p     jsonParser
	canon []byte
	count int
}

// buildIndex indexes the objects of the wanted types in f (described by info).
func buildIndex(ctx context.Context, cfg *Config, path string, f *os.File, info os.FileInfo, want []connectors.ObjectType) (*fileIndex, error) {
	b := &builder{
		ctx: ctx, cfg: cfg, path: path, f: f, want: want,
		s:   newStream(io.NewSectionReader(f, 0, info.Size())),
		idx: &fileIndex{f: f, info: info, types: map[connectors.ObjectType]*typeIndex{}},
	}
	for _, t := range want {
		b.idx.types[t] = &typeIndex{ordered: true}
	}
	b.s.skipBOM()
	var err error
	if isCSV(path) {
		err = b.csv(want[0])
	} else {
		err = b.json()
	}
	if err == nil {
		err = b.finish()
	}
	b.idx.keys, b.idx.hint = b.p.keys, b.p.hint
	if err != nil {
		return nil, b.wrap(err)
	}
	return b.idx, nil
}

// wrap turns err into a connector error naming the file and line.
func (b *builder) wrap(err error) error {
	var ce *connectors.Error
	var se *syntaxError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &se):
		msg := se.msg
		if !isCSV(b.path) && !strings.HasPrefix(msg, "malformed JSON") {
			msg = "malformed JSON: " + msg
		}
		return b.errAt(se.off, "%s", msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("read %s: %v", b.path, err)}
	}
}

// errAt is an invalid-data error at a byte offset: "path:line: message" for CSV,
// "path:line:column: message" for JSON (whose files may be a single line).
func (b *builder) errAt(off int64, format string, args ...any) *connectors.Error {
	line, col := lineAt(b.f, off)
	pos := strconv.Itoa(line)
	if !isCSV(b.path) {
		pos += ":" + strconv.Itoa(col)
	}
	return &connectors.Error{Class: connectors.ClassInvalid, Message: b.path + ":" + pos + ": " + fmt.Sprintf(format, args...)}
}

// lineAt returns the 1-based line and byte column of offset off of f.
func lineAt(f *os.File, off int64) (line, col int) {
	buf := make([]byte, 64<<10)
	line, lineStart := 1, int64(0)
	for pos := int64(0); pos < off; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), off-pos)], pos)
		for i, c := range buf[:n] {
			if c == '\n' {
				line++
				lineStart = pos + int64(i) + 1
			}
		}
		pos += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	return line, int(off-lineStart) + 1
}

func (b *builder) unexpectedEnd() error {
	if b.s.err != nil {
		return b.s.err
	}
	return &syntaxError{off: b.s.off(), msg: "malformed JSON: unexpected end of input"}
}

func (b *builder) json() error {
	s := b.s
	c, ok := s.peek()
	if !ok {
		if s.err != nil {
			return s.err
		}
		return b.errAt(s.off(), "empty file, want a JSON array or object")
	}
	switch c {
	case '[':
		if len(b.want) != 1 {
			return b.errAt(s.off(), `a file read for both users and groups must hold an object {"users":[...],"groups":[...]}, not an array`)
		}
		if err := b.array(b.want[0]); err != nil {
			return err
		}
	case '{':
		s.pos++
		seen := map[connectors.ObjectType]bool{}
		for first := true; ; first = false {
			c, ok := s.peek()
			if !ok {
				return b.unexpectedEnd()
			}
			if c == '}' && first {
				s.pos++
				break
			}
			if c != '"' {
				return b.errAt(s.off(), "malformed JSON: invalid character %s looking for the beginning of an object key", quoteByte(c))
			}
			keyOff := s.off()
			var key string
			if err := s.parse(func(buf []byte, base int64, _ bool) (int, error) {
				b.p.reset(buf, base)
				kb, err := b.p.stringBytes()
				key = string(kb)
				return b.p.i, err
			}); err != nil {
				return err
			}
			if c, ok = s.peek(); !ok {
				return b.unexpectedEnd()
			}
			if c != ':' {
				return b.errAt(s.off(), "malformed JSON: invalid character %s after an object key", quoteByte(c))
			}
			s.pos++
			typ, wanted := b.section(key)
			if wanted {
				if seen[typ] {
					return b.errAt(keyOff, "a second %q section", key)
				}
				seen[typ] = true
				if c, ok = s.peek(); !ok {
					return b.unexpectedEnd()
				}
				if c != '[' {
					return b.errAt(s.off(), "%q is %s, want an array of objects", key, kindOfByte(c))
				}
				if err := b.array(typ); err != nil {
					return err
				}
			} else {
				if _, ok := s.peek(); !ok {
					return b.unexpectedEnd()
				}
				if err := s.skipValue(); err != nil {
					return err
				}
			}
			if c, ok = s.peek(); !ok {
				return b.unexpectedEnd()
			}
			if c == '}' {
				s.pos++
				break
			}
			if c != ',' {
				return b.errAt(s.off(), "malformed JSON: invalid character %s after an object member", quoteByte(c))
			}
			s.pos++
		}
		for _, t := range b.want {
			if !seen[t] {
				return b.errAt(0, "no %q array in the object", sectionName(t))
			}
		}
	default:
		return b.errAt(s.off(), "the file holds %s, want a JSON array or object", kindOfByte(c))
	}
	if _, ok := s.peek(); ok {
		return b.errAt(s.off(), "malformed JSON: data after the end of the top-level value")
	}
	return s.err
}

// section maps a top-level key of a combined file to the type it holds, if wanted.
func (b *builder) section(key string) (connectors.ObjectType, bool) {
	for _, t := range b.want {
		if strings.EqualFold(key, sectionName(t)) {
			return t, true
		}
	}
	return "", false
}

func sectionName(t connectors.ObjectType) string {
	if t == connectors.TypeGroup {
		return "groups"
	}
	return "users"
}

func kindOfByte(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid character " + quoteByte(c)
}

// array indexes the array of objects at the stream's position.
func (b *builder) array(typ connectors.ObjectType) error {
	s := b.s
	s.pos++ // '['
	c, ok := s.peek()
	if !ok {
		return b.unexpectedEnd()
	}
	if c == ']' {
		s.pos++
		return nil
	}
	top := &topInfo{typ: typ, idAttr: b.cfg.IDAttribute}
	b.p.learnKeys = 1000 // exports repeat their keys: learn them from the first objects
	var raw uint64
	parse := func(buf []byte, base int64, _ bool) (int, error) {
		b.p.reset(buf, base)
		top.idKind, top.idStr, top.name, top.manager = 0, "", "", ""
		var err error
		if b.canon, err = b.p.encObject(b.canon[:0], top); err != nil {
			return 0, err
		}
		raw = xxh64(buf[:b.p.i])
		return b.p.i, nil
	}
	for k := 1; ; k++ {
		if c, ok = s.peek(); !ok {
			return b.unexpectedEnd()
		}
		off := s.off()
		if c != '{' {
			return b.errAt(off, "element %d of the %s array is %s, want an object", k, sectionName(typ), kindOfByte(c))
		}
		if err := s.parse(parse); err != nil {
			return err
		}
		id, err := anchorValue(top.anchor(), b.cfg.IDAttribute)
		if err != nil {
			return b.errAt(off, "%v", err)
		}
		if err := b.add(typ, entry{id: id, name: top.name, mgr: top.manager, hash: xxh64(b.canon), raw: raw, off: off}, s.off()-off); err != nil {
			return err
		}
		if c, ok = s.peek(); !ok {
			return b.unexpectedEnd()
		}
		switch c {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return b.errAt(s.off(), "malformed JSON: invalid character %s after an array element", quoteByte(c))
		}
	}
}

func (b *builder) csv(typ connectors.ObjectType) error {
	s := b.s
	var fields [][]byte
	var scratch []byte
	var raw uint64
	record := func() (int64, error) {
		for !s.atEnd() {
			off := s.off()
			var got [][]byte
			if err := s.parse(func(buf []byte, base int64, atEOF bool) (int, error) {
				f, n, err := parseRecord(buf, atEOF, base, fields, &scratch)
				if err == nil {
					got = f
					raw = xxh64(buf[:n])
				}
				return n, err
			}); err != nil {
				return off, err
			}
			if got != nil {
				fields = got
				return off, nil
			}
		}
		return s.off(), io.EOF
	}
	hoff, err := record()
	if err == io.EOF {
		return b.errAt(0, "empty file, want a header row")
	}
	if err != nil {
		return err
	}
	layout, err := newCSVLayout(fields, typ, b.cfg)
	if err != nil {
		return b.errAt(hoff, "%v", err)
	}
	b.idx.csv = layout
	for {
		off, err := record()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(fields) != len(layout.cols) {
			return b.errAt(off, "wrong number of fields: %d, the header has %d", len(fields), len(layout.cols))
		}
		if b.canon, err = layout.encode(b.canon[:0], fields); err != nil {
			return b.errAt(off, "%v", err)
		}
		idb := fields[layout.idCol]
		if len(bytes.TrimSpace(idb)) == 0 {
			return b.errAt(off, "missing anchor: %q is empty", b.cfg.IDAttribute)
		}
		e := entry{id: string(idb), hash: xxh64(b.canon), raw: raw, off: off}
		if layout.nameCol >= 0 {
			e.name = string(fields[layout.nameCol])
		}
		if layout.mgrCol >= 0 {
			e.mgr = string(fields[layout.mgrCol])
		}
		if err := b.add(typ, e, s.off()-off); err != nil {
			return err
		}
	}
}

// add records one object.
func (b *builder) add(typ connectors.ObjectType, e entry, n int64) error {
	if b.count++; b.count%4096 == 0 {
		if err := b.ctx.Err(); err != nil {
			return err
		}
	}
	if n > 1<<31-1 {
		return b.errAt(e.off, "object larger than 2 GiB")
	}
	e.n = int32(n)
	t := b.idx.types[typ]
	if t.ordered && len(t.entries) > 0 && e.id <= t.entries[len(t.entries)-1].id {
		t.ordered = false
	}
	t.entries = append(t.entries, e)
	return nil
}

// finish sorts every type's entries by id, rejects duplicate anchors and works out the
// order a full read emits them in.
func (b *builder) finish() error {
	for _, typ := range b.want {
		t := b.idx.types[typ]
		if !t.ordered { // strictly increasing ids: sorted already, no duplicates
			slices.SortStableFunc(t.entries, func(x, y entry) int { return strings.Compare(x.id, y.id) })
			for i := 1; i < len(t.entries); i++ {
				if t.entries[i].id == t.entries[i-1].id {
					first, second := t.entries[i-1], t.entries[i]
					if first.off > second.off {
						first, second = second, first
					}
					line, _ := lineAt(b.f, first.off)
					return b.errAt(second.off, "duplicate anchor %s %q (first on line %d)", b.cfg.IDAttribute, second.id, line)
				}
			}
		}
		t.order = managerOrder(t.entries)
	}
	return nil
}

// managerOrder returns the order a full read emits sorted entries in: level by level of
// the manager tree — users whose manager is not in the file first, then their reports,
// then theirs — and by anchor within a level. An initial cycle then finds each user's
// manager already provisioned (or in the batch just before) and sets it on create,
// instead of creating the user without one and sending a second request for the manager
// once it exists. nil when no entry's manager is in the file: anchor order. A cycle of
// managers is cut where the walk meets it. It clears the entries' mgr fields.
func managerOrder(es []entry) []int32 {
	mgr := make([]int32, len(es)) // index of the manager's entry, -1 for none
	found := false
	for i := range es {
		mgr[i] = -1
		if m := es[i].mgr; m != "" && m != es[i].id {
			if j, ok := slices.BinarySearchFunc(es, m, func(e entry, id string) int { return strings.Compare(e.id, id) }); ok {
				mgr[i], found = int32(j), true
			}
		}
		es[i].mgr = ""
	}
	if !found {
		return nil
	}
	const unknown, visiting = -1, -2
	depth := make([]int32, len(es))
	for i := range depth {
		depth[i] = unknown
	}
	var stack []int32
	maxDepth := int32(0)
	for i := range es {
		// Walk up the chain of managers to a root, a known depth or a cycle, then assign
		// the depths on the way back down.
		for k := int32(i); depth[k] == unknown; {
			depth[k] = visiting
			stack = append(stack, k)
			if mgr[k] < 0 {
				break
			}
			k = mgr[k]
		}
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			d := int32(0) // a root, or where the walk closed a cycle
			if m := mgr[s]; m >= 0 && depth[m] >= 0 {
				d = depth[m] + 1
			}
			depth[s] = d
			maxDepth = max(maxDepth, d)
		}
	}
	// A counting sort by depth, stable: anchor order within a level.
	start := make([]int32, maxDepth+2)
	for _, d := range depth {
		start[d+1]++
	}
	for d := 1; d < len(start); d++ {
		start[d] += start[d-1]
	}
	order := make([]int32, len(es))
	for i, d := range depth {
		order[start[d]] = int32(i)
		start[d]++
	}
	return order
}

// anchorOf returns the object's anchor: a non-blank string or an integral number.
func anchorOf(a connectors.Attributes, attr string) (string, error) {
	return anchorValue(a[attr], attr)
}

func anchorValue(v any, attr string) (string, error) {
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("missing anchor: %q is empty", attr)
		}
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case nil:
		return "", fmt.Errorf("missing anchor: no %q", attr)
	default:
		return "", fmt.Errorf("anchor %q is %s, want a string", attr, kindOf(v))
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case float64:
		return "a fractional number"
	case []string, []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func isCSV(path string) bool { return strings.EqualFold(extOf(path), ".csv") }

func extOf(path string) string {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || strings.ContainsAny(path[i:], `/\`) {
		return ""
	}
	return path[i:]
}
