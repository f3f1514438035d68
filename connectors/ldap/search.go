package ldap

import (
	"context"

	goldap "github.com/go-ldap/ldap/v3"
)

// search runs a search on a pooled connection: subtree searches are paged (Simple Paged
// Results, RFC 2696) and emit entries as pages arrive; limit > 0 stops after that many
// entries. It is recorded as one "search" call whose target is "base?scope?filter".
func (c *Client) search(ctx context.Context, base string, scope int, filter string, attrs []string, limit int, emit func(*goldap.Entry) error) error {
	emitted := 0
	o := op{method: "search", target: searchTarget(base, scope, filter), retry: func() bool { return emitted == 0 }}
	return c.do(ctx, o, func(conn *goldap.Conn) error {
		return c.searchOn(conn, base, scope, filter, attrs, limit, func(e *goldap.Entry) error {
			emitted++
			return emit(e)
		})
	})
}

// searchOn runs a (paged, for subtree and one-level scopes) search on conn.
func (c *Client) searchOn(conn *goldap.Conn, base string, scope int, filter string, attrs []string, limit int, emit func(*goldap.Entry) error) error {
	req := goldap.NewSearchRequest(base, scope, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	if scope == goldap.ScopeBaseObject {
		c.requests.Add(1)
		res, err := conn.Search(req)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	paging := goldap.NewControlPaging(uint32(c.cfg.PageSize))
	req.Controls = append(req.Controls, paging)
	n := 0
	for {
		c.requests.Add(1)
		res, err := conn.Search(req)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if limit > 0 && n >= limit {
				c.abandonPaging(conn, req, paging, res)
				return nil
			}
			n++
			if err := emit(e); err != nil {
				c.abandonPaging(conn, req, paging, res)
				return err
			}
		}
		p, ok := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if !ok || len(p.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(p.Cookie)
	}
}

// abandonPaging tells the server to release a paged search that will not be continued (a
// page size of 0 with the cookie, RFC 2696 §3).
func (c *Client) abandonPaging(conn *goldap.Conn, req *goldap.SearchRequest, paging *goldap.ControlPaging, last *goldap.SearchResult) {
	p, ok := goldap.FindControl(last.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
	if !ok || len(p.Cookie) == 0 {
		return
	}
	paging.SetCookie(p.Cookie)
	paging.PagingSize = 0
	c.requests.Add(1)
	_, _ = conn.Search(req)
}

func searchTarget(base string, scope int, filter string) string {
	s := "sub"
	switch scope {
	case goldap.ScopeBaseObject:
		s = "base"
	case goldap.ScopeSingleLevel:
		s = "one"
	}
	return base + "?" + s + "?" + filter
}
