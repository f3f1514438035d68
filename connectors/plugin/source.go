package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// Source returns the plugin's source (a connectors.Estimator too when the plugin's source
// is one). Closing it closes the plugin's source and, with the last view closed, the
// plugin.
func (c *Conn) Source() (connectors.Source, error) {
	if !c.info.Source {
		return nil, fmt.Errorf("plugin %s (%s) is not a source connector", c.cfg.Name, c.cfg.Path)
	}
	c.acquire()
	v := &sourceView{c: c}
	if c.info.Estimator {
		return &estimatorView{v}, nil
	}
	return v, nil
}

type sourceView struct {
	c      *Conn
	closed bool
}

type estimatorView struct{ *sourceView }

var (
	_ connectors.Source    = (*sourceView)(nil)
	_ connectors.Estimator = (*estimatorView)(nil)
)

func (v *sourceView) Test(ctx context.Context) error {
	_, err := unary(v.c, ctx, "Source.Test", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.SourceTestResponse, error) {
		return p.src.Test(ctx, &pb.SourceTestRequest{}, o...)
	})
	return err
}

// Read streams the plugin source's changes to emit, in order.
func (v *sourceView) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	const method = "Source.Read"
	c := v.c
	p, err := c.proc(method)
	if err != nil {
		return connectors.ReadResult{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rctx, md, opts := callCtx(sctx)
	stream, err := p.src.Read(rctx, &pb.ReadRequest{Type: string(req.Type), Watermark: req.Watermark}, opts...)
	if err != nil {
		return connectors.ReadResult{}, c.rpcError(ctx, p, method, err)
	}
	var res *pb.ReadResult
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if md != nil {
				recordCalls(ctx, stream.Trailer())
			}
			return connectors.ReadResult{}, c.rpcError(ctx, p, method, err)
		}
		for _, pc := range msg.Changes {
			ch, err := wire.DecodeChange(pc)
			if err != nil {
				return connectors.ReadResult{}, &connectors.Error{Class: connectors.ClassInvalid, Code: "InvalidValue",
					Message: fmt.Sprintf("plugin %s: %s: %v", c.cfg.Name, method, err)}
			}
			if err := emit(ch); err != nil {
				return connectors.ReadResult{}, err
			}
		}
		if msg.Result != nil {
			res = msg.Result
		}
	}
	if md != nil {
		recordCalls(ctx, stream.Trailer())
	}
	if res == nil {
		return connectors.ReadResult{}, &connectors.Error{Class: connectors.ClassRetryable, Code: "InternalError",
			Message: fmt.Sprintf("plugin %s: %s ended without a result", c.cfg.Name, method)}
	}
	return connectors.ReadResult{Watermark: res.Watermark, Full: res.Full}, nil
}

func (v *sourceView) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	r, err := unary(v.c, ctx, "Source.Get", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.SourceGetResponse, error) {
		return p.src.Get(ctx, &pb.SourceGetRequest{Type: string(typ), Id: id}, o...)
	})
	if err != nil {
		return connectors.Object{}, err
	}
	obj, err := wire.DecodeObject(r.Object)
	if err != nil {
		return connectors.Object{}, v.c.invalid("Source.Get", err)
	}
	return obj, nil
}

// Close closes the plugin's source, then releases the plugin.
func (v *sourceView) Close() error {
	if v.closed {
		return nil
	}
	v.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, err := unary(v.c, ctx, "Source.Close", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.SourceCloseResponse, error) {
		return p.src.Close(ctx, &pb.SourceCloseRequest{}, o...)
	})
	if connectors.ClassOf(err) == connectors.ClassConnection {
		err = nil // the plugin is not running: nothing to close
	}
	return errors.Join(err, v.c.release())
}

func (v *estimatorView) Estimate(ctx context.Context, req connectors.ReadRequest) (int64, error) {
	r, err := unary(v.c, ctx, "Source.Estimate", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.EstimateResponse, error) {
		return p.src.Estimate(ctx, &pb.EstimateRequest{Type: string(req.Type), Watermark: req.Watermark}, o...)
	})
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

// invalid is the error for a value the plugin sent that cannot be decoded.
func (c *Conn) invalid(method string, err error) error {
	return &connectors.Error{Class: connectors.ClassInvalid, Code: "InvalidValue",
		Message: fmt.Sprintf("plugin %s: %s: %v", c.cfg.Name, method, err), Request: "plugin " + c.cfg.Name + " " + method}
}
