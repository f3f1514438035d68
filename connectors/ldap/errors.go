package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
)

// Error codes of this package (Entra's provisioning codes where one fits, the others named
// after the LDAP result).
const (
	CodeEntryConflict          = "EntryConflict"
	CodeUnauthorized           = "Unauthorized"
	CodeInsufficientRights     = "InsufficientRights"
	CodeInvalidAnchor          = "InvalidAnchor"
	CodeTimeout                = "Timeout"
	CodeServerBusy             = "ServerBusy"
	CodeServiceUnavailable     = "ServiceUnavailable"
	CodeConnectionFailed       = "ConnectionFailed"
	CodeConstraintViolation    = "ConstraintViolation"
	CodeObjectClassViolation   = "ObjectClassViolation"
	CodeSchemaAttributeMissing = "SchemaAttributeNotFound"
	CodeInvalidValue           = "InvalidValue"
	CodeInvalidDN              = "InvalidDN"
	CodeInvalidFilter          = "InvalidFilter"
	CodeUnwillingToPerform     = "UnwillingToPerform"
	CodeNotAllowedOnNonLeaf    = "NotAllowedOnNonLeaf"
	CodeReferral               = "Referral"
	CodeAdminLimitExceeded     = "AdminLimitExceeded"
	CodeSyncRefreshRequired    = "SyncRefreshRequired"
	CodeInternalServerError    = "InternalServerError"
	CodeNotImplemented         = "NotImplemented"
	CodeBadRequest             = "BadRequest"
	CodeProtocolError          = "LdapProtocolError"
)

// mapResult classifies an LDAP result code; the table is in the package documentation
// (doc.go).
func mapResult(code uint16) (connectors.ErrorClass, string) {
	switch code {
	case goldap.LDAPResultTimeLimitExceeded:
		return connectors.ClassRetryable, CodeTimeout
	case goldap.LDAPResultBusy:
		return connectors.ClassRetryable, CodeServerBusy
	case goldap.LDAPResultUnavailable:
		return connectors.ClassRetryable, CodeServiceUnavailable
	case goldap.LDAPResultAdminLimitExceeded:
		return connectors.ClassRetryable, CodeAdminLimitExceeded
	case goldap.LDAPResultOther, goldap.LDAPResultOperationsError, goldap.LDAPResultLoopDetect:
		return connectors.ClassRetryable, CodeInternalServerError
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication,
		goldap.LDAPResultAuthMethodNotSupported, goldap.LDAPResultStrongAuthRequired,
		goldap.LDAPResultConfidentialityRequired:
		return connectors.ClassUnauthorized, CodeUnauthorized
	case goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultAuthorizationDenied:
		return connectors.ClassForbidden, CodeInsufficientRights
	case goldap.LDAPResultNoSuchObject:
		return connectors.ClassNotFound, CodeInvalidAnchor
	case goldap.LDAPResultEntryAlreadyExists:
		return connectors.ClassConflict, CodeEntryConflict
	case goldap.LDAPResultConstraintViolation, goldap.LDAPResultAttributeOrValueExists,
		goldap.LDAPResultNoSuchAttribute:
		return connectors.ClassInvalid, CodeConstraintViolation
	case goldap.LDAPResultObjectClassViolation, goldap.LDAPResultObjectClassModsProhibited,
		goldap.LDAPResultNotAllowedOnRDN:
		return connectors.ClassInvalid, CodeObjectClassViolation
	case goldap.LDAPResultUndefinedAttributeType:
		return connectors.ClassInvalid, CodeSchemaAttributeMissing
	case goldap.LDAPResultInvalidAttributeSyntax, goldap.LDAPResultInappropriateMatching:
		return connectors.ClassInvalid, CodeInvalidValue
	case goldap.LDAPResultInvalidDNSyntax, goldap.LDAPResultNamingViolation, goldap.LDAPResultAliasProblem:
		return connectors.ClassInvalid, CodeInvalidDN
	case goldap.LDAPResultUnwillingToPerform:
		return connectors.ClassInvalid, CodeUnwillingToPerform
	case goldap.LDAPResultNotAllowedOnNonLeaf:
		return connectors.ClassInvalid, CodeNotAllowedOnNonLeaf
	case goldap.LDAPResultReferral:
		return connectors.ClassInvalid, CodeReferral
	case goldap.LDAPResultSyncRefreshRequired:
		return connectors.ClassRetryable, CodeSyncRefreshRequired
	case goldap.LDAPResultTimeout:
		return connectors.ClassRetryable, CodeTimeout
	case goldap.LDAPResultServerDown, goldap.LDAPResultConnectError, goldap.ErrorNetwork:
		return connectors.ClassConnection, CodeConnectionFailed
	case goldap.ErrorFilterCompile, goldap.ErrorFilterDecompile, goldap.LDAPResultFilterError:
		return connectors.ClassInvalid, CodeInvalidFilter
	}
	return connectors.ClassInvalid, CodeProtocolError
}

// answered reports whether code came from the server (an LDAPResult) rather than from the
// client library (no answer).
func answered(code uint16) bool {
	return code <= goldap.LDAPResultOther || (code >= goldap.LDAPResultCanceled && code <= goldap.LDAPResultAuthorizationDenied) ||
		code == goldap.LDAPResultSyncRefreshRequired
}

// codeUnknown is resultCode's answer for an error that is not a go-ldap error.
const codeUnknown = 0xffff

// resultCode returns the LDAP result code of err (0 for nil, codeUnknown for an error that
// is not a go-ldap error).
func resultCode(err error) uint16 {
	if err == nil {
		return 0
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		return le.ResultCode
	}
	return codeUnknown
}

// isNetwork reports whether err means the connection is unusable.
func isNetwork(err error) bool {
	if err == nil {
		return false
	}
	switch resultCode(err) {
	case goldap.ErrorNetwork, goldap.LDAPResultServerDown, goldap.LDAPResultConnectError,
		goldap.ErrorUnexpectedResponse, goldap.ErrorMalformedPacket:
		return true
	}
	return false
}

// errorFor builds the *connectors.Error of a failed operation: request is "<operation>
// <DN>". A cancelled ctx returns the context's error unchanged.
func (c *Client) errorFor(ctx context.Context, request string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return err
	}
	e := &connectors.Error{Request: request}
	var le *goldap.Error
	if errors.As(err, &le) && answered(le.ResultCode) {
		e.Class, e.Code = mapResult(le.ResultCode)
		e.Status = int(le.ResultCode)
		name := goldap.LDAPResultCodeMap[le.ResultCode]
		if name == "" {
			name = "result " + strconv.Itoa(int(le.ResultCode))
		}
		e.Message = "the LDAP server answered " + strconv.Itoa(int(le.ResultCode)) + " " + name
		if le.Err != nil {
			e.Detail = c.redact(le.Err.Error())
		}
		if le.MatchedDN != "" && le.ResultCode == goldap.LDAPResultNoSuchObject {
			e.Detail = strings.TrimPrefix(e.Detail+"; matched DN "+le.MatchedDN, "; ")
		}
		return e
	}
	// No answer: classify the transport failure.
	cause := err
	if le != nil && le.Err != nil {
		cause = le.Err
	}
	msg := cause.Error()
	var (
		ne      net.Error
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(cause, context.DeadlineExceeded) || (errors.As(cause, &ne) && ne.Timeout()) ||
		strings.Contains(msg, "timed out"):
		e.Class, e.Code = connectors.ClassRetryable, CodeTimeout
		e.Message = "the LDAP request timed out after " + c.cfg.Timeout.String()
	case errors.As(cause, &dnsErr):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "cannot resolve the LDAP host: " + msg
	case errors.As(cause, &certErr) || errors.As(cause, &uaErr) || errors.As(cause, &hostErr) ||
		errors.As(cause, &recErr) || strings.Contains(msg, "TLS handshake") || strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "TLS failure: " + msg
	case errors.As(cause, &opErr) && opErr.Op == "dial", errors.Is(cause, syscall.ECONNREFUSED),
		errors.Is(cause, syscall.EHOSTUNREACH), errors.Is(cause, syscall.ENETUNREACH):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "cannot connect to the LDAP server: " + msg
	case errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) || errors.Is(cause, syscall.ECONNRESET) ||
		errors.Is(cause, syscall.EPIPE) || errors.Is(cause, net.ErrClosed) || isNetwork(err):
		e.Class, e.Code = connectors.ClassConnection, CodeConnectionFailed
		e.Message = "the connection to the LDAP server was lost: " + msg
	default:
		code := resultCode(err)
		e.Class, e.Code = mapResult(code)
		e.Message = "LDAP request failed: " + msg
	}
	e.Message = c.redact(e.Message)
	return e
}

// redact removes the bind password from text that leaves the package.
func (c *Client) redact(s string) string {
	if pw := c.cfg.BindPassword; len(pw) >= 3 && strings.Contains(s, pw) {
		s = strings.ReplaceAll(s, pw, "[REDACTED]")
	}
	return s
}

func invalid(code, format string, args ...any) *connectors.Error {
	e := connectors.Errorf(connectors.ClassInvalid, format, args...)
	e.Code = code
	return e
}

func isCode(err error, codes ...uint16) bool {
	c := resultCode(err)
	for _, x := range codes {
		if c == x {
			return true
		}
	}
	return false
}
