package onnx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// Read loads an ONNX model file. External tensor data is read from files
// beside it; a location that leaves the model's folder is refused. Errors
// caused by the file's content are *InputError values (errors.Is ErrBadInput)
// naming the file and the offending tensor or node.
func Read(path string) (*graph.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &InputError{File: path, Err: err}
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &InputError{File: path, Err: &os.PathError{Op: "read", Path: path, Err: syscall.EISDIR}}
	}
	// Streamed rather than read whole: the file's bytes and the decoded
	// model are never held at once.
	mp, err := unmarshalModel(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err != nil {
		return nil, inFile(path, fmt.Errorf("%s: %w", path, err))
	}
	m, err := decodeModel(mp, dirOf(path))
	return m, inFile(path, err)
}

func dirOf(path string) string { return filepath.Dir(path) }

// Decode parses a serialized ModelProto. dir is the folder external data
// locations are relative to; "" refuses models with external data.
func Decode(data []byte, dir string) (*graph.Model, error) {
	mp, err := unmarshalModel(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	return decodeModel(mp, dir)
}

func decodeModel(mp *pb.ModelProto, dir string) (*graph.Model, error) {
	ext := newExternalReader(dir)
	defer ext.close()
	d := &decoder{ext: ext}
	return d.model(mp)
}

// decoder turns protos into the IR, remembering every Value it makes so their
// read-time state can be recorded once all annotations are in.
type decoder struct {
	ext    *externalReader
	values []*graph.Value
}

type modelOpaque struct{ orig *pb.ModelProto }

type graphOpaque struct {
	orig *pb.GraphProto
	// Original ValueInfoProtos by value name, per list, in file order, so a
	// value whose type is unchanged is written with the exact proto it came from.
	inputs, outputs, valueInfo map[string][]*pb.ValueInfoProto
}

type nodeOpaque struct{ orig *pb.NodeProto }

type attrOpaque struct {
	orig *pb.AttributeProto
	kind graph.AttrKind // as decoded, which may be inferred when the file omits the type
}

// valueOpaque is a value's state at read time; the writer reuses the original
// ValueInfoProtos only while the value still matches it.
type valueOpaque struct {
	name string
	doc  string
	typ  *graph.ValueType
}

// scope maps value names to Values within one graph; subgraphs see their
// enclosing graphs' values through parent.
type scope struct {
	parent *scope
	names  map[string]*graph.Value
}

func (s *scope) lookup(name string) *graph.Value {
	for ; s != nil; s = s.parent {
		if v, ok := s.names[name]; ok {
			return v
		}
	}
	return nil
}

func (d *decoder) model(p *pb.ModelProto) (*graph.Model, error) {
	m := &graph.Model{
		IRVersion:       p.GetIrVersion(),
		ProducerName:    p.GetProducerName(),
		ProducerVersion: p.GetProducerVersion(),
		Domain:          p.GetDomain(),
		ModelVersion:    p.GetModelVersion(),
		DocString:       p.GetDocString(),
		Opaque:          &modelOpaque{orig: p},
	}
	for _, o := range p.OpsetImport {
		m.Opsets = append(m.Opsets, graph.OpsetImport{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	for _, kv := range p.MetadataProps {
		m.Metadata = append(m.Metadata, graph.StringPair{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	if p.Graph != nil {
		g, err := d.graph(p.Graph, nil)
		if err != nil {
			return nil, err
		}
		m.Graph = g
	}
	for _, v := range d.values {
		v.Opaque = &valueOpaque{name: v.Name, doc: v.DocString, typ: v.Type.Clone()}
	}
	return m, nil
}

func (d *decoder) newValue(name string) *graph.Value {
	v := &graph.Value{Name: name}
	d.values = append(d.values, v)
	return v
}

func indexValueInfos(list []*pb.ValueInfoProto) map[string][]*pb.ValueInfoProto {
	idx := make(map[string][]*pb.ValueInfoProto, len(list))
	for _, vi := range list {
		idx[vi.GetName()] = append(idx[vi.GetName()], vi)
	}
	return idx
}

// graph decodes one graph. Every name the graph defines (inputs,
// initializers, sparse initializers, node outputs) is bound before any use is
// resolved, so uses resolve to the same Value whatever the node order; names
// it does not define resolve to the enclosing graphs' Values.
func (d *decoder) graph(p *pb.GraphProto, parent *scope) (*graph.Graph, error) {
	g := &graph.Graph{
		Name:      p.GetName(),
		DocString: p.GetDocString(),
		Opaque: &graphOpaque{
			orig:      p,
			inputs:    indexValueInfos(p.Input),
			outputs:   indexValueInfos(p.Output),
			valueInfo: indexValueInfos(p.ValueInfo),
		},
	}
	sc := &scope{parent: parent, names: map[string]*graph.Value{}}
	define := func(name string) *graph.Value {
		if v, ok := sc.names[name]; ok {
			return v
		}
		v := d.newValue(name)
		sc.names[name] = v
		return v
	}
	use := func(name string) *graph.Value {
		if v := sc.lookup(name); v != nil {
			return v
		}
		return define(name)
	}

	for _, tp := range p.Initializer {
		t, err := d.tensor(tp)
		if err != nil {
			return nil, within(fmt.Sprintf("graph %q initializer", p.GetName()), err)
		}
		v := define(tp.GetName())
		if v.Const != nil { // a repeated initializer keeps its own entry
			v = d.newValue(tp.GetName())
		}
		v.Const = t
		g.Initializers = append(g.Initializers, v)
	}
	for _, vi := range p.Input {
		v := define(vi.GetName())
		annotate(v, vi)
		g.Inputs = append(g.Inputs, v)
	}
	for _, sp := range p.SparseInitializer {
		t, err := decodeSparse(sp, d.ext)
		if err != nil {
			return nil, within(fmt.Sprintf("graph %q sparse initializer", p.GetName()), err)
		}
		v := define(sp.GetValues().GetName())
		if v.Const != nil {
			v = d.newValue(v.Name)
		}
		v.Const = t
		g.Initializers = append(g.Initializers, v)
	}
	outputs := make([][]*graph.Value, len(p.Node))
	for i, np := range p.Node {
		outs := make([]*graph.Value, len(np.Output))
		for j, name := range np.Output {
			if name != "" {
				outs[j] = define(name)
			}
		}
		outputs[i] = outs
	}
	for _, vi := range p.ValueInfo {
		v := use(vi.GetName())
		annotate(v, vi)
		g.ValueInfo = append(g.ValueInfo, v)
	}
	for _, vi := range p.Output {
		v := use(vi.GetName())
		annotate(v, vi)
		g.Outputs = append(g.Outputs, v)
	}
	for _, v := range g.Initializers {
		if v.Type == nil {
			v.Type = &graph.ValueType{Elem: v.Const.DType, HasShape: true, Shape: graph.KnownShape(v.Const.Dims...)}
		}
	}
	for i, np := range p.Node {
		n := &graph.Node{
			Name:      np.GetName(),
			OpType:    np.GetOpType(),
			Domain:    np.GetDomain(),
			DocString: np.GetDocString(),
			Outputs:   outputs[i],
			Opaque:    &nodeOpaque{orig: np},
		}
		n.Inputs = make([]*graph.Value, len(np.Input))
		for j, name := range np.Input {
			if name != "" {
				n.Inputs[j] = use(name)
			}
		}
		for _, ap := range np.Attribute {
			a, err := d.attr(ap, sc)
			if err != nil {
				return nil, within(nodeWhere(np, i), err)
			}
			n.Attrs = append(n.Attrs, a)
		}
		g.Nodes = append(g.Nodes, n)
	}
	// The writer rebuilds both lists from the IR, each tensor from the proto
	// its Opaque keeps; the graph's own lists would pin every original
	// weight for the model's life, after a rewrite has dropped it.
	p.Initializer, p.SparseInitializer = nil, nil
	return g, nil
}

func nodeWhere(np *pb.NodeProto, index int) string {
	if np.GetName() != "" {
		return fmt.Sprintf("node %q", np.GetName())
	}
	return fmt.Sprintf("node #%d (%s)", index, np.GetOpType())
}

// within prefixes the location of an InputError with the enclosing entity.
func within(where string, err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		c := *ie
		if c.Where == "" {
			c.Where = where
		} else {
			c.Where = where + ": " + c.Where
		}
		return &c
	}
	return err
}

func (d *decoder) tensor(p *pb.TensorProto) (*graph.Tensor, error) {
	return decodeTensor(p, d.ext)
}

// annotate takes a value's type and doc string from the first ValueInfoProto
// that has them.
func annotate(v *graph.Value, vi *pb.ValueInfoProto) {
	if v.Type == nil && vi.Type != nil {
		v.Type = decodeType(vi.Type)
	}
	if v.DocString == "" {
		v.DocString = vi.GetDocString()
	}
}

func decodeType(tp *pb.TypeProto) *graph.ValueType {
	tt, ok := tp.Value.(*pb.TypeProto_TensorType)
	if !ok || tt.TensorType == nil {
		return &graph.ValueType{Opaque: tp}
	}
	vt := &graph.ValueType{Elem: graph.DType(tt.TensorType.GetElemType())}
	if sh := tt.TensorType.Shape; sh != nil {
		vt.HasShape = true
		vt.Shape = make(graph.Shape, len(sh.Dim))
		for i, dp := range sh.Dim {
			dim := graph.Dim{Value: -1, Denotation: dp.GetDenotation()}
			switch x := dp.Value.(type) {
			case *pb.TensorShapeProto_Dimension_DimValue:
				dim.Value = x.DimValue
			case *pb.TensorShapeProto_Dimension_DimParam:
				dim.Param = x.DimParam
			}
			vt.Shape[i] = dim
		}
	}
	return vt
}

func sameValueType(a, b *graph.ValueType) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Elem != b.Elem || a.HasShape != b.HasShape || len(a.Shape) != len(b.Shape) || !sameOpaque(a.Opaque, b.Opaque) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	return true
}

// sameOpaque compares codec-owned payloads by identity; anything this codec
// did not put there counts as different.
func sameOpaque(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	pa, ok1 := a.(*pb.TypeProto)
	pb2, ok2 := b.(*pb.TypeProto)
	return ok1 && ok2 && pa == pb2
}

func (d *decoder) attr(p *pb.AttributeProto, sc *scope) (*graph.Attr, error) {
	a := &graph.Attr{
		Name:      p.GetName(),
		RefName:   p.GetRefAttrName(),
		DocString: p.GetDocString(),
		Kind:      attrKind(p),
	}
	a.Opaque = &attrOpaque{orig: p, kind: a.Kind}
	where := fmt.Sprintf("attribute %q", p.GetName())
	var err error
	switch a.Kind {
	case graph.AttrFloat:
		a.F = p.GetF()
	case graph.AttrInt:
		a.I = p.GetI()
	case graph.AttrString:
		a.S = p.S
	case graph.AttrFloats:
		a.Floats = p.Floats
	case graph.AttrInts:
		a.Ints = p.Ints
	case graph.AttrStrings:
		a.Strings = p.Strings
	case graph.AttrTensor:
		if p.T != nil {
			if a.T, err = d.tensor(p.T); err != nil {
				return nil, within(where, err)
			}
		}
	case graph.AttrTensors:
		for _, tp := range p.Tensors {
			t, err := d.tensor(tp)
			if err != nil {
				return nil, within(where, err)
			}
			a.Tensors = append(a.Tensors, t)
		}
	case graph.AttrGraph:
		if p.G != nil {
			if a.G, err = d.graph(p.G, sc); err != nil {
				return nil, within(where, err)
			}
		}
	case graph.AttrGraphs:
		for _, gp := range p.Graphs {
			sg, err := d.graph(gp, sc)
			if err != nil {
				return nil, within(where, err)
			}
			a.Graphs = append(a.Graphs, sg)
		}
	}
	return a, nil
}

// attrKind is the declared type, or for files from before IR version 2 that
// omit it, the kind implied by the field that is set.
func attrKind(p *pb.AttributeProto) graph.AttrKind {
	if p.Type != nil {
		return graph.AttrKind(*p.Type)
	}
	switch {
	case p.F != nil:
		return graph.AttrFloat
	case p.I != nil:
		return graph.AttrInt
	case p.S != nil:
		return graph.AttrString
	case p.T != nil:
		return graph.AttrTensor
	case p.G != nil:
		return graph.AttrGraph
	case p.SparseTensor != nil:
		return graph.AttrSparseTensor
	case p.Tp != nil:
		return graph.AttrTypeProto
	case len(p.Floats) > 0:
		return graph.AttrFloats
	case len(p.Ints) > 0:
		return graph.AttrInts
	case len(p.Strings) > 0:
		return graph.AttrStrings
	case len(p.Tensors) > 0:
		return graph.AttrTensors
	case len(p.Graphs) > 0:
		return graph.AttrGraphs
	case len(p.SparseTensors) > 0:
		return graph.AttrSparseTensors
	case len(p.TypeProtos) > 0:
		return graph.AttrTypeProtos
	}
	return graph.AttrUndefined
}
