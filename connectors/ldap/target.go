package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
)

// maxFindResults bounds how many matches Find returns (the engine only needs to tell 0, 1
// and many apart).
const maxFindResults = 100

// uacDisabled is Active Directory's ACCOUNTDISABLE bit of userAccountControl.
const uacDisabled = 0x2

// Test checks the connection the way operations use it: it dials (TLS, StartTLS), binds,
// reads the root DSE, and checks that the configured base DNs exist. A rejected bind is
// ClassUnauthorized, an unreachable server ClassConnection, a missing base DN ClassInvalid.
func (c *Client) Test(ctx context.Context) error {
	c.dseMu.Lock()
	c.dse = nil
	c.dseMu.Unlock()
	if _, err := c.readRootDSE(ctx); err != nil {
		return err
	}
	for _, ti := range []*typeInfo{c.users, c.groups} {
		if ti == nil {
			continue
		}
		err := c.search(ctx, ti.cfg.BaseDN, goldap.ScopeBaseObject, "(objectClass=*)", []string{"1.1"}, 0, func(*goldap.Entry) error { return nil })
		if isCode(err, goldap.LDAPResultNoSuchObject) {
			return &connectors.Error{Class: connectors.ClassInvalid, Code: CodeInvalidAnchor, Status: goldap.LDAPResultNoSuchObject,
				Message: fmt.Sprintf("the %s base DN %s does not exist", strings.ToLower(string(ti.typ)), ti.cfg.BaseDN),
				Request: "search " + ti.cfg.BaseDN}
		}
		if err != nil {
			return c.errorFor(ctx, "search "+ti.cfg.BaseDN, err)
		}
	}
	return nil
}

// checkDN validates a target ID (a DN) and returns its current DN (after renames).
func (c *Client) checkDN(id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", invalid(CodeInvalidAnchor, "empty target id (DN)")
	}
	if _, err := goldap.ParseDN(id); err != nil {
		return "", invalid(CodeInvalidDN, "target id %q is not a DN: %v", id, err)
	}
	return c.resolve(id), nil
}

// read returns the entry dn of type ti (ClassNotFound when it does not exist or is not of
// the type).
func (c *Client) read(ctx context.Context, ti *typeInfo, dn string, attrs []string) (*goldap.Entry, error) {
	var found *goldap.Entry
	err := c.search(ctx, dn, goldap.ScopeBaseObject, ti.cfg.Filter, attrs, 0, func(e *goldap.Entry) error {
		found = e
		return nil
	})
	if err != nil {
		return nil, c.errorFor(ctx, "search "+dn, err)
	}
	if found == nil {
		return nil, &connectors.Error{Class: connectors.ClassNotFound, Code: CodeInvalidAnchor,
			Message: fmt.Sprintf("%s is not a %s entry (it does not match %s)", dn, strings.ToLower(string(ti.typ)), ti.cfg.Filter),
			Request: "search " + dn}
	}
	return found, nil
}

func (c *Client) targetObject(ti *typeInfo, e *goldap.Entry) connectors.TargetObject {
	var multi []string
	if ti.typ == connectors.TypeGroup {
		multi = []string{c.cfg.MemberAttribute}
	}
	return connectors.TargetObject{ID: e.DN, Attributes: entryAttributes(e, multi...)}
}

// Get reads one entry by DN.
func (c *Client) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	dn, err := c.checkDN(id)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	e, err := c.read(ctx, ti, dn, ti.attrs)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	return c.targetObject(ti, e), nil
}

// Find returns the entries of typ under its base DN whose attribute attr equals value (a
// paged subtree search for (&<type filter>(attr=value)) with the value escaped as RFC 4515
// wants, so that no value can change the filter). attr "dn" looks the DN up instead. A list
// value matches entries having every value.
func (c *Client) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(attr, "dn") {
		dn, err := singleValue(attr, value)
		if err != nil {
			return nil, err
		}
		o, err := c.Get(ctx, typ, dn)
		if connectors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []connectors.TargetObject{o}, nil
	}
	if !validAttrName(attr) {
		return nil, invalid(CodeSchemaAttributeMissing, "%q is not an LDAP attribute name", attr)
	}
	vals, err := toValues(attr, value)
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, nil
	}
	var f strings.Builder
	f.WriteString("(&" + ti.cfg.Filter)
	for _, v := range vals {
		f.WriteString("(" + attr + "=" + c.filterValue(attr, v) + ")")
	}
	f.WriteString(")")
	var out []connectors.TargetObject
	err = c.search(ctx, ti.cfg.BaseDN, goldap.ScopeWholeSubtree, f.String(), ti.attrs, maxFindResults, func(e *goldap.Entry) error {
		o := c.targetObject(ti, e)
		respell(o.Attributes, []string{attr})
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, c.errorFor(ctx, "search "+ti.cfg.BaseDN, err)
	}
	return out, nil
}

// respell renames attribute keys to the spelling of names where they differ only in case
// (the server answers with the schema's spelling; the engine looks up its own).
func respell(a connectors.Attributes, names []string) {
	for _, n := range names {
		if _, ok := a[n]; ok {
			continue
		}
		for k, v := range a {
			if strings.EqualFold(k, n) {
				delete(a, k)
				a[n] = v
				break
			}
		}
	}
}

// filterValue escapes v for an equality filter on attr (objectGUID takes its binary form).
func (c *Client) filterValue(attr, v string) string {
	if strings.EqualFold(attr, "objectGUID") {
		if g, ok := guidFilterValue(v); ok {
			return g
		}
	}
	return goldap.EscapeFilter(v)
}

// List emits every entry of typ (paged), with the attributes attrs (the matching
// attributes the engine asks for) plus objectClass.
func (c *Client) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return err
	}
	want := []string{"objectClass"}
	for _, a := range attrs {
		if validAttrName(a) {
			want = appendAttr(want, a)
		}
	}
	err = c.search(ctx, ti.cfg.BaseDN, goldap.ScopeWholeSubtree, ti.cfg.Filter, want, 0, func(e *goldap.Entry) error {
		o := c.targetObject(ti, e)
		respell(o.Attributes, attrs)
		if err := emit(o); err != nil {
			return emitError{err}
		}
		return nil
	})
	var ee emitError
	if errors.As(err, &ee) {
		return ee.err // the engine's own error, as it is
	}
	return c.errorFor(ctx, "search "+ti.cfg.BaseDN, err)
}

// ctxErr reports whether err is ctx's cancellation.
func ctxErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// dnFor renders the DN of a new entry from attrs.
func (c *Client) dnFor(ti *typeInfo, attrs connectors.Attributes) (rdn, parent string, err error) {
	return ti.tmpl.render(func(name string) (string, error) {
		v, ok := lookup(attrs, name)
		if !ok || v == nil {
			return "", &connectors.Error{Class: connectors.ClassInvalid, Code: "MandatoryFieldsMissing",
				Message: fmt.Sprintf("the DN template %q needs attribute %s, which has no value", ti.cfg.DNTemplate, name)}
		}
		return singleValue(name, v)
	})
}

// Create adds an entry: DN from the template, the type's object classes, every attribute
// with a value, the RDN's attribute values if attrs lack them, and for groups whose object
// class requires a member the empty-group placeholder. An existing DN is a conflict, except
// after a lost answer, when an entry whose match attributes equal attrs is the one created.
func (c *Client) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	rdn, parent, err := c.dnFor(ti, attrs)
	if err != nil {
		return connectors.TargetObject{}, err
	}
	dn := join(rdn, parent)
	req := goldap.NewAddRequest(dn, nil)
	classes := slices.Clone(ti.cfg.ObjectClasses)
	if v, ok := lookup(attrs, "objectClass"); ok {
		extra, err := toValues("objectClass", v)
		if err != nil {
			return connectors.TargetObject{}, err
		}
		for _, x := range extra {
			if !slices.ContainsFunc(classes, func(y string) bool { return strings.EqualFold(x, y) }) {
				classes = append(classes, x)
			}
		}
	}
	req.Attribute("objectClass", classes)
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.EqualFold(k, "objectClass") || strings.EqualFold(k, "dn") {
			continue
		}
		if !validAttrName(k) {
			return connectors.TargetObject{}, invalid(CodeSchemaAttributeMissing, "%q is not an LDAP attribute name", k)
		}
		vals, err := toValues(k, attrs[k])
		if err != nil {
			return connectors.TargetObject{}, err
		}
		if len(vals) > 0 {
			req.Attribute(k, vals)
		}
	}
	// The RDN's values must be in the entry.
	if r, err := goldap.ParseDN(rdn); err == nil && len(r.RDNs) == 1 {
		for _, a := range r.RDNs[0].Attributes {
			if !hasAttr(req.Attributes, a.Type) {
				req.Attribute(a.Type, []string{a.Value})
			}
		}
	}
	if typ == connectors.TypeGroup && c.cfg.EmptyGroupPlaceholder != "" && !hasAttr(req.Attributes, c.cfg.MemberAttribute) {
		req.Attribute(c.cfg.MemberAttribute, []string{c.cfg.EmptyGroupPlaceholder})
	}
	attempts := 0
	err = c.do(ctx, op{method: "add", target: dn}, func(conn *goldap.Conn) error {
		attempts++
		return conn.Add(req)
	})
	if isCode(err, goldap.LDAPResultEntryAlreadyExists) && attempts > 1 {
		// The first attempt's answer was lost: the entry may be ours.
		if same, _ := c.sameEntry(ctx, ti, dn, attrs); same {
			return connectors.TargetObject{ID: dn, Attributes: attrs.Clone()}, nil
		}
	}
	if err != nil {
		e := c.errorFor(ctx, "add "+dn, err)
		var ce *connectors.Error
		if errors.As(e, &ce) && ce.Class == connectors.ClassConflict {
			ce.Message = "an entry with DN " + dn + " already exists (" + ce.Message + ")"
		}
		return connectors.TargetObject{}, e
	}
	return connectors.TargetObject{ID: dn, Attributes: attrs.Clone()}, nil
}

func hasAttr(list []goldap.Attribute, name string) bool {
	return slices.ContainsFunc(list, func(a goldap.Attribute) bool { return strings.EqualFold(a.Type, name) })
}

// sameEntry reports whether the entry at dn has the match attributes' values of attrs.
func (c *Client) sameEntry(ctx context.Context, ti *typeInfo, dn string, attrs connectors.Attributes) (bool, error) {
	e, err := c.read(ctx, ti, dn, ti.cfg.MatchAttributes)
	if err != nil {
		return false, err
	}
	for _, m := range ti.cfg.MatchAttributes {
		v, _ := lookup(attrs, m)
		want, err := toValues(m, v)
		if err != nil || len(want) == 0 {
			return false, err
		}
		have := values(e, m)
		for _, w := range want {
			if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
				return false, nil
			}
		}
	}
	return true, nil
}

// Update applies mods with one Modify: a replace sets the attribute's values (a list for a
// multi-valued attribute), a remove (or a replace with no value) deletes the attribute —
// both as LDAP replace operations, which do not fail when the attribute is absent. When a
// modification changes an attribute the DN template uses, the entry is first renamed or
// moved (ModifyDN, old RDN value deleted) and later operations on the old DN reach the new
// one.
func (c *Client) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return err
	}
	dn, err := c.checkDN(id)
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		return nil
	}
	type change struct {
		name string
		vals []string
	}
	changes := make([]change, 0, len(mods))
	rename := false
	for _, m := range mods {
		if !validAttrName(m.Name) || strings.EqualFold(m.Name, "dn") {
			return invalid(CodeSchemaAttributeMissing, "%q is not an LDAP attribute name", m.Name)
		}
		var vals []string
		switch m.Op {
		case connectors.ModReplace:
			if vals, err = toValues(m.Name, m.Value); err != nil {
				return err
			}
		case connectors.ModRemove:
		default:
			return invalid(CodeBadRequest, "unknown modification %q on %s", m.Op, m.Name)
		}
		changes = append(changes, change{m.Name, vals})
		if ti.tmpl.uses(m.Name) {
			rename = true
		}
	}
	if rename {
		next := map[string]any{}
		for _, ch := range changes {
			next[strings.ToLower(ch.name)] = ch.vals
		}
		var cur *goldap.Entry
		rdn, parent, err := ti.tmpl.render(func(name string) (string, error) {
			if v, ok := next[strings.ToLower(name)]; ok {
				if len(v.([]string)) == 0 {
					return "", invalid(CodeObjectClassViolation, "cannot remove %s: the DN template %q names entries by it", name, ti.cfg.DNTemplate)
				}
				return singleValue(name, v)
			}
			if cur == nil {
				var err error
				if cur, err = c.read(ctx, ti, dn, ti.tmpl.attrs()); err != nil {
					return "", err
				}
			}
			v := values(cur, name)
			if len(v) == 0 {
				return "", invalid(CodeInvalidValue, "entry %s has no %s for its DN template %q", dn, name, ti.cfg.DNTemplate)
			}
			return v[0], nil
		})
		if err != nil {
			return err
		}
		if newDN := join(rdn, parent); !sameDN(newDN, dn) {
			newSup := ""
			if !sameDN(parent, parentOf(dn)) {
				newSup = parent
			}
			req := goldap.NewModifyDNRequest(dn, rdn, true, newSup)
			attempts := 0
			err := c.do(ctx, op{method: "modifyDN", target: dn}, func(conn *goldap.Conn) error {
				attempts++
				return conn.ModifyDN(req)
			})
			if err != nil && attempts > 1 && isCode(err, goldap.LDAPResultNoSuchObject) {
				// The first attempt's answer was lost: it may have renamed the entry.
				if _, rerr := c.read(ctx, ti, newDN, []string{"1.1"}); rerr == nil {
					err = nil
				}
			}
			if err != nil {
				return c.errorFor(ctx, "modifyDN "+dn, err)
			}
			c.renamed(dn, newDN)
			dn = newDN
		}
	}
	req := goldap.NewModifyRequest(dn, nil)
	for _, ch := range changes {
		req.Replace(ch.name, ch.vals)
	}
	err = c.do(ctx, op{method: "modify", target: dn}, func(conn *goldap.Conn) error { return conn.Modify(req) })
	return c.errorFor(ctx, "modify "+dn, err)
}

// Disable makes a user inactive per the disable mode: set the disable attribute to its
// value (ppolicy's pwdAccountLockedTime=000001010000Z by default), set Active Directory's
// userAccountControl ACCOUNTDISABLE bit (read-modify-write with the old value as a
// precondition), or delete the entry. Groups can only be "disabled" in delete mode.
func (c *Client) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return c.setEnabled(ctx, typ, id, false)
}

// Enable undoes Disable: it removes the disable attribute (or sets EnableValue), or clears
// the ACCOUNTDISABLE bit. In delete mode an entry that still exists is left as it is and a
// deleted one is ClassNotFound.
func (c *Client) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return c.setEnabled(ctx, typ, id, true)
}

func (c *Client) setEnabled(ctx context.Context, typ connectors.ObjectType, id string, enable bool) error {
	ti, err := c.typeInfo(typ)
	if err != nil {
		return err
	}
	dn, err := c.checkDN(id)
	if err != nil {
		return err
	}
	d := c.cfg.Disable
	if d.Mode == DisableDelete {
		if enable {
			_, err := c.read(ctx, ti, dn, []string{"1.1"})
			return err
		}
		return c.Delete(ctx, typ, id)
	}
	if typ == connectors.TypeGroup {
		return invalid(CodeNotImplemented, "LDAP groups cannot be disabled (only with disable mode delete)")
	}
	switch d.Mode {
	case DisableAttribute:
		req := goldap.NewModifyRequest(dn, nil)
		switch {
		case !enable:
			req.Replace(d.Attribute, []string{d.Value})
		case d.EnableValue != "":
			req.Replace(d.Attribute, []string{d.EnableValue})
		default:
			req.Replace(d.Attribute, nil)
		}
		err := c.do(ctx, op{method: "modify", target: dn}, func(conn *goldap.Conn) error { return conn.Modify(req) })
		return c.errorFor(ctx, "modify "+dn, err)
	case DisableUserAccountControl:
		for attempt := 0; ; attempt++ {
			e, err := c.read(ctx, ti, dn, []string{"userAccountControl"})
			if err != nil {
				return err
			}
			old := firstValue(e, "userAccountControl")
			var uac int64
			if old != "" {
				if uac, err = strconv.ParseInt(old, 10, 64); err != nil {
					return invalid(CodeInvalidValue, "userAccountControl of %s is %q, not a number", dn, old)
				}
			}
			next := uac | uacDisabled
			if enable {
				next = uac &^ uacDisabled
			}
			if next == uac && old != "" {
				return nil
			}
			req := goldap.NewModifyRequest(dn, nil)
			if old != "" {
				// Delete the value read and add the new one in one Modify: it fails with
				// noSuchAttribute if another writer changed the value since (a compare-and-set).
				req.Delete("userAccountControl", []string{old})
			}
			req.Add("userAccountControl", []string{strconv.FormatInt(next, 10)})
			err = c.do(ctx, op{method: "modify", target: dn}, func(conn *goldap.Conn) error { return conn.Modify(req) })
			if isCode(err, goldap.LDAPResultNoSuchAttribute, goldap.LDAPResultAttributeOrValueExists) && attempt < 3 {
				continue // changed concurrently: read again
			}
			return c.errorFor(ctx, "modify "+dn, err)
		}
	}
	return invalid(CodeBadRequest, "unknown disable mode %q", d.Mode)
}

// Delete removes an entry; a missing entry is not an error. An entry with children is
// ClassInvalid (NotAllowedOnNonLeaf).
func (c *Client) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	if _, err := c.typeInfo(typ); err != nil {
		return err
	}
	dn, err := c.checkDN(id)
	if err != nil {
		return err
	}
	req := goldap.NewDelRequest(dn, nil)
	err = c.do(ctx, op{method: "delete", target: dn}, func(conn *goldap.Conn) error { return conn.Del(req) })
	if isCode(err, goldap.LDAPResultNoSuchObject) {
		return nil
	}
	return c.errorFor(ctx, "delete "+dn, err)
}

// ---- membership ----

// memberDNs validates, de-duplicates and resolves (renames) member DNs; the placeholder
// is dropped.
func (c *Client) memberDNs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		dn, err := c.checkDN(id)
		if err != nil {
			return nil, err
		}
		k := foldDN(dn)
		if seen[k] || c.cfg.EmptyGroupPlaceholder != "" && k == foldDN(c.cfg.EmptyGroupPlaceholder) {
			continue
		}
		seen[k] = true
		out = append(out, dn)
	}
	return out, nil
}

// AddMembers adds member DNs to the membership attribute (member or uniqueMember), in
// batches of MemberBatchSize values per Modify. The first batch also removes the empty-group
// placeholder. Members that are already there are not an error: when the server answers
// attributeOrValueExists, the batch is added value by value, skipping those.
func (c *Client) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return c.changeMembers(ctx, groupID, memberIDs, true)
}

// RemoveMembers removes member DNs in batches. Members that are not there are not an error
// (noSuchAttribute leads to value-by-value removal, skipping those). When removing the last
// member violates the object class (groupOfNames must have one), the placeholder is added in
// the same Modify.
func (c *Client) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	return c.changeMembers(ctx, groupID, memberIDs, false)
}

func (c *Client) changeMembers(ctx context.Context, groupID string, memberIDs []string, add bool) error {
	if _, err := c.typeInfo(connectors.TypeGroup); err != nil {
		return err
	}
	group, err := c.checkDN(groupID)
	if err != nil {
		return err
	}
	ids, err := c.memberDNs(memberIDs)
	if err != nil || len(ids) == 0 {
		return err
	}
	for first := true; len(ids) > 0; first = false {
		n := min(len(ids), c.cfg.MemberBatchSize)
		if add {
			err = c.addBatch(ctx, group, ids[:n], first && c.cfg.EmptyGroupPlaceholder != "")
		} else {
			err = c.removeBatch(ctx, group, ids[:n])
		}
		if err != nil {
			return c.errorFor(ctx, "modify "+group, err)
		}
		ids = ids[n:]
	}
	return nil
}

// modify sends one Modify built by build.
func (c *Client) modify(ctx context.Context, dn string, build func(*goldap.ModifyRequest)) error {
	req := goldap.NewModifyRequest(dn, nil)
	build(req)
	return c.do(ctx, op{method: "modify", target: dn}, func(conn *goldap.Conn) error { return conn.Modify(req) })
}

func (c *Client) addBatch(ctx context.Context, group string, ids []string, dropPlaceholder bool) error {
	attr, ph := c.cfg.MemberAttribute, c.cfg.EmptyGroupPlaceholder
	err := c.modify(ctx, group, func(r *goldap.ModifyRequest) {
		r.Add(attr, ids)
		if dropPlaceholder {
			r.Delete(attr, []string{ph})
		}
	})
	switch {
	case err == nil:
		return nil
	case dropPlaceholder && isCode(err, goldap.LDAPResultNoSuchAttribute):
		// The placeholder is not there (the usual case after the first members).
		err = c.modify(ctx, group, func(r *goldap.ModifyRequest) { r.Add(attr, ids) })
		if !isCode(err, goldap.LDAPResultAttributeOrValueExists) {
			return err
		}
	case !isCode(err, goldap.LDAPResultAttributeOrValueExists):
		return err
	}
	// Some are members already: add one by one.
	for _, id := range ids {
		err := c.modify(ctx, group, func(r *goldap.ModifyRequest) { r.Add(attr, []string{id}) })
		if err != nil && !isCode(err, goldap.LDAPResultAttributeOrValueExists) {
			return err
		}
	}
	if dropPlaceholder {
		err := c.modify(ctx, group, func(r *goldap.ModifyRequest) { r.Delete(attr, []string{ph}) })
		if err != nil && !isCode(err, goldap.LDAPResultNoSuchAttribute) {
			return err
		}
	}
	return nil
}

func (c *Client) removeBatch(ctx context.Context, group string, ids []string) error {
	attr, ph := c.cfg.MemberAttribute, c.cfg.EmptyGroupPlaceholder
	err := c.modify(ctx, group, func(r *goldap.ModifyRequest) { r.Delete(attr, ids) })
	if err == nil {
		return nil
	}
	if ph != "" && isCode(err, goldap.LDAPResultObjectClassViolation) {
		// The group would be empty: keep the placeholder in it.
		err = c.modify(ctx, group, func(r *goldap.ModifyRequest) {
			r.Add(attr, []string{ph})
			r.Delete(attr, ids)
		})
		if err == nil {
			return nil
		}
	}
	if !isCode(err, goldap.LDAPResultNoSuchAttribute, goldap.LDAPResultAttributeOrValueExists) {
		return err
	}
	// Some are not members (or the placeholder is there already): remove one by one.
	for _, id := range ids {
		err := c.modify(ctx, group, func(r *goldap.ModifyRequest) { r.Delete(attr, []string{id}) })
		if ph != "" && isCode(err, goldap.LDAPResultObjectClassViolation) {
			err = c.modify(ctx, group, func(r *goldap.ModifyRequest) {
				r.Add(attr, []string{ph})
				r.Delete(attr, []string{id})
			})
		}
		if err != nil && !isCode(err, goldap.LDAPResultNoSuchAttribute) {
			return err
		}
	}
	return nil
}
