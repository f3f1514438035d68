package provisioning

import (
	"errors"
	"fmt"

	"github.com/provisiond/provisiond/connectors"
)

// Errors returned by the engine's job operations.
var (
	// ErrUnknownJob: no job has the given id.
	ErrUnknownJob = errors.New("unknown job")
	// ErrInvalidRequest: the request's arguments are invalid (bad reset scope, object type).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrConflict: the job's state does not allow the request now.
	ErrConflict = errors.New("conflict")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// Entra's error codes the engine itself produces (connectors add their own).
const (
	CodeImportSkipped          = "ImportSkipped"
	CodeDuplicateTargetEntries = "DuplicateTargetEntries"
	CodeDuplicateSourceEntries = "DuplicateSourceEntries"
	CodeMandatoryFieldsMissing = "MandatoryFieldsMissing"
	CodeEntryConflict          = "EntryConflict"
	CodeTooManyRequests        = "TooManyRequests"
	CodeUnauthorized           = "Unauthorized"
	CodeInsufficientRights     = "InsufficientRights"
	CodeInvalidAnchor          = "InvalidAnchor"
	CodeTimeout                = "Timeout"
	CodeInternalServerError    = "InternalServerError"
	CodeInternalError          = "InternalError"
	CodeUnprocessableEntity    = "UnprocessableEntity"
	CodeConnectionFailed       = "ConnectionFailed"
	CodePreconditionFailed     = "PreconditionFailed"
	CodeExpressionError        = "ExpressionEvaluationFailed"
	CodeSourceError            = "SourceReadFailed"
	CodeUnresolvedReference    = "UnableToResolveReferenceAttributeValue"
)

// codeForClass is the Entra code of a connector error class when the connector gave none.
func codeForClass(c connectors.ErrorClass) string {
	switch c {
	case connectors.ClassThrottled:
		return CodeTooManyRequests
	case connectors.ClassUnauthorized:
		return CodeUnauthorized
	case connectors.ClassForbidden:
		return CodeInsufficientRights
	case connectors.ClassConnection:
		return CodeConnectionFailed
	case connectors.ClassConflict:
		return CodeEntryConflict
	case connectors.ClassNotFound:
		return CodeInvalidAnchor
	case connectors.ClassPrecondition:
		return CodePreconditionFailed
	case connectors.ClassInvalid:
		return CodeUnprocessableEntity
	default:
		return CodeInternalServerError
	}
}

// recommendedActions follows Entra's error-code table (howto-analyze-provisioning-logs).
var recommendedActions = map[string]string{
	CodeEntryConflict:          "Correct the conflicting attribute value in the source or the target, or review the matching attributes so that the existing target account is matched instead of created.",
	"Conflict":                 "Correct the conflicting attribute value in the source or the target, or review the matching attributes so that the existing target account is matched instead of created.",
	CodeTooManyRequests:        "The target is throttling requests; provisiond slows down and retries automatically. Raise the target's rate limit or lower maxRequestsPerSecond if it persists.",
	CodeInternalServerError:    "The target failed to process the request; it is retried automatically. If it persists, check the target's health.",
	CodeUnauthorized:           "Check the credentials (token, client secret, password) configured for the target connector and that they have not expired.",
	CodeInsufficientRights:     "The credentials are valid but lack the permission for this operation; grant the provisioning account the required rights in the target.",
	"MethodNotAllowed":         "The target does not allow this operation; check that the target supports it or change the attribute mappings.",
	"NotPermitted":             "The target does not permit this operation for this object.",
	CodeUnprocessableEntity:    "The target rejected the request; review the error detail and the attribute mappings.",
	CodeInvalidAnchor:          "The object previously created or matched in the target no longer exists. Restart the job with resetScope ConnectorDataStore (or Full) to re-match.",
	"NotImplemented":           "The target answered with an unexpected response; check its SCIM compliance.",
	CodeMandatoryFieldsMissing: "Populate the required attributes in the source, or provide a default value in the attribute mapping.",
	"MissingValues":            "Populate the required attributes in the source, or provide a default value in the attribute mapping.",
	"SchemaAttributeNotFound":  "An attribute in the mappings does not exist in the target schema; correct the attribute mappings.",
	CodeInternalError:          "provisiond failed internally; the operation is retried automatically. Report it if it persists.",
	"InvalidDomain":            "An attribute value contains a domain the target does not accept; correct the value in the source.",
	CodeTimeout:                "The target took too long to answer; the operation is retried automatically. Check the target's latency.",
	"LicenseLimitExceeded":     "The target has no licenses left; free up or buy licenses in the target.",
	CodeDuplicateTargetEntries: "More than one target object matches; remove the duplicates in the target or choose a matching attribute that is unique.",
	CodeDuplicateSourceEntries: "Two source objects have the same matching value and match one target account; correct the duplicate value in the source (or choose a matching attribute that is unique) so that each source object has its own account.",
	CodeImportSkipped:          "The source object has no value for the matching attribute; populate it in the source.",
	"SystemForCrossDomainIdentityManagementMultipleEntriesInResponse": "The target returned several objects for a filter on a unique attribute; remove the duplicates in the target.",
	"SystemForCrossDomainIdentityManagementServiceIncompatible":       "The target's response could not be understood as SCIM; check the target URL and its SCIM compliance.",
	"SchemaPropertyCanOnlyAcceptValue":                                "A multi-valued value was sent to a single-valued attribute; correct the attribute mappings.",
	CodeConnectionFailed:                                              "The target cannot be reached; check its URL, the network path and TLS settings.",
	CodePreconditionFailed:                                            "The object changed in the target while provisiond updated it; it is retried automatically.",
	CodeExpressionError:                                               "An attribute mapping expression failed for this object; correct the expression or the source data.",
	CodeUnresolvedReference:                                           "The referenced object (manager or member) has not been provisioned to the target; it is resolved automatically once it is.",
	CodeSourceError:                                                   "The source could not be read; check the source connector's configuration and the source system.",
}

// RecommendedAction returns the recommended action for an error code ("" if none known).
func RecommendedAction(code string) string { return recommendedActions[code] }

// errorInfo builds an event's ErrorInformation from a connector error.
func errorInfo(err error) *ErrorInformation {
	ce := connectors.AsError(err)
	code := ce.Code
	if code == "" {
		code = codeForClass(ce.Class)
	}
	reason := ce.Message
	if reason == "" {
		reason = string(ce.Class) + " error"
		if ce.Status != 0 {
			reason = fmt.Sprintf("%s error (status %d)", ce.Class, ce.Status)
		}
	}
	if ce.Request != "" {
		if ce.Status != 0 {
			reason = fmt.Sprintf("%s failed with HTTP %d: %s", ce.Request, ce.Status, ce.Message)
		} else {
			reason = fmt.Sprintf("%s failed: %s", ce.Request, ce.Message)
		}
	}
	details := ce.Detail
	if ce.Response != "" {
		if details != "" {
			details += "; "
		}
		details += "response: " + ce.Response
	}
	if ce.Class.Retryable() {
		if details != "" {
			details += "; "
		}
		details += "the operation will be retried"
	}
	return &ErrorInformation{
		ErrorCode:         code,
		ErrorCategory:     "nonServiceFailure",
		Reason:            reason,
		AdditionalDetails: details,
		RecommendedAction: RecommendedAction(code),
	}
}

// engineError is an ErrorInformation for an error the engine itself detected.
func engineError(code, reason string) *ErrorInformation {
	return &ErrorInformation{ErrorCode: code, ErrorCategory: "failure", Reason: reason, RecommendedAction: RecommendedAction(code)}
}

// isQuarantineException reports whether err means the whole job cannot work now
// (credentials rejected, target unreachable or not SCIM compliant).
func isQuarantineException(err error) bool {
	ce := connectors.AsError(err)
	switch ce.Class {
	case connectors.ClassUnauthorized, connectors.ClassConnection:
		return true
	}
	return ce.Code == "SystemForCrossDomainIdentityManagementServiceIncompatible"
}
