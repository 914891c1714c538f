package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// sparseModel is Gemm(x, W) with W (3×4) stored as a sparse initializer,
// its indices linear or as coordinates.
func sparseModel(coords bool) *pb.ModelProto {
	idx := &pb.TensorProto{Name: proto.String("W_idx"), DataType: proto.Int32(7), Dims: []int64{2}, Int64Data: []int64{1, 10}}
	if coords {
		idx = &pb.TensorProto{Name: proto.String("W_idx"), DataType: proto.Int32(7), Dims: []int64{2, 2}, Int64Data: []int64{0, 1, 2, 2}}
	}
	f := func(name string, dims ...int64) *pb.ValueInfoProto {
		var shape []*pb.TensorShapeProto_Dimension
		for _, d := range dims {
			shape = append(shape, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: proto.Int32(1), Shape: &pb.TensorShapeProto{Dim: shape}}}}}
	}
	return &pb.ModelProto{IrVersion: proto.Int64(7), OpsetImport: []*pb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		Graph: &pb.GraphProto{Name: proto.String("g"),
			Node:   []*pb.NodeProto{{OpType: proto.String("Gemm"), Input: []string{"x", "W"}, Output: []string{"y"}, Attribute: []*pb.AttributeProto{{Name: proto.String("transB"), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}}},
			Input:  []*pb.ValueInfoProto{f("x", 2, 4)},
			Output: []*pb.ValueInfoProto{f("y", 2, 3)},
			SparseInitializer: []*pb.SparseTensorProto{{
				Values:  &pb.TensorProto{Name: proto.String("W"), DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{5, -2}},
				Indices: idx, Dims: []int64{3, 4}}},
		}}
}

// A sparse initializer reads as the dense weight (linear indices and
// coordinates alike) and writes back as it was.
func TestSparseInitializerReadsDense(t *testing.T) {
	for _, coords := range []bool{false, true} {
		mp := sparseModel(coords)
		m, out := roundTrip(t, mp)
		if !proto.Equal(out, mp) {
			t.Errorf("coords %v: round trip changed the model", coords)
		}
		if len(m.Graph.Initializers) != 1 || m.Graph.Initializers[0].Const == nil {
			t.Fatalf("coords %v: sparse initializer not read as a constant", coords)
		}
		w, err := m.Graph.Initializers[0].Const.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{0, 5, 0, 0, 0, 0, 0, 0, 0, 0, -2, 0}
		for i := range want {
			if w[i] != want[i] {
				t.Fatalf("coords %v: dense weight %v, want %v", coords, w, want)
			}
		}
		// An edited weight is written anew, still sparse.
		m.Graph.Initializers[0].Const.Raw[0] = 1
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if g := decodeBytes(t, b).Graph; len(g.SparseInitializer) != 1 || len(g.Initializer) != 0 || g.SparseInitializer[0].Values.Dims[0] != 3 {
			t.Errorf("coords %v: edited sparse weight written as %v", coords, g)
		}
	}
	bad := sparseModel(true)
	bad.Graph.SparseInitializer[0].Indices.Int64Data[3] = 4 // column 4 of 4
	if _, err := Decode(marshal(t, bad), ""); err == nil || !strings.Contains(err.Error(), "W") {
		t.Errorf("out-of-range sparse index: %v", err)
	}
}

// SparseWhenSmaller stores a mostly-zero float weight sparsely and keeps a
// dense one dense; both read back to the same values.
func TestSparseWhenSmaller(t *testing.T) {
	g := &graph.Graph{Name: "g"}
	m := &graph.Model{IRVersion: 7, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(1, 100))
	mostlyZero := make([]float64, 100*10)
	for i := 0; i < len(mostlyZero); i += 7 {
		mostlyZero[i] = float64(i)
	}
	dense := make([]float64, 10*10)
	for i := range dense {
		dense[i] = float64(i + 1)
	}
	w1, _ := graph.NewFromFloat64("", graph.Float32, []int64{100, 10}, mostlyZero)
	w2, _ := graph.NewFromFloat64("", graph.Float32, []int64{10, 10}, dense)
	h := b.Op("MatMul", "mm1", []*graph.Value{x, b.Const("w1", w1)})
	b.Output(b.Op("MatMul", "mm2", []*graph.Value{h, b.Const("w2", w2)}))
	dir := t.TempDir()
	plain, small := filepath.Join(dir, "dense.onnx"), filepath.Join(dir, "sparse.onnx")
	if err := Write(plain, m); err != nil {
		t.Fatal(err)
	}
	if err := Write(small, m, SparseWhenSmaller()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	p := decodeBytes(t, data).Graph
	if len(p.SparseInitializer) != 1 || len(p.Initializer) != 1 || p.SparseInitializer[0].Values.GetName() != "w1" {
		t.Fatalf("stored %d sparse and %d dense initializers", len(p.SparseInitializer), len(p.Initializer))
	}
	st1, _ := os.Stat(plain)
	st2, _ := os.Stat(small)
	if st2.Size() >= st1.Size() {
		t.Errorf("sparse file %d bytes, dense %d", st2.Size(), st1.Size())
	}
	back, err := Read(small)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range back.Graph.Initializers {
		got, _ := v.Const.Float64s()
		want := mostlyZero
		if v.Name == "w2" {
			want = dense
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("initializer %d (%s) differs at %d after the sparse round trip", i, v.Name, j)
			}
		}
	}
}
