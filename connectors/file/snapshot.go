package file

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// A snapshot records what a read saw: for every object (in id order) its id, content hash
// and display name. Its name is the watermark the read returned:
//
//	<type prefix>-<first 8 bytes of the SHA-256 of the snapshot, hex>   e.g. users-5f0c1a2b3c4d5e6f
//
// so identical content gives the same watermark and file. Format (little endian):
//
//	"PVDSNAP1" | type byte ('U' or 'G') | uvarint count |
//	count × (uvarint len, id | 8-byte hash | uvarint len, display name) | SHA-256 of all before
//
// Files are written to a temporary name, synced and renamed.

const (
	snapMagic  = "PVDSNAP1"
	snapExt    = ".snap"
	hashLen    = 8
	wmHexLen   = 16
	sumLen     = sha256.Size
	minSnapLen = len(snapMagic) + 1 + 1 + sumLen
)

func snapTypeByte(t connectors.ObjectType) byte {
	if t == connectors.TypeGroup {
		return 'G'
	}
	return 'U'
}

// validWatermark reports whether wm has the form this source gives for type t.
func validWatermark(wm string, t connectors.ObjectType) bool {
	prefix := sectionName(t) + "-"
	if !strings.HasPrefix(wm, prefix) || len(wm) != len(prefix)+wmHexLen {
		return false
	}
	for _, c := range wm[len(prefix):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func snapPath(dir, wm string) string { return filepath.Join(dir, wm+snapExt) }

// snapshot is a loaded, verified snapshot file.
type snapshot struct {
	body  []byte // the entries
	count int
}

var errCorrupt = errors.New("corrupt snapshot")

// loadSnapshot reads and verifies the snapshot of watermark wm for type t.
func loadSnapshot(dir, wm string, t connectors.ObjectType) (*snapshot, error) {
	if !validWatermark(wm, t) {
		return nil, errCorrupt
	}
	data, err := os.ReadFile(snapPath(dir, wm))
	if err != nil {
		return nil, err
	}
	if len(data) < minSnapLen || string(data[:len(snapMagic)]) != snapMagic || data[len(snapMagic)] != snapTypeByte(t) {
		return nil, errCorrupt
	}
	content, sum := data[:len(data)-sumLen], data[len(data)-sumLen:]
	got := sha256.Sum256(content)
	if !bytes.Equal(got[:], sum) || hex.EncodeToString(got[:hashLen]) != wm[len(wm)-wmHexLen:] {
		return nil, errCorrupt
	}
	rest := content[len(snapMagic)+1:]
	count, n := binary.Uvarint(rest)
	if n <= 0 || count > uint64(len(rest)) {
		return nil, errCorrupt
	}
	s := &snapshot{body: rest[n:], count: int(count)}
	// Check the structure once, so that iteration cannot fail half way.
	c := s.cursor()
	var prev []byte
	for range s.count {
		id, _, _, ok := c.next()
		if !ok || (prev != nil && bytes.Compare(prev, id) >= 0) {
			return nil, errCorrupt
		}
		prev = id
	}
	if c.i != len(s.body) {
		return nil, errCorrupt
	}
	return s, nil
}

type snapCursor struct {
	b []byte
	i int
}

func (s *snapshot) cursor() *snapCursor { return &snapCursor{b: s.body} }

// next returns the next entry; the slices alias the snapshot.
func (c *snapCursor) next() (id []byte, h uint64, name []byte, ok bool) {
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(c.b[c.i:])
		if n <= 0 || l > uint64(len(c.b)-c.i-n) {
			return nil, false
		}
		c.i += n
		f := c.b[c.i : c.i+int(l)]
		c.i += int(l)
		return f, true
	}
	if id, ok = field(); !ok {
		return
	}
	if len(c.b)-c.i < hashLen {
		return nil, 0, nil, false
	}
	h = binary.LittleEndian.Uint64(c.b[c.i:])
	c.i += hashLen
	name, ok = field()
	return
}

// diff merges the current entries (sorted) with a snapshot (sorted, verified): it calls
// upsert(i) for every entry that is new or whose hash changed, in id order, and returns
// the snapshot entries that are gone, in id order (only their number unless keep).
func diff(cur []entry, s *snapshot, upsert func(i int) error, keep bool) (gone []snapEntry, goneCount int, err error) {
	c := s.cursor()
	id, h, name, ok := c.next()
	drop := func() {
		goneCount++
		if keep {
			gone = append(gone, snapEntry{string(id), string(name)})
		}
		id, h, name, ok = c.next()
	}
	for i := range cur {
		e := &cur[i]
		for ok && string(id) < e.id {
			drop()
		}
		if ok && string(id) == e.id {
			same := h == e.hash
			id, h, name, ok = c.next()
			if same {
				continue
			}
		}
		if err := upsert(i); err != nil {
			return nil, 0, err
		}
	}
	for ok {
		drop()
	}
	return gone, goneCount, nil
}

type snapEntry struct{ id, name string }

// encodeSnapshot passes the snapshot of entries for type t to w in pieces and returns
// its SHA-256 (which it does not write).
func encodeSnapshot(t connectors.ObjectType, entries []entry, w func([]byte) error) ([]byte, error) {
	sum := sha256.New()
	b := make([]byte, 0, 64<<10)
	b = append(b, snapMagic...)
	b = append(b, snapTypeByte(t))
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		b = binary.AppendUvarint(b, uint64(len(e.id)))
		b = append(b, e.id...)
		b = binary.LittleEndian.AppendUint64(b, e.hash)
		b = binary.AppendUvarint(b, uint64(len(e.name)))
		b = append(b, e.name...)
		if len(b) > 60<<10 || i == len(entries)-1 {
			sum.Write(b)
			if err := w(b); err != nil {
				return nil, err
			}
			b = b[:0]
		}
	}
	if len(b) > 0 { // no entries
		sum.Write(b)
		if err := w(b); err != nil {
			return nil, err
		}
	}
	return sum.Sum(nil), nil
}

// writeSnapshot stores the snapshot of entries for type t in dir, unless a snapshot with
// the same content (hence the same name) exists, and returns its watermark. Either way
// the file's modification time is set to now: it orders snapshots for retention.
func writeSnapshot(dir string, t connectors.ObjectType, entries []entry, now time.Time) (string, error) {
	size := int64(sumLen)
	digest, _ := encodeSnapshot(t, entries, func(b []byte) error { size += int64(len(b)); return nil })
	wm := sectionName(t) + "-" + hex.EncodeToString(digest[:hashLen])
	final := snapPath(dir, wm)
	if fi, err := os.Stat(final); err != nil || fi.Size() != size { // missing or damaged
		if err := createSnapshot(dir, final, t, entries); err != nil {
			return "", err
		}
	}
	if err := os.Chtimes(final, now, now); err != nil {
		return "", err
	}
	return wm, nil
}

// createSnapshot writes a snapshot file through a synced temporary file and a rename.
func createSnapshot(dir, final string, t connectors.ObjectType, entries []entry) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+sectionName(t)+"-*.tmp")
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
	digest, err := encodeSnapshot(t, entries, func(b []byte) error { _, err := w.Write(b); return err })
	if err != nil {
		return err
	}
	if _, err = w.Write(digest); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// retain deletes the snapshots of type t that no Read can need any more. The engine
// persists a watermark only after applying a read's changes, so after Read(called)
// returned current, the next Read is called with current, or (after a crash) with called
// again: both stay. Snapshots older than called belong to watermarks the engine has moved
// past and are deleted. Without a usable called watermark (a full read) the newest other
// snapshot is kept as well: two snapshots per type remain. Left-over temporary files older
// than an hour are removed.
func retain(dir string, t connectors.ObjectType, called string, calledOK bool, current string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type snap struct {
		wm    string
		mtime time.Time
	}
	var snaps []snap
	var calledTime time.Time
	prefix := sectionName(t) + "-"
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, "."+prefix) && strings.HasSuffix(name, ".tmp") {
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		wm, ok := strings.CutSuffix(name, snapExt)
		if !ok || !validWatermark(wm, t) || wm == current {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		if wm == called {
			calledTime = fi.ModTime()
		}
		snaps = append(snaps, snap{wm, fi.ModTime()})
	}
	var errs []error
	remove := func(wm string) {
		if err := os.Remove(snapPath(dir, wm)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if calledOK && !calledTime.IsZero() {
		for _, s := range snaps {
			if s.mtime.Before(calledTime) {
				remove(s.wm)
			}
		}
	} else {
		// No usable called snapshot: a corrupt one goes, the newest other one stays.
		snaps = slices.DeleteFunc(snaps, func(s snap) bool {
			if s.wm == called {
				remove(s.wm)
				return true
			}
			return false
		})
		slices.SortFunc(snaps, func(a, b snap) int {
			if c := b.mtime.Compare(a.mtime); c != 0 {
				return c
			}
			return strings.Compare(b.wm, a.wm)
		})
		for i, s := range snaps {
			if i > 0 {
				remove(s.wm)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove old snapshots: %w", errors.Join(errs...))
	}
	return nil
}
