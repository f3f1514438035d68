package wire

import (
	"fmt"

	"github.com/provisiond/provisiond/connectors"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// EncodeObject converts a source object.
func EncodeObject(o connectors.Object) (*pb.Object, error) {
	a, err := EncodeAttributes(o.Attributes)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Type, o.ID, err)
	}
	return &pb.Object{Type: string(o.Type), Id: o.ID, Attributes: a}, nil
}

// DecodeObject is EncodeObject's inverse (a missing object is the zero Object).
func DecodeObject(o *pb.Object) (connectors.Object, error) {
	if o == nil {
		return connectors.Object{}, nil
	}
	a, err := DecodeAttributes(o.Attributes)
	if err != nil {
		return connectors.Object{}, fmt.Errorf("%s %s: %w", o.Type, o.Id, err)
	}
	return connectors.Object{Type: connectors.ObjectType(o.Type), ID: o.Id, Attributes: a}, nil
}

// EncodeChange converts a change.
func EncodeChange(c connectors.Change) (*pb.Change, error) {
	o, err := EncodeObject(c.Object)
	if err != nil {
		return nil, err
	}
	return &pb.Change{Kind: string(c.Kind), Object: o}, nil
}

// DecodeChange is EncodeChange's inverse.
func DecodeChange(c *pb.Change) (connectors.Change, error) {
	o, err := DecodeObject(c.GetObject())
	if err != nil {
		return connectors.Change{}, err
	}
	return connectors.Change{Kind: connectors.ChangeKind(c.GetKind()), Object: o}, nil
}

// EncodeTargetObject converts a target object.
func EncodeTargetObject(o connectors.TargetObject) (*pb.TargetObject, error) {
	a, err := EncodeAttributes(o.Attributes)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", o.ID, err)
	}
	return &pb.TargetObject{Id: o.ID, Attributes: a, Version: o.Version}, nil
}

// DecodeTargetObject is EncodeTargetObject's inverse (a missing object is the zero value).
func DecodeTargetObject(o *pb.TargetObject) (connectors.TargetObject, error) {
	if o == nil {
		return connectors.TargetObject{}, nil
	}
	a, err := DecodeAttributes(o.Attributes)
	if err != nil {
		return connectors.TargetObject{}, fmt.Errorf("object %s: %w", o.Id, err)
	}
	return connectors.TargetObject{ID: o.Id, Attributes: a, Version: o.Version}, nil
}

// EncodeTargetObjects converts a list of target objects (nil stays nil).
func EncodeTargetObjects(objs []connectors.TargetObject) ([]*pb.TargetObject, error) {
	if objs == nil {
		return nil, nil
	}
	out := make([]*pb.TargetObject, len(objs))
	for i, o := range objs {
		e, err := EncodeTargetObject(o)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// DecodeTargetObjects is EncodeTargetObjects' inverse; isNil tells nil from empty.
func DecodeTargetObjects(objs []*pb.TargetObject, isNil bool) ([]connectors.TargetObject, error) {
	if isNil {
		return nil, nil
	}
	out := make([]connectors.TargetObject, len(objs))
	for i, o := range objs {
		d, err := DecodeTargetObject(o)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// EncodeModifications converts modifications.
func EncodeModifications(mods []connectors.Modification) ([]*pb.Modification, error) {
	out := make([]*pb.Modification, len(mods))
	for i, m := range mods {
		v, err := encodeValue(m.Value, m.Name)
		if err != nil {
			return nil, err
		}
		out[i] = &pb.Modification{Name: m.Name, Op: string(m.Op), Value: v}
	}
	return out, nil
}

// DecodeModifications is EncodeModifications' inverse; isNil tells nil from empty.
func DecodeModifications(mods []*pb.Modification, isNil bool) ([]connectors.Modification, error) {
	if isNil {
		return nil, nil
	}
	out := make([]connectors.Modification, len(mods))
	for i, m := range mods {
		v, err := DecodeValue(m.Value)
		if err != nil {
			return nil, fmt.Errorf("modification %s: %w", m.Name, err)
		}
		out[i] = connectors.Modification{Name: m.Name, Op: connectors.ModOp(m.Op), Value: v}
	}
	return out, nil
}
