package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// batchSize is the number of changes or objects per streamed message.
const batchSize = 128

// batchDelay flushes a partial batch when the connector emits slowly.
const batchDelay = 20 * time.Millisecond

// server serves a connector over the protocol.
type server struct {
	pb.UnimplementedPluginServer
	cfg      Config
	version  int
	src      *sourceServer
	tgt      *targetServer
	closeSrc sync.Once
	closeTgt sync.Once
}

func newServer(cfg Config, version int) *server {
	s := &server{cfg: cfg, version: version}
	if cfg.Source != nil {
		s.src = &sourceServer{s: s, src: cfg.Source}
		s.src.est, _ = cfg.Source.(connectors.Estimator)
	}
	if cfg.Target != nil {
		s.tgt = &targetServer{s: s, tgt: cfg.Target}
		s.tgt.lister, _ = cfg.Target.(connectors.Lister)
		s.tgt.enabler, _ = cfg.Target.(connectors.Enabler)
	}
	return s
}

func (s *server) register(g *grpc.Server) {
	pb.RegisterPluginServer(g, s)
	if s.src != nil {
		pb.RegisterSourceServer(g, s.src)
	}
	if s.tgt != nil {
		pb.RegisterTargetServer(g, s.tgt)
	}
}

// Describe implements pb.PluginServer.
func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	r := &pb.DescribeResponse{Name: s.cfg.Name, Version: s.cfg.Version, ProtocolVersion: int32(s.version),
		Capabilities: &pb.Capabilities{Source: s.src != nil, Target: s.tgt != nil}}
	if s.src != nil {
		r.Capabilities.Estimator = s.src.est != nil
	}
	if s.tgt != nil {
		r.Capabilities.Lister = s.tgt.lister != nil
		r.Capabilities.Enabler = s.tgt.enabler != nil
	}
	for _, o := range s.cfg.Schema {
		os := &pb.ObjectSchema{Type: string(o.Type)}
		for _, a := range o.Attributes {
			os.Attributes = append(os.Attributes, &pb.AttributeSchema{Name: a.Name, Type: a.Type, MultiValued: a.MultiValued,
				Required: a.Required, Description: a.Description})
		}
		r.Schema = append(r.Schema, os)
	}
	return r, nil
}

// closeAll closes the connectors the host did not close.
func (s *server) closeAll() {
	if s.src != nil {
		_ = s.src.close()
	}
	if s.tgt != nil {
		_ = s.tgt.close()
	}
}

// ---- interceptors ----

func wantCalls(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(wire.MDRecordCalls)
	return len(v) > 0 && v[0] == "1"
}

func callsTrailer(log *connectors.CallLog) metadata.MD {
	calls := log.Take()
	if len(calls) == 0 {
		return nil
	}
	b, err := wire.EncodeCalls(calls)
	if err != nil {
		return nil
	}
	return metadata.Pairs(wire.MDCalls, string(b))
}

// recovered turns a panic in connector code into an error (and logs its stack): the
// process stays up and the engine retries the operation later.
func recovered(method string, r any) error {
	Logger().Error("connector panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return wire.EncodeError(&connectors.Error{Class: connectors.ClassRetryable, Code: "InternalError",
		Message: fmt.Sprintf("plugin connector panicked in %s: %v", method, r)})
}

func unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, recovered(info.FullMethod, r)
		}
	}()
	if !wantCalls(ctx) {
		return handler(ctx, req)
	}
	ctx, log := connectors.WithCallLog(ctx)
	resp, err = handler(ctx, req)
	if md := callsTrailer(log); md != nil {
		_ = grpc.SetTrailer(ctx, md)
	}
	return resp, err
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

func streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(info.FullMethod, r)
		}
	}()
	if !wantCalls(ss.Context()) {
		return handler(srv, ss)
	}
	ctx, log := connectors.WithCallLog(ss.Context())
	err = handler(srv, ctxStream{ServerStream: ss, ctx: ctx})
	if md := callsTrailer(log); md != nil {
		ss.SetTrailer(md)
	}
	return err
}

// ---- Source ----

type sourceServer struct {
	pb.UnimplementedSourceServer
	s   *server
	src connectors.Source
	est connectors.Estimator
}

func (s *sourceServer) close() error {
	var err error
	s.s.closeSrc.Do(func() { err = s.src.Close() })
	return err
}

// Test implements pb.SourceServer.
func (s *sourceServer) Test(ctx context.Context, _ *pb.SourceTestRequest) (*pb.SourceTestResponse, error) {
	if err := s.src.Test(ctx); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.SourceTestResponse{}, nil
}

// Read implements pb.SourceServer: changes in batches, then the result.
func (s *sourceServer) Read(req *pb.ReadRequest, stream grpc.ServerStreamingServer[pb.ReadResponse]) error {
	ctx := stream.Context()
	var batch []*pb.Change
	var first time.Time
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pb.ReadResponse{Changes: batch})
		batch = nil
		return err
	}
	res, err := s.src.Read(ctx, connectors.ReadRequest{Type: connectors.ObjectType(req.Type), Watermark: req.Watermark},
		func(c connectors.Change) error {
			pc, err := wire.EncodeChange(c)
			if err != nil {
				return &connectors.Error{Class: connectors.ClassInvalid, Message: err.Error()}
			}
			if len(batch) == 0 {
				first = time.Now()
			}
			batch = append(batch, pc)
			if len(batch) >= batchSize || time.Since(first) >= batchDelay {
				return flush()
			}
			return nil
		})
	// The changes emitted before a failure reach the host too, as they would in process.
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return wire.EncodeError(err)
	}
	return stream.Send(&pb.ReadResponse{Result: &pb.ReadResult{Watermark: res.Watermark, Full: res.Full}})
}

// Get implements pb.SourceServer.
func (s *sourceServer) Get(ctx context.Context, req *pb.SourceGetRequest) (*pb.SourceGetResponse, error) {
	o, err := s.src.Get(ctx, connectors.ObjectType(req.Type), req.Id)
	if err != nil {
		return nil, wire.EncodeError(err)
	}
	po, err := wire.EncodeObject(o)
	if err != nil {
		return nil, invalid(err)
	}
	return &pb.SourceGetResponse{Object: po}, nil
}

// Estimate implements pb.SourceServer.
func (s *sourceServer) Estimate(ctx context.Context, req *pb.EstimateRequest) (*pb.EstimateResponse, error) {
	if s.est == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin's source does not implement connectors.Estimator")
	}
	n, err := s.est.Estimate(ctx, connectors.ReadRequest{Type: connectors.ObjectType(req.Type), Watermark: req.Watermark})
	if err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.EstimateResponse{Count: n}, nil
}

// Close implements pb.SourceServer.
func (s *sourceServer) Close(context.Context, *pb.SourceCloseRequest) (*pb.SourceCloseResponse, error) {
	if err := s.close(); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.SourceCloseResponse{}, nil
}

// invalid is the error for a value the protocol cannot carry.
func invalid(err error) error {
	return wire.EncodeError(&connectors.Error{Class: connectors.ClassInvalid, Code: "InvalidValue", Message: err.Error()})
}

// ---- Target ----

type targetServer struct {
	pb.UnimplementedTargetServer
	s       *server
	tgt     connectors.Target
	lister  connectors.Lister
	enabler connectors.Enabler
}

func (s *targetServer) close() error {
	var err error
	s.s.closeTgt.Do(func() { err = s.tgt.Close() })
	return err
}

// Test implements pb.TargetServer.
func (s *targetServer) Test(ctx context.Context, _ *pb.TargetTestRequest) (*pb.TargetTestResponse, error) {
	if err := s.tgt.Test(ctx); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.TargetTestResponse{}, nil
}

// Find implements pb.TargetServer.
func (s *targetServer) Find(ctx context.Context, req *pb.FindRequest) (*pb.FindResponse, error) {
	v, err := wire.DecodeValue(req.Value)
	if err != nil {
		return nil, invalid(err)
	}
	objs, err := s.tgt.Find(ctx, connectors.ObjectType(req.Type), req.Attribute, v)
	if err != nil {
		return nil, wire.EncodeError(err)
	}
	po, err := wire.EncodeTargetObjects(objs)
	if err != nil {
		return nil, invalid(err)
	}
	return &pb.FindResponse{Objects: po, Nil: objs == nil}, nil
}

// Get implements pb.TargetServer.
func (s *targetServer) Get(ctx context.Context, req *pb.TargetGetRequest) (*pb.TargetGetResponse, error) {
	o, err := s.tgt.Get(ctx, connectors.ObjectType(req.Type), req.Id)
	if err != nil {
		return nil, wire.EncodeError(err)
	}
	po, err := wire.EncodeTargetObject(o)
	if err != nil {
		return nil, invalid(err)
	}
	return &pb.TargetGetResponse{Object: po}, nil
}

// Create implements pb.TargetServer.
func (s *targetServer) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateResponse, error) {
	attrs, err := wire.DecodeAttributes(req.Attributes)
	if err != nil {
		return nil, invalid(err)
	}
	o, err := s.tgt.Create(ctx, connectors.ObjectType(req.Type), attrs)
	if err != nil {
		return nil, wire.EncodeError(err)
	}
	po, err := wire.EncodeTargetObject(o)
	if err != nil {
		return nil, invalid(err)
	}
	return &pb.CreateResponse{Object: po}, nil
}

// Update implements pb.TargetServer.
func (s *targetServer) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	mods, err := wire.DecodeModifications(req.Modifications, req.Nil)
	if err != nil {
		return nil, invalid(err)
	}
	if err := s.tgt.Update(ctx, connectors.ObjectType(req.Type), req.Id, mods); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.UpdateResponse{}, nil
}

// Disable implements pb.TargetServer.
func (s *targetServer) Disable(ctx context.Context, req *pb.DisableRequest) (*pb.DisableResponse, error) {
	if err := s.tgt.Disable(ctx, connectors.ObjectType(req.Type), req.Id); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.DisableResponse{}, nil
}

// Enable implements pb.TargetServer.
func (s *targetServer) Enable(ctx context.Context, req *pb.EnableRequest) (*pb.EnableResponse, error) {
	if s.enabler == nil {
		return nil, status.Error(codes.Unimplemented, "the plugin's target does not implement connectors.Enabler")
	}
	if err := s.enabler.Enable(ctx, connectors.ObjectType(req.Type), req.Id); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.EnableResponse{}, nil
}

// Delete implements pb.TargetServer.
func (s *targetServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if err := s.tgt.Delete(ctx, connectors.ObjectType(req.Type), req.Id); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.DeleteResponse{}, nil
}

// AddMembers implements pb.TargetServer.
func (s *targetServer) AddMembers(ctx context.Context, req *pb.AddMembersRequest) (*pb.AddMembersResponse, error) {
	if err := s.tgt.AddMembers(ctx, req.GroupId, wire.DecodeStrings(req.MemberIds)); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.AddMembersResponse{}, nil
}

// RemoveMembers implements pb.TargetServer.
func (s *targetServer) RemoveMembers(ctx context.Context, req *pb.RemoveMembersRequest) (*pb.RemoveMembersResponse, error) {
	if err := s.tgt.RemoveMembers(ctx, req.GroupId, wire.DecodeStrings(req.MemberIds)); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.RemoveMembersResponse{}, nil
}

// List implements pb.TargetServer: objects in batches.
func (s *targetServer) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	if s.lister == nil {
		return status.Error(codes.Unimplemented, "the plugin's target does not implement connectors.Lister")
	}
	var batch []*pb.TargetObject
	var first time.Time
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pb.ListResponse{Objects: batch})
		batch = nil
		return err
	}
	err := s.lister.List(stream.Context(), connectors.ObjectType(req.Type), wire.DecodeStrings(req.Attributes),
		func(o connectors.TargetObject) error {
			po, err := wire.EncodeTargetObject(o)
			if err != nil {
				return &connectors.Error{Class: connectors.ClassInvalid, Message: err.Error()}
			}
			if len(batch) == 0 {
				first = time.Now()
			}
			batch = append(batch, po)
			if len(batch) >= batchSize || time.Since(first) >= batchDelay {
				return flush()
			}
			return nil
		})
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return wire.EncodeError(err)
	}
	return nil
}

// Close implements pb.TargetServer.
func (s *targetServer) Close(context.Context, *pb.TargetCloseRequest) (*pb.TargetCloseResponse, error) {
	if err := s.close(); err != nil {
		return nil, wire.EncodeError(err)
	}
	return &pb.TargetCloseResponse{}, nil
}
