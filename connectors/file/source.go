// Package file is a source connector for HR exports: a JSON or CSV file of users and
// optionally one of groups (or one JSON file holding both), rewritten by the HR system
// from time to time.
//
// A file has no change feed, so the source computes one, the way Entra's inbound
// provisioning does for CSV uploads: every read stores a snapshot of what it saw (per
// object: anchor, content hash, display name) under Config.StateDir, named by its
// watermark, and an incremental read diffs the file against the snapshot of the watermark
// it is given. Changes come out sorted by anchor, except that a full read emits users
// level by level of the manager tree (those without a manager in the file first, then
// their reports, by anchor within a level), so that an initial cycle sets each user's
// manager on create instead of sending a second request once the manager exists. Either
// way the same file and watermark always give the same changes in the same order (the
// engine resumes cycles by position).
//
// JSON files are an array of objects, or an object {"users":[...],"groups":[...]}. Values
// keep their JSON types: strings, booleans, numbers (int64 when integral, else float64),
// arrays of strings ([]string; other arrays []any), objects (map[string]any); null is no
// value. CSV files have a header row naming the attributes; cells are strings except: an
// empty cell is no value, "accountEnabled" is parsed as a boolean, and a group's "members"
// and every column in Config.MultiValued are split on Config.MultiValueSeparator into
// []string. A user's "manager" and a group's "members" hold anchors of users; integral
// JSON numbers there are turned into strings like anchors are.
//
// Memory: the source keeps an index of about 100 bytes per object (not the objects) and
// parses the objects a read emits again from the file: a full read of a million users
// (390 MB of JSON) peaks at about 290 MB resident.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// Config configures a Source.
type Config struct {
	// Users is the path of the users export: .json (an array of objects, or
	// {"users":[...],"groups":[...]}) or .csv.
	Users string `json:"users" yaml:"users"`
	// Groups is the optional path of the groups export (.json array or object, or .csv). It
	// may equal Users for a combined JSON file. Without it the source has no groups.
	Groups string `json:"groups,omitempty" yaml:"groups,omitempty"`
	// IDAttribute is the anchor column or field (default "id"); every object must have
	// one, unique within its type.
	IDAttribute string `json:"idAttribute,omitempty" yaml:"idAttribute,omitempty"`
	// StateDir is where snapshots are kept; incremental reads need it (without it every
	// read is full and returns no watermark). Use one directory per source: snapshots are
	// pruned per type.
	StateDir string `json:"stateDir,omitempty" yaml:"stateDir,omitempty"`
	// MultiValueSeparator splits multi-valued CSV cells (default ";").
	MultiValueSeparator string `json:"multiValueSeparator,omitempty" yaml:"multiValueSeparator,omitempty"`
	// MultiValued names further CSV columns that are multi-valued (a group's "members"
	// always is).
	MultiValued []string `json:"multiValued,omitempty" yaml:"multiValued,omitempty"`
}

// Source reads an HR export. It implements connectors.Source and connectors.Estimator and
// is safe for concurrent use.
type Source struct {
	cfg    Config
	slots  map[connectors.ObjectType]*slot
	typeMu map[connectors.ObjectType]*sync.Mutex // one read per type at a time (snapshots)
	now    func() time.Time

	mu     sync.Mutex
	closed bool
}

var (
	_ connectors.Source    = (*Source)(nil)
	_ connectors.Estimator = (*Source)(nil)
)

// New validates cfg and returns a source. It does not touch the files: Test does.
func New(cfg Config) (*Source, error) {
	cfg.Users = strings.TrimSpace(cfg.Users)
	cfg.Groups = strings.TrimSpace(cfg.Groups)
	cfg.IDAttribute = strings.TrimSpace(cfg.IDAttribute)
	if cfg.IDAttribute == "" {
		cfg.IDAttribute = "id"
	}
	if cfg.MultiValueSeparator == "" {
		cfg.MultiValueSeparator = ";"
	}
	if cfg.Users == "" {
		return nil, errors.New("file source: users: a path is required")
	}
	if err := checkExt("users", cfg.Users); err != nil {
		return nil, err
	}
	if cfg.Groups != "" {
		if err := checkExt("groups", cfg.Groups); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(cfg.MultiValueSeparator, "\"\r\n") {
		return nil, fmt.Errorf("file source: multiValueSeparator %q: must not contain quotes or line breaks", cfg.MultiValueSeparator)
	}
	for _, m := range cfg.MultiValued {
		if strings.TrimSpace(m) == "" {
			return nil, errors.New("file source: multiValued: empty column name")
		}
	}
	s := &Source{
		cfg:    cfg,
		slots:  map[connectors.ObjectType]*slot{},
		typeMu: map[connectors.ObjectType]*sync.Mutex{connectors.TypeUser: {}, connectors.TypeGroup: {}},
		now:    time.Now,
	}
	users := &slot{src: s, path: cfg.Users, types: []connectors.ObjectType{connectors.TypeUser}}
	s.slots[connectors.TypeUser] = users
	if cfg.Groups != "" {
		if filepath.Clean(cfg.Groups) == filepath.Clean(cfg.Users) {
			if isCSV(cfg.Users) {
				return nil, fmt.Errorf("file source: groups: %q is the users file; only a JSON file can hold both ({\"users\":[...],\"groups\":[...]})", cfg.Groups)
			}
			users.types = append(users.types, connectors.TypeGroup)
			s.slots[connectors.TypeGroup] = users
		} else {
			s.slots[connectors.TypeGroup] = &slot{src: s, path: cfg.Groups, types: []connectors.ObjectType{connectors.TypeGroup}}
		}
	}
	return s, nil
}

func checkExt(field, path string) error {
	switch strings.ToLower(extOf(path)) {
	case ".json", ".csv":
		return nil
	}
	return fmt.Errorf("file source: %s: %q: unsupported file type, want .json or .csv", field, path)
}

// slot caches the index of one file.
type slot struct {
	src   *Source
	path  string
	types []connectors.ObjectType

	mu     sync.Mutex
	idx    *fileIndex
	builds int // how many times the file was indexed (tests)
}

// open returns the index of the file now at the slot's path (with a reference the caller
// releases), indexing the file unless the cached index describes the same file: same
// device and inode, size and modification time.
func (sl *slot) open(ctx context.Context) (*fileIndex, error) {
	fi, err := os.Stat(sl.path)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("open %s: %v", sl.path, unwrapPath(err))}
	}
	if fi.IsDir() {
		return nil, &connectors.Error{Class: connectors.ClassConnection, Message: sl.path + " is a directory"}
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.src.isClosed() {
		return nil, errClosed
	}
	if sl.idx != nil && sameFile(sl.idx.info, fi) {
		sl.idx.acquire()
		return sl.idx, nil
	}
	if old := sl.idx; old != nil {
		sl.idx = nil
		old.release()
	}
	f, err := os.Open(sl.path)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("open %s: %v", sl.path, unwrapPath(err))}
	}
	info, err := f.Stat() // the index describes the file opened, whatever the path holds now
	if err != nil {
		f.Close()
		return nil, &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("stat %s: %v", sl.path, err)}
	}
	idx, err := buildIndex(ctx, &sl.src.cfg, sl.path, f, info, sl.types)
	if err != nil {
		f.Close()
		return nil, err
	}
	idx.refs.Store(2) // the slot's and the caller's
	sl.idx = idx
	sl.builds++
	return idx, nil
}

// invalidate drops the cached index if it is idx.
func (sl *slot) invalidate(idx *fileIndex) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.idx == idx {
		sl.idx = nil
		idx.release()
	}
}

// drop releases the cached index.
func (sl *slot) drop() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.idx != nil {
		sl.idx.release()
		sl.idx = nil
	}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// view is the index of an export file (held open) and the objects of one type in it.
type view struct {
	sl  *slot
	idx *fileIndex
	t   *typeIndex
}

func (v *view) close() {
	if v.idx != nil {
		v.idx.release()
	}
}

var emptyType = &typeIndex{ordered: true}

var errClosed = &connectors.Error{Class: connectors.ClassConnection, Message: "file source is closed"}

func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// open returns the view of type typ. A type without a file (no Groups configured) has no
// objects.
func (s *Source) open(ctx context.Context, typ connectors.ObjectType) (*view, error) {
	if !typ.Valid() {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Message: fmt.Sprintf("file source: unknown object type %q", typ)}
	}
	if s.isClosed() {
		return nil, errClosed
	}
	sl := s.slots[typ]
	if sl == nil {
		return &view{t: emptyType}, nil
	}
	idx, err := sl.open(ctx)
	if err != nil {
		return nil, err
	}
	return &view{sl: sl, idx: idx, t: idx.types[typ]}, nil
}

// Test checks that the files exist and parse, and that StateDir is usable.
func (s *Source) Test(ctx context.Context) error {
	for _, typ := range []connectors.ObjectType{connectors.TypeUser, connectors.TypeGroup} {
		v, err := s.open(ctx, typ)
		if err != nil {
			return err
		}
		v.close()
	}
	if dir := s.cfg.StateDir; dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("state directory: %v", err)}
		}
		f, err := os.CreateTemp(dir, ".test-*.tmp")
		if err != nil {
			return &connectors.Error{Class: connectors.ClassConnection, Message: fmt.Sprintf("state directory %s is not writable: %v", dir, unwrapPath(err))}
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}

// Read emits every object (full read) or the changes since req.Watermark, sorted by
// anchor: upserts first, then deletes. It stores the snapshot of the file's content
// before emitting and returns its watermark.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	v, err := s.open(ctx, req.Type)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	defer v.close()
	mu := s.typeMu[req.Type]
	mu.Lock()
	defer mu.Unlock()

	dir := s.cfg.StateDir
	var snap *snapshot
	if req.Watermark != "" && dir != "" {
		snap, _ = loadSnapshot(dir, req.Watermark, req.Type) // missing or corrupt: full read
	}
	res := connectors.ReadResult{Full: snap == nil}
	if dir != "" {
		wm, err := writeSnapshot(dir, req.Type, v.t.entries, s.now())
		if err != nil {
			return connectors.ReadResult{}, &connectors.Error{Class: connectors.ClassRetryable, Message: fmt.Sprintf("write snapshot: %v", err)}
		}
		if err := retain(dir, req.Type, req.Watermark, snap != nil, wm); err != nil {
			return connectors.ReadResult{}, &connectors.Error{Class: connectors.ClassRetryable, Message: err.Error()}
		}
		res.Watermark = wm
	}

	r := newObjReader(v, req.Type, res.Full && v.t.ordered)
	n := 0
	upsert := func(i int) error {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		obj, err := r.read(&v.t.entries[i])
		if err != nil {
			return err
		}
		return emit(connectors.Change{Kind: connectors.ChangeUpsert, Object: obj})
	}
	if res.Full {
		if v.t.order != nil {
			for _, i := range v.t.order {
				if err := upsert(int(i)); err != nil {
					return connectors.ReadResult{}, err
				}
			}
			return res, nil
		}
		for i := range v.t.entries {
			if err := upsert(i); err != nil {
				return connectors.ReadResult{}, err
			}
		}
		return res, nil
	}
	gone, _, err := diff(v.t.entries, snap, upsert, true)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	for _, g := range gone {
		obj := connectors.Object{Type: req.Type, ID: g.id}
		if g.name != "" {
			obj.Attributes = connectors.Attributes{connectors.AttrDisplayName: g.name}
		}
		if err := emit(connectors.Change{Kind: connectors.ChangeDelete, Object: obj}); err != nil {
			return connectors.ReadResult{}, err
		}
	}
	return res, nil
}

// Estimate returns how many changes a Read of req would emit now.
func (s *Source) Estimate(ctx context.Context, req connectors.ReadRequest) (int64, error) {
	v, err := s.open(ctx, req.Type)
	if err != nil {
		return 0, err
	}
	defer v.close()
	if req.Watermark == "" || s.cfg.StateDir == "" {
		return int64(len(v.t.entries)), nil
	}
	snap, err := loadSnapshot(s.cfg.StateDir, req.Watermark, req.Type)
	if err != nil {
		return int64(len(v.t.entries)), nil
	}
	var ups int64
	_, gone, _ := diff(v.t.entries, snap, func(int) error { ups++; return nil }, false)
	return ups + int64(gone), nil
}

// Get returns one object by anchor.
func (s *Source) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	v, err := s.open(ctx, typ)
	if err != nil {
		return connectors.Object{}, err
	}
	defer v.close()
	i, ok := v.t.find(id)
	if !ok {
		where := "the export"
		if v.sl != nil {
			where = v.sl.path
		}
		return connectors.Object{}, &connectors.Error{Class: connectors.ClassNotFound, Message: fmt.Sprintf("%s %q not found in %s", typ, id, where)}
	}
	return newObjReader(v, typ, false).read(&v.t.entries[i])
}

// Close drops the cached indexes; later calls fail.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, sl := range s.slots {
		sl.drop()
	}
	return nil
}

// objReader parses indexed objects again from their bytes.
type objReader struct {
	v      *view
	typ    connectors.ObjectType
	window bool // read ahead: the entries are read in file order
	buf    []byte
	bufOff int64
	bufLen int
	p      jsonParser
	fields [][]byte
	scr    []byte
}

func newObjReader(v *view, typ connectors.ObjectType, sequential bool) *objReader {
	r := &objReader{v: v, typ: typ, window: sequential}
	if v.idx != nil {
		r.p.keys, r.p.frozen, r.p.hint = v.idx.keys, true, v.idx.hint
	}
	return r
}

const readAhead = 256 << 10

func (r *objReader) bytes(off int64, n int) ([]byte, error) {
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(r.bufLen) {
		return r.buf[off-r.bufOff:][:n], nil
	}
	size := n
	if r.window {
		size = max(n, readAhead)
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	m, err := r.v.idx.f.ReadAt(r.buf, off)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.bufOff, r.bufLen = off, m
	return r.buf[:n], nil
}

// read returns the object of e, checking that its bytes are still those indexed, so that
// what is emitted is what the snapshot records.
func (r *objReader) read(e *entry) (connectors.Object, error) {
	b, err := r.bytes(e.off, int(e.n))
	var attrs connectors.Attributes
	if err == nil && xxh64(b) != e.raw {
		err = errors.New("its bytes differ from the indexed ones")
	}
	if err == nil {
		if l := r.v.idx.csv; l != nil {
			var fields [][]byte
			if fields, _, err = parseRecord(b, true, e.off, r.fields, &r.scr); err == nil {
				r.fields = fields
				attrs, err = l.attributes(fields)
			}
		} else {
			r.p.reset(b, e.off)
			if attrs, err = r.p.object(); err == nil {
				normalizeRefs(r.typ, attrs)
			}
		}
	}
	if err != nil {
		r.v.sl.invalidate(r.v.idx)
		return connectors.Object{}, &connectors.Error{Class: connectors.ClassRetryable,
			Message: fmt.Sprintf("%s changed while it was read (%v); replace export files atomically (write a new file and rename it)", r.v.sl.path, err)}
	}
	return connectors.Object{Type: r.typ, ID: e.id, Attributes: attrs}, nil
}
