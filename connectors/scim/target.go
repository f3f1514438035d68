package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/google/uuid"
	"net/http"
	"net/url"
	"strings"

	"github.com/provisiond/provisiond/connectors"
)

// maxFindResults bounds how many matches Find returns (the engine only needs to know
// whether there are 0, 1 or more).
const maxFindResults = 1000

func checkType(typ connectors.ObjectType) error {
	if !typ.Valid() {
		return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeBadRequest,
			Message: fmt.Sprintf("unknown object type %q", typ)}
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidAnchor, Message: "empty target id"}
	}
	return nil
}

func (c *Client) resourcePath(caps *Capabilities, typ connectors.ObjectType, id string) string {
	return caps.endpoint(typ) + "/" + url.PathEscape(id)
}

// Test checks the connection the way Entra does: GET /Users?filter=userName eq "<random
// uuid>" must answer 200 with an empty ListResponse. 401 and 403 are ClassUnauthorized;
// an unreachable server ClassConnection; a 404, a non-ListResponse or a non-empty result
// (the server ignores filters) ClassInvalid with code
// SystemForCrossDomainIdentityManagementServiceIncompatible. It then reads the server's
// capabilities.
func (c *Client) Test(ctx context.Context) error {
	const path = "/Users"
	q := "filter=" + url.QueryEscape(`userName eq "`+uuid.NewString()+`"`)
	r, err := c.do(ctx, call{method: http.MethodGet, path: path, query: q, idempotent: true})
	if err != nil {
		ce, ok := asError(err)
		if !ok {
			return err
		}
		switch ce.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			cp := *ce
			cp.Class, cp.Code = connectors.ClassUnauthorized, CodeUnauthorized
			cp.Message = "the SCIM server rejected the credentials (" + ce.Message + ")"
			return &cp
		case http.StatusNotFound:
			cp := *ce
			cp.Class, cp.Code = connectors.ClassInvalid, CodeServiceIncompatible
			cp.Message = "GET " + c.basePath + path + " answered 404: the base URL is wrong or the target is not SCIM compliant (Entra quarantines a job for this)"
			return &cp
		}
		return ce
	}
	defer r.release()
	var lp struct {
		TotalResults *int              `json:"totalResults"`
		Resources    []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(r.body(), &lp); err != nil || (lp.TotalResults == nil && lp.Resources == nil) {
		return c.incompatible(http.MethodGet, path, r.status, r.body(), "a filtered GET /Users did not answer with a SCIM ListResponse")
	}
	if n := len(lp.Resources); n > 0 || (lp.TotalResults != nil && *lp.TotalResults > 0) {
		if lp.TotalResults != nil && *lp.TotalResults > n {
			n = *lp.TotalResults
		}
		return c.incompatible(http.MethodGet, path, r.status, r.body(),
			fmt.Sprintf("a filter on a random userName matched %d users: the server ignores filters", n))
	}
	// Capabilities: credential, connection and compatibility failures count here; a
	// transient failure is left to the operations (discovery is retried lazily).
	if _, err := c.Discover(ctx); err != nil {
		if ce, ok := asError(err); !ok || ce.Class != connectors.ClassRetryable && ce.Class != connectors.ClassThrottled {
			return err
		}
	}
	return nil
}

// Get reads one object by target id.
func (c *Client) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	if err := checkType(typ); err != nil {
		return connectors.TargetObject{}, err
	}
	if err := checkID(id); err != nil {
		return connectors.TargetObject{}, err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	res, version, err := c.getDoc(ctx, &caps, typ, id, "")
	if err != nil {
		return connectors.TargetObject{}, err
	}
	attrs, meta := flatten(res)
	if meta.version == "" {
		meta.version = version
	}
	return connectors.TargetObject{ID: meta.id, Attributes: attrs, Version: meta.version}, nil
}

// getDoc GETs one resource (query may select attributes) and returns it with its version.
func (c *Client) getDoc(ctx context.Context, caps *Capabilities, typ connectors.ObjectType, id, query string) (map[string]any, string, error) {
	path := c.resourcePath(caps, typ, id)
	r, err := c.do(ctx, call{method: http.MethodGet, path: path, query: query, idempotent: true})
	if err != nil {
		return nil, "", err
	}
	defer r.release()
	res, derr := decodeResource(r.body())
	if derr != nil {
		return nil, "", c.incompatible(http.MethodGet, path, r.status, r.body(), "the resource is not a JSON object")
	}
	if rid, _ := res["id"].(string); rid == "" {
		return nil, "", c.incompatible(http.MethodGet, path, r.status, r.body(), "the resource has no id")
	}
	version := r.header.Get("ETag")
	if m, ok := res["meta"].(map[string]any); ok {
		if v, ok := m["version"].(string); ok && v != "" {
			version = v
		}
	}
	if caps.ETag {
		c.versions.set(typ, id, version)
	} else {
		version = ""
	}
	return res, version, nil
}

// Find returns the objects of typ whose attribute attr equals value: GET
// <endpoint>?filter=<attr> eq <literal>&attributes=id,<attr>,... — every match (up to
// 1000), so that the engine can tell 0, 1 and many apart.
func (c *Client) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	f, tmpl, err := c.eqFilter(attr, value)
	if err != nil {
		return nil, err
	}
	if err := c.checkTemplate(tmpl, f); err != nil {
		return nil, err
	}
	return c.find(ctx, typ, f, []string{attr})
}

// FindAll is Find on several attributes at once (an `and` of eq comparisons).
func (c *Client) FindAll(ctx context.Context, typ connectors.ObjectType, match map[string]any) ([]connectors.TargetObject, error) {
	if err := checkType(typ); err != nil {
		return nil, err
	}
	f, tmpl, err := c.andFilter(match)
	if err != nil {
		return nil, err
	}
	if err := c.checkTemplate(tmpl, f); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(match))
	for k := range match {
		names = append(names, k)
	}
	return c.find(ctx, typ, f, names)
}

func (c *Client) find(ctx context.Context, typ connectors.ObjectType, f string, names []string) ([]connectors.TargetObject, error) {
	caps, err := c.capabilities(ctx)
	if err != nil {
		return nil, err
	}
	q := listQuery{
		endpoint:  caps.endpoint(typ),
		filter:    f,
		checked:   true,
		attrQuery: c.attributesQuery(&caps, typ, names),
		pageSize:  c.pageSize(&caps),
		limit:     maxFindResults,
		cursor:    caps.Cursor,
		bareFirst: true,
	}
	var out []connectors.TargetObject
	_, err = c.list(ctx, q, func(res map[string]any) error {
		attrs, meta := flatten(res)
		if caps.ETag && meta.version != "" {
			c.versions.set(typ, meta.id, meta.version)
		}
		out = append(out, connectors.TargetObject{ID: meta.id, Attributes: attrs, Version: meta.version})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// attributesQuery returns "attributes=..." (encoded) for a Find on names, cached: the
// engine matches on the same few attributes millions of times.
func (c *Client) attributesQuery(caps *Capabilities, typ connectors.ObjectType, names []string) string {
	key := attrQueryKey{typ, strings.Join(names, "\x00")} // no allocation for one name
	if v, ok := c.attrQueries.Load(key); ok {
		return v.(string)
	}
	q := "attributes=" + url.QueryEscape(strings.Join(c.selectAttributes(caps, typ, names, true), ","))
	c.attrQueries.Store(key, q)
	return q
}

type attrQueryKey struct {
	typ   connectors.ObjectType
	names string
}

// selectAttributes returns the attributes= list: id, the given names (reduced to top-level
// attributes), the identity attributes, and the configured extra attributes.
func (c *Client) selectAttributes(caps *Capabilities, typ connectors.ObjectType, names []string, identity bool) []string {
	out := []string{"id"}
	add := func(n string) {
		if n == "" || containsFold(out, n) {
			return
		}
		out = append(out, n)
	}
	for _, n := range names {
		if p, err := c.path(n); err == nil {
			add(p.topLevel())
		}
	}
	if identity {
		add("externalId")
		if typ == connectors.TypeGroup {
			add("displayName")
		} else {
			add("userName")
			add("active")
		}
	}
	extra := c.cfg.UserAttributes
	if typ == connectors.TypeGroup {
		extra = c.cfg.GroupAttributes
	}
	for _, n := range extra {
		if p, err := c.path(n); err == nil {
			add(p.topLevel())
		}
	}
	if caps.ETag {
		add("meta")
	}
	return out
}

// List emits every object of typ (the Lister used for bulk matching), with attributes=
// id plus attrs and the identity attributes. Group members are never requested.
func (c *Client) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	if err := checkType(typ); err != nil {
		return err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return err
	}
	q := listQuery{
		endpoint:   caps.endpoint(typ),
		attributes: c.selectAttributes(&caps, typ, attrs, true),
		pageSize:   c.pageSize(&caps),
		cursor:     caps.Cursor,
	}
	_, err = c.list(ctx, q, func(res map[string]any) error {
		a, meta := flatten(res)
		if caps.ETag && meta.version != "" {
			c.versions.set(typ, meta.id, meta.version)
		}
		return emit(connectors.TargetObject{ID: meta.id, Attributes: a, Version: meta.version})
	})
	return err
}

// createdBody is what Create reads from a 201.
type createdBody struct {
	ID   string `json:"id"`
	Meta struct {
		Version string `json:"version"`
	} `json:"meta"`
}

// Create POSTs a new resource built from attrs (groups without members). A POST is never
// repeated blindly: after a timeout, a lost connection or a 5xx the object is re-matched
// (users by userName, then externalId; groups by displayName, then externalId) and, when
// exactly one is found, treated as created. A 409 on the first attempt is a conflict (never
// adopted); on a repeated attempt it leads to the same re-match.
func (c *Client) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	if err := checkType(typ); err != nil {
		return connectors.TargetObject{}, err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	body, err := c.createBody(typ, attrs)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	ep := caps.endpoint(typ)
	for attempt := 0; ; attempt++ {
		r, err := c.do(ctx, call{method: http.MethodPost, path: ep, body: body})
		if err == nil {
			return c.created(&caps, typ, ep, r, attrs)
		}
		ce, ok := asError(err)
		if !ok {
			return connectors.TargetObject{}, err
		}
		retry := maybeApplied(ce)
		if attempt > 0 && ce.Class == connectors.ClassConflict {
			retry = true // our earlier attempt probably created it
		}
		if !retry {
			return connectors.TargetObject{}, err
		}
		obj, found, ferr := c.rematch(ctx, typ, attrs)
		switch {
		case ferr != nil:
			// Cannot tell whether the POST took effect: do not risk a duplicate; the
			// engine retries (and matches first) later.
			return connectors.TargetObject{}, err
		case found:
			c.rematched.Add(1)
			return obj, nil
		}
		if attempt >= c.cfg.MaxRetries || ce.Class == connectors.ClassConflict {
			return connectors.TargetObject{}, err
		}
		if err := c.pause(ctx, attempt, ce.RetryAfter); err != nil {
			return connectors.TargetObject{}, err
		}
	}
}

// createBody encodes the resource for attrs (through the cached plan when it applies).
func (c *Client) createBody(typ connectors.ObjectType, attrs connectors.Attributes) ([]byte, error) {
	if p := c.plan(typ, attrs); p != nil {
		if b, ok := p.encode(make([]byte, 0, 512), attrs); ok {
			return b, nil
		}
	}
	doc, err := c.buildResource(typ, attrs)
	if err != nil {
		if _, ok := asError(err); ok {
			return nil, err
		}
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidValue, Message: err.Error()}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidValue,
			Message: "attributes cannot be encoded as JSON: " + err.Error()}
	}
	return body, nil
}

// maybeApplied: the server may have acted on the request before failing.
func maybeApplied(ce *connectors.Error) bool {
	if ce.Status == http.StatusServiceUnavailable {
		return true
	}
	if ce.Class != connectors.ClassRetryable {
		return false
	}
	switch ce.Code {
	case CodeTimeout, CodeConnectionReset, CodeInternalServerError:
		return true
	}
	return false
}

func (c *Client) created(caps *Capabilities, typ connectors.ObjectType, ep string, r *reply, attrs connectors.Attributes) (connectors.TargetObject, error) {
	defer r.release()
	var b createdBody
	if err := json.Unmarshal(r.body(), &b); err != nil || b.ID == "" {
		return connectors.TargetObject{}, c.incompatible(http.MethodPost, ep, r.status, r.body(), "the create response has no resource id")
	}
	version := b.Meta.Version
	if version == "" {
		version = r.header.Get("ETag")
	}
	if caps.ETag {
		c.versions.set(typ, b.ID, version)
	} else {
		version = ""
	}
	return connectors.TargetObject{ID: b.ID, Attributes: attrs.Clone(), Version: version}, nil
}

// rematch looks for the object a possibly-applied create produced.
func (c *Client) rematch(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, bool, error) {
	keys := []string{"userName", "externalId"}
	if typ == connectors.TypeGroup {
		keys = []string{"displayName", "externalId"}
	}
	for _, k := range keys {
		var v any
		for name, val := range attrs {
			if strings.EqualFold(name, k) {
				v = val
			}
		}
		if v == nil {
			continue
		}
		found, err := c.Find(ctx, typ, k, v)
		if err != nil {
			return connectors.TargetObject{}, false, err
		}
		if len(found) == 1 {
			obj := found[0]
			obj.Attributes = attrs.Clone()
			return obj, true, nil
		}
		if len(found) > 1 {
			return connectors.TargetObject{}, false, nil
		}
	}
	return connectors.TargetObject{}, false, nil
}

// ---- PATCH ----

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

var patchSchemas = []string{schemaPatchOp}

// guardOps refuses a remove of members without a value filter (it would empty the group).
func guardOps(ops []patchOp) error {
	for _, op := range ops {
		if strings.EqualFold(op.Op, "remove") {
			p := strings.TrimSpace(op.Path)
			if p == "" || strings.EqualFold(p, "members") || (strings.HasPrefix(strings.ToLower(p), "members") && !strings.Contains(p, "[")) {
				return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeBadRequest,
					Message: "refusing to send a PATCH remove of " + quoteLiteral(p) + " without a value filter (it would remove every value)"}
			}
		}
	}
	return nil
}

// patchOps turns modifications into PATCH operations: one per attribute, lower-case ops.
func (c *Client) patchOps(mods []connectors.Modification) ([]patchOp, error) {
	ops := make([]patchOp, 0, len(mods))
	for _, m := range mods {
		p, err := c.path(m.Name)
		if err != nil {
			return nil, err
		}
		switch {
		case m.Op == connectors.ModReplace && m.Value != nil:
			ops = append(ops, patchOp{Op: "replace", Path: m.Name, Value: attrValue(p, m.Value)})
		case m.Op == connectors.ModReplace || m.Op == connectors.ModRemove:
			ops = append(ops, patchOp{Op: "remove", Path: m.Name})
		default:
			return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeBadRequest,
				Message: fmt.Sprintf("unknown modification %q on %q", m.Op, m.Name)}
		}
	}
	if err := guardOps(ops); err != nil {
		return nil, err
	}
	return ops, nil
}

// Update applies mods with one PATCH (or, when the server does not support PATCH, a PUT of
// the re-read resource with mods applied).
func (c *Client) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if len(mods) == 0 {
		return nil
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return err
	}
	ops, err := c.patchOps(mods)
	if err != nil {
		return err
	}
	if !caps.Patch {
		return c.putWith(ctx, &caps, typ, id, func(doc map[string]any) error { return c.applyMods(doc, mods) })
	}
	return c.patch(ctx, &caps, typ, id, ops, true)
}

func (c *Client) applyMods(doc map[string]any, mods []connectors.Modification) error {
	for _, m := range mods {
		p, err := c.path(m.Name)
		if err != nil {
			return err
		}
		if m.Op == connectors.ModReplace && m.Value != nil {
			if err := setPath(doc, p, attrValue(p, m.Value)); err != nil {
				return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidValue, Message: err.Error()}
			}
			continue
		}
		removePath(doc, p)
	}
	return nil
}

// patch sends one PATCH. With ETags it sends If-Match and, on 412, re-reads the version and
// sends the same operations once more. A 400 noTarget on a replace of a value-filtered path
// (`emails[type eq "work"].value` on a user without a work email) is retried once with the
// element added instead.
//
// Membership PATCHes are sent without If-Match (conditional=false): adding or removing
// members by id does not depend on the group's other content, and under concurrent workers
// a group's version changes with every membership change, so If-Match would only turn
// them into 412s.
func (c *Client) patch(ctx context.Context, caps *Capabilities, typ connectors.ObjectType, id string, ops []patchOp, conditional bool) error {
	if err := guardOps(ops); err != nil {
		return err
	}
	body, err := json.Marshal(patchRequest{Schemas: patchSchemas, Operations: ops})
	if err != nil {
		return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidValue, Message: "PATCH cannot be encoded as JSON: " + err.Error()}
	}
	path := c.resourcePath(caps, typ, id)
	ifMatch := ""
	if caps.ETag && conditional {
		ifMatch = c.versions.get(typ, id)
	}
	preconditionRetried, noTargetRetried := false, false
	for {
		r, err := c.do(ctx, call{method: http.MethodPatch, path: path, body: body, ifMatch: ifMatch, idempotent: true})
		if err == nil {
			c.noteVersion(caps, typ, id, r)
			r.release()
			return nil
		}
		ce, ok := asError(err)
		if !ok {
			return err
		}
		switch {
		case ce.Status == http.StatusPreconditionFailed && caps.ETag && conditional && !preconditionRetried:
			preconditionRetried = true
			_, v, gerr := c.getDoc(ctx, caps, typ, id, "attributes=id,meta")
			if gerr != nil {
				return gerr
			}
			ifMatch = v
		case ce.Code == CodeNoTarget && !noTargetRetried:
			noTargetRetried = true
			doc, v, gerr := c.getDoc(ctx, caps, typ, id, "")
			if gerr != nil {
				return err
			}
			alt, changed := c.fixNoTarget(doc, ops)
			if !changed {
				return err
			}
			if len(alt) == 0 {
				return nil // only removals of values that are not there
			}
			if ifMatch != "" {
				ifMatch = v
			}
			if err := guardOps(alt); err != nil {
				return err
			}
			if body, err = json.Marshal(patchRequest{Schemas: patchSchemas, Operations: alt}); err != nil {
				return ce
			}
		default:
			return err
		}
	}
}

// fixNoTarget rewrites operations whose value filter matches nothing in doc (the resource
// as it is now): a replace of `emails[type eq "work"].value` on a user without a work email
// becomes an add of the element; a remove of a value that is not there is dropped (e.g. a
// member that is not in the group). Operations whose target exists are kept as they are.
func (c *Client) fixNoTarget(doc map[string]any, ops []patchOp) ([]patchOp, bool) {
	out := make([]patchOp, 0, len(ops))
	changed := false
	for _, op := range ops {
		p, err := c.path(op.Path)
		if err != nil || len(p.conds) == 0 {
			out = append(out, op)
			continue
		}
		var list []any
		if obj := container(doc, p, false); obj != nil {
			if k, ok := lookupKey(obj, p.attr); ok {
				list, _ = obj[k].([]any)
			}
		}
		exists := findElement(list, p.conds) != nil
		switch {
		case exists:
			out = append(out, op)
		case op.Op == "remove":
			changed = true // nothing to remove
		case op.Op == "replace" && p.sub != "":
			el := map[string]any{}
			for _, cd := range p.conds {
				el[cd.name] = cd.value
			}
			el[p.sub] = op.Value
			out = append(out, patchOp{Op: "add", Path: p.topLevel(), Value: []any{el}})
			changed = true
		default:
			out = append(out, op)
		}
	}
	return out, changed
}

// noteVersion remembers the version a write answered with (ETag header or meta.version).
func (c *Client) noteVersion(caps *Capabilities, typ connectors.ObjectType, id string, r *reply) {
	if !caps.ETag {
		return
	}
	v := r.header.Get("ETag")
	if v == "" && len(r.body()) > 0 {
		var b createdBody
		if json.Unmarshal(r.body(), &b) == nil {
			v = b.Meta.Version
		}
	}
	c.versions.set(typ, id, v)
}

// putWith re-reads the resource, applies mutate and PUTs it back (with If-Match when the
// server supports ETags; on 412 it re-reads and re-applies, at most max(1, MaxRetries)
// times, since concurrent writers to one group can collide more than once).
func (c *Client) putWith(ctx context.Context, caps *Capabilities, typ connectors.ObjectType, id string, mutate func(map[string]any) error) error {
	path := c.resourcePath(caps, typ, id)
	for attempt := 0; ; attempt++ {
		doc, version, err := c.getDoc(ctx, caps, typ, id, "")
		if err != nil {
			return err
		}
		if err := mutate(doc); err != nil {
			return err
		}
		delete(doc, "meta")
		if typ == connectors.TypeUser {
			if k, ok := lookupKey(doc, "groups"); ok {
				delete(doc, k) // readOnly
			}
		}
		body, err := json.Marshal(doc)
		if err != nil {
			return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidValue, Message: "PUT cannot be encoded as JSON: " + err.Error()}
		}
		r, err := c.do(ctx, call{method: http.MethodPut, path: path, body: body, ifMatch: version, idempotent: true})
		if err == nil {
			c.noteVersion(caps, typ, id, r)
			r.release()
			return nil
		}
		if statusOf(err) == http.StatusPreconditionFailed && caps.ETag && attempt < max(1, c.cfg.MaxRetries) {
			continue // changed since our read: re-read and re-apply
		}
		return err
	}
}

// Disable makes a user inactive per DisableMode: PATCH replace active false (default), the
// legacy string "False" (Entra's old format; when the server rejects it with 400
// invalidValue the boolean is sent instead, and from then on), a PUT of the re-read user
// with active false, or a DELETE. Without PATCH support the PATCH modes fall back to PUT.
// Groups cannot be disabled.
func (c *Client) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if typ == connectors.TypeGroup && c.cfg.DisableMode != DisableDelete {
		return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeNotImplemented, Message: "SCIM groups have no active attribute to disable"}
	}
	if c.cfg.DisableMode == DisableDelete {
		return c.Delete(ctx, typ, id)
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return err
	}
	if c.cfg.DisableMode == DisablePut || !caps.Patch {
		return c.putWith(ctx, &caps, typ, id, func(doc map[string]any) error {
			k, _ := lookupKey(doc, "active")
			doc[k] = false
			return nil
		})
	}
	if c.cfg.DisableMode == DisablePatchLegacyString && !c.legacyRejected.Load() {
		err := c.patch(ctx, &caps, typ, id, []patchOp{{Op: "replace", Path: "active", Value: "False"}}, true)
		if ce, ok := asError(err); !ok || ce.Status != http.StatusBadRequest ||
			(ce.Code != CodeInvalidValue && ce.Code != CodeMandatoryFieldsMissing && ce.Code != CodeBadRequest) {
			return err
		}
		// The server wants a boolean (SCIMMY, the embedded server): use one from now on.
		c.legacyRejected.Store(true)
	}
	return c.patch(ctx, &caps, typ, id, []patchOp{{Op: "replace", Path: "active", Value: false}}, true)
}

// Delete removes an object; a 404 is success. With ETags it sends If-Match and, on 412,
// re-reads the version and retries once.
func (c *Client) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return err
	}
	path := c.resourcePath(&caps, typ, id)
	ifMatch := ""
	if caps.ETag {
		ifMatch = c.versions.get(typ, id)
	}
	for attempt := 0; ; attempt++ {
		r, err := c.do(ctx, call{method: http.MethodDelete, path: path, ifMatch: ifMatch, idempotent: true})
		if err == nil {
			r.release()
			c.versions.set(typ, id, "")
			return nil
		}
		switch statusOf(err) {
		case http.StatusNotFound:
			c.versions.set(typ, id, "")
			return nil
		case http.StatusPreconditionFailed:
			if !caps.ETag || attempt > 0 {
				return err
			}
			_, v, gerr := c.getDoc(ctx, &caps, typ, id, "attributes=id,meta")
			if connectors.IsNotFound(gerr) {
				return nil
			}
			if gerr != nil {
				return gerr
			}
			ifMatch = v
		default:
			return err
		}
	}
}

// ---- membership ----

func cleanIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidAnchor, Message: "empty member id"}
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, nil
}

// AddMembers adds members with PATCH {"op":"add","path":"members","value":[{"value":id},...]}
// in batches of MemberBatchSize (bounded by the server's bulk limits and payload size).
func (c *Client) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return c.changeMembers(ctx, groupID, memberIDs, true)
}

// RemoveMembers removes members with one {"op":"remove","path":"members[value eq \"id\"]"}
// per member in the same PATCH, in batches. A remove without a filter is never sent. When
// the server answers noTarget (a member that is not in the group), the group is re-read and
// the batch re-sent without the members it does not have.
func (c *Client) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return c.changeMembers(ctx, groupID, memberIDs, false)
}

func (c *Client) changeMembers(ctx context.Context, groupID string, memberIDs []string, add bool) error {
	if err := checkID(groupID); err != nil {
		return err
	}
	ids, err := cleanIDs(memberIDs)
	if err != nil || len(ids) == 0 {
		return err
	}
	caps, err := c.capabilities(ctx)
	if err != nil {
		return err
	}
	if !caps.Patch {
		return c.putWith(ctx, &caps, connectors.TypeGroup, groupID, func(doc map[string]any) error {
			return mutateMembers(doc, ids, add)
		})
	}
	batch := c.memberBatch(&caps)
	for len(ids) > 0 {
		n := min(batch, len(ids))
		if err := c.memberPatch(ctx, &caps, groupID, ids[:n], add); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func memberOps(ids []string, add bool) []patchOp {
	if add {
		return []patchOp{{Op: "add", Path: "members", Value: memberValues(ids)}}
	}
	ops := make([]patchOp, len(ids))
	for i, id := range ids {
		ops[i] = patchOp{Op: "remove", Path: "members[value eq " + quoteLiteral(id) + "]"}
	}
	return ops
}

// memberPatch sends one batch, halving it while it exceeds bulk.maxPayloadSize.
func (c *Client) memberPatch(ctx context.Context, caps *Capabilities, groupID string, ids []string, add bool) error {
	if max := caps.BulkMaxPayloadSize; max > 0 && len(ids) > 1 {
		if b, err := json.Marshal(patchRequest{Schemas: patchSchemas, Operations: memberOps(ids, add)}); err == nil && len(b) > max {
			h := len(ids) / 2
			if err := c.memberPatch(ctx, caps, groupID, ids[:h], add); err != nil {
				return err
			}
			return c.memberPatch(ctx, caps, groupID, ids[h:], add)
		}
	}
	return c.patch(ctx, caps, connectors.TypeGroup, groupID, memberOps(ids, add), false)
}

// mutateMembers changes the members list of a group document (PUT fallback).
func mutateMembers(doc map[string]any, ids []string, add bool) error {
	k, _ := lookupKey(doc, "members")
	list, _ := doc[k].([]any)
	have := map[string]bool{}
	out := make([]any, 0, len(list)+len(ids))
	drop := map[string]bool{}
	if !add {
		for _, id := range ids {
			drop[id] = true
		}
	}
	for _, x := range list {
		m, _ := x.(map[string]any)
		id, _ := m["value"].(string)
		if drop[id] {
			continue
		}
		have[id] = true
		out = append(out, x)
	}
	if add {
		for _, id := range ids {
			if !have[id] {
				out = append(out, map[string]any{"value": id})
			}
		}
	}
	doc[k] = out
	return nil
}
