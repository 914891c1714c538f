package onnx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// TestConformanceTensorFiles reads every input/output tensor of the ONNX node
// tests whose model declares a tensor there, and checks it against the
// declared element type and re-encodes it unchanged.
func TestConformanceTensorFiles(t *testing.T) {
	paths := conformanceModels(t)
	count := 0
	for _, mpath := range paths {
		m, err := Read(mpath)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(mpath)
		sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
		for _, set := range sets {
			for kind, values := range map[string][]*graph.Value{"input": realInputs(m.Graph), "output": m.Graph.Outputs} {
				for i, v := range values {
					if v.Type == nil || v.Type.Elem == graph.Undefined {
						continue // sequences, maps, optionals
					}
					f := filepath.Join(set, fmt.Sprintf("%s_%d.pb", kind, i))
					data, err := os.ReadFile(f)
					if err != nil {
						continue
					}
					tensor, err := ReadTensor(f)
					if err != nil {
						t.Errorf("%v", err)
						continue
					}
					count++
					// ONNX's generator saves bfloat16 test data as uint16 (numpy has no bfloat16).
					bf16AsUint16 := v.Type.Elem == graph.BFloat16 && tensor.DType == graph.Uint16
					if tensor.DType != v.Type.Elem && !bf16AsUint16 {
						t.Errorf("%s: dtype %s, model declares %s", f, tensor.DType, v.Type.Elem)
					}
					if err := tensor.Validate(); err != nil {
						t.Errorf("%s: %v", f, err)
					}
					out, err := EncodeTensor(tensor)
					if err != nil {
						t.Fatal(err)
					}
					want, got := &pb.TensorProto{}, &pb.TensorProto{}
					proto.Unmarshal(data, want)
					proto.Unmarshal(out, got)
					if !proto.Equal(want, got) {
						t.Errorf("%s: re-encoding changed the tensor", f)
					}
				}
			}
		}
	}
	if count < 1000 {
		t.Errorf("only %d tensor files checked", count)
	}
	t.Logf("%d tensor files", count)
}

// realInputs are the graph inputs that are not initializers (the ones test
// data sets provide).
func realInputs(g *graph.Graph) []*graph.Value {
	var out []*graph.Value
	for _, v := range g.Inputs {
		if !v.IsConst() {
			out = append(out, v)
		}
	}
	return out
}

func TestEncodeTensorChangedIsRaw(t *testing.T) {
	src := &pb.TensorProto{Name: proto.String("x"), DataType: proto.Int32(int32(graph.Int64)), Dims: []int64{2}, Int64Data: []int64{7, -7}}
	data, _ := proto.Marshal(src)
	x, err := DecodeTensor(data)
	if err != nil {
		t.Fatal(err)
	}
	x.Raw[0] = 8
	out, err := EncodeTensor(x)
	if err != nil {
		t.Fatal(err)
	}
	got := &pb.TensorProto{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Int64Data) != 0 || !bytes.Equal(got.RawData, leBytes(t, []int64{8, -7})) {
		t.Errorf("got %v", got)
	}
}

func TestReadTensorGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "input_0.pb")
	os.WriteFile(path, []byte{0x0a, 0xff, 0xff}, 0o644)
	_, err := ReadTensor(path)
	wantBadInput(t, err, "input_0.pb")
}
