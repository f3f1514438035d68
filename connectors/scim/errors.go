package scim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/provisiond/provisiond/connectors"
)

// Entra-style error codes used by this package besides the ones connectors documents.
const (
	CodeEntryConflict          = "EntryConflict"
	CodeTooManyRequests        = "TooManyRequests"
	CodeUnauthorized           = "Unauthorized"
	CodeInsufficientRights     = "InsufficientRights"
	CodeInvalidAnchor          = "InvalidAnchor"
	CodeInternalServerError    = "InternalServerError"
	CodeNotImplemented         = "NotImplemented"
	CodeTimeout                = "Timeout"
	CodePreconditionFailed     = "PreconditionFailed"
	CodeInvalidFilter          = "InvalidFilter"
	CodeInvalidValue           = "InvalidValue"
	CodeMandatoryFieldsMissing = "MandatoryFieldsMissing"
	CodeMutabilityViolation    = "MutabilityViolation"
	CodeSchemaAttributeMissing = "SchemaAttributeNotFound"
	CodeMultipleEntries        = "SystemForCrossDomainIdentityManagementMultipleEntriesInResponse"
	CodeServiceIncompatible    = "SystemForCrossDomainIdentityManagementServiceIncompatible"
	CodeMethodNotAllowed       = "MethodNotAllowed"
	CodeBadRequest             = "BadRequest"
	CodeNoTarget               = "NoTarget"
	CodeInvalidSyntax          = "InvalidSyntax"
	CodePayloadTooLarge        = "PayloadTooLarge"
	CodeInvalidCursor          = "InvalidCursor"
	CodeProtocolError          = "WebExceptionProtocolError"
	CodeConnectionFailed       = "ConnectionFailed"
	CodeConnectionReset        = "ConnectionReset"
)

// maxResponseSnippet is how much of a failing response body an error keeps.
const maxResponseSnippet = 512

// mapStatus classifies an HTTP error answer; the table is in the package documentation
// (doc.go).
func mapStatus(status int, scimType, detail string, hasRetryAfter bool) (connectors.ErrorClass, string) {
	switch status {
	case http.StatusBadRequest:
		switch strings.ToLower(scimType) {
		case "uniqueness":
			return connectors.ClassConflict, CodeEntryConflict
		case "invalidfilter":
			return connectors.ClassInvalid, CodeInvalidFilter
		case "toomany":
			return connectors.ClassInvalid, CodeMultipleEntries
		case "mutability":
			return connectors.ClassInvalid, CodeMutabilityViolation
		case "invalidvalue":
			d := strings.ToLower(detail)
			// Servers that echo RFC 7644's generic invalidValue text ("A required value was
			// missing, or the value specified was not compatible ...") say nothing specific.
			generic := strings.Contains(d, "or the value specified was not compatible")
			if !generic && (strings.Contains(d, "required") || strings.Contains(d, "missing") || strings.Contains(d, "mandatory")) {
				return connectors.ClassInvalid, CodeMandatoryFieldsMissing
			}
			return connectors.ClassInvalid, CodeInvalidValue
		case "invalidpath":
			return connectors.ClassInvalid, CodeSchemaAttributeMissing
		case "notarget":
			return connectors.ClassInvalid, CodeNoTarget
		case "invalidsyntax":
			return connectors.ClassInvalid, CodeInvalidSyntax
		case "invalidvers":
			return connectors.ClassInvalid, CodeServiceIncompatible
		case "invalidcursor", "invalidcount":
			return connectors.ClassInvalid, CodeInvalidCursor
		case "expiredcursor":
			return connectors.ClassRetryable, CodeInvalidCursor
		}
		return connectors.ClassInvalid, CodeBadRequest
	case http.StatusUnauthorized:
		return connectors.ClassUnauthorized, CodeUnauthorized
	case http.StatusForbidden:
		return connectors.ClassForbidden, CodeInsufficientRights
	case http.StatusNotFound:
		return connectors.ClassNotFound, CodeInvalidAnchor
	case http.StatusMethodNotAllowed:
		return connectors.ClassInvalid, CodeMethodNotAllowed
	case http.StatusConflict:
		return connectors.ClassConflict, CodeEntryConflict
	case http.StatusPreconditionFailed:
		return connectors.ClassPrecondition, CodePreconditionFailed
	case http.StatusRequestEntityTooLarge:
		return connectors.ClassInvalid, CodePayloadTooLarge
	case http.StatusTooManyRequests:
		return connectors.ClassThrottled, CodeTooManyRequests
	case http.StatusServiceUnavailable:
		if hasRetryAfter {
			return connectors.ClassThrottled, CodeTooManyRequests
		}
		return connectors.ClassRetryable, CodeInternalServerError
	case http.StatusNotImplemented:
		return connectors.ClassInvalid, CodeNotImplemented
	}
	if status >= 500 {
		return connectors.ClassRetryable, CodeInternalServerError
	}
	return connectors.ClassInvalid, CodeProtocolError
}

// scimErrorBody is RFC 7644 §3.12's error response; status may be a string or a number.
type scimErrorBody struct {
	Status   json.RawMessage `json:"status"`
	ScimType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// parseRetryAfter parses a Retry-After header: delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// redactor removes secrets from text that leaves the package in errors.
type redactor struct {
	static  []string
	dynamic atomic.Pointer[[]string] // current OAuth access tokens
}

const redacted = "[REDACTED]"

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	for _, s := range secrets {
		if len(s) >= 4 {
			r.static = append(r.static, s)
		}
	}
	return r
}

func (r *redactor) addDynamic(s string) {
	if len(s) < 4 {
		return
	}
	for {
		old := r.dynamic.Load()
		var next []string
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, s)
		if len(next) > 4 {
			next = next[len(next)-4:]
		}
		if r.dynamic.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (r *redactor) clean(s string) string {
	if s == "" {
		return s
	}
	for _, sec := range r.static {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	if d := r.dynamic.Load(); d != nil {
		for _, sec := range *d {
			if strings.Contains(s, sec) {
				s = strings.ReplaceAll(s, sec, redacted)
			}
		}
	}
	return s
}

// snippet returns the first max bytes of b as valid UTF-8 text.
func snippet(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// httpError builds the *connectors.Error for a non-success HTTP answer.
func (c *Client) httpError(method, path string, status int, header http.Header, body []byte) *connectors.Error {
	var eb scimErrorBody
	if len(body) > 0 && (body[0] == '{' || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))) {
		_ = json.Unmarshal(body, &eb)
	}
	ra, hasRA := parseRetryAfter(header.Get("Retry-After"), time.Now())
	class, code := mapStatus(status, eb.ScimType, eb.Detail, hasRA)
	e := &connectors.Error{
		Class:    class,
		Code:     code,
		Status:   status,
		Request:  method + " " + c.basePath + path,
		Response: c.red.clean(snippet(body, maxResponseSnippet)),
	}
	var detail string
	switch {
	case eb.ScimType != "" && eb.Detail != "":
		detail = eb.ScimType + ": " + eb.Detail
	case eb.ScimType != "":
		detail = eb.ScimType
	default:
		detail = eb.Detail
	}
	e.Detail = c.red.clean(snippet([]byte(detail), 1024))
	if class == connectors.ClassThrottled {
		e.RetryAfter = ra
	}
	e.Message = "SCIM server answered " + strconv.Itoa(status) + " " + http.StatusText(status)
	return e
}

// transportError classifies a failure to get an HTTP answer at all. ctx is the operation's
// context; a cancelled operation returns the context's error unchanged.
func (c *Client) transportError(ctx context.Context, method, path string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// url.Error's text repeats the full URL (with any query); keep only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e := &connectors.Error{Request: method + " " + c.basePath + path}
	var (
		ne      net.Error
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		e.Class, e.Code = connectors.ClassRetryable, CodeTimeout
		e.Message = "request timed out after " + c.cfg.Timeout.String()
	case errors.As(err, &dnsErr):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "cannot resolve the SCIM host: " + err.Error()
	case errors.As(err, &certErr) || errors.As(err, &uaErr) || errors.As(err, &hostErr) ||
		errors.As(err, &invErr) || errors.As(err, &recErr) || errors.As(err, &alert):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "TLS failure: " + err.Error()
	case errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "cannot connect to the SCIM server: " + err.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		e.Class, e.Code = connectors.ClassRetryable, CodeConnectionReset
		e.Message = "connection to the SCIM server was lost: " + err.Error()
	default:
		if msg := err.Error(); strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") ||
			strings.Contains(msg, "HTTP response to HTTPS client") {
			e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
			e.Message = "TLS failure: " + err.Error()
		} else {
			e.Class, e.Code = connectors.ClassRetryable, CodeConnectionReset
			e.Message = "SCIM request failed: " + err.Error()
		}
	}
	e.Message = c.red.clean(e.Message)
	return e
}

// incompatible is the error for a response that is not what a SCIM server sends.
func (c *Client) incompatible(method, path string, status int, body []byte, why string) *connectors.Error {
	return &connectors.Error{
		Class:    connectors.ClassInvalid,
		Code:     CodeServiceIncompatible,
		Message:  c.red.clean("the target is not SCIM compliant (Entra quarantines a job for this): " + why),
		Status:   status,
		Request:  method + " " + c.basePath + path,
		Response: c.red.clean(snippet(body, maxResponseSnippet)),
	}
}

func asError(err error) (*connectors.Error, bool) {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce, true
	}
	return nil, false
}

func statusOf(err error) int {
	if ce, ok := asError(err); ok {
		return ce.Status
	}
	return 0
}
