package scimserver

import (
	"strings"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// Schema URIs served by the server.
const (
	userSchemaURI       = schema.UserSchema
	groupSchemaURI      = schema.GroupSchema
	enterpriseSchemaURI = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// kind is one resource type (User or Group): its schemas and its store.
type kind struct {
	name     string // resource type name, meta.resourceType: "User" or "Group"
	endpoint string // "/Users" or "/Groups"
	core     schema.Schema
	exts     []schema.Schema
	// withCommon is core plus the common attributes (id, externalId, meta), the schema filters
	// are validated and evaluated against.
	withCommon schema.Schema
	// evalSchema is withCommon as the filter evaluator sees it: meta.created and
	// meta.lastModified are fixed-width strings (see normaliseMetaTimes).
	evalSchema schema.Schema
	// required is the attribute that must stay present and non-empty ("userName" or
	// "displayName").
	required string
	st       *store
}

func newUserKind() *kind {
	core := schema.CoreUserSchema()
	k := &kind{
		name:     "User",
		endpoint: "/Users",
		core:     core,
		exts:     []schema.Schema{schema.ExtensionEnterpriseUser()},
		required: "userName",
		st: newStore(
			indexSpec{name: "userName", unique: true, fold: true, extract: stringAttr("userName")},
			indexSpec{name: "externalId", extract: stringAttr("externalId")},
			indexSpec{name: "displayName", fold: true, extract: stringAttr("displayName")},
			indexSpec{name: "emails.value", fold: true, extract: multiSubAttr("emails", "value")},
		),
	}
	k.withCommon = withCommon(core)
	k.evalSchema = evalSchema(core)
	return k
}

func newGroupKind() *kind {
	core := schema.CoreGroupSchema()
	// The library's Group schema says displayName has uniqueness "none"; this server enforces
	// uniqueness (as Entra requires), so advertise it truthfully in /Schemas.
	for i, a := range core.Attributes {
		if a.Name() == "displayName" {
			core.Attributes[i] = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Description: optional.NewString("A human-readable name for the Group. REQUIRED. Unique (case-insensitive) on this server."),
				Name:        "displayName",
				Required:    true,
				Uniqueness:  schema.AttributeUniquenessServer(),
			}))
		}
	}
	k := &kind{
		name:     "Group",
		endpoint: "/Groups",
		core:     core,
		required: "displayName",
		st: newStore(
			indexSpec{name: "displayName", unique: true, fold: true, extract: stringAttr("displayName")},
			indexSpec{name: "externalId", extract: stringAttr("externalId")},
		),
	}
	k.withCommon = withCommon(core)
	k.evalSchema = evalSchema(core)
	return k
}

func withCommon(s schema.Schema) schema.Schema {
	attrs := make([]schema.CoreAttribute, 0, len(s.Attributes)+4)
	attrs = append(attrs, s.Attributes...)
	s.Attributes = append(attrs, schema.CommonAttributes()...)
	return s
}

func evalSchema(s schema.Schema) schema.Schema {
	attrs := make([]schema.CoreAttribute, 0, len(s.Attributes)+4)
	attrs = append(attrs, s.Attributes...)
	for _, a := range schema.CommonAttributes() {
		if a.Name() == "meta" {
			ts := func(name string) schema.SimpleParams {
				return schema.SimpleStringParams(schema.StringParams{CaseExact: true, Mutability: schema.AttributeMutabilityReadOnly(), Name: name})
			}
			a = schema.ComplexCoreAttribute(schema.ComplexParams{Mutability: schema.AttributeMutabilityReadOnly(), Name: "meta",
				SubAttributes: []schema.SimpleParams{ts("resourceType"), ts("created"), ts("lastModified"), ts("location"), ts("version")}})
		}
		attrs = append(attrs, a)
	}
	s.Attributes = attrs
	return s
}

// ext returns the extension schema with the given URI (case-insensitive), or nil.
func (k *kind) ext(uri string) *schema.Schema {
	for i := range k.exts {
		if strings.EqualFold(k.exts[i].ID, uri) {
			return &k.exts[i]
		}
	}
	return nil
}

func stringAttr(name string) func(map[string]any) []string {
	return func(attrs map[string]any) []string {
		if s, ok := attrs[name].(string); ok {
			return []string{s}
		}
		return nil
	}
}

func multiSubAttr(name, sub string) func(map[string]any) []string {
	return func(attrs map[string]any) []string {
		list, _ := attrs[name].([]any)
		var out []string
		for _, el := range list {
			if m, ok := el.(map[string]any); ok {
				if s, ok := m[sub].(string); ok && !containsFold(out, s) {
					out = append(out, s)
				}
			}
		}
		return out
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
