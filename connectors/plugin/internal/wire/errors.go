package wire

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/provisiond/provisiond/connectors"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// codeFor is the gRPC code sent with an error of class c (for generic gRPC tools; the host
// reads the Error detail, not the code).
func codeFor(c connectors.ErrorClass) codes.Code {
	switch c {
	case connectors.ClassNotFound:
		return codes.NotFound
	case connectors.ClassConflict:
		return codes.AlreadyExists
	case connectors.ClassThrottled:
		return codes.ResourceExhausted
	case connectors.ClassUnauthorized:
		return codes.Unauthenticated
	case connectors.ClassForbidden:
		return codes.PermissionDenied
	case connectors.ClassPrecondition:
		return codes.Aborted
	case connectors.ClassInvalid:
		return codes.InvalidArgument
	case connectors.ClassConnection:
		return codes.FailedPrecondition
	}
	return codes.Unknown
}

// EncodeError turns a connector's error into a gRPC status error carrying every field of it
// (nil gives nil).
func EncodeError(err error) error {
	if err == nil {
		return nil
	}
	e := &pb.Error{Text: err.Error(),
		DeadlineExceeded: errors.Is(err, context.DeadlineExceeded), Canceled: errors.Is(err, context.Canceled)}
	code := codes.Unknown
	var ce *connectors.Error
	if errors.As(err, &ce) {
		e.Typed = true
		e.Class, e.Code, e.Message, e.Status = string(ce.Class), ce.Code, ce.Message, int64(ce.Status)
		e.Detail, e.RetryAfterNanos, e.Request, e.Response = ce.Detail, int64(ce.RetryAfter), ce.Request, ce.Response
		code = codeFor(ce.Class)
	} else if e.DeadlineExceeded {
		code = codes.DeadlineExceeded
	} else if e.Canceled {
		code = codes.Canceled
	}
	st, derr := status.New(code, e.Text).WithDetails(e)
	if derr != nil {
		return status.Error(code, e.Text)
	}
	return st.Err()
}

// DecodeError rebuilds the error a plugin's connector returned from a gRPC error. ok is
// false when the error carries no connector error (a transport or gRPC failure).
func DecodeError(err error) (_ error, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus {
		return err, false
	}
	for _, d := range st.Details() {
		if e, isErr := d.(*pb.Error); isErr {
			return decodeError(e), true
		}
	}
	return err, false
}

func decodeError(e *pb.Error) error {
	var wrapped []error
	if e.Typed {
		ce := &connectors.Error{Class: connectors.ErrorClass(e.Class), Code: e.Code, Message: e.Message, Status: int(e.Status),
			Detail: e.Detail, RetryAfter: time.Duration(e.RetryAfterNanos), Request: e.Request, Response: e.Response}
		if !e.DeadlineExceeded && !e.Canceled && ce.Error() == e.Text {
			return ce
		}
		wrapped = append(wrapped, ce)
	}
	if e.DeadlineExceeded {
		wrapped = append(wrapped, context.DeadlineExceeded)
	}
	if e.Canceled {
		wrapped = append(wrapped, context.Canceled)
	}
	if len(wrapped) == 0 {
		return errors.New(e.Text)
	}
	if len(wrapped) == 1 && wrapped[0].Error() == e.Text {
		return wrapped[0]
	}
	return &RemoteError{Text: e.Text, Errs: wrapped}
}

// RemoteError is an error returned by a plugin's connector that wrapped a connectors.Error
// or a context error: Error is the text the plugin's error had, and errors.As and errors.Is
// find what it wrapped.
type RemoteError struct {
	Text string
	Errs []error
}

func (e *RemoteError) Error() string   { return e.Text }
func (e *RemoteError) Unwrap() []error { return e.Errs }
