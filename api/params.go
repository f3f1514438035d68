package api

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// params reads a request's query parameters for one endpoint. Each endpoint names the
// parameters it accepts: an unknown parameter, a repeated one or a malformed value is a
// 400 naming the parameter and what it accepts. The first problem is kept (err); later
// reads return zero values, so a handler reads everything and checks err once.
type params struct {
	v   url.Values
	err error
}

// maxParamBytes bounds one parameter value: filters longer than this cannot match
// anything the engine writes, and the bound keeps error messages and hashing cheap.
const maxParamBytes = 4096

// newParams parses r's query string, accepting only the parameters named in accepted.
func newParams(r *http.Request, accepted ...string) *params {
	p := &params{}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		p.err = badRequest("query string: %v", err)
		return p
	}
	p.v = v
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	route := r.Pattern // "GET /api/v1/identities/{id}/history": never the client's path
	if route == "" {
		route = r.Method + " " + quote(r.URL.Path)
	}
	for _, k := range keys {
		if !slices.Contains(accepted, k) {
			if len(accepted) == 0 {
				p.err = badRequest("unknown query parameter %s: %s accepts none", quote(k), route)
			} else {
				p.err = badRequest("unknown query parameter %s: %s accepts %s", quote(k), route, strings.Join(accepted, ", "))
			}
			return p
		}
		vals := v[k]
		if len(vals) > 1 {
			p.err = badRequest("%s: given %d times; give it once", k, len(vals))
			return p
		}
		if !utf8.ValidString(vals[0]) {
			p.err = badRequest("%s: the value is not valid UTF-8", k)
			return p
		}
		if len(vals[0]) > maxParamBytes {
			p.err = badRequest("%s: the value is %d bytes long; at most %d are accepted", k, len(vals[0]), maxParamBytes)
			return p
		}
	}
	return p
}

// quote quotes a client-supplied string for an error message, shortened when long.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// fail records the first problem.
func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = badRequest(format, args...)
	}
}

// has reports whether name was given with a non-empty value.
func (p *params) has(name string) bool { return p.str(name) != "" }

// str returns a parameter's value ("" when absent; an empty value counts as absent).
func (p *params) str(name string) string {
	if p.err != nil {
		return ""
	}
	return p.v.Get(name)
}

// enum returns a parameter's value, which must be one of accepted ("" when absent).
func (p *params) enum(name string, accepted ...string) string {
	s := p.str(name)
	if s == "" || slices.Contains(accepted, s) {
		return s
	}
	p.fail("%s: %s is not one of %s", name, quote(s), strings.Join(accepted, ", "))
	return ""
}

// limit returns a page size: def when absent, capped at max; a value that is not a whole
// number of at least 1 is an error.
func (p *params) limit(name string, def, max int) int {
	n, ok := p.positive(name)
	if !ok {
		p.fail("%s: %s is not a whole number of at least 1 (default %d, larger values are capped at %d)", name, quote(p.str(name)), def, max)
		return def
	}
	if n == 0 {
		return def
	}
	return min(n, max)
}

// atMost returns the most items a stream may hold (0, no bound, when absent).
func (p *params) atMost(name string) int {
	n, ok := p.positive(name)
	if !ok {
		p.fail("%s: %s is not a whole number of at least 1 (with format=ndjson or csv, the most events to stream; absent: all)", name, quote(p.str(name)))
		return 0
	}
	return n
}

// positive parses a whole number of at least 1 (0 when absent; beyond the int range,
// the largest int).
func (p *params) positive(name string) (int, bool) {
	s := p.str(name)
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return math.MaxInt, true
	}
	if err != nil || n < 1 {
		return 0, false
	}
	return int(min(n, math.MaxInt)), true
}

// time returns an RFC 3339 time (zero when absent).
func (p *params) time(name string) time.Time {
	s := p.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.fail("%s: %s is not an RFC 3339 time (like 2025-01-31T08:00:00Z or 2025-01-31T09:00:00.5+01:00)", name, quote(s))
		return time.Time{}
	}
	return t.UTC()
}

// duration returns a positive Go duration ("90m", "1h30m", "24h"; 0 when absent).
func (p *params) duration(name string) time.Duration {
	s := p.str(name)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.fail("%s: %s is not a positive duration (like 15m, 1h or 36h; units ns, us, ms, s, m, h)", name, quote(s))
		return 0
	}
	return d
}

// window is a time range from the parameters from, to and since.
type window struct {
	From, To time.Time
	// Since is the relative window given ("since=1h"), 0 when from was given or neither.
	Since time.Duration
}

// window reads from and to (RFC 3339) or since (a duration back from now, instead of
// from). A window whose from is after its to is an error.
func (p *params) window(now time.Time) window {
	w := window{From: p.time("from"), To: p.time("to"), Since: p.duration("since")}
	if p.err != nil {
		return window{}
	}
	if w.Since > 0 {
		if !w.From.IsZero() {
			p.fail("since: give either since (a duration back from now) or from, not both")
			return window{}
		}
		w.From = now.Add(-w.Since).UTC()
	}
	if !w.From.IsZero() && !w.To.IsZero() && w.From.After(w.To) {
		p.fail("from: %s is after to (%s)", w.From.Format(time.RFC3339Nano), w.To.Format(time.RFC3339Nano))
		return window{}
	}
	return w
}

// list returns a comma-separated list whose items must be in accepted, without
// repetitions.
func (p *params) list(name string, accepted ...string) []string {
	s := p.str(name)
	if s == "" {
		return nil
	}
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case !slices.Contains(accepted, item):
			p.fail("%s: %s is not one of %s", name, quote(item), strings.Join(accepted, ", "))
			return nil
		case slices.Contains(out, item):
			p.fail("%s: %s is listed twice", name, quote(item))
			return nil
		}
		out = append(out, item)
	}
	return out
}

// setLimitHeader reports the page size applied (the requested limit, capped).
func setLimitHeader(w http.ResponseWriter, limit int) {
	w.Header().Set(LimitHeader, strconv.Itoa(limit))
}

// LimitHeader is the response header reporting the page size an endpoint applied: the
// requested limit, or the default, capped at the endpoint's maximum.
const LimitHeader = "Provisiond-Limit"
