package scim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// Capabilities is what the server says it supports (GET /ServiceProviderConfig, /Schemas,
// /ResourceTypes). A server without /ServiceProviderConfig is assumed to support PATCH and
// filtering (what Entra requires) and nothing else.
type Capabilities struct {
	Patch, Bulk, Filter, ETag, Sort, ChangePassword bool
	// Cursor is RFC 9865 cursor pagination (ServiceProviderConfig "pagination.cursor").
	Cursor bool
	// FilterMaxResults is filter.maxResults; BulkMaxOperations and BulkMaxPayloadSize are
	// bulk.maxOperations and bulk.maxPayloadSize (0 = not stated).
	FilterMaxResults, BulkMaxOperations, BulkMaxPayloadSize int
	// MaxPageSize is RFC 9865 pagination.maxPageSize (0 = not stated).
	MaxPageSize int
	// CursorTimeout is RFC 9865 pagination.cursorTimeout (0 = not stated).
	CursorTimeout time.Duration
	// UserEndpoint and GroupEndpoint are the resource endpoints from /ResourceTypes
	// (default /Users and /Groups).
	UserEndpoint, GroupEndpoint string
	// UserExtensions are the User resource type's schema extensions.
	UserExtensions []string
	// Schemas are the schema ids /Schemas lists (empty when it is not served).
	Schemas []string
	// ServiceProviderConfig is false when the server does not serve it (defaults assumed).
	ServiceProviderConfig bool
}

// flag is {"supported": bool}, tolerating "true"/"false" strings.
type flag struct {
	Supported json.RawMessage `json:"supported"`
}

func (f flag) on() bool {
	s := strings.Trim(strings.ToLower(string(f.Supported)), `" `)
	return s == "true"
}

type spcBody struct {
	Patch flag `json:"patch"`
	Bulk  struct {
		flag
		MaxOperations  int `json:"maxOperations"`
		MaxPayloadSize int `json:"maxPayloadSize"`
	} `json:"bulk"`
	Filter struct {
		flag
		MaxResults int `json:"maxResults"`
	} `json:"filter"`
	ChangePassword flag `json:"changePassword"`
	Sort           flag `json:"sort"`
	ETag           flag `json:"etag"`
	// RFC 9865 §4 (field names checked against the IETF SCIM WG draft text that became
	// RFC 9865): pagination {cursor, index, defaultPaginationMethod, defaultPageSize,
	// maxPageSize, cursorTimeout}.
	Pagination *struct {
		Cursor        bool `json:"cursor"`
		Index         bool `json:"index"`
		MaxPageSize   int  `json:"maxPageSize"`
		CursorTimeout int  `json:"cursorTimeout"`
	} `json:"pagination"`
}

type resourceTypeBody struct {
	Name             string `json:"name"`
	ID               string `json:"id"`
	Endpoint         string `json:"endpoint"`
	Schema           string `json:"schema"`
	SchemaExtensions []struct {
		Schema string `json:"schema"`
	} `json:"schemaExtensions"`
}

// Discover reads and caches the server's capabilities. Operations call it lazily; a failed
// discovery is not cached.
func (c *Client) Discover(ctx context.Context) (Capabilities, error) {
	if p := c.caps.Load(); p != nil {
		return *p, nil
	}
	c.capsMu.Lock()
	defer c.capsMu.Unlock()
	if p := c.caps.Load(); p != nil {
		return *p, nil
	}
	caps := Capabilities{Patch: true, Filter: true, UserEndpoint: "/Users", GroupEndpoint: "/Groups"}

	r, err := c.do(ctx, call{method: http.MethodGet, path: "/ServiceProviderConfig", idempotent: true})
	switch {
	case err == nil:
		var b spcBody
		if jerr := json.Unmarshal(r.body(), &b); jerr != nil {
			e := c.incompatible(http.MethodGet, "/ServiceProviderConfig", r.status, r.body(), "ServiceProviderConfig is not valid JSON")
			r.release()
			return Capabilities{}, e
		}
		r.release()
		caps.ServiceProviderConfig = true
		caps.Patch = b.Patch.on()
		caps.Bulk = b.Bulk.on()
		caps.BulkMaxOperations = b.Bulk.MaxOperations
		caps.BulkMaxPayloadSize = b.Bulk.MaxPayloadSize
		caps.Filter = b.Filter.on()
		caps.FilterMaxResults = b.Filter.MaxResults
		caps.ChangePassword = b.ChangePassword.on()
		caps.Sort = b.Sort.on()
		caps.ETag = b.ETag.on()
		if p := b.Pagination; p != nil {
			caps.Cursor = p.Cursor
			caps.MaxPageSize = p.MaxPageSize
			caps.CursorTimeout = time.Duration(p.CursorTimeout) * time.Second
		}
	case optionalMissing(err):
		// Not served: keep the defaults.
	default:
		return Capabilities{}, err
	}

	// /ResourceTypes and /Schemas are optional; only credential and connection failures count.
	if r, err := c.do(ctx, call{method: http.MethodGet, path: "/ResourceTypes", idempotent: true}); err == nil {
		var rts []resourceTypeBody
		if listOrArray(r.body(), &rts) {
			for _, rt := range rts {
				name := rt.Name
				if name == "" {
					name = rt.ID
				}
				ep := rt.Endpoint
				if ep != "" && !strings.HasPrefix(ep, "/") {
					ep = "/" + ep
				}
				switch {
				case strings.EqualFold(name, "User") || rt.Schema == schemaUser:
					if ep != "" {
						caps.UserEndpoint = ep
					}
					for _, x := range rt.SchemaExtensions {
						caps.UserExtensions = append(caps.UserExtensions, x.Schema)
					}
				case strings.EqualFold(name, "Group") || rt.Schema == schemaGroup:
					if ep != "" {
						caps.GroupEndpoint = ep
					}
				}
			}
		}
		r.release()
	} else if fatalDiscovery(err) {
		return Capabilities{}, err
	}
	if r, err := c.do(ctx, call{method: http.MethodGet, path: "/Schemas", idempotent: true}); err == nil {
		var ss []struct {
			ID string `json:"id"`
		}
		if listOrArray(r.body(), &ss) {
			for _, s := range ss {
				if s.ID != "" {
					caps.Schemas = append(caps.Schemas, s.ID)
				}
			}
		}
		r.release()
	} else if fatalDiscovery(err) {
		return Capabilities{}, err
	}
	c.caps.Store(&caps)
	return caps, nil
}

// listOrArray decodes a ListResponse's Resources, or a bare JSON array, into v.
func listOrArray(body []byte, v any) bool {
	var lr struct {
		Resources json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(body, &lr); err == nil && len(lr.Resources) > 0 {
		return json.Unmarshal(lr.Resources, v) == nil
	}
	return json.Unmarshal(body, v) == nil
}

// optionalMissing: the endpoint is simply not implemented.
func optionalMissing(err error) bool {
	switch statusOf(err) {
	case http.StatusNotFound, http.StatusNotImplemented, http.StatusMethodNotAllowed, http.StatusBadRequest,
		http.StatusForbidden:
		return true
	}
	return false
}

func fatalDiscovery(err error) bool {
	ce, ok := asError(err)
	if !ok {
		return true // context cancelled
	}
	switch ce.Class {
	case connectors.ClassUnauthorized, connectors.ClassConnection:
		return true
	}
	return false
}

// capabilities returns the cached capabilities, discovering them on first use.
func (c *Client) capabilities(ctx context.Context) (Capabilities, error) {
	if p := c.caps.Load(); p != nil {
		return *p, nil
	}
	return c.Discover(ctx)
}

// endpoint returns the resource endpoint for typ.
func (caps *Capabilities) endpoint(typ connectors.ObjectType) string {
	if typ == connectors.TypeGroup {
		return caps.GroupEndpoint
	}
	return caps.UserEndpoint
}

// pageSize bounds the configured page size by the server's limits.
func (c *Client) pageSize(caps *Capabilities) int {
	n := c.cfg.PageSize
	if caps.FilterMaxResults > 0 && caps.FilterMaxResults < n {
		n = caps.FilterMaxResults
	}
	if caps.MaxPageSize > 0 && caps.MaxPageSize < n {
		n = caps.MaxPageSize
	}
	return n
}

// memberBatch bounds MemberBatchSize by the server's bulk limit.
func (c *Client) memberBatch(caps *Capabilities) int {
	n := c.cfg.MemberBatchSize
	if caps.BulkMaxOperations > 0 && caps.BulkMaxOperations < n {
		n = caps.BulkMaxOperations
	}
	return n
}
