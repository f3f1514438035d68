package scim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// listQuery is one paged query.
type listQuery struct {
	endpoint   string
	filter     string // raw SCIM filter, "" for none
	checked    bool   // filter already validated
	attributes []string
	attrQuery  string // "attributes=..." already encoded (overrides attributes)
	excluded   []string
	pageSize   int
	// limit stops after this many resources (0 = all).
	limit int
	// cursor uses RFC 9865 cursor pagination.
	cursor bool
	// bareFirst sends the first index-paged request without startIndex/count, as Entra's
	// matching GET does (Find: 0 or 1 results expected; servers answer such a query
	// cheaper, and further pages still follow from startIndex).
	bareFirst bool
}

// listPage is a ListResponse.
type listPage struct {
	TotalResults *int             `json:"totalResults"`
	ItemsPerPage int              `json:"itemsPerPage"`
	StartIndex   int              `json:"startIndex"`
	NextCursor   *string          `json:"nextCursor"`
	Resources    []map[string]any `json:"Resources"`
}

func (q *listQuery) encode(extra string) string {
	var b strings.Builder
	b.Grow(len(q.filter)*2 + len(q.attrQuery) + len(extra) + 16)
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
	}
	if q.filter != "" {
		b.WriteString("filter=")
		b.WriteString(url.QueryEscape(q.filter))
	}
	switch {
	case q.attrQuery != "":
		sep()
		b.WriteString(q.attrQuery)
	case len(q.attributes) > 0:
		sep()
		b.WriteString("attributes=")
		b.WriteString(url.QueryEscape(strings.Join(q.attributes, ",")))
	}
	if len(q.excluded) > 0 {
		sep()
		b.WriteString("excludedAttributes=")
		b.WriteString(url.QueryEscape(strings.Join(q.excluded, ",")))
	}
	if extra != "" {
		sep()
		b.WriteString(extra)
	}
	return b.String()
}

// list pages through q and calls fn for every resource, in server order, each id once.
// The server's order is assumed stable between pages (RFC 7644 §3.4.2.4 pages by index
// into a result set the client cannot sort without sortBy). Index pagination loops until
// totalResults resources were seen or a page comes back empty; itemsPerPage is not trusted
// (servers return fewer than count, or report a wrong itemsPerPage). It returns
// totalResults (or the number of resources seen when the server does not say).
func (c *Client) list(ctx context.Context, q listQuery, fn func(map[string]any) error) (int, error) {
	if q.filter != "" && !q.checked {
		if err := checkFilter(q.filter); err != nil {
			return 0, err
		}
	}
	if q.pageSize <= 0 {
		q.pageSize = DefaultPageSize
	}
	// Ids seen so far (hashed), to drop repeats when the result set shifts between pages.
	// Built only when a second page is needed: most queries (Find) have one page.
	var seen map[uint64]struct{}
	var firstPage []uint64
	count, total := 0, -1
	firstID := ""
	start := 1
	cursor := ""
	usedCursors := map[string]bool{}
	emptyPages := 0
	for page := 0; ; page++ {
		n := q.pageSize
		if q.limit > 0 && q.limit-count < n {
			n = q.limit - count
		}
		var extra string
		switch {
		case q.cursor:
			extra = "cursor=" + url.QueryEscape(cursor) + "&count=" + strconv.Itoa(n)
		case page == 0 && q.bareFirst:
		default:
			extra = "startIndex=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(n)
		}
		r, err := c.do(ctx, call{method: http.MethodGet, path: q.endpoint, query: q.encode(extra), idempotent: true})
		if err != nil {
			return 0, err
		}
		var lp listPage
		if err := json.Unmarshal(r.body(), &lp); err != nil {
			e := c.incompatible(http.MethodGet, q.endpoint, r.status, r.body(), "the list response is not a SCIM ListResponse")
			r.release()
			return 0, e
		}
		r.release()
		if lp.TotalResults != nil {
			total = *lp.TotalResults
		}
		fresh := 0
		for i, res := range lp.Resources {
			id, _ := res["id"].(string)
			if id == "" {
				return 0, c.incompatible(http.MethodGet, q.endpoint, 200, nil, "a listed resource has no id")
			}
			if page > 0 && i == 0 && !q.cursor && id == firstID {
				return 0, c.incompatible(http.MethodGet, q.endpoint, 200, nil,
					"the server ignores startIndex (page "+strconv.Itoa(page+1)+" repeats page 1)")
			}
			if page == 0 && i == 0 {
				firstID = id
			}
			k := idHash(id)
			if seen != nil {
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
			} else {
				firstPage = append(firstPage, k)
			}
			fresh++
			count++
			if err := fn(res); err != nil {
				return 0, err
			}
			if q.limit > 0 && count >= q.limit {
				return max(total, count), nil
			}
		}
		if seen == nil {
			seen = make(map[uint64]struct{}, 2*len(firstPage))
			for _, k := range firstPage {
				seen[k] = struct{}{}
			}
		}
		if q.cursor {
			if lp.NextCursor == nil || *lp.NextCursor == "" {
				break
			}
			next := *lp.NextCursor
			if usedCursors[next] {
				return 0, c.incompatible(http.MethodGet, q.endpoint, 200, nil, "the server repeated a nextCursor")
			}
			usedCursors[next] = true
			cursor = next
			if len(lp.Resources) == 0 {
				if emptyPages++; emptyPages > 3 {
					break
				}
			} else {
				emptyPages = 0
			}
			continue
		}
		if len(lp.Resources) == 0 || fresh == 0 {
			break
		}
		start += len(lp.Resources)
		if total >= 0 && start > total {
			break
		}
	}
	if total < 0 {
		total = count
	}
	return total, nil
}

// idHash is FNV-1a (64 bit) of id.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}
