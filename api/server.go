// Package api is provisiond's HTTP API: versioned under /api/v1, JSON, protected by bearer
// tokens (a reader token for GET, an admin token for everything). Errors are JSON
// {"error":{"code":..,"message":..}}.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

// Options configure the API server.
type Options struct {
	Engine *provisioning.Engine
	Store  provisioning.Store
	// ReaderToken may GET; AdminToken may do everything. Both required (non-empty).
	ReaderToken, AdminToken string
	Logger                  *slog.Logger
	// Metrics, when set, is served at /metrics without authentication (Prometheus
	// scrapers).
	Metrics http.Handler
	// Version is reported by /healthz.
	Version string
	// Extra registers more routes on the mux (use Server.Auth for the same auth). The
	// query API is part of every server; Extra is for routes beyond the API.
	Extra func(mux *http.ServeMux, s *Server)
}

// APIVersion is the version of the API this server speaks, reported by /healthz (a
// client checks the major).
const APIVersion = "1.0"

// Server serves the API.
type Server struct {
	o     Options
	mux   *http.ServeMux
	ready atomic.Bool
	// patterns lists the routes the server registered (Routes).
	patterns []string
	// service names the service of event traces (OTEL_SERVICE_NAME, default provisiond).
	service string
	// now is the clock of relative windows (since, the statistics' defaults).
	now func() time.Time
}

// New returns a server. It is not ready (/readyz 503) until SetReady(true).
func New(o Options) (*Server, error) {
	if o.ReaderToken == "" || o.AdminToken == "" {
		return nil, errors.New("api: a reader token and an admin token are required")
	}
	if o.ReaderToken == o.AdminToken {
		return nil, errors.New("api: the reader token and the admin token must differ")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, mux: http.NewServeMux(), service: "provisiond", now: time.Now}
	if name := strings.TrimSpace(os.Getenv("OTEL_SERVICE_NAME")); name != "" {
		s.service = name
	}
	s.routes()
	return s, nil
}

// SetReady marks the server ready (the engine's jobs are loaded).
func (s *Server) SetReady(b bool) { s.ready.Store(b) }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Role is what a token may do.
type Role int

// Roles.
const (
	RoleNone Role = iota
	RoleReader
	RoleAdmin
)

func (s *Server) routes() {
	s.handle("GET /healthz", RoleNone, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.o.Version, "apiVersion": APIVersion})
	})
	s.handle("GET /readyz", RoleNone, func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, "NotReady", "provisiond is starting")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if s.o.Metrics != nil {
		s.handle("GET /metrics", RoleNone, s.o.Metrics.ServeHTTP)
	}
	s.handle("GET /api/v1/jobs", RoleReader, s.listJobs)
	s.handle("GET /api/v1/jobs/{id}", RoleReader, s.getJob)
	s.handle("GET /api/v1/jobs/{id}/status", RoleReader, s.getStatus)
	s.handle("POST /api/v1/jobs/{id}/start", RoleAdmin, s.start)
	s.handle("POST /api/v1/jobs/{id}/pause", RoleAdmin, s.pause)
	s.handle("POST /api/v1/jobs/{id}/syncNow", RoleAdmin, s.syncNow)
	s.handle("POST /api/v1/jobs/{id}/restart", RoleAdmin, s.restart)
	s.handle("POST /api/v1/jobs/{id}/provisionOnDemand", RoleAdmin, s.provisionOnDemand)
	s.queryRoutes()
	if s.o.Extra != nil {
		s.o.Extra(s.mux, s)
	}
	s.mux.HandleFunc("/api/", s.auth(RoleReader, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	}))
}

// handle registers a route; role RoleNone serves it without a token.
func (s *Server) handle(pattern string, role Role, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	if role == RoleNone {
		s.mux.HandleFunc(pattern, h)
		return
	}
	s.mux.HandleFunc(pattern, s.auth(role, h))
}

// Routes returns the patterns of the API's routes ("GET /api/v1/jobs/{id}"), sorted: what
// the OpenAPI document describes. Routes added with Options.Extra are not included.
func (s *Server) Routes() []string {
	out := slices.Clone(s.patterns)
	slices.Sort(out)
	return out
}

// Auth wraps a handler with bearer-token authentication requiring role.
func (s *Server) Auth(role Role, h http.HandlerFunc) http.HandlerFunc { return s.auth(role, h) }

func (s *Server) auth(need Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role := s.role(r)
		if role == RoleNone {
			w.Header().Set("WWW-Authenticate", `Bearer realm="provisiond"`)
			writeError(w, http.StatusUnauthorized, "Unauthorized", "a valid bearer token is required (Authorization: Bearer <token>)")
			return
		}
		if role < need {
			writeError(w, http.StatusForbidden, "Forbidden", "this operation needs the admin token; the reader token may only read")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actorName(role))))
	}
}

type actorKey struct{}

func actorName(r Role) string {
	if r == RoleAdmin {
		return "admin-token"
	}
	return "reader-token"
}

// Actor returns who made the request ("admin-token" or "reader-token").
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return "unknown"
}

func (s *Server) role(r *http.Request) Role {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return RoleNone
	}
	tok := []byte(strings.TrimSpace(h[len(p):]))
	admin := subtle.ConstantTimeCompare(tok, []byte(s.o.AdminToken)) == 1
	reader := subtle.ConstantTimeCompare(tok, []byte(s.o.ReaderToken)) == 1
	switch {
	case admin:
		return RoleAdmin
	case reader:
		return RoleReader
	}
	return RoleNone
}

// JobView is a job as the API shows it: its definition and its status.
type JobView struct {
	provisioning.Job
	Status provisioning.Status `json:"status"`
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	jobs := s.o.Engine.Jobs()
	out := make([]JobView, 0, len(jobs))
	for _, j := range jobs {
		st, err := s.o.Engine.Status(r.Context(), j.ID)
		if err != nil {
			WriteErr(w, err)
			return
		}
		out = append(out, JobView{Job: j, Status: st})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	id := r.PathValue("id")
	j, err := s.o.Engine.Job(id)
	if err != nil {
		WriteErr(w, err)
		return
	}
	st, err := s.o.Engine.Status(r.Context(), id)
	if err != nil {
		WriteErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JobView{Job: j, Status: st})
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	st, err := s.o.Engine.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	if err := noBody(r); err != nil {
		WriteErr(w, err)
		return
	}
	if err := s.o.Engine.Start(r.Context(), r.PathValue("id"), Actor(r.Context())); err != nil {
		WriteErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	if err := noBody(r); err != nil {
		WriteErr(w, err)
		return
	}
	if err := s.o.Engine.Pause(r.Context(), r.PathValue("id"), Actor(r.Context())); err != nil {
		WriteErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) syncNow(w http.ResponseWriter, r *http.Request) {
	if err := noBody(r); err != nil {
		WriteErr(w, err)
		return
	}
	if err := s.o.Engine.SyncNow(r.Context(), r.PathValue("id"), Actor(r.Context())); err != nil {
		WriteErr(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// RestartRequest is Graph's restart body.
type RestartRequest struct {
	Criteria struct {
		ResetScope string `json:"resetScope"`
	} `json:"criteria"`
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	var req RestartRequest
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	if err := decodeBody(r, &req, true); err != nil {
		WriteErr(w, err)
		return
	}
	scope, err := provisioning.ParseResetScope(req.Criteria.ResetScope)
	if err != nil {
		WriteErr(w, err)
		return
	}
	if err := s.o.Engine.Restart(r.Context(), r.PathValue("id"), scope, Actor(r.Context())); err != nil {
		WriteErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// OnDemandRequest accepts provisiond's form {"objectType":"User","sourceId":"E0001"} and
// Graph's {"parameters":[{"subjects":[{"objectId":"E0001","objectTypeName":"User"}]}]}.
type OnDemandRequest struct {
	ObjectType string `json:"objectType,omitempty"`
	SourceID   string `json:"sourceId,omitempty"`
	Parameters []struct {
		RuleID   string `json:"ruleId,omitempty"`
		Subjects []struct {
			ObjectID       string `json:"objectId"`
			ObjectTypeName string `json:"objectTypeName"`
		} `json:"subjects"`
	} `json:"parameters,omitempty"`
}

func (s *Server) provisionOnDemand(w http.ResponseWriter, r *http.Request) {
	var req OnDemandRequest
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteErr(w, err)
		return
	}
	odr := provisioning.OnDemandRequest{ObjectType: connectors.ObjectType(req.ObjectType), SourceID: req.SourceID}
	if len(req.Parameters) > 0 {
		if len(req.Parameters) != 1 || len(req.Parameters[0].Subjects) != 1 || req.SourceID != "" {
			WriteErr(w, badRequest("parameters: exactly one parameter with exactly one subject is supported (one user, or one group with all its members)"))
			return
		}
		sub := req.Parameters[0].Subjects[0]
		odr = provisioning.OnDemandRequest{ObjectType: connectors.ObjectType(sub.ObjectTypeName), SourceID: sub.ObjectID}
	}
	if odr.ObjectType != "" {
		switch strings.ToLower(string(odr.ObjectType)) {
		case "user":
			odr.ObjectType = connectors.TypeUser
		case "group":
			odr.ObjectType = connectors.TypeGroup
		}
	}
	res, err := s.o.Engine.ProvisionOnDemand(r.Context(), r.PathValue("id"), odr, Actor(r.Context()))
	if err != nil {
		WriteErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// --- helpers shared with the query API ---

// Error is an API error with its HTTP status and code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "BadRequest", Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 error naming the problem.
func BadRequest(format string, args ...any) error { return badRequest(format, args...) }

// WriteErr writes err as a JSON error with the matching status.
func WriteErr(w http.ResponseWriter, err error) {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.Status, ae.Code, ae.Message)
	case errors.Is(err, provisioning.ErrUnknownJob):
		writeError(w, http.StatusNotFound, "JobNotFound", err.Error())
	case errors.Is(err, provisioning.ErrUnknownObject), errors.Is(err, provisioning.ErrNotFound):
		writeError(w, http.StatusNotFound, "NotFound", err.Error())
	case errors.Is(err, provisioning.ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
	case errors.Is(err, provisioning.ErrConflict):
		writeError(w, http.StatusConflict, "Conflict", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "Timeout", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

const maxBody = 1 << 20

// decodeBody decodes a JSON body strictly (unknown fields are errors); an empty body is
// allowed when optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(body) > maxBody {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "TooLarge", Message: "the request body is larger than 1 MiB"}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return badRequest("a JSON request body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("the request body is not valid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return badRequest("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s in the request body", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("invalid request body: %v", err)
	}
	return nil
}

// noBody checks that an action has no body and no query parameters.
func noBody(r *http.Request) error {
	if p := newParams(r); p.err != nil {
		return p.err
	}
	var v struct{}
	return decodeBody(r, &v, true)
}

// Serve runs handler on addr until ctx is done, then drains for up to grace.
func Serve(ctx context.Context, srv *http.Server, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return srv.Shutdown(sctx)
}
