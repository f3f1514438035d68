package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// closeTimeout bounds a view's Close call.
const closeTimeout = 10 * time.Second

// Target returns the plugin's target (a connectors.Lister and a connectors.Enabler too
// when the plugin's target is). Closing it closes the plugin's target and, with the last
// view closed, the plugin.
func (c *Conn) Target() (connectors.Target, error) {
	if !c.info.Target {
		return nil, fmt.Errorf("plugin %s (%s) is not a target connector", c.cfg.Name, c.cfg.Path)
	}
	c.acquire()
	v := &targetView{c: c}
	switch {
	case c.info.Lister && c.info.Enabler:
		return &listerEnablerView{v}, nil
	case c.info.Lister:
		return &listerView{v}, nil
	case c.info.Enabler:
		return &enablerView{v}, nil
	}
	return v, nil
}

type targetView struct {
	c      *Conn
	closed bool
}

type listerView struct{ *targetView }
type enablerView struct{ *targetView }
type listerEnablerView struct{ *targetView }

func (v *listerView) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	return v.list(ctx, typ, attrs, emit)
}
func (v *listerEnablerView) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	return v.list(ctx, typ, attrs, emit)
}
func (v *enablerView) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return v.enable(ctx, typ, id)
}
func (v *listerEnablerView) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	return v.enable(ctx, typ, id)
}

var (
	_ connectors.Target  = (*targetView)(nil)
	_ connectors.Lister  = (*listerView)(nil)
	_ connectors.Enabler = (*enablerView)(nil)
	_ connectors.Lister  = (*listerEnablerView)(nil)
	_ connectors.Enabler = (*listerEnablerView)(nil)
)

func (v *targetView) Test(ctx context.Context) error {
	_, err := unary(v.c, ctx, "Target.Test", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.TargetTestResponse, error) {
		return p.tgt.Test(ctx, &pb.TargetTestRequest{}, o...)
	})
	return err
}

func (v *targetView) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	pv, err := wire.EncodeValue(value)
	if err != nil {
		return nil, v.c.invalid("Target.Find", err)
	}
	r, err := unary(v.c, ctx, "Target.Find", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.FindResponse, error) {
		return p.tgt.Find(ctx, &pb.FindRequest{Type: string(typ), Attribute: attr, Value: pv}, o...)
	})
	if err != nil {
		return nil, err
	}
	objs, err := wire.DecodeTargetObjects(r.Objects, r.Nil)
	if err != nil {
		return nil, v.c.invalid("Target.Find", err)
	}
	return objs, nil
}

func (v *targetView) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	r, err := unary(v.c, ctx, "Target.Get", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.TargetGetResponse, error) {
		return p.tgt.Get(ctx, &pb.TargetGetRequest{Type: string(typ), Id: id}, o...)
	})
	if err != nil {
		return connectors.TargetObject{}, err
	}
	obj, err := wire.DecodeTargetObject(r.Object)
	if err != nil {
		return connectors.TargetObject{}, v.c.invalid("Target.Get", err)
	}
	return obj, nil
}

func (v *targetView) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	pa, err := wire.EncodeAttributes(attrs)
	if err != nil {
		return connectors.TargetObject{}, v.c.invalid("Target.Create", err)
	}
	r, err := unary(v.c, ctx, "Target.Create", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.CreateResponse, error) {
		return p.tgt.Create(ctx, &pb.CreateRequest{Type: string(typ), Attributes: pa}, o...)
	})
	if err != nil {
		return connectors.TargetObject{}, err
	}
	obj, err := wire.DecodeTargetObject(r.Object)
	if err != nil {
		return connectors.TargetObject{}, v.c.invalid("Target.Create", err)
	}
	return obj, nil
}

func (v *targetView) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	pm, err := wire.EncodeModifications(mods)
	if err != nil {
		return v.c.invalid("Target.Update", err)
	}
	_, err = unary(v.c, ctx, "Target.Update", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.UpdateResponse, error) {
		return p.tgt.Update(ctx, &pb.UpdateRequest{Type: string(typ), Id: id, Modifications: pm, Nil: mods == nil}, o...)
	})
	return err
}

func (v *targetView) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	_, err := unary(v.c, ctx, "Target.Disable", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.DisableResponse, error) {
		return p.tgt.Disable(ctx, &pb.DisableRequest{Type: string(typ), Id: id}, o...)
	})
	return err
}

func (v *targetView) enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	_, err := unary(v.c, ctx, "Target.Enable", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.EnableResponse, error) {
		return p.tgt.Enable(ctx, &pb.EnableRequest{Type: string(typ), Id: id}, o...)
	})
	return err
}

func (v *targetView) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	_, err := unary(v.c, ctx, "Target.Delete", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.DeleteResponse, error) {
		return p.tgt.Delete(ctx, &pb.DeleteRequest{Type: string(typ), Id: id}, o...)
	})
	return err
}

func (v *targetView) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	_, err := unary(v.c, ctx, "Target.AddMembers", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.AddMembersResponse, error) {
		return p.tgt.AddMembers(ctx, &pb.AddMembersRequest{GroupId: groupID, MemberIds: wire.EncodeStrings(memberIDs)}, o...)
	})
	return err
}

func (v *targetView) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	_, err := unary(v.c, ctx, "Target.RemoveMembers", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.RemoveMembersResponse, error) {
		return p.tgt.RemoveMembers(ctx, &pb.RemoveMembersRequest{GroupId: groupID, MemberIds: wire.EncodeStrings(memberIDs)}, o...)
	})
	return err
}

func (v *targetView) list(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	const method = "Target.List"
	c := v.c
	p, err := c.proc(method)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rctx, md, opts := callCtx(sctx)
	stream, err := p.tgt.List(rctx, &pb.ListRequest{Type: string(typ), Attributes: wire.EncodeStrings(attrs)}, opts...)
	if err != nil {
		return c.rpcError(ctx, p, method, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if md != nil {
				recordCalls(ctx, stream.Trailer())
			}
			return c.rpcError(ctx, p, method, err)
		}
		for _, po := range msg.Objects {
			o, err := wire.DecodeTargetObject(po)
			if err != nil {
				return c.invalid(method, err)
			}
			if err := emit(o); err != nil {
				return err
			}
		}
	}
	if md != nil {
		recordCalls(ctx, stream.Trailer())
	}
	return nil
}

// Close closes the plugin's target, then releases the plugin.
func (v *targetView) Close() error {
	if v.closed {
		return nil
	}
	v.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, err := unary(v.c, ctx, "Target.Close", func(p *proc, ctx context.Context, o ...grpc.CallOption) (*pb.TargetCloseResponse, error) {
		return p.tgt.Close(ctx, &pb.TargetCloseRequest{}, o...)
	})
	if connectors.ClassOf(err) == connectors.ClassConnection {
		err = nil
	}
	return errors.Join(err, v.c.release())
}
