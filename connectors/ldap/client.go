package ldap

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	goldap "github.com/go-ldap/ldap/v3"
	"golang.org/x/time/rate"

	"github.com/provisiond/provisiond/connectors"
)

// Client is an LDAP connector. It implements connectors.Target, connectors.Lister and
// connectors.Enabler; Source returns the connectors.Source view of the same client. A
// Client is safe for concurrent use: operations share a pool of bound connections.
type Client struct {
	cfg    Config
	tls    *tls.Config
	users  *typeInfo
	groups *typeInfo // nil when no groups are configured
	pool   *pool
	lim    *rate.Limiter // nil: unlimited

	renameMu sync.Mutex
	renames  map[string]string // foldDN(old) → new DN, for entries renamed by Update

	dseMu sync.Mutex
	dse   *rootDSE

	requests, reconnects atomic.Int64

	src *Source
}

// typeInfo is the resolved configuration of one object type.
type typeInfo struct {
	typ   connectors.ObjectType
	cfg   TypeConfig
	base  *goldap.DN
	tmpl  *dnTemplate
	attrs []string // attributes requested by reads
}

var (
	_ connectors.Target  = (*Client)(nil)
	_ connectors.Lister  = (*Client)(nil)
	_ connectors.Enabler = (*Client)(nil)
)

// maxRenames bounds the rename memory.
const maxRenames = 100_000

// New validates cfg and returns a client. It does not contact the server (Test does).
// Errors name the offending field and never contain the password.
func New(cfg Config) (*Client, error) {
	if err := cfg.normalize(); err != nil {
		return nil, errors.New("ldap: invalid configuration: " + strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	u, _ := url.Parse(cfg.URL)
	tc, err := cfg.tlsConfig(u.Hostname())
	if err != nil {
		return nil, errors.New("ldap: invalid configuration: " + err.Error())
	}
	if cfg.TLS.InsecureSkipVerify {
		cfg.Logger.Warn("ldap: TLS certificate verification is disabled (insecureSkipVerify): the connection can be intercepted", "url", cfg.URL)
	}
	c := &Client{cfg: cfg, tls: tc, renames: map[string]string{}}
	if err := c.loadRenames(); err != nil {
		return nil, errors.New("ldap: invalid configuration: " + err.Error())
	}
	c.users = newTypeInfo(connectors.TypeUser, cfg.Users, &cfg)
	if cfg.Groups.BaseDN != "" {
		c.groups = newTypeInfo(connectors.TypeGroup, cfg.Groups, &cfg)
	}
	if r := cfg.MaxRequestsPerSecond; r > 0 {
		c.lim = rate.NewLimiter(rate.Limit(r), max(1, int(math.Ceil(r/10))))
	}
	c.pool = &pool{c: c, sem: make(chan struct{}, cfg.MaxConnections)}
	c.src = &Source{c: c, index: newDNIndex(), known: map[connectors.ObjectType]*idSet{
		connectors.TypeUser: newIDSet(), connectors.TypeGroup: newIDSet()}}
	return c, nil
}

func newTypeInfo(typ connectors.ObjectType, tc TypeConfig, cfg *Config) *typeInfo {
	base, _ := goldap.ParseDN(tc.BaseDN)
	tmpl, _ := parseTemplate(tc.DNTemplate)
	ti := &typeInfo{typ: typ, cfg: tc, base: base, tmpl: tmpl}
	if len(tc.Attributes) == 0 {
		ti.attrs = []string{"*"}
	} else {
		ti.attrs = append(ti.attrs, tc.Attributes...)
		ti.attrs = appendAttr(ti.attrs, "objectClass")
		if typ == connectors.TypeGroup {
			ti.attrs = appendAttr(ti.attrs, cfg.MemberAttribute)
		}
		for _, a := range tmpl.attrs() {
			ti.attrs = appendAttr(ti.attrs, a)
		}
	}
	return ti
}

// appendAttr adds a to a list of requested attributes unless it is there. An attribute is
// named even next to "*": operational ones (entryUUID, modifyTimestamp, ...) and some
// servers' own are only returned when named.
func appendAttr(list []string, a string) []string {
	for _, x := range list {
		if strings.EqualFold(x, a) {
			return list
		}
	}
	return append(list, a)
}

// Close closes the pooled connections. Operations in flight finish first on theirs.
func (c *Client) Close() error {
	c.pool.close()
	return nil
}

// ClientStats are cumulative counters.
type ClientStats struct {
	// Requests is the number of LDAP operations sent (each page of a search counts).
	Requests int64
	// Connections is the number of connections opened (dial, StartTLS, bind).
	Connections int64
}

// Stats returns cumulative counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{Requests: c.requests.Load(), Connections: c.reconnects.Load()}
}

func (c *Client) typeInfo(typ connectors.ObjectType) (*typeInfo, error) {
	switch typ {
	case connectors.TypeUser:
		return c.users, nil
	case connectors.TypeGroup:
		if c.groups == nil {
			return nil, invalid(CodeBadRequest, "groups are not configured for this LDAP connector (set the groups base DN)")
		}
		return c.groups, nil
	}
	return nil, invalid(CodeBadRequest, "unknown object type %q", typ)
}

// ---- connections ----

// pool holds bound connections. sem bounds the connections in use and idle.
type pool struct {
	c   *Client
	sem chan struct{}

	mu     sync.Mutex
	idle   []*goldap.Conn
	closed bool
}

// get returns a bound connection and whether it was reused from the pool (fresh: always a
// new one). The caller returns it with put.
func (p *pool) get(ctx context.Context, fresh bool) (*goldap.Conn, bool, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, false, invalid(CodeBadRequest, "the LDAP connector is closed")
	}
	for !fresh && len(p.idle) > 0 {
		conn := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !conn.IsClosing() {
			p.mu.Unlock()
			return conn, true, nil
		}
	}
	p.mu.Unlock()
	conn, err := p.c.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	return conn, false, nil
}

// put returns a connection; a broken one is closed.
func (p *pool) put(conn *goldap.Conn, broken bool) {
	p.mu.Lock()
	if broken || p.closed || conn.IsClosing() {
		p.mu.Unlock()
		_ = conn.Close()
	} else {
		p.idle = append(p.idle, conn)
		p.mu.Unlock()
	}
	<-p.sem
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, conn := range idle {
		_ = conn.Close()
	}
}

// dial opens a connection: TCP (or TLS for ldaps://), StartTLS when configured, and the
// simple bind. Each step is recorded as a call; the password never is.
func (c *Client) dial(ctx context.Context) (*goldap.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.reconnects.Add(1)
	u, _ := url.Parse(c.cfg.URL)
	_, pc := connectors.StartCall(ctx, "connect", c.cfg.URL)
	conn, err := goldap.DialURL(c.cfg.URL, goldap.DialWithDialer(&net.Dialer{Timeout: c.cfg.Timeout}), goldap.DialWithTLSConfig(c.tls))
	pc.End(0, err)
	if err != nil {
		return nil, c.errorFor(ctx, "connect "+u.Host, err)
	}
	conn.SetTimeout(c.cfg.Timeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if c.cfg.StartTLS {
		_, pc := connectors.StartCall(ctx, "startTLS", c.cfg.URL)
		err := conn.StartTLS(c.tls)
		pc.End(callStatus(err), callErr(err))
		if err != nil {
			_ = conn.Close()
			return nil, c.errorFor(ctx, "startTLS "+u.Host, err)
		}
	}
	if c.cfg.BindDN != "" {
		_, pc := connectors.StartCall(ctx, "bind", c.cfg.BindDN)
		err := conn.Bind(c.cfg.BindDN, c.cfg.BindPassword)
		pc.End(callStatus(err), callErr(err))
		if err != nil {
			_ = conn.Close()
			e := c.errorFor(ctx, "bind "+c.cfg.BindDN, err)
			var ce *connectors.Error
			if errors.As(e, &ce) && ce.Class == connectors.ClassUnauthorized {
				ce.Message = "the LDAP server rejected the bind DN or password (" + ce.Message + ")"
			}
			return nil, e
		}
	}
	return conn, nil
}

// callStatus is the status recorded for a call: the LDAP result code when the server
// answered, else 0.
func callStatus(err error) int {
	if err == nil {
		return 0
	}
	if code := resultCode(err); answered(code) {
		return int(code)
	}
	return 0
}

// callErr is the transport error recorded for a call (nil when the server answered).
func callErr(err error) error {
	if err == nil || answered(resultCode(err)) {
		return nil
	}
	return err
}

// op describes one LDAP operation for do.
type op struct {
	method string // "search", "add", "modify", "modifyDN", "delete", "compare"
	target string // the DN (for searches: "base?scope?filter")
	// retry reports whether the operation may be repeated on a fresh connection after the
	// pooled one turned out dead (nil: always).
	retry func() bool
}

// do runs fn on a pooled connection and records it as one call. A cancelled ctx closes the
// connection (the only way to interrupt a go-ldap request) and returns ctx's error. When a
// connection taken from the pool turns out dead, fn runs once more on a new connection.
// Errors are returned raw (go-ldap errors); callers classify them with errorFor.
func (c *Client) do(ctx context.Context, o op, fn func(*goldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		if c.lim != nil {
			if err := c.lim.Wait(ctx); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return &connectors.Error{Class: connectors.ClassThrottled, Code: "TooManyRequests",
					Message: "client-side rate limit: the next request slot is beyond the operation's deadline"}
			}
		}
		conn, reused, err := c.pool.get(ctx, attempt > 0)
		if err != nil {
			return err
		}
		_, pc := connectors.StartCall(ctx, o.method, o.target)
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		if o.method != "search" { // searchOn counts each page
			c.requests.Add(1)
		}
		err = fn(conn)
		interrupted := !stop()
		pc.End(callStatus(err), callErr(err))
		if interrupted {
			c.pool.put(conn, true)
			return ctx.Err()
		}
		broken := isNetwork(err)
		c.pool.put(conn, broken)
		if broken && reused && attempt == 0 && (o.retry == nil || o.retry()) {
			continue // a stale pooled connection (the server closed it while idle)
		}
		return err
	}
}

// rootDSE is what the connector reads from the root DSE.
type rootDSE struct {
	controls []string
}

func (d *rootDSE) supports(oid string) bool {
	for _, c := range d.controls {
		if c == oid {
			return true
		}
	}
	return false
}

// readRootDSE reads (once) the root DSE's supportedControl.
func (c *Client) readRootDSE(ctx context.Context) (*rootDSE, error) {
	c.dseMu.Lock()
	defer c.dseMu.Unlock()
	if c.dse != nil {
		return c.dse, nil
	}
	req := goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl", "namingContexts"}, nil)
	var res *goldap.SearchResult
	err := c.do(ctx, op{method: "search", target: "?base?(objectClass=*)"}, func(conn *goldap.Conn) error {
		var err error
		c.requests.Add(1)
		res, err = conn.Search(req)
		return err
	})
	if err != nil {
		return nil, c.errorFor(ctx, "search root DSE", err)
	}
	d := &rootDSE{}
	for _, e := range res.Entries {
		d.controls = append(d.controls, values(e, "supportedControl")...)
	}
	c.dse = d
	return d, nil
}

// ---- renames ----

// renamesFile is the rename journal in Config.StateDir: one JSON object per line.
const renamesFile = "renames.jsonl"

type renameRecord struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// loadRenames reads the rename journal of StateDir (a missing file is no renames).
func (c *Client) loadRenames() error {
	if c.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(c.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("StateDir %s: %v", c.cfg.StateDir, unwrapPathError(err))
	}
	f, err := os.Open(filepath.Join(c.cfg.StateDir, renamesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("StateDir: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r renameRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Old != "" && r.New != "" {
			c.remember(r.Old, r.New)
		}
	}
	return sc.Err()
}

// resolve returns the current DN of an entry that Update renamed, or dn itself.
func (c *Client) resolve(dn string) string {
	c.renameMu.Lock()
	defer c.renameMu.Unlock()
	for i := 0; i < 8; i++ { // follow a short chain of renames
		n, ok := c.renames[foldDN(dn)]
		if !ok {
			break
		}
		dn = n
	}
	return dn
}

// renamed records a rename in memory and in the journal (when StateDir is set).
func (c *Client) renamed(oldDN, newDN string) {
	c.renameMu.Lock()
	defer c.renameMu.Unlock()
	c.remember(oldDN, newDN)
	if c.cfg.StateDir == "" {
		return
	}
	line, _ := json.Marshal(renameRecord{Old: oldDN, New: newDN})
	f, err := os.OpenFile(filepath.Join(c.cfg.StateDir, renamesFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		c.cfg.Logger.Warn("ldap: cannot record a rename in the state directory; after a restart the old DN is not found", "old", oldDN, "new", newDN, "error", err)
	}
}

// remember records a rename in memory (renameMu held, or during New).
func (c *Client) remember(oldDN, newDN string) {
	if len(c.renames) >= maxRenames {
		clear(c.renames)
	}
	c.renames[foldDN(oldDN)] = newDN
	delete(c.renames, foldDN(newDN)) // renamed back
}
