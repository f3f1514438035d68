package wire

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/provisiond/provisiond/connectors"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// EncodeCalls marshals connector calls for the MDCalls trailer.
func EncodeCalls(calls []connectors.Call) ([]byte, error) {
	l := &pb.CallList{Calls: make([]*pb.Call, len(calls))}
	for i, c := range calls {
		l.Calls[i] = &pb.Call{Method: c.Method, Target: c.Target, Status: int64(c.Status), Error: c.Error,
			StartUnixNanos: c.Start.UnixNano(), DurationInMilliseconds: c.DurationInMilliseconds, SpanId: c.SpanID}
	}
	return proto.Marshal(l)
}

// DecodeCalls is EncodeCalls' inverse.
func DecodeCalls(b []byte) ([]connectors.Call, error) {
	var l pb.CallList
	if err := proto.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	out := make([]connectors.Call, len(l.Calls))
	for i, c := range l.Calls {
		out[i] = connectors.Call{Method: c.Method, Target: c.Target, Status: int(c.Status), Error: c.Error,
			Start: time.Unix(0, c.StartUnixNanos).UTC(), DurationInMilliseconds: c.DurationInMilliseconds, SpanID: c.SpanId}
	}
	return out, nil
}
