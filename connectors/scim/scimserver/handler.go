package scimserver

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
)

// reqState carries data between the wrapping handler and the resource handlers of one request
// (the library passes the *http.Request through to the handlers, so the context is the
// channel). The resource handlers record the meta data of every resource they return; the
// wrapper uses it to complete the library's response (see rewrite.go).
type reqState struct {
	filter       *compiledFilter // pre-parsed filter of a list request
	metas        []metaRec       // one per resource in the response, in order
	list         bool
	itemsPerPage int
	version      string // ETag of the single resource a GET/POST/PUT/PATCH answered with
}

type metaRec struct {
	id                string
	created, modified string
}

type ctxKey struct{}

func stateOf(r *http.Request) *reqState {
	if st, ok := r.Context().Value(ctxKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, ctxKey{}, st)
}

// resourceHandler implements scim.ResourceHandler for one kind over its store.
type resourceHandler struct {
	s *Server
	k *kind
}

var _ scim.ResourceHandler = resourceHandler{}

// timeLayout is RFC 3339 with milliseconds, always in UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func etagValue(version uint64) string { return `W/"` + strconv.FormatUint(version, 10) + `"` }

// idNamespace is the UUID namespace of DeterministicIDs.
var idNamespace = uuid.MustParse("6f1c2b9e-3d2a-4c55-9a57-2f1e6c0d8b41")

// nameID returns a name-based (version 5) UUID of the resource type and its userName or
// displayName, lower-cased.
func nameID(kind string, attrs map[string]any) string {
	name, _ := attrs["userName"].(string)
	if name == "" {
		name, _ = attrs["displayName"].(string)
	}
	return uuid.NewSHA1(idNamespace, []byte(kind+"\x00"+strings.ToLower(name))).String()
}

// newID returns a random (version 4) UUID.
func newID() string { return uuid.NewString() }

// prepare turns validated attributes into stored ones: the write-only password is dropped
// (this server never stores or returns it), empty values are dropped, and the required
// attribute must be a non-empty string.
func (k *kind) prepare(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in)+1)
	for key, v := range in {
		if key == "password" || isEmpty(v) {
			continue
		}
		if m, ok := v.(map[string]any); ok && k.ext(key) != nil {
			m = maps.Clone(m)
			maps.DeleteFunc(m, func(_ string, v any) bool { return isEmpty(v) })
			if len(m) == 0 {
				continue
			}
			v = m
		}
		out[key] = v
	}
	if err := k.checkRequired(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (k *kind) checkRequired(attrs map[string]any) error {
	if s, _ := attrs[k.required].(string); s == "" {
		return scimErr(scimerrors.ScimErrorInvalidValue, "%s is required and must be a non-empty string", k.required)
	}
	return nil
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// resource turns a snapshot into the library's Resource, projected per the request's
// attributes/excludedAttributes parameters, and records its meta data for the response
// rewrite.
func (h resourceHandler) resource(st *reqState, proj projection, snap *snapshot) scim.Resource {
	id, _ := snap.attrs["id"].(string)
	st.metas = append(st.metas, metaRec{id: id, created: formatTime(snap.created), modified: formatTime(snap.modified)})
	return scim.Resource{
		ID:         id,
		Attributes: h.k.project(snap.attrs, proj),
		Meta:       scim.Meta{Version: etagValue(snap.version)},
	}
}

func (h resourceHandler) Create(r *http.Request, attributes scim.ResourceAttributes) (scim.Resource, error) {
	attrs, err := h.k.prepare(attributes)
	if err != nil {
		return scim.Resource{}, err
	}
	now := h.s.now()
	id := newID()
	if h.s.opts.DeterministicIDs {
		id = nameID(h.k.name, attrs)
	}
	attrs["id"] = id
	snap := &snapshot{attrs: attrs, created: now, modified: now, version: h.s.nextVersion()}
	if cerr := h.k.st.insert(id, snap); cerr != nil {
		return scim.Resource{}, cerr.scimError()
	}
	st := stateOf(r)
	st.version = etagValue(snap.version)
	return h.resource(st, h.k.projection(r), snap), nil
}

func (h resourceHandler) Get(r *http.Request, id string) (scim.Resource, error) {
	_, snap := h.k.st.get(id)
	if snap == nil {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	st := stateOf(r)
	st.version = etagValue(snap.version)
	return h.resource(st, h.k.projection(r), snap), nil
}

func (h resourceHandler) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	st := stateOf(r)
	st.list = true
	start, count := params.StartIndex-1, params.Count
	var snaps []*snapshot
	total := 0
	if st.filter == nil {
		_, snaps, total = h.k.st.page(start, count)
	} else {
		cands, indexed := h.k.plan(st.filter.expr)
		if !indexed {
			cands = h.k.st.all()
		}
		for _, e := range cands {
			if e == nil {
				continue
			}
			snap := e.cur.Load()
			if snap == nil || !h.k.matches(st.filter, snap) {
				continue
			}
			if total >= start && len(snaps) < count {
				snaps = append(snaps, snap)
			}
			total++
		}
	}
	proj := h.k.projection(r)
	resources := make([]scim.Resource, 0, len(snaps)) // non-nil: "Resources": [] rather than null
	for _, snap := range snaps {
		resources = append(resources, h.resource(st, proj, snap))
	}
	st.itemsPerPage = len(resources)
	return scim.Page{TotalResults: total, Resources: resources}, nil
}

func (h resourceHandler) Replace(r *http.Request, id string, attributes scim.ResourceAttributes) (scim.Resource, error) {
	attrs, err := h.k.prepare(attributes)
	if err != nil {
		return scim.Resource{}, err
	}
	attrs["id"] = id
	snap, err := h.k.st.update(id, r.Header.Get("If-Match"), h.s.now, h.s.nextVersion,
		func(old *snapshot) (map[string]any, bool, error) {
			return attrs, !reflect.DeepEqual(attrs, old.attrs), nil
		})
	if err != nil {
		return scim.Resource{}, h.storeError(id, err)
	}
	st := stateOf(r)
	st.version = etagValue(snap.version)
	return h.resource(st, h.k.projection(r), snap), nil
}

func (h resourceHandler) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	snap, err := h.k.st.update(id, r.Header.Get("If-Match"), h.s.now, h.s.nextVersion,
		func(old *snapshot) (map[string]any, bool, error) {
			p := &patcher{k: h.k, attrs: maps.Clone(old.attrs)}
			if err := p.apply(ops); err != nil {
				return nil, false, err
			}
			if err := h.k.checkRequired(p.attrs); err != nil {
				return nil, false, err
			}
			return p.attrs, !reflect.DeepEqual(p.attrs, old.attrs), nil
		})
	if err != nil {
		return scim.Resource{}, h.storeError(id, err)
	}
	st := stateOf(r)
	st.version = etagValue(snap.version)
	proj := h.k.projection(r)
	if h.k.name == "Group" && proj.empty() {
		// 204 No Content, as Entra expects for group PATCH (the member list can be huge). Asking
		// for attributes or excludedAttributes gets the 200 with the resource instead.
		return scim.Resource{}, nil
	}
	return h.resource(st, proj, snap), nil
}

func (h resourceHandler) Delete(r *http.Request, id string) error {
	if err := h.k.st.remove(id, r.Header.Get("If-Match")); err != nil {
		return h.storeError(id, err)
	}
	return nil
}

func (h resourceHandler) storeError(id string, err error) error {
	var cerr *conflictError
	switch {
	case errors.Is(err, errNotFound):
		return scimerrors.ScimErrorResourceNotFound(id)
	case errors.Is(err, errPrecondition):
		return errPreconditionFailed
	case errors.As(err, &cerr):
		return cerr.scimError()
	}
	return err
}

// errPreconditionFailed is the 412 answer to a stale If-Match. RFC 7644 defines no scimType
// for 412; this server sends "preconditionFailed".
var errPreconditionFailed = scimerrors.ScimError{
	Status:   http.StatusPreconditionFailed,
	ScimType: "preconditionFailed",
	Detail:   "If-Match does not match the resource's current version (ETag); re-read the resource and retry.",
}

func (c *conflictError) Error() string {
	return fmt.Sprintf("%s %q is already in use", c.attr, c.value)
}

func (c *conflictError) scimError() scimerrors.ScimError {
	detail := fmt.Sprintf("%s %q is already in use", c.attr, c.value)
	if strings.EqualFold(c.attr, "userName") || strings.EqualFold(c.attr, "displayName") {
		detail += " (compared case-insensitively)"
	}
	return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness, Detail: detail}
}
