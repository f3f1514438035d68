package scim

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// snapshot is the state behind a source watermark: the content hash of every object seen.
type snapshot struct {
	ID              string                `json:"id"`
	Type            connectors.ObjectType `json:"type"`
	Created         time.Time             `json:"created"`
	MaxLastModified string                `json:"maxLastModified,omitempty"`
	Entries         map[string]uint64     `json:"entries"`
}

func newSnapshot(typ connectors.ObjectType) *snapshot {
	var r [4]byte
	_, _ = rand.Read(r[:])
	now := time.Now().UTC()
	return &snapshot{
		// Time first, fixed width: ids sort by creation.
		ID:      fmt.Sprintf("%016x%08x", uint64(now.UnixNano()), binary.BigEndian.Uint32(r[:])),
		Type:    typ,
		Created: now,
		Entries: map[string]uint64{},
	}
}

func validSnapshotID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// keepSnapshots is how many snapshots per type are kept: the newest is what the last
// watermark names; older ones cover a watermark the engine never committed (a crash
// between Read and commit).
const keepSnapshots = 3

// snapshotStore keeps snapshots in files under dir (atomic rename), or in memory.
type snapshotStore struct {
	dir string
	key string // distinguishes sources sharing dir
	mu  sync.Mutex
	mem map[connectors.ObjectType][]*snapshot
}

func newSnapshotStore(dir, baseURL string) *snapshotStore {
	h := fnv.New64a()
	h.Write([]byte(baseURL))
	return &snapshotStore{dir: dir, key: fmt.Sprintf("%016x", h.Sum64()), mem: map[connectors.ObjectType][]*snapshot{}}
}

func (s *snapshotStore) prefix(typ connectors.ObjectType) string {
	return "scim-" + s.key + "-" + strings.ToLower(string(typ)) + "-"
}

func (s *snapshotStore) file(typ connectors.ObjectType, id string) string {
	return filepath.Join(s.dir, s.prefix(typ)+id+".json")
}

// load returns the snapshot, or nil when it does not exist (any more).
func (s *snapshotStore) load(typ connectors.ObjectType, id string) (*snapshot, error) {
	if !validSnapshotID(id) {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		for _, snap := range s.mem[typ] {
			if snap.ID == id {
				return snap, nil
			}
		}
		return nil, nil
	}
	b, err := os.ReadFile(s.file(typ, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassRetryable, Code: "InternalError",
			Message: "reading the source snapshot: " + unwrapPathError(err).Error()}
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil || snap.ID != id || snap.Type != typ || snap.Entries == nil {
		return nil, nil // corrupt: treat as expired (full read)
	}
	return &snap, nil
}

func (s *snapshotStore) save(snap *snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		list := append(s.mem[snap.Type], snap)
		if len(list) > keepSnapshots {
			list = append([]*snapshot(nil), list[len(list)-keepSnapshots:]...)
		}
		s.mem[snap.Type] = list
		return nil
	}
	fail := func(err error) error {
		return &connectors.Error{Class: connectors.ClassRetryable, Code: "InternalError",
			Message: "writing the source snapshot: " + unwrapPathError(err).Error()}
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(s.dir, ".scim-snapshot-*")
	if err != nil {
		return fail(err)
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), s.file(snap.Type, snap.ID))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fail(werr)
	}
	// Prune older snapshots of this type.
	matches, _ := filepath.Glob(filepath.Join(s.dir, s.prefix(snap.Type)+"*.json"))
	sort.Strings(matches)
	for len(matches) > keepSnapshots {
		os.Remove(matches[0])
		matches = matches[1:]
	}
	return nil
}
