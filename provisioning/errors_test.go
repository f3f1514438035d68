package provisioning

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

func TestErrorClasses(t *testing.T) {
	cases := []struct {
		err        error
		code       string
		retry      bool
		quarantine bool
	}{
		{&connectors.Error{Class: connectors.ClassRetryable, Status: 500, Message: "boom"}, CodeInternalServerError, true, false},
		{&connectors.Error{Class: connectors.ClassThrottled, Status: 429, RetryAfter: time.Second}, CodeTooManyRequests, true, false},
		{&connectors.Error{Class: connectors.ClassUnauthorized, Status: 401}, CodeUnauthorized, false, true},
		{&connectors.Error{Class: connectors.ClassForbidden, Status: 403}, CodeInsufficientRights, false, false},
		{&connectors.Error{Class: connectors.ClassConnection, Message: "refused"}, CodeConnectionFailed, true, true},
		{&connectors.Error{Class: connectors.ClassConflict, Status: 409}, CodeEntryConflict, false, false},
		{&connectors.Error{Class: connectors.ClassNotFound, Status: 404}, CodeInvalidAnchor, false, false},
		{&connectors.Error{Class: connectors.ClassPrecondition, Status: 412}, CodePreconditionFailed, true, false},
		{&connectors.Error{Class: connectors.ClassInvalid, Status: 400}, CodeUnprocessableEntity, false, false},
		{&connectors.Error{Class: connectors.ClassInvalid, Code: "SystemForCrossDomainIdentityManagementServiceIncompatible", Status: 404}, "SystemForCrossDomainIdentityManagementServiceIncompatible", false, true},
		{&connectors.Error{Class: connectors.ClassInvalid, Code: CodeMandatoryFieldsMissing, Status: 400}, CodeMandatoryFieldsMissing, false, false},
		{context.DeadlineExceeded, CodeTimeout, true, false},
		{errors.New("something else"), CodeInternalError, true, false},
	}
	for _, c := range cases {
		info := errorInfo(c.err)
		if info.ErrorCode != c.code {
			t.Errorf("%v: code %s, want %s", c.err, info.ErrorCode, c.code)
		}
		if info.ErrorCategory != "nonServiceFailure" || info.Reason == "" {
			t.Errorf("%v: info %+v", c.err, info)
		}
		if got := connectors.AsError(c.err).Class.Retryable(); got != c.retry {
			t.Errorf("%v: retryable %v, want %v", c.err, got, c.retry)
		}
		if got := isQuarantineException(c.err); got != c.quarantine {
			t.Errorf("%v: quarantine exception %v, want %v", c.err, got, c.quarantine)
		}
		if RecommendedAction(c.code) == "" {
			t.Errorf("%s has no recommended action", c.code)
		}
		if c.retry && !strings.Contains(info.AdditionalDetails, "retried") {
			t.Errorf("%v: additional details %q do not say it is retried", c.err, info.AdditionalDetails)
		}
	}
	// The exact failing request and status are in the reason.
	info := errorInfo(&connectors.Error{Class: connectors.ClassConflict, Status: 409, Message: "userName taken", Request: "POST /scim/v2/Users"})
	if info.Reason != "POST /scim/v2/Users failed with HTTP 409: userName taken" {
		t.Errorf("reason %q", info.Reason)
	}
}
