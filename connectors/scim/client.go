package scim

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/provisiond/provisiond/connectors"
)

// Client is a SCIM 2.0 client. It implements connectors.Target and connectors.Lister; its
// Source method returns the connectors.Source (and connectors.Estimator) view of the same
// client. A Client is safe for concurrent use.
type Client struct {
	cfg       Config
	hc        *http.Client
	ownHC     bool
	base      string // scheme://host/path, no trailing slash
	basePath  string // /path, no trailing slash
	baseQuery string // query of BaseURL, appended to every request
	auth      authenticator
	red       *redactor
	lim       *aimd

	requests, throttled, retries, rematched atomic.Int64
	legacyRejected                          atomic.Bool // the server refused "active":"False"

	capsMu sync.Mutex
	caps   atomic.Pointer[Capabilities]

	versions    *versionCache
	paths       sync.Map // attribute name → *attrPath
	filterOK    sync.Map // filter template → bool (valid)
	attrQueries sync.Map // type + names → "attributes=..." for Find
	plans       sync.Map // planKey → *encPlan (Create bodies)

	deltaMu    sync.Mutex
	deltaModes map[connectors.ObjectType]bool // lastModified filtering works
	snaps      *snapshotStore

	// backoff returns the pause before retry n (0-based) when the server gave no
	// Retry-After; replaced in tests.
	backoff func(n int) time.Duration
}

var (
	_ connectors.Target = (*Client)(nil)
	_ connectors.Lister = (*Client)(nil)
)

// ClientStats are cumulative counters for telemetry.
type ClientStats struct {
	// Requests is the number of HTTP requests sent (retries included).
	Requests int64
	// Throttled is the number of 429 and 503 answers.
	Throttled int64
	// Retries is the number of requests repeated within an operation.
	Retries int64
	// Rematched is the number of creates whose outcome was recovered by re-matching after a
	// timeout or server error (the object had been created).
	Rematched int64
}

// New validates cfg and returns a client. It does not contact the server; Discover runs
// lazily on the first operation that needs the server's capabilities. Errors name the
// offending field and never contain secrets.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.normalize(); err != nil {
		return nil, errors.New("scim: invalid configuration: " + strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	u, _ := url.Parse(cfg.BaseURL)
	c := &Client{
		cfg:        cfg,
		basePath:   strings.TrimRight(u.EscapedPath(), "/"),
		baseQuery:  u.RawQuery,
		lim:        newAIMD(cfg.MinRequestsPerSecond, cfg.MaxRequestsPerSecond),
		versions:   newVersionCache(100_000),
		deltaModes: map[connectors.ObjectType]bool{},
		backoff:    backoffFor(cfg.RetryBackoff),
	}
	c.base = u.Scheme + "://" + u.Host + c.basePath
	if cfg.HTTPClient != nil {
		c.hc = cfg.HTTPClient
	} else {
		hc, err := NewHTTPClient(cfg.TLS)
		if err != nil {
			return nil, errors.New("scim: invalid configuration: " + err.Error())
		}
		c.hc, c.ownHC = hc, true
	}
	a := cfg.Auth
	switch a.Type {
	case AuthBearer:
		c.red = newRedactor(a.Token)
		c.auth = staticAuth("Bearer " + a.Token)
	case AuthBasic:
		cred := base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))
		c.red = newRedactor(a.Password, cred)
		c.auth = staticAuth("Basic " + cred)
	case AuthOAuth2:
		c.red = newRedactor(a.ClientSecret)
		tokenHC := *c.hc
		tokenHC.Timeout = cfg.Timeout
		c.auth = &oauthAuth{
			cc: &clientcredentials.Config{
				ClientID: a.ClientID, ClientSecret: a.ClientSecret, TokenURL: a.TokenURL, Scopes: a.Scopes,
			},
			hc:  &tokenHC,
			red: c.red,
		}
	}
	c.snaps = newSnapshotStore(cfg.StateDir, cfg.BaseURL)
	_ = ctx // New does no I/O; ctx is accepted for symmetry with other connectors.
	return c, nil
}

// Rate returns the adaptive limiter's current rate in requests per second.
func (c *Client) Rate() float64 { return c.lim.rate() }

// Stats returns cumulative request counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Requests:  c.requests.Load(),
		Throttled: c.throttled.Load(),
		Retries:   c.retries.Load(),
		Rematched: c.rematched.Load(),
	}
}

// Close releases idle connections of the HTTP client New built (an injected client is left
// alone).
func (c *Client) Close() error {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// ---- authentication ----

type authenticator interface {
	// header returns the Authorization header value.
	header(ctx context.Context) (string, error)
	// rejected is called after a 401 answer to a request sent with value.
	rejected(value string) bool
}

type staticAuth string

func (s staticAuth) header(context.Context) (string, error) { return string(s), nil }
func (staticAuth) rejected(string) bool                     { return false }

// oauthAuth caches a client-credentials token and fetches a new one when it expires or the
// server rejects it.
type oauthAuth struct {
	cc  *clientcredentials.Config
	hc  *http.Client
	red *redactor

	mu  sync.Mutex
	tok *oauth2.Token
}

func (o *oauthAuth) header(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != nil && o.tok.Valid() {
		return o.tok.Type() + " " + o.tok.AccessToken, nil
	}
	tok, err := o.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, o.hc))
	if err != nil {
		return "", o.tokenError(ctx, err)
	}
	o.red.addDynamic(tok.AccessToken)
	o.tok = tok
	return tok.Type() + " " + tok.AccessToken, nil
}

func (o *oauthAuth) rejected(value string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != nil && o.tok.Type()+" "+o.tok.AccessToken == value {
		o.tok = nil // fetch a new one; otherwise another request already did
	}
	return true
}

func (o *oauthAuth) tokenError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	req := "POST " + tokenPath(o.cc.TokenURL)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &connectors.Error{Request: req, Response: o.red.clean(snippet(re.Body, maxResponseSnippet))}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		e.Status = status
		switch {
		case status == 0, status == 400, status == 401, status == 403:
			e.Class, e.Code = connectors.ClassUnauthorized, CodeUnauthorized
			e.Message = "the OAuth token endpoint rejected the client credentials"
		case status == 429:
			e.Class, e.Code = connectors.ClassThrottled, CodeTooManyRequests
			e.Message = "the OAuth token endpoint is throttling"
		case status >= 500:
			e.Class, e.Code = connectors.ClassRetryable, CodeInternalServerError
			e.Message = "the OAuth token endpoint failed"
		default:
			e.Class, e.Code = connectors.ClassUnauthorized, CodeUnauthorized
			e.Message = "the OAuth token endpoint answered unexpectedly"
		}
		detail := re.ErrorCode
		if re.ErrorDescription != "" {
			detail += ": " + re.ErrorDescription
		}
		e.Detail = o.red.clean(detail)
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	tmp := &Client{red: o.red, cfg: Config{Timeout: o.hc.Timeout}}
	te := tmp.transportError(ctx, "POST", tokenPath(o.cc.TokenURL), err)
	if ce, ok := asError(te); ok {
		ce.Request = req
		ce.Message = "OAuth token request: " + ce.Message
	}
	return te
}

func tokenPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(token endpoint)"
	}
	return u.Host + u.EscapedPath()
}

// ---- the request pipeline ----

// call is one logical SCIM request; do may send it several times.
type call struct {
	method string
	path   string // relative to the base URL, e.g. /Users/123
	query  string // encoded, without '?'
	body   []byte
	// ifMatch is sent as If-Match when set.
	ifMatch string
	// idempotent requests are retried after 5xx, timeouts and lost connections. A POST is
	// not: the server may have acted on it (Create re-matches instead).
	idempotent bool
}

// reply is a successful (2xx) answer. Release it when done with body.
type reply struct {
	status int
	header http.Header
	buf    *bytes.Buffer
}

func (r *reply) body() []byte { return r.buf.Bytes() }

func (r *reply) release() {
	if r != nil && r.buf != nil {
		if r.buf.Cap() <= 1<<20 {
			bufPool.Put(r.buf)
		}
		r.buf = nil
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxBody = 256 << 20

// backoffFor returns the exponential backoff (base, 2×base, ... up to 5s) with ±20 %
// jitter, so that concurrent retries spread out.
func backoffFor(base time.Duration) func(int) time.Duration {
	return func(n int) time.Duration {
		d := base << min(n, 10)
		if d > 5*time.Second || d <= 0 {
			d = 5 * time.Second
		}
		return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
}

func (c *Client) url(cl *call) string {
	var b strings.Builder
	b.Grow(len(c.base) + len(cl.path) + len(cl.query) + len(c.baseQuery) + 2)
	b.WriteString(c.base)
	b.WriteString(cl.path)
	if cl.query != "" || c.baseQuery != "" {
		b.WriteByte('?')
		b.WriteString(cl.query)
		if cl.query != "" && c.baseQuery != "" {
			b.WriteByte('&')
		}
		b.WriteString(c.baseQuery)
	}
	return b.String()
}

// do sends cl, retrying throttled and (for idempotent calls) failed attempts up to
// MaxRetries times. It returns a reply for 2xx answers and a *connectors.Error otherwise.
func (c *Client) do(ctx context.Context, cl call) (*reply, error) {
	target := c.url(&cl)
	authRetried := false
	for attempt := 0; ; attempt++ {
		epoch, err := c.lim.wait(ctx)
		if err != nil {
			return nil, err
		}
		status, header, buf, authValue, err := c.send(ctx, &cl, target)
		if err != nil {
			var ae authError
			if errors.As(err, &ae) {
				return nil, ae.err
			}
			// No HTTP answer.
			terr := c.transportError(ctx, cl.method, cl.path, err)
			ce, ok := asError(terr)
			if !ok {
				return nil, terr // context cancelled
			}
			if ce.Class == connectors.ClassRetryable && cl.idempotent && attempt < c.cfg.MaxRetries {
				if err := c.pause(ctx, attempt, 0); err != nil {
					return nil, err
				}
				continue
			}
			return nil, ce
		}
		if status >= 200 && status < 300 {
			c.lim.succeeded(epoch)
			return &reply{status: status, header: header, buf: buf}, nil
		}
		body := buf.Bytes()
		herr := c.httpError(cl.method, cl.path, status, header, body)
		putBuf(buf)

		switch {
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			c.throttled.Add(1)
			ra, _ := parseRetryAfter(header.Get("Retry-After"), time.Now())
			if ra > c.cfg.MaxRetryAfter {
				// Too long to wait inside an operation: slow down and let the engine escrow.
				c.lim.throttled(epoch, c.cfg.MaxRetryAfter)
				return nil, herr
			}
			c.lim.throttled(epoch, ra)
			// A 429 means the request was refused unprocessed, so even a POST may be
			// repeated; a 503 may come from a server that did act on it.
			if attempt < c.cfg.MaxRetries && (status == http.StatusTooManyRequests || cl.idempotent) {
				if ra > 0 {
					c.retries.Add(1) // the limiter's not-before time makes the wait
				} else if err := c.pause(ctx, attempt, 0); err != nil {
					return nil, err
				}
				continue
			}
			return nil, herr
		case status == http.StatusUnauthorized && !authRetried && c.auth.rejected(authValue):
			// An OAuth token revoked before its expiry: fetch a new one once.
			authRetried = true
			attempt--
			continue
		case herr.Class == connectors.ClassRetryable && status >= 500:
			if cl.idempotent && attempt < c.cfg.MaxRetries {
				ra, _ := parseRetryAfter(header.Get("Retry-After"), time.Now())
				if err := c.pause(ctx, attempt, ra); err != nil {
					return nil, err
				}
				continue
			}
			return nil, herr
		default:
			return nil, herr
		}
	}
}

func putBuf(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

func (c *Client) pause(ctx context.Context, attempt int, retryAfter time.Duration) error {
	c.retries.Add(1)
	d := retryAfter
	if d <= 0 {
		d = c.backoff(attempt)
	}
	if d > c.cfg.MaxRetryAfter {
		d = c.cfg.MaxRetryAfter
	}
	return sleepCtx(ctx, d)
}

// send makes one HTTP attempt and reads the whole body.
func (c *Client) send(ctx context.Context, cl *call, target string) (int, http.Header, *bytes.Buffer, string, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, target, body)
	if err != nil {
		return 0, nil, nil, "", err
	}
	authValue, err := c.auth.header(actx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, nil, nil, "", cerr
		}
		return 0, nil, nil, "", authError{err}
	}
	h := req.Header
	h["Authorization"] = []string{authValue}
	h["Accept"] = acceptHeader
	if cl.body != nil {
		h["Content-Type"] = contentTypeHeader
	}
	if cl.ifMatch != "" {
		h["If-Match"] = []string{cl.ifMatch}
	}
	c.requests.Add(1)
	cctx, pc := connectors.StartCall(actx, cl.method, callTarget(target))
	if pc != nil {
		req = req.WithContext(cctx)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		pc.End(0, err)
		return 0, nil, nil, "", err
	}
	pc.End(resp.StatusCode, nil)
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		putBuf(buf)
		return 0, nil, nil, "", err
	}
	return resp.StatusCode, resp.Header, buf, authValue, nil
}

// callTarget is the path and query of a request URL, as recorded in an event's calls.
func callTarget(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[i+3+j:]
		}
		return "/"
	}
	return u
}

var (
	acceptHeader      = []string{"application/scim+json, application/json;q=0.9"}
	contentTypeHeader = []string{"application/scim+json; charset=utf-8"}
)

// authError carries an error from the authenticator (already a *connectors.Error).
type authError struct{ err error }

func (a authError) Error() string { return a.err.Error() }
func (a authError) Unwrap() error { return a.err }
