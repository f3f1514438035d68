package scimserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The library renders meta.created and meta.lastModified with whole seconds (time.RFC3339)
// and meta.location relative to its own base ("Users/<id>") unless given a fixed base URL, and
// it reports the requested count as itemsPerPage. This server needs millisecond timestamps
// (delta queries on meta.lastModified), absolute locations for whatever host the server is
// reached on, and RFC itemsPerPage, so the resource handlers leave Meta.Created and
// Meta.LastModified unset and record the real values in reqState, and the wrapper completes
// the library's response here. The rewrite is a single linear pass over the bytes; it never
// decodes the body.

// bufferedResponse captures the library's response. Headers go straight to the real
// ResponseWriter's header map.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// finish completes and sends a buffered resource response.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, k *kind, st *reqState, buf *bufferedResponse, base string) {
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	body := buf.body.Bytes()
	h := w.Header()
	ok := status >= 200 && status < 300
	if ok && len(st.metas) > 0 {
		body = completeMeta(body, st.metas, base)
	}
	if ok && st.list {
		body = fixItemsPerPage(body, st.itemsPerPage)
	}
	if loc := h.Get("Location"); loc != "" && !strings.Contains(loc, "://") {
		h.Set("Location", base+"/"+loc)
	}
	if ok && !st.list && st.version != "" {
		h.Set("ETag", st.version)
		if status != http.StatusNoContent && len(st.metas) == 1 {
			h.Set("Content-Location", base+k.endpoint+"/"+url.PathEscape(st.metas[0].id))
		}
		if r.Method == http.MethodGet && status == http.StatusOK && etagListContains(r.Header.Get("If-None-Match"), st.version) {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if status != http.StatusNoContent {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if status != http.StatusNoContent {
		_, _ = w.Write(body)
	}
}

// etagListContains reports whether an If-None-Match value lists etag ("*" matches any),
// using weak comparison.
func etagListContains(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	for tag := range strings.SplitSeq(header, ",") {
		if opaqueTag(strings.TrimSpace(tag)) == opaqueTag(etag) {
			return true
		}
	}
	return false
}

var (
	metaPrefix  = []byte(`"meta":{"resourceType":"`)
	locationKey = []byte(`,"location":"`)
)

// completeMeta inserts created and lastModified into every meta object the library wrote and
// makes meta.location absolute. The library marshals meta as
// {"resourceType":"…","location":"…","version":"…"} when created/lastModified are unset; the
// byte sequence `"meta":{"resourceType":"` cannot occur inside a JSON string (its quotes would
// be escaped), so every occurrence is a resource's meta.
func completeMeta(body []byte, metas []metaRec, base string) []byte {
	jbase := jsonEscape(base)
	out := make([]byte, 0, len(body)+len(metas)*(72+len(jbase)))
	i, next := 0, 0
	for {
		j := bytes.Index(body[i:], metaPrefix)
		if j < 0 {
			break
		}
		j += i
		q := j + len(metaPrefix)
		e := bytes.IndexByte(body[q:], '"')
		if e < 0 {
			break
		}
		e += q // closing quote of resourceType
		if !bytes.HasPrefix(body[e+1:], locationKey) {
			out = append(out, body[i:e+1]...)
			i = e + 1
			continue
		}
		ls := e + 1 + len(locationKey)
		le := stringEnd(body, ls)
		if le < 0 {
			break
		}
		loc := body[ls:le]
		out = append(out, body[i:e+1]...)
		if rec := pickMeta(metas, &next, loc); rec != nil {
			out = append(out, `,"created":"`...)
			out = append(out, rec.created...)
			out = append(out, `","lastModified":"`...)
			out = append(out, rec.modified...)
			out = append(out, '"')
		}
		out = append(out, locationKey...)
		if !bytes.Contains(loc, []byte("://")) {
			out = append(out, jbase...)
			out = append(out, '/')
		}
		out = append(out, loc...)
		out = append(out, '"')
		i = le + 1
	}
	return append(out, body[i:]...)
}

// pickMeta returns the record for the resource at location loc: normally the next one in
// order.
func pickMeta(metas []metaRec, next *int, loc []byte) *metaRec {
	matches := func(m *metaRec) bool {
		id := url.PathEscape(m.id)
		return len(loc) > len(id) && loc[len(loc)-len(id)-1] == '/' && string(loc[len(loc)-len(id):]) == id
	}
	if *next < len(metas) && matches(&metas[*next]) {
		*next++
		return &metas[*next-1]
	}
	for i := range metas {
		if matches(&metas[i]) {
			return &metas[i]
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the JSON string that starts at i (just
// after its opening quote), or -1.
func stringEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

var itemsPerPageKey = []byte(`"itemsPerPage":`)

// fixItemsPerPage sets the list response's itemsPerPage to the number of resources returned
// (the library writes the requested count). The key occurs once, at the top level: resources
// have no such attribute, and inside strings its quotes would be escaped. The returned count
// is at most the requested one, so the number never gets longer and body is edited in place.
func fixItemsPerPage(body []byte, n int) []byte {
	i := bytes.LastIndex(body, itemsPerPageKey)
	if i < 0 {
		return body
	}
	s := i + len(itemsPerPageKey)
	e := s
	for e < len(body) && body[e] >= '0' && body[e] <= '9' {
		e++
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(n), 10)
	if len(d) > e-s {
		out := make([]byte, 0, len(body)+len(d))
		out = append(out, body[:s]...)
		out = append(out, d...)
		return append(out, body[e:]...)
	}
	copy(body[s:], d)
	m := copy(body[s+len(d):], body[e:])
	return body[:s+len(d)+m]
}
