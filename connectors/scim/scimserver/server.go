// Package scimserver is an embedded SCIM 2.0 service provider (RFC 7643, RFC 7644) with Users
// (core schema plus the enterprise extension) and Groups, kept in memory. provisiond uses it
// as the target of its demo, in tests and in benchmarks; `provisiond scim-server` runs it
// standalone.
//
// It is built on github.com/elimity-com/scim, which routes requests, validates request bodies,
// PATCH operations and filters against the schemas, evaluates filters, and renders resources,
// list responses, errors, /Schemas and /ResourceTypes. This package adds what the library
// leaves to its users or does not do:
//
//   - an indexed, thread-safe store: `attr eq "v"` filters (and conjunctions or disjunctions of
//     them) on id, userName, externalId, displayName and emails.value are answered from
//     indexes; every other valid filter is answered by a scan;
//   - uniqueness (userName among users, displayName among groups, both case-insensitive) and
//     the required userName/displayName;
//   - PATCH application (add/replace/remove, with and without paths, value-filter paths);
//   - meta.created/lastModified with milliseconds, absolute meta.location and Location,
//     meta.version with ETag headers, If-Match on PUT/PATCH/DELETE (412) and If-None-Match on
//     GET (304);
//   - paging with RFC itemsPerPage, attributes/excludedAttributes;
//   - the Entra matching filter form `emails[type eq "work"].value eq "x"`, JSON escapes in
//     filter literals (the library keeps them verbatim), compound filters mixing core and
//     extension attributes (the library rejects them), and a fast parser for `attr eq "v"`
//     conjunctions (the library's parser allocates ~80 KB per filter);
//   - POST /Users/.search and /Groups/.search, answered as the equivalent GET;
//   - bearer-token authentication, fault injection (GET/PUT /admin/faults), request statistics;
//   - a truthful ServiceProviderConfig (etag supported; bulk, sort, changePassword not).
//
// Behaviour choices:
//
//   - PATCH of active with the legacy string "False"/"True" is rejected with 400 invalidValue
//     (as SCIMMY does); only JSON booleans are accepted.
//   - PATCH of a Group answers 204 No Content (as Entra expects) unless the request has an
//     attributes or excludedAttributes parameter; PATCH of a User answers 200 with the User.
//   - add/replace on a value-filter path that matches nothing adds a new value when the filter
//     is a conjunction of eq comparisons (`emails[type eq "work"].value`); otherwise 400
//     noTarget. remove on a value-filter path that matches nothing succeeds.
//   - The password attribute is accepted and discarded: never stored, never returned.
//   - The readOnly User attribute groups is not maintained (membership lives on Groups).
package scimserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
)

// Options configure a Server.
type Options struct {
	Token          string       // required bearer token ("" disables auth only if AllowAnonymous)
	AllowAnonymous bool         // with Token "", accept requests without credentials
	MaxResults     int          // filter.maxResults / max page size, default 1000
	Logger         *slog.Logger // optional; never logs tokens
	// DeterministicIDs derives a resource's id from its userName (users) or displayName
	// (groups), lower-cased, as a name-based UUID: the same data gets the same ids on
	// every server, so recorded requests can be replayed (provisiond bench).
	DeterministicIDs bool
}

// String describes the options without the token.
func (o Options) String() string {
	return fmt.Sprintf("{Token:%s AllowAnonymous:%t MaxResults:%d}", redacted(o.Token), o.AllowAnonymous, o.MaxResults)
}

// LogValue keeps the token out of structured logs.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", redacted(o.Token)),
		slog.Bool("allowAnonymous", o.AllowAnonymous),
		slog.Int("maxResults", o.MaxResults),
	)
}

func redacted(token string) string {
	if token == "" {
		return `""`
	}
	return "[REDACTED]"
}

// DefaultMaxResults is the page size limit when Options.MaxResults is not set.
const DefaultMaxResults = 1000

// maxBodyBytes bounds request bodies (a PUT of a group with 100,000 members is about 10 MB).
const maxBodyBytes = 64 << 20

// Server is an in-memory SCIM 2.0 service provider. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	users   *kind
	groups  *kind
	scim    http.Handler // the library's server
	handler http.Handler

	faults   atomic.Pointer[Faults]
	version  atomic.Uint64
	requests atomic.Int64
	byStatus [600]atomic.Int64

	now func() time.Time
}

// New returns a Server. It fails if opts.Token is empty and opts.AllowAnonymous is false, or
// opts.MaxResults is negative.
func New(opts Options) (*Server, error) {
	if opts.Token == "" && !opts.AllowAnonymous {
		return nil, errors.New("scimserver: Options.Token is required (or set AllowAnonymous)")
	}
	if opts.MaxResults < 0 {
		return nil, fmt.Errorf("scimserver: Options.MaxResults must not be negative, got %d", opts.MaxResults)
	}
	if opts.MaxResults == 0 {
		opts.MaxResults = DefaultMaxResults
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:   opts,
		log:    log,
		users:  newUserKind(),
		groups: newGroupKind(),
		now:    func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
	s.faults.Store(&Faults{})

	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			MaxResults:       opts.MaxResults,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scim.ResourceType{
			s.resourceType(s.users, "User Account"),
			s.resourceType(s.groups, "Group"),
		},
	}, scim.WithLogger(libLogger{log}))
	if err != nil {
		return nil, fmt.Errorf("scimserver: %w", err)
	}
	s.scim = srv
	s.handler = s.serveHTTP()
	return s, nil
}

func (s *Server) resourceType(k *kind, description string) scim.ResourceType {
	rt := scim.ResourceType{
		ID:          optional.NewString(k.name),
		Name:        k.name,
		Description: optional.NewString(description),
		Endpoint:    k.endpoint,
		Schema:      k.core,
		Handler:     resourceHandler{s: s, k: k},
	}
	for _, e := range k.exts {
		rt.SchemaExtensions = append(rt.SchemaExtensions, scim.SchemaExtension{Schema: e})
	}
	return rt
}

func (s *Server) nextVersion() uint64 { return s.version.Add(1) }

// Handler serves the SCIM API under /scim/v2 (ServiceProviderConfig, Schemas, ResourceTypes,
// Users, Groups, and POST …/.search) and the fault switch at /admin/faults.
func (s *Server) Handler() http.Handler { return s.handler }

// Stats are request and store counters.
type Stats struct {
	Users, Groups int
	Requests      int64
	ByStatus      map[int]int64
}

// Stats returns the number of stored users and groups, and the number of requests the handler
// has answered (all paths, including /admin/faults, rejected and fault-injected requests) in
// total and by response status.
func (s *Server) Stats() Stats {
	st := Stats{
		Users:    s.users.st.count(),
		Groups:   s.groups.st.count(),
		Requests: s.requests.Load(),
		ByStatus: map[int]int64{},
	}
	for code := range s.byStatus {
		if n := s.byStatus[code].Load(); n > 0 {
			st.ByStatus[code] = n
		}
	}
	return st
}

// UserByUserName returns the stored user with this userName (compared case-insensitively) as
// a JSON-like map, as GET would return it (with schemas, id and meta; meta.location is
// relative to the server root). The map is a copy.
func (s *Server) UserByUserName(userName string) (map[string]any, bool) {
	return s.byUnique(s.users, "userName", userName)
}

// GroupByDisplayName returns the stored group with this displayName (compared
// case-insensitively), like UserByUserName.
func (s *Server) GroupByDisplayName(name string) (map[string]any, bool) {
	return s.byUnique(s.groups, "displayName", name)
}

func (s *Server) byUnique(k *kind, index, v string) (map[string]any, bool) {
	for _, e := range k.st.lookup(index, v) {
		if snap := e.cur.Load(); snap != nil {
			return k.export(snap), true
		}
	}
	return nil, false
}

// export renders a snapshot as a detached JSON-like map.
func (k *kind) export(snap *snapshot) map[string]any {
	out := deepCopy(snap.attrs).(map[string]any)
	schemas := []any{k.core.ID}
	for _, e := range k.exts {
		if _, ok := snap.attrs[e.ID]; ok {
			schemas = append(schemas, e.ID)
		}
	}
	out["schemas"] = schemas
	id, _ := snap.attrs["id"].(string)
	out["meta"] = map[string]any{
		"resourceType": k.name,
		"created":      formatTime(snap.created),
		"lastModified": formatTime(snap.modified),
		"location":     "/scim/v2" + k.endpoint + "/" + id,
		"version":      etagValue(snap.version),
	}
	return out
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}

// Reset returns the server to the state New left it in: no users or groups, no faults, zero
// counters.
func (s *Server) Reset() {
	s.users.st.reset()
	s.groups.st.reset()
	s.faults.Store(&Faults{})
	s.requests.Store(0)
	for i := range s.byStatus {
		s.byStatus[i].Store(0)
	}
}

// ListenAndServe serves s.Handler() on addr until ctx is done, then shuts down gracefully
// (waiting up to 5 s for requests in flight). It returns nil after a shutdown caused by ctx.
func ListenAndServe(ctx context.Context, addr string, s *Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("scimserver: listen: %w", err)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.log.Info("scim server listening", "addr", ln.Addr().String(), "base", "/scim/v2")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("scimserver: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("scimserver: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("scimserver: serve: %w", err)
	}
	return nil
}

// serveHTTP builds the request pipeline: statistics and logging, routing, authentication,
// faults, then the library behind the request pre- and post-processing.
func (s *Server) serveHTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		s.route(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.requests.Add(1)
		if status > 0 && status < len(s.byStatus) {
			s.byStatus[status].Add(1)
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "scim request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Duration("duration", time.Since(start)))
	})
}

const apiPrefix = "/scim/v2"

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/admin/faults":
		if !s.authorized(r) {
			writeUnauthorized(w)
			return
		}
		s.serveFaults(w, r)
	case r.URL.Path == apiPrefix || strings.HasPrefix(r.URL.Path, apiPrefix+"/"):
		f := s.Faults()
		sleep(r.Context(), f.Latency)
		if f.Unauthorized || !s.authorized(r) {
			writeUnauthorized(w)
			return
		}
		if hit(f.ThrottleRate) {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfterSeconds()))
			writeError(w, http.StatusTooManyRequests, "", "Too many requests (injected fault); retry after "+strconv.Itoa(f.retryAfterSeconds())+" s.")
			return
		}
		if hit(f.ErrorRate) {
			writeError(w, http.StatusInternalServerError, "", "Internal server error (injected fault).")
			return
		}
		s.serveSCIM(w, r)
	default:
		writeError(w, http.StatusNotFound, "", "Not found; the SCIM API is under "+apiPrefix+".")
	}
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return s.opts.AllowAnonymous
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opts.Token)) == 1
}

func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
	writeError(w, http.StatusUnauthorized, "", "Authorization failure: a valid bearer token is required.")
}

// writeError writes a SCIM error response (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveSCIM pre-processes a request for the library and post-processes its response.
func (s *Server) serveSCIM(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	path := strings.TrimPrefix(r.URL.Path, "/scim") // the library expects /v2/…
	rest := strings.TrimPrefix(path, "/v2")
	base := baseURL(r)

	if rest == "/ServiceProviderConfig" {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "", "use GET")
			return
		}
		s.serveServiceProviderConfig(w, base)
		return
	}

	var k *kind
	switch {
	case rest == s.users.endpoint || strings.HasPrefix(rest, s.users.endpoint+"/"):
		k = s.users
	case rest == s.groups.endpoint || strings.HasPrefix(rest, s.groups.endpoint+"/"):
		k = s.groups
	}
	if k == nil {
		// Schemas, ResourceTypes and everything else: the library as is.
		r2 := r.Clone(r.Context())
		r2.URL.Path = path
		r2.URL.RawPath = ""
		s.scim.ServeHTTP(w, r2)
		return
	}

	st := &reqState{}
	r2 := r.Clone(withState(r.Context(), st))
	r2.URL.Path = path
	r2.URL.RawPath = ""

	if rest == k.endpoint+"/.search" && r.Method == http.MethodPost {
		// POST /.search is answered as the equivalent GET (the library would validate its
		// filter without the common attributes and without the fixes in compileFilter).
		q, err := searchQuery(r2)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidSyntax", err.Error())
			return
		}
		r2.Method = http.MethodGet
		r2.URL.Path = strings.TrimSuffix(path, "/.search")
		r2.URL.RawQuery = q
		r2.Body = http.NoBody
		rest = k.endpoint
	}

	if rest == k.endpoint && r2.Method == http.MethodGet {
		q := r2.URL.Query()
		if raw := strings.TrimSpace(q.Get("filter")); raw != "" {
			cf, err := k.compileFilter(raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalidFilter", "Invalid filter: "+err.Error())
				return
			}
			st.filter = cf
			q.Del("filter") // parsed here; the library would reject some filters this server supports
			r2.URL.RawQuery = q.Encode()
		}
	}

	buf := &bufferedResponse{header: w.Header()}
	s.scim.ServeHTTP(buf, r2)
	s.finish(w, r2, k, st, buf, base)
}

// searchQuery converts a SearchRequest body (RFC 7644 §3.4.3) to GET query parameters.
func searchQuery(r *http.Request) (string, error) {
	var req struct {
		Schemas            []string `json:"schemas"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
		Filter             string   `json:"filter"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return "", fmt.Errorf("invalid SearchRequest: %w", err)
	}
	if len(req.Schemas) != 1 || req.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:SearchRequest" {
		return "", errors.New(`a SearchRequest needs "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]`)
	}
	q := url.Values{}
	if req.Filter != "" {
		q["filter"] = []string{req.Filter}
	}
	if len(req.Attributes) > 0 {
		q["attributes"] = []string{strings.Join(req.Attributes, ",")}
	}
	if len(req.ExcludedAttributes) > 0 {
		q["excludedAttributes"] = []string{strings.Join(req.ExcludedAttributes, ",")}
	}
	if req.StartIndex != nil {
		q["startIndex"] = []string{strconv.Itoa(*req.StartIndex)}
	}
	if req.Count != nil {
		q["count"] = []string{strconv.Itoa(*req.Count)}
	}
	return q.Encode(), nil
}

// baseURL is the absolute URL of the SCIM API as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + apiPrefix
}

// serveServiceProviderConfig answers GET /ServiceProviderConfig. The library's version always
// says etag unsupported; this server supports ETags.
func (s *Server) serveServiceProviderConfig(w http.ResponseWriter, base string) {
	spc := map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.opts.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "Authentication with a bearer token in the Authorization header.",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	}
	b, _ := json.Marshal(spc)
	w.Header().Set("Content-Type", "application/scim+json")
	_, _ = w.Write(b)
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// libLogger adapts slog to the library's logger. The library logs only marshalling and write
// failures, never request headers.
type libLogger struct{ l *slog.Logger }

func (l libLogger) Error(args ...any) {
	if len(args) == 0 {
		return
	}
	msg, ok := args[0].(string)
	if !ok {
		msg = fmt.Sprint(args[0])
	}
	l.l.Error("scim library: "+msg, args[1:]...)
}
