// Package client is the Go client of provisiond's HTTP API (docs/api.md), used by the CLI
// and the Grafana datasource. Every method maps to one endpoint; errors from the server
// are *Error with its status, code and message.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// APIVersion is the API version this client speaks (the major must match the server's
// /healthz apiVersion).
const APIVersion = "1.0"

// Client talks to one provisiond server.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	ua    string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, TLS, instrumentation).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// New returns a client of the server at baseURL ("http://127.0.0.1:8080") with a bearer
// token (reader or admin).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("provisiond API URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provisiond API URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u, token: token, hc: &http.Client{Timeout: 60 * time.Second}, ua: "provisiond-client/" + APIVersion}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an error answer of the server.
type Error struct {
	// Status is the HTTP status; Code and Message come from the JSON error body.
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("provisiond API: HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("provisiond API: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// StatusOf returns the HTTP status of an API error (0 for another error).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Page is one page of a list; NextCursor continues it ("" on the last page).
type Page[T any] struct {
	Value      []T    `json:"value"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// Health is /healthz.
type Health struct {
	Status     string `json:"status"`
	Version    string `json:"version"`
	APIVersion string `json:"apiVersion"`
}

// Job is a job with its status (GET /api/v1/jobs).
type Job struct {
	provisioning.Job
	Status provisioning.Status `json:"status"`
}

// Trace is an event's operation as spans.
type Trace struct {
	EventID string                   `json:"eventId"`
	TraceID string                   `json:"traceId"`
	Spans   []provisioning.TraceSpan `json:"spans"`
}

// Identity is one object found by SearchIdentities.
type Identity struct {
	// ID is the source ID; TargetID the target ID when known.
	ID           string    `json:"id"`
	TargetID     string    `json:"targetId,omitempty"`
	DisplayName  string    `json:"displayName"`
	IdentityType string    `json:"identityType"`
	JobID        string    `json:"jobId"`
	LastSeen     time.Time `json:"lastSeen"`
}

// LogsQuery filters provisioning logs; zero fields do not filter.
type LogsQuery struct {
	JobID, CycleID, ChangeID string
	// Identity matches a display name, source ID or target ID; exactly, or as a prefix
	// with IdentityPrefix.
	Identity       string
	IdentityPrefix bool
	IdentityType   string
	Action         string
	Status         string
	ErrorCode      string
	From, To       time.Time
	// Ascending lists oldest first (the default is newest first).
	Ascending bool
	// Limit is the page size (server default 100, capped at 1000).
	Limit int
	// Cursor continues a previous page of the same query.
	Cursor string
}

func (q LogsQuery) values() url.Values {
	v := url.Values{}
	set(v, "jobId", q.JobID)
	set(v, "cycleId", q.CycleID)
	set(v, "changeId", q.ChangeID)
	set(v, "identity", q.Identity)
	if q.IdentityPrefix {
		v.Set("identityMatch", "prefix")
	}
	set(v, "identityType", q.IdentityType)
	set(v, "action", q.Action)
	set(v, "status", q.Status)
	set(v, "errorCode", q.ErrorCode)
	setTime(v, "from", q.From)
	setTime(v, "to", q.To)
	if q.Ascending {
		v.Set("order", "asc")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set(v, "cursor", q.Cursor)
	return v
}

// StatsQuery asks for time-bucketed event counts.
type StatsQuery struct {
	JobID, Action, Status, ErrorCode, IdentityType string
	// From and To default to the last 24 hours.
	From, To time.Time
	// Interval is the bucket width (whole minutes; server default 1h).
	Interval time.Duration
	// GroupBy: action, status, errorCode, jobId, identityType.
	GroupBy []string
}

// StatsResult is GET /api/v1/stats/events.
type StatsResult struct {
	From     time.Time                  `json:"from"`
	To       time.Time                  `json:"to"`
	Interval string                     `json:"interval"` // Go duration ("1h0m0s")
	Value    []provisioning.StatsBucket `json:"value"`
}

// Window bounds a statistics query (zero: the server's default of the last 24 hours).
type Window struct {
	JobID    string
	From, To time.Time
	// Limit for TopErrors (server default 10).
	Limit int
}

func (w Window) values() url.Values {
	v := url.Values{}
	set(v, "jobId", w.JobID)
	setTime(v, "from", w.From)
	setTime(v, "to", w.To)
	if w.Limit > 0 {
		v.Set("limit", strconv.Itoa(w.Limit))
	}
	return v
}

// Health calls /healthz (no token needed).
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.get(ctx, "/healthz", nil, &h)
}

// Jobs lists the jobs with their status.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var p Page[Job]
	return p.Value, c.get(ctx, "/api/v1/jobs", nil, &p)
}

// Job returns one job with its status.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	return j, c.get(ctx, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// Status returns a job's status.
func (c *Client) Status(ctx context.Context, jobID string) (provisioning.Status, error) {
	var s provisioning.Status
	return s, c.get(ctx, "/api/v1/jobs/"+url.PathEscape(jobID)+"/status", nil, &s)
}

// Start resumes a paused (or quarantined) job. Admin token.
func (c *Client) Start(ctx context.Context, jobID string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(jobID)+"/start", nil, nil, nil)
}

// Pause pauses a job. Admin token.
func (c *Client) Pause(ctx context.Context, jobID string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(jobID)+"/pause", nil, nil, nil)
}

// SyncNow starts a cycle now. Admin token.
func (c *Client) SyncNow(ctx context.Context, jobID string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(jobID)+"/syncNow", nil, nil, nil)
}

// Restart restarts a job with a reset scope ("Escrows,Watermark"; "" for none). Admin token.
func (c *Client) Restart(ctx context.Context, jobID, resetScope string) error {
	body := map[string]any{"criteria": map[string]string{"resetScope": resetScope}}
	return c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(jobID)+"/restart", nil, body, nil)
}

// ProvisionOnDemand provisions one user or group (objectType "User" or "Group") now and
// returns the result with its events and steps. Admin token.
func (c *Client) ProvisionOnDemand(ctx context.Context, jobID, objectType, sourceID string) (provisioning.OnDemandResult, error) {
	var r provisioning.OnDemandResult
	body := map[string]string{"objectType": objectType, "sourceId": sourceID}
	return r, c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(jobID)+"/provisionOnDemand", nil, body, &r)
}

// Logs returns one page of provisioning logs.
func (c *Client) Logs(ctx context.Context, q LogsQuery) (Page[provisioning.Event], error) {
	var p Page[provisioning.Event]
	return p, c.get(ctx, "/api/v1/provisioningLogs", q.values(), &p)
}

// StreamLogs reads every event q selects (Limit and Cursor ignored) as NDJSON and calls
// fn for each, in q's order, without holding them in memory.
func (c *Client) StreamLogs(ctx context.Context, q LogsQuery, fn func(provisioning.Event) error) error {
	q.Limit, q.Cursor = 0, ""
	v := q.values()
	v.Set("format", "ndjson")
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/provisioningLogs", v, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev provisioning.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("provisiond API: NDJSON line: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return sc.Err()
}

// ExportLogs writes every event q selects as CSV (table "events", "steps" or
// "modifiedProperties", joined on changeId) to w.
func (c *Client) ExportLogs(ctx context.Context, q LogsQuery, table string, w io.Writer) error {
	q.Limit, q.Cursor = 0, ""
	v := q.values()
	v.Set("format", "csv")
	set(v, "table", table)
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/provisioningLogs", v, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Event returns one event.
func (c *Client) Event(ctx context.Context, id string) (provisioning.Event, error) {
	var ev provisioning.Event
	return ev, c.get(ctx, "/api/v1/provisioningLogs/"+url.PathEscape(id), nil, &ev)
}

// Trace returns an event's operation as spans.
func (c *Client) Trace(ctx context.Context, eventID string) (Trace, error) {
	var t Trace
	return t, c.get(ctx, "/api/v1/provisioningLogs/"+url.PathEscape(eventID)+"/trace", nil, &t)
}

// IdentityHistory returns one page of every event of one object (by source or target
// ID) across cycles and jobs, newest first (jobID "" for every job).
func (c *Client) IdentityHistory(ctx context.Context, id, jobID string, limit int, cursor string) (Page[provisioning.Event], error) {
	v := url.Values{}
	set(v, "jobId", jobID)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	set(v, "cursor", cursor)
	var p Page[provisioning.Event]
	return p, c.get(ctx, "/api/v1/identities/"+url.PathEscape(id)+"/history", v, &p)
}

// SearchIdentities finds objects whose display name, source ID or target ID starts with
// query (for variables and autocomplete), most recently seen first.
func (c *Client) SearchIdentities(ctx context.Context, query, jobID string, limit int) ([]Identity, error) {
	v := url.Values{}
	set(v, "query", query)
	set(v, "jobId", jobID)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var p Page[Identity]
	return p.Value, c.get(ctx, "/api/v1/identities", v, &p)
}

// Cycles returns a job's cycles, newest first.
func (c *Client) Cycles(ctx context.Context, jobID string, limit int) ([]provisioning.Cycle, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var p Page[provisioning.Cycle]
	return p.Value, c.get(ctx, "/api/v1/jobs/"+url.PathEscape(jobID)+"/cycles", v, &p)
}

// Cycle returns one cycle.
func (c *Client) Cycle(ctx context.Context, jobID, cycleID string) (provisioning.Cycle, error) {
	var cy provisioning.Cycle
	return cy, c.get(ctx, "/api/v1/jobs/"+url.PathEscape(jobID)+"/cycles/"+url.PathEscape(cycleID), nil, &cy)
}

// EventStats returns time-bucketed event counts.
func (c *Client) EventStats(ctx context.Context, q StatsQuery) (StatsResult, error) {
	v := url.Values{}
	set(v, "jobId", q.JobID)
	set(v, "action", q.Action)
	set(v, "status", q.Status)
	set(v, "errorCode", q.ErrorCode)
	set(v, "identityType", q.IdentityType)
	setTime(v, "from", q.From)
	setTime(v, "to", q.To)
	if q.Interval > 0 {
		v.Set("interval", q.Interval.String())
	}
	if len(q.GroupBy) > 0 {
		v.Set("groupBy", strings.Join(q.GroupBy, ","))
	}
	var r StatsResult
	return r, c.get(ctx, "/api/v1/stats/events", v, &r)
}

// TopErrors returns the most frequent error codes with their last occurrence.
func (c *Client) TopErrors(ctx context.Context, w Window) ([]provisioning.TopError, error) {
	var p Page[provisioning.TopError]
	return p.Value, c.get(ctx, "/api/v1/stats/topErrors", w.values(), &p)
}

// Summary returns event counts by status, action and identity type.
func (c *Client) Summary(ctx context.Context, w Window) (provisioning.Summary, error) {
	w.Limit = 0
	var s provisioning.Summary
	return s, c.get(ctx, "/api/v1/stats/summary", w.values(), &s)
}

// JobHistory returns a job's status changes and quarantines, newest first.
func (c *Client) JobHistory(ctx context.Context, jobID string, limit int) ([]provisioning.StatusChange, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var p Page[provisioning.StatusChange]
	return p.Value, c.get(ctx, "/api/v1/jobs/"+url.PathEscape(jobID)+"/history", v, &p)
}

// Audit returns admin actions, newest first (jobID "" for all).
func (c *Client) Audit(ctx context.Context, jobID string, limit int) ([]provisioning.AuditEntry, error) {
	v := url.Values{}
	set(v, "jobId", jobID)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var p Page[provisioning.AuditEntry]
	return p.Value, c.get(ctx, "/api/v1/audit", v, &p)
}

// --- transport ---

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, q, nil, out)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("provisiond API: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// send makes a request and returns a 2xx response (the caller closes its body), or the
// server's error as *Error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		// The URL never holds the token; say which server failed.
		return nil, fmt.Errorf("provisiond API at %s unreachable: %w", c.base.Redacted(), unwrapURLError(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	var wire struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &wire) == nil && wire.Error.Message != "" {
		e.Code, e.Message = wire.Error.Code, wire.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(raw))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return nil, e
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func set(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func setTime(v url.Values, k string, t time.Time) {
	if !t.IsZero() {
		v.Set(k, t.UTC().Format(time.RFC3339Nano))
	}
}
