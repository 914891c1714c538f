package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// Option configures Write.
type Option func(*writeConfig)

type writeConfig struct {
	threshold int64
	location  string
	sparse    bool
}

// ExternalThreshold stores initializers holding at least bytes bytes of data
// in the external data file instead of the model file; bytes <= 0 (the
// default) stores them inline unless the model would pass protobuf's 2 GiB
// limit.
func ExternalThreshold(bytes int64) Option { return func(c *writeConfig) { c.threshold = bytes } }

// ExternalLocation names the external data file, relative to the model's
// folder; the default is the model's file name plus ".data".
func ExternalLocation(name string) Option { return func(c *writeConfig) { c.location = name } }

// protoSizeLimit is protobuf's 2 GiB message limit; tests lower it.
var protoSizeLimit = int64(math.MaxInt32)

// forcedThreshold is the tensor size from which data moves out of a model
// that would otherwise pass protoSizeLimit (onnx.external_data_helper's default).
const forcedThreshold = 1024

// externalAlign aligns the offsets of newly written external tensors.
const externalAlign = 64

var marshalOptions = proto.MarshalOptions{Deterministic: true}

// Encode serializes m as a self-contained model: tensors that were stored
// externally are written inline. Unchanged parts are written exactly as read.
func Encode(m *graph.Model) ([]byte, error) {
	w := &writer{inline: true}
	mp, err := w.build(m)
	if err != nil {
		return nil, err
	}
	if size := int64(proto.Size(mp)); size > protoSizeLimit {
		return nil, fmt.Errorf("model is %d bytes, over protobuf's 2 GiB limit: use Write, which stores large tensors externally", size)
	}
	return marshalOptions.Marshal(mp)
}

// Write saves m to path atomically: every file is written to a temporary file
// in its destination folder, synced, then renamed into place, so a failed
// Write leaves existing files untouched and no temporary files behind.
// Tensors read from external data stay in their file at their offset when
// unchanged; others go to the external file per the options, and always when
// the model would otherwise pass protobuf's 2 GiB limit.
func Write(path string, m *graph.Model, opts ...Option) error {
	cfg := writeConfig{location: filepath.Base(path) + ".data"}
	for _, o := range opts {
		o(&cfg)
	}
	if !filepath.IsLocal(cfg.location) || filepath.Clean(cfg.location) == filepath.Base(path) {
		return fmt.Errorf("%s: external data location %q must be a file inside the model's folder other than the model", path, cfg.location)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	w := &writer{threshold: cfg.threshold, location: cfg.location, modelFile: filepath.Base(path), sparse: cfg.sparse}
	mp, err := w.build(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if int64(proto.Size(mp)) > protoSizeLimit {
		w = &writer{threshold: cfg.threshold, location: cfg.location, modelFile: w.modelFile, forced: true, sparse: cfg.sparse}
		if mp, err = w.build(m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if size := int64(proto.Size(mp)); size > protoSizeLimit {
			return fmt.Errorf("%s: model is %d bytes without its tensors, over protobuf's 2 GiB limit", path, size)
		}
	}
	data, err := marshalOptions.Marshal(mp)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFiles(path, data, &w.ext)
}

// writer rebuilds protos from the IR. Each entity read from a file starts
// from its original proto, so whatever the IR does not model (unknown fields,
// functions, encodings, field presence) comes back unchanged.
type writer struct {
	inline    bool // Encode: no external files
	threshold int64
	location  string
	modelFile string // the model's file name, which no data file may take
	forced    bool   // the model passes the protobuf limit: move every tensor out
	sparse    bool   // SparseWhenSmaller
	ext       externalPlan
}

func (w *writer) build(m *graph.Model) (*pb.ModelProto, error) {
	mp, err := w.modelProto(m)
	if err != nil {
		return nil, err
	}
	w.ext.finalize()
	return mp, nil
}

func (w *writer) modelProto(m *graph.Model) (*pb.ModelProto, error) {
	if m == nil {
		return nil, errors.New("nil model")
	}
	o := &pb.ModelProto{}
	if op, ok := m.Opaque.(*modelOpaque); ok {
		o = op.orig
	}
	p := &pb.ModelProto{
		IrVersion:       optInt64(o.IrVersion, m.IRVersion),
		ProducerName:    optString(o.ProducerName, m.ProducerName),
		ProducerVersion: optString(o.ProducerVersion, m.ProducerVersion),
		Domain:          optString(o.Domain, m.Domain),
		ModelVersion:    optInt64(o.ModelVersion, m.ModelVersion),
		DocString:       optString(o.DocString, m.DocString),
		TrainingInfo:    o.TrainingInfo,
		Functions:       o.Functions,
	}
	keepUnknown(p, o)
	for i, imp := range m.Opsets {
		if i < len(o.OpsetImport) && o.OpsetImport[i].GetDomain() == imp.Domain && o.OpsetImport[i].GetVersion() == imp.Version {
			p.OpsetImport = append(p.OpsetImport, o.OpsetImport[i])
			continue
		}
		p.OpsetImport = append(p.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String(imp.Domain), Version: proto.Int64(imp.Version)})
	}
	for i, kv := range m.Metadata {
		if i < len(o.MetadataProps) && o.MetadataProps[i].GetKey() == kv.Key && o.MetadataProps[i].GetValue() == kv.Value {
			p.MetadataProps = append(p.MetadataProps, o.MetadataProps[i])
			continue
		}
		p.MetadataProps = append(p.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(kv.Key), Value: proto.String(kv.Value)})
	}
	if m.Graph != nil {
		g, err := w.graphProto(m.Graph)
		if err != nil {
			return nil, err
		}
		p.Graph = g
	}
	return p, nil
}

func keepUnknown(dst, src proto.Message) {
	if u := src.ProtoReflect().GetUnknown(); len(u) > 0 {
		dst.ProtoReflect().SetUnknown(u)
	}
}

func (w *writer) graphProto(g *graph.Graph) (*pb.GraphProto, error) {
	op, _ := g.Opaque.(*graphOpaque)
	if op == nil {
		op = &graphOpaque{orig: &pb.GraphProto{}}
	}
	o := op.orig
	p := &pb.GraphProto{
		Name:                   optString(o.Name, g.Name),
		DocString:              optString(o.DocString, g.DocString),
		QuantizationAnnotation: o.QuantizationAnnotation,
	}
	keepUnknown(p, o)
	where := fmt.Sprintf("graph %q", g.Name)
	for _, v := range g.Initializers {
		if v == nil || v.Const == nil {
			return nil, fmt.Errorf("%s: initializer without data", where)
		}
		if sp := w.sparseProto(v.Const, v.Name); sp != nil {
			p.SparseInitializer = append(p.SparseInitializer, sp)
			continue
		}
		t, err := w.tensorProto(v.Const, v.Name, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		p.Initializer = append(p.Initializer, t)
	}
	lists := []struct {
		kind   string
		values []*graph.Value
		orig   map[string][]*pb.ValueInfoProto
		dst    *[]*pb.ValueInfoProto
	}{
		{"input", g.Inputs, op.inputs, &p.Input},
		{"output", g.Outputs, op.outputs, &p.Output},
		{"value_info", g.ValueInfo, op.valueInfo, &p.ValueInfo},
	}
	for _, l := range lists {
		taken := map[string]int{}
		for _, v := range l.values {
			if v == nil {
				return nil, fmt.Errorf("%s: nil %s", where, l.kind)
			}
			var orig *pb.ValueInfoProto
			if prior := l.orig[v.Name]; taken[v.Name] < len(prior) {
				orig = prior[taken[v.Name]]
				taken[v.Name]++
			}
			*l.dst = append(*l.dst, valueInfoProto(v, orig))
		}
	}
	for _, n := range g.Nodes {
		if n == nil {
			return nil, fmt.Errorf("%s: nil node", where)
		}
		np, err := w.nodeProto(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		p.Node = append(p.Node, np)
	}
	return p, nil
}

// valueInfoProto writes v for one of a graph's lists; orig is the proto the
// same name had in that list when read, if any.
func valueInfoProto(v *graph.Value, orig *pb.ValueInfoProto) *pb.ValueInfoProto {
	snap, _ := v.Opaque.(*valueOpaque)
	typeSame := snap != nil && sameValueType(v.Type, snap.typ)
	docSame := snap != nil && v.DocString == snap.doc
	if orig != nil && typeSame && docSame {
		return orig
	}
	fromFile := orig != nil
	if orig == nil {
		orig = &pb.ValueInfoProto{}
	}
	p := &pb.ValueInfoProto{Name: optString(orig.Name, v.Name), DocString: orig.DocString, Type: orig.Type}
	if !docSame {
		p.DocString = optString(orig.DocString, v.DocString)
	}
	if !fromFile || !typeSame {
		p.Type = encodeType(v.Type)
	}
	keepUnknown(p, orig)
	return p
}

func encodeType(t *graph.ValueType) *pb.TypeProto {
	if t == nil {
		return nil
	}
	if tp, ok := t.Opaque.(*pb.TypeProto); ok && t.Elem == graph.Undefined {
		return tp
	}
	tt := &pb.TypeProto_Tensor{ElemType: proto32(int32(t.Elem))}
	if t.HasShape {
		tt.Shape = &pb.TensorShapeProto{Dim: make([]*pb.TensorShapeProto_Dimension, len(t.Shape))}
		for i, d := range t.Shape {
			dp := &pb.TensorShapeProto_Dimension{Denotation: optString(nil, d.Denotation)}
			switch {
			case d.Param != "":
				dp.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dp.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			}
			tt.Shape.Dim[i] = dp
		}
	}
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}
}

func valueName(v *graph.Value) string {
	if v == nil {
		return ""
	}
	return v.Name
}

func (w *writer) nodeProto(n *graph.Node) (*pb.NodeProto, error) {
	o := &pb.NodeProto{}
	if op, ok := n.Opaque.(*nodeOpaque); ok {
		o = op.orig
	}
	p := &pb.NodeProto{
		Name:      optString(o.Name, n.Name),
		OpType:    optString(o.OpType, n.OpType),
		Domain:    optString(o.Domain, n.Domain),
		DocString: optString(o.DocString, n.DocString),
		Input:     make([]string, len(n.Inputs)),
		Output:    make([]string, len(n.Outputs)),
	}
	keepUnknown(p, o)
	for i, v := range n.Inputs {
		p.Input[i] = valueName(v)
	}
	for i, v := range n.Outputs {
		p.Output[i] = valueName(v)
	}
	for _, a := range n.Attrs {
		if a == nil {
			return nil, fmt.Errorf("node %q: nil attribute", n.Label())
		}
		ap, err := w.attrProto(a)
		if err != nil {
			return nil, fmt.Errorf("node %q: attribute %q: %w", n.Label(), a.Name, err)
		}
		p.Attribute = append(p.Attribute, ap)
	}
	return p, nil
}

func (w *writer) attrProto(a *graph.Attr) (*pb.AttributeProto, error) {
	o := &pb.AttributeProto{}
	sameKind := false
	if op, ok := a.Opaque.(*attrOpaque); ok {
		o = op.orig
		sameKind = op.kind == a.Kind
	}
	p := &pb.AttributeProto{
		Name:        optString(o.Name, a.Name),
		RefAttrName: optString(o.RefAttrName, a.RefName),
		DocString:   optString(o.DocString, a.DocString),
	}
	keepUnknown(p, o)
	if sameKind {
		// Fields beside the one the kind selects are kept as read.
		p.Type, p.F, p.I, p.S, p.T, p.G = o.Type, o.F, o.I, o.S, o.T, o.G
		p.SparseTensor, p.Tp, p.SparseTensors, p.TypeProtos = o.SparseTensor, o.Tp, o.SparseTensors, o.TypeProtos
		p.Floats, p.Ints, p.Strings, p.Tensors, p.Graphs = o.Floats, o.Ints, o.Strings, o.Tensors, o.Graphs
	} else if a.Kind != graph.AttrUndefined {
		t := pb.AttributeProto_AttributeType(a.Kind)
		p.Type = &t
	}
	var err error
	switch a.Kind {
	case graph.AttrFloat:
		if !sameKind || math.Float32bits(o.GetF()) != math.Float32bits(a.F) {
			p.F = proto.Float32(a.F)
		}
	case graph.AttrInt:
		if !sameKind || o.GetI() != a.I {
			p.I = proto.Int64(a.I)
		}
	case graph.AttrString:
		if !sameKind || !bytes.Equal(o.S, a.S) || (o.S == nil) != (a.S == nil) {
			p.S = a.S
			if p.S == nil {
				p.S = []byte{}
			}
		}
	case graph.AttrFloats:
		p.Floats = a.Floats
	case graph.AttrInts:
		p.Ints = a.Ints
	case graph.AttrStrings:
		p.Strings = a.Strings
	case graph.AttrTensor:
		if a.T == nil {
			if sameKind && o.T == nil {
				break // as read: a malformed file, carried over unchanged
			}
			return nil, errors.New("tensor attribute without a tensor")
		}
		if p.T, err = w.tensorProto(a.T, a.T.Name, false); err != nil {
			return nil, err
		}
	case graph.AttrTensors:
		p.Tensors = nil
		for _, t := range a.Tensors {
			if t == nil {
				return nil, errors.New("nil tensor in tensors attribute")
			}
			tp, err := w.tensorProto(t, t.Name, false)
			if err != nil {
				return nil, err
			}
			p.Tensors = append(p.Tensors, tp)
		}
	case graph.AttrGraph:
		if a.G == nil {
			if sameKind && o.G == nil {
				break
			}
			return nil, errors.New("graph attribute without a graph")
		}
		if p.G, err = w.graphProto(a.G); err != nil {
			return nil, err
		}
	case graph.AttrGraphs:
		p.Graphs = nil
		for _, g := range a.Graphs {
			if g == nil {
				return nil, errors.New("nil graph in graphs attribute")
			}
			gp, err := w.graphProto(g)
			if err != nil {
				return nil, err
			}
			p.Graphs = append(p.Graphs, gp)
		}
	case graph.AttrSparseTensor, graph.AttrSparseTensors, graph.AttrTypeProto, graph.AttrTypeProtos:
		if !sameKind {
			return nil, fmt.Errorf("%s attributes can only be carried over from a file, not made", pb.AttributeProto_AttributeType(a.Kind))
		}
	}
	return p, nil
}

// tensorProto writes t under name. An unchanged tensor keeps its original
// encoding (typed field, raw_data or external file and offset); a changed or
// new one is written as raw_data, or to the external file when large.
func (w *writer) tensorProto(t *graph.Tensor, name string, initializer bool) (*pb.TensorProto, error) {
	if orig, same := unchangedSince(t); same {
		p := orig
		if orig.GetName() != name || orig.GetDocString() != t.DocString {
			p = proto.Clone(orig).(*pb.TensorProto)
			p.Name = optString(orig.Name, name)
			p.DocString = optString(orig.DocString, t.DocString)
		}
		switch {
		case !isExternal(p) && !w.goesExternal(t, initializer):
			return p, nil
		case isExternal(p) && w.inline:
			q := proto.Clone(p).(*pb.TensorProto)
			q.DataLocation, q.ExternalData, q.RawData = nil, nil, t.Raw
			if q.RawData == nil {
				q.RawData = []byte{}
			}
			return q, nil
		case isExternal(p) && w.ext.preserve(p, t.Raw, w.modelFile):
			return p, nil
		}
	}
	p, err := rawTensorProto(t, name)
	if err != nil {
		return nil, err
	}
	if w.goesExternal(t, initializer) || (!w.inline && wasExternal(t)) {
		w.ext.add(w.location, p, t.Raw)
	}
	return p, nil
}

func isExternal(p *pb.TensorProto) bool { return p.GetDataLocation() == pb.TensorProto_EXTERNAL }

func wasExternal(t *graph.Tensor) bool {
	op, ok := t.Opaque.(*tensorOpaque)
	return ok && op.orig != nil && isExternal(op.orig)
}

func (w *writer) goesExternal(t *graph.Tensor, initializer bool) bool {
	if w.inline || t.DType == graph.String {
		return false
	}
	size := int64(len(t.Raw))
	return (initializer && w.threshold > 0 && size >= w.threshold) || (w.forced && size >= forcedThreshold)
}
