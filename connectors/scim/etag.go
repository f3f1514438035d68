package scim

import (
	"sync"

	"github.com/provisiond/provisiond/connectors"
)

// versionCache remembers the last entity tag seen per resource (used only when the server
// advertises etag support). It is bounded: when full, an arbitrary tenth is forgotten (a
// forgotten version only means one request goes without If-Match).
type versionCache struct {
	mu  sync.Mutex
	m   map[versionKey]string
	max int
}

type versionKey struct {
	typ connectors.ObjectType
	id  string
}

func newVersionCache(max int) *versionCache {
	return &versionCache{m: make(map[versionKey]string), max: max}
}

func (v *versionCache) get(typ connectors.ObjectType, id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[versionKey{typ, id}]
}

func (v *versionCache) set(typ connectors.ObjectType, id, version string) {
	k := versionKey{typ, id}
	v.mu.Lock()
	defer v.mu.Unlock()
	if version == "" {
		delete(v.m, k)
		return
	}
	if _, ok := v.m[k]; !ok && len(v.m) >= v.max {
		drop := v.max / 10
		for key := range v.m {
			if drop <= 0 {
				break
			}
			delete(v.m, key)
			drop--
		}
	}
	v.m[k] = version
}

func (v *versionCache) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.m)
}
