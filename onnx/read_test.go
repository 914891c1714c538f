package onnx

import (
	"bytes"
	"github.com/onnxcompress/onnxcompress/graph"
	"google.golang.org/protobuf/encoding/protowire"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

const conformanceDir = "/usr/share/libonnx-testdata/data"

// conformanceModels lists every model.onnx of Debian's libonnx-testdata; it
// fails under CI when the package is missing and skips otherwise.
func conformanceModels(tb testing.TB) []string {
	tb.Helper()
	var paths []string
	err := filepath.WalkDir(conformanceDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "model.onnx" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil || len(paths) == 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("ONNX conformance models missing under %s (install libonnx-testdata): %v", conformanceDir, err)
		}
		tb.Skipf("no conformance models under %s: %v", conformanceDir, err)
	}
	sort.Strings(paths)
	return paths
}

func TestConformanceModelsRoundTrip(t *testing.T) {
	paths := conformanceModels(t)
	if len(paths) < 1000 {
		t.Fatalf("found %d conformance models, expected the full set of 1072", len(paths))
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Read(path)
		if err != nil {
			t.Errorf("Read: %v", err)
			continue
		}
		out, err := Encode(m)
		if err != nil {
			t.Errorf("%s: Encode: %v", path, err)
			continue
		}
		want, got := &pb.ModelProto{}, &pb.ModelProto{}
		if err := proto.Unmarshal(data, want); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatalf("%s: re-reading encoded model: %v", path, err)
		}
		if !proto.Equal(want, got) {
			t.Errorf("%s: round trip changed the model", path)
		}
	}
}

func TestReadTruncatedFile(t *testing.T) {
	w := &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{64}, RawData: make([]byte, 256)}
	data := marshal(t, modelWith(w))
	path := filepath.Join(t.TempDir(), "cut.onnx")
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(path)
	wantBadInput(t, err, "cut.onnx")
}

func TestReadRandomBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "noise.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(path)
	wantBadInput(t, err, "noise.onnx")
}

func TestReadMissingFile(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "absent.onnx"))
	wantBadInput(t, err, "absent.onnx")
}

// ifModel has an If whose branches use an outer value, x, and an outer initializer, k.
func ifModel() *pb.ModelProto {
	branch := func(name, op string) *pb.GraphProto {
		return &pb.GraphProto{
			Name:   proto.String(name),
			Node:   []*pb.NodeProto{{Name: proto.String(name + "_op"), OpType: proto.String(op), Input: []string{"x", "k"}, Output: []string{name + "_y"}}},
			Output: []*pb.ValueInfoProto{{Name: proto.String(name + "_y"), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(1)}}}}},
		}
	}
	mp := modelWith()
	g := mp.Graph
	g.Input = []*pb.ValueInfoProto{
		{Name: proto.String("cond"), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(9), Shape: &pb.TensorShapeProto{}}}}},
		{Name: proto.String("x"), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(1),
			Shape: &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, {Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: 3}}}}}}}},
	}
	g.Initializer = []*pb.TensorProto{{Name: proto.String("k"), DataType: proto.Int32(1), Dims: []int64{3}, FloatData: []float32{1, 2, 3}}}
	g.Node = []*pb.NodeProto{{
		Name: proto.String("if"), OpType: proto.String("If"), Input: []string{"cond"}, Output: []string{"y"},
		Attribute: []*pb.AttributeProto{
			{Name: proto.String("then_branch"), Type: pb.AttributeProto_GRAPH.Enum(), G: branch("then", "Add")},
			{Name: proto.String("else_branch"), Type: pb.AttributeProto_GRAPH.Enum(), G: branch("else", "Sub")},
		},
	}}
	g.Output = []*pb.ValueInfoProto{{Name: proto.String("y")}}
	return mp
}

func TestSubgraphUsesResolveToOuterValues(t *testing.T) {
	m, out := roundTrip(t, ifModel())
	g := m.Graph
	x, k := g.Inputs[1], g.Initializers[0]
	for _, name := range []string{"then_branch", "else_branch"} {
		a := g.Nodes[0].Attr(name)
		if a == nil || a.G == nil {
			t.Fatalf("%s not decoded as a graph", name)
		}
		in := a.G.Nodes[0].Inputs
		if in[0] != x || in[1] != k {
			t.Errorf("%s: inner inputs do not resolve to the outer x and k values", name)
		}
	}
	if x.Type == nil || !x.Type.HasShape || x.Type.Shape[0].Param != "N" || x.Type.Shape[1].Value != 3 {
		t.Errorf("x type = %+v", x.Type)
	}
	if !proto.Equal(out, ifModel()) {
		t.Error("If model changed in the round trip")
	}
}

func TestEmptyInputIsNil(t *testing.T) {
	mp := modelWith(&pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}})
	mp.Graph.Node[0] = &pb.NodeProto{OpType: proto.String("Clip"), Input: []string{"w", "", "w"}, Output: []string{"y"}}
	m, out := roundTrip(t, mp)
	n := m.Graph.Nodes[0]
	if len(n.Inputs) != 3 || n.Inputs[1] != nil || n.Inputs[0] != m.Graph.Initializers[0] || n.Inputs[2] != n.Inputs[0] {
		t.Errorf("inputs = %v", n.Inputs)
	}
	if got := out.Graph.Node[0].Input; len(got) != 3 || got[1] != "" {
		t.Errorf("written inputs = %q", got)
	}
}

func TestUnknownFieldsKept(t *testing.T) {
	mp := ifModel()
	node := protowire.AppendString(protowire.AppendTag(nil, 999, protowire.BytesType), "node extra")
	model := protowire.AppendVarint(protowire.AppendTag(nil, 1000, protowire.VarintType), 42)
	graphExtra := protowire.AppendVarint(protowire.AppendTag(nil, 1001, protowire.VarintType), 7)
	mp.Graph.Node[0].ProtoReflect().SetUnknown(node)
	mp.ProtoReflect().SetUnknown(model)
	mp.Graph.ProtoReflect().SetUnknown(graphExtra)
	mp.Graph.Node[0].Attribute[0].ProtoReflect().SetUnknown(graphExtra)
	mp.Graph.Input[1].ProtoReflect().SetUnknown(graphExtra)
	m, err := Decode(marshal(t, mp), "")
	if err != nil {
		t.Fatal(err)
	}
	// Edit the node so it is rebuilt rather than passed through.
	m.Graph.Nodes[0].Name = "renamed"
	m.Graph.Nodes[0].Attrs[0].DocString = "edited"
	m.Graph.Name = "renamed"
	m.Graph.Inputs[1].DocString = "edited"
	m.ProducerName = "test"
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeBytes(t, b)
	if got := out.Graph.Node[0].ProtoReflect().GetUnknown(); !bytes.Equal(got, node) {
		t.Errorf("node unknown fields = %x, want %x", got, node)
	}
	if got := out.ProtoReflect().GetUnknown(); !bytes.Equal(got, model) {
		t.Errorf("model unknown fields = %x, want %x", got, model)
	}
	for what, msg := range map[string]proto.Message{"graph": out.Graph, "attribute": out.Graph.Node[0].Attribute[0], "input": out.Graph.Input[1]} {
		if got := msg.ProtoReflect().GetUnknown(); !bytes.Equal(got, graphExtra) {
			t.Errorf("%s unknown fields = %x, want %x", what, got, graphExtra)
		}
	}
	if out.Graph.Node[0].GetName() != "renamed" || out.GetProducerName() != "test" || out.Graph.GetName() != "renamed" ||
		out.Graph.Node[0].Attribute[0].GetDocString() != "edited" || out.Graph.Input[1].GetDocString() != "edited" {
		t.Error("edits lost")
	}
}

func TestUnmodelledPartsKept(t *testing.T) {
	mp := ifModel()
	mp.ProducerName = proto.String("p")
	mp.ProducerVersion = proto.String("")
	mp.DocString = proto.String("model doc")
	mp.MetadataProps = []*pb.StringStringEntryProto{{Key: proto.String("a"), Value: proto.String("1")}}
	mp.Functions = []*pb.FunctionProto{{Name: proto.String("F"), Domain: proto.String("custom"), Input: []string{"a"}, Output: []string{"b"},
		Node: []*pb.NodeProto{{OpType: proto.String("Relu"), Input: []string{"a"}, Output: []string{"b"}}}}}
	mp.TrainingInfo = []*pb.TrainingInfoProto{{Algorithm: &pb.GraphProto{Name: proto.String("train")}}}
	mp.Graph.SparseInitializer = []*pb.SparseTensorProto{{
		Values:  &pb.TensorProto{Name: proto.String("sp"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{5}},
		Indices: &pb.TensorProto{Name: proto.String("sp_i"), DataType: proto.Int32(7), Dims: []int64{1}, Int64Data: []int64{2}},
		Dims:    []int64{4},
	}}
	mp.Graph.ValueInfo = []*pb.ValueInfoProto{{Name: proto.String("y"), DocString: proto.String("the output"),
		Type: &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{}}}}}
	mp.Graph.Node[0].Attribute = append(mp.Graph.Node[0].Attribute,
		&pb.AttributeProto{Name: proto.String("tp"), Type: pb.AttributeProto_TYPE_PROTO.Enum(), Tp: &pb.TypeProto{Denotation: proto.String("IMAGE")}})
	m, out := roundTrip(t, mp)
	if !proto.Equal(out, mp) {
		t.Error("round trip changed the model")
	}
	if m.ProducerName != "p" || m.DocString != "model doc" || len(m.Metadata) != 1 || m.OpsetVersion("") != 13 {
		t.Errorf("model fields not decoded: %+v", m)
	}
	// Rebuilding every modelled field must still keep the rest.
	m.DocString = "changed"
	m.SetMetadata("b", "2")
	m.Graph.Name = "g2"
	m.Graph.Nodes[0].DocString = "edited"
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	out = decodeBytes(t, b)
	if len(out.Functions) != 1 || len(out.TrainingInfo) != 1 || len(out.Graph.SparseInitializer) != 1 || out.Graph.Node[0].Attribute[2].Tp.GetDenotation() != "IMAGE" {
		t.Error("unmodelled parts lost after edits")
	}
	if out.GetDocString() != "changed" || len(out.MetadataProps) != 2 || out.Graph.GetName() != "g2" || out.Graph.Node[0].GetDocString() != "edited" {
		t.Error("edits lost")
	}
}

func TestEditsAreWritten(t *testing.T) {
	m, err := Decode(marshal(t, ifModel()), "")
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	// Change an input's type, add a node through the builder, change an attribute.
	g.Inputs[1].Type.Shape[0] = graph.Dim{Value: 7}
	b := graph.NewBuilder(g)
	z := b.Op("Relu", "relu", []*graph.Value{g.Outputs[0]})
	g.Outputs[0] = z
	then := g.Nodes[0].Attr("then_branch").G
	then.Nodes[0].SetAttr(graph.IntAttr("axis", 2))
	then.Nodes[0].SetAttr(graph.FloatAttr("alpha", 0.25))
	then.Nodes[0].SetAttr(graph.StringAttr("mode", ""))
	m.Opsets[0].Version = 17
	data, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeBytes(t, data)
	if d := out.Graph.Input[1].Type.GetTensorType().Shape.Dim[0]; d.GetDimValue() != 7 {
		t.Errorf("input dim = %v", d)
	}
	if n := out.Graph.Node[1]; n.GetOpType() != "Relu" || n.Input[0] != "y" || out.Graph.Output[0].GetName() != n.Output[0] {
		t.Errorf("new node = %v, outputs = %v", n, out.Graph.Output)
	}
	a := out.Graph.Node[0].Attribute[0].G.Node[0].Attribute
	if len(a) != 3 || a[0].GetName() != "axis" || a[0].GetI() != 2 || a[0].GetType() != pb.AttributeProto_INT ||
		a[1].F == nil || *a[1].F != 0.25 || a[1].GetType() != pb.AttributeProto_FLOAT || a[2].S == nil || a[2].GetType() != pb.AttributeProto_STRING {
		t.Errorf("inner attribute = %v", a)
	}
	if out.OpsetImport[0].GetVersion() != 17 {
		t.Errorf("opset = %v", out.OpsetImport)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	paths := conformanceModels(t)
	for _, p := range append(paths[:5:5], paths[len(paths)-5:]...) {
		m, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Graph.DocString = "force a rebuild"
		a, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(a, "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := Encode(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
			t.Errorf("%s: encodings differ", p)
		}
	}
}

func TestAttributeWithoutTypeKeepsItsForm(t *testing.T) {
	// Files from before IR version 2 omit AttributeProto.type.
	mp := modelWith(&pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}})
	mp.Graph.Node[0].Attribute = []*pb.AttributeProto{
		{Name: proto.String("alpha"), F: proto.Float32(0.5)},
		{Name: proto.String("axes"), Ints: []int64{1, 2}},
	}
	m, err := Decode(marshal(t, mp), "")
	if err != nil {
		t.Fatal(err)
	}
	n := m.Graph.Nodes[0]
	if n.AttrFloat("alpha", 0) != 0.5 || len(n.AttrInts("axes", nil)) != 2 {
		t.Fatalf("attributes = %+v %+v", n.Attrs[0], n.Attrs[1])
	}
	n.Name = "edited" // forces the node to be rebuilt
	n.Attrs[1].Ints = []int64{3}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBytes(t, b).Graph.Node[0].Attribute
	if got[0].Type != nil || got[1].Type != nil || got[0].GetF() != 0.5 || len(got[1].Ints) != 1 || got[1].Ints[0] != 3 {
		t.Errorf("attributes written as %v", got)
	}
	n.Attrs[0].Kind, n.Attrs[0].I = graph.AttrInt, 4 // a new kind sets the type and only its field
	b, err = Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeBytes(t, b).Graph.Node[0].Attribute[0]
	if a.GetType() != pb.AttributeProto_INT || a.GetI() != 4 || a.F != nil {
		t.Errorf("re-kinded attribute written as %v", a)
	}
}

func TestValueTypeAndDocEditsAreWritten(t *testing.T) {
	mp := ifModel()
	mp.Graph.ValueInfo = []*pb.ValueInfoProto{{Name: proto.String("x"), DocString: proto.String("second")}}
	m, err := Decode(marshal(t, mp), "")
	if err != nil {
		t.Fatal(err)
	}
	x := m.Graph.Inputs[1]
	x.DocString = "new doc"
	x.Type = &graph.ValueType{Elem: graph.Float16, HasShape: true, Shape: graph.KnownShape(2, 3)}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeBytes(t, b).Graph
	for _, vi := range []*pb.ValueInfoProto{out.Input[1], out.ValueInfo[0]} {
		tt := vi.GetType().GetTensorType()
		if vi.GetDocString() != "new doc" || tt.GetElemType() != int32(graph.Float16) || len(tt.GetShape().GetDim()) != 2 || tt.Shape.Dim[1].GetDimValue() != 3 {
			t.Errorf("value info written as %v", vi)
		}
	}
}

// TestConformanceModelsScopes checks that every use in every conformance
// model resolves to a Value its graph or an enclosing graph defines, and that
// some subgraphs really do use outer values.
func TestConformanceModelsScopes(t *testing.T) {
	outerUses := 0
	var walk func(path string, g *graph.Graph, outer map[*graph.Value]bool)
	walk = func(path string, g *graph.Graph, outer map[*graph.Value]bool) {
		local := map[*graph.Value]bool{}
		for _, v := range append(append([]*graph.Value{}, g.Inputs...), g.Initializers...) {
			local[v] = true
		}
		for _, n := range g.Nodes {
			for _, v := range n.Outputs {
				if v != nil {
					local[v] = true
				}
			}
		}
		for _, n := range g.Nodes {
			for _, v := range n.Inputs {
				switch {
				case v == nil || local[v]:
				case outer[v]:
					outerUses++
				default:
					t.Errorf("%s: node %s uses %q, defined nowhere in scope", path, n.Label(), v.Name)
				}
			}
			inner := maps.Clone(outer)
			maps.Copy(inner, local)
			for _, a := range n.Attrs {
				if a.G != nil {
					walk(path, a.G, inner)
				}
				for _, sg := range a.Graphs {
					walk(path, sg, inner)
				}
			}
		}
	}
	for _, p := range conformanceModels(t) {
		m, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		walk(p, m.Graph, map[*graph.Value]bool{})
	}
	if outerUses == 0 {
		t.Error("no subgraph in the conformance set uses an outer value; the scope check saw nothing")
	}
	t.Logf("%d uses of outer-scope values", outerUses)
}
