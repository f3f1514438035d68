package plugin

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
)

// exitWait is how long a failed RPC waits for the process's exit to be seen before it is
// classified (a crash breaks the connection a moment before the process is reaped).
const exitWait = 100 * time.Millisecond

// callCtx prepares an RPC's context and options: when the caller records connector calls,
// the plugin is asked for its calls and the trailer is captured.
func callCtx(ctx context.Context) (context.Context, *metadata.MD, []grpc.CallOption) {
	if !connectors.Recording(ctx) {
		return ctx, nil, nil
	}
	md := new(metadata.MD)
	return metadata.AppendToOutgoingContext(ctx, wire.MDRecordCalls, "1"), md, []grpc.CallOption{grpc.Trailer(md)}
}

// recordCalls adds the plugin's calls from a trailer to the caller's call log.
func recordCalls(ctx context.Context, md metadata.MD) {
	for _, v := range md.Get(wire.MDCalls) {
		if calls, err := wire.DecodeCalls([]byte(v)); err == nil {
			connectors.RecordCalls(ctx, calls)
		}
	}
}

// unary runs a unary RPC the way an in-process call would behave: the connector's own
// error as it returned it, the caller's context error when the caller's deadline passed or
// it cancelled, a ClassConnection error when the plugin is down or crashed.
func unary[Resp any](c *Conn, ctx context.Context, method string, call func(p *proc, ctx context.Context, opts ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var zero Resp
	p, err := c.proc(method)
	if err != nil {
		return zero, err
	}
	rctx, md, opts := callCtx(ctx)
	resp, err := call(p, rctx, opts...)
	if md != nil {
		recordCalls(ctx, *md)
	}
	if err != nil {
		return zero, c.rpcError(ctx, p, method, err)
	}
	return resp, nil
}

// rpcError turns an RPC's error into what the caller sees.
func (c *Conn) rpcError(ctx context.Context, p *proc, method string, err error) error {
	if e, ok := wire.DecodeError(err); ok {
		return e
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("plugin %s: %s: %w", c.cfg.Name, method, context.DeadlineExceeded)
	case codes.Canceled:
		if !c.exited(p) {
			return fmt.Errorf("plugin %s: %s: %w", c.cfg.Name, method, context.Canceled)
		}
	case codes.Unimplemented:
		return &connectors.Error{Class: connectors.ClassInvalid, Code: "NotImplemented",
			Message: fmt.Sprintf("plugin %s does not implement %s: %s", c.cfg.Name, method, st.Message()), Request: "plugin " + c.cfg.Name + " " + method}
	}
	if c.exited(p) {
		why := "its process exited"
		if p.run.waitErr != nil {
			why += " (" + p.run.waitErr.Error() + ")"
		}
		return c.connError(method, why+" during the call; it is being restarted")
	}
	if st.Code() == codes.Unavailable {
		// The process runs but its connection broke: restart it.
		c.log.Error("plugin connection broken; killing the process to restart it", "method", method, "error", st.Message())
		_ = p.run.Kill(context.Background())
		return c.connError(method, "connection to the plugin broken ("+st.Message()+"); it is being restarted")
	}
	return &connectors.Error{Class: connectors.ClassRetryable, Code: "InternalError",
		Message: fmt.Sprintf("plugin %s: %s failed: %s: %s", c.cfg.Name, method, st.Code(), st.Message()), Request: "plugin " + c.cfg.Name + " " + method}
}

// exited reports whether p's process has exited, waiting a moment for it.
func (c *Conn) exited(p *proc) bool {
	t := time.NewTimer(exitWait)
	defer t.Stop()
	select {
	case <-p.run.done:
		return true
	case <-t.C:
		return false
	}
}
