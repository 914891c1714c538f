package onnx

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// leBytes lays out values little-endian with encoding/binary, independently
// of the codec.
func leBytes(t *testing.T, v any) []byte {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type encodingCase struct {
	name  string
	typed *pb.TensorProto // data in a typed field
	raw   []byte          // the same data as little-endian bytes
}

func encodingCases(t *testing.T) []encodingCase {
	dt := func(d graph.DType) *int32 { return proto.Int32(int32(d)) }
	dims := []int64{2, 2}
	return []encodingCase{
		{"float32", &pb.TensorProto{DataType: dt(graph.Float32), Dims: dims, FloatData: []float32{1, -2.5, 3e-8, float32(math.Inf(1))}},
			leBytes(t, []float32{1, -2.5, 3e-8, float32(math.Inf(1))})},
		// IEEE half 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal = 0x0001
		{"float16", &pb.TensorProto{DataType: dt(graph.Float16), Dims: dims, Int32Data: []int32{0x3C00, 0xC000, 0x7BFF, 0x0001}},
			[]byte{0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00}},
		// bfloat16 1.0 = 0x3F80, -2.0 = 0xC000
		{"bfloat16", &pb.TensorProto{DataType: dt(graph.BFloat16), Dims: dims, Int32Data: []int32{0x3F80, 0xC000, 0, 0x7F80}},
			[]byte{0x80, 0x3F, 0x00, 0xC0, 0, 0, 0x80, 0x7F}},
		{"float64", &pb.TensorProto{DataType: dt(graph.Float64), Dims: dims, DoubleData: []float64{1, -2.5, math.Pi, 1e300}},
			leBytes(t, []float64{1, -2.5, math.Pi, 1e300})},
		{"int8", &pb.TensorProto{DataType: dt(graph.Int8), Dims: dims, Int32Data: []int32{-128, -1, 0, 127}},
			leBytes(t, []int8{-128, -1, 0, 127})},
		{"int16", &pb.TensorProto{DataType: dt(graph.Int16), Dims: dims, Int32Data: []int32{-32768, -1, 0, 32767}},
			leBytes(t, []int16{-32768, -1, 0, 32767})},
		{"int32", &pb.TensorProto{DataType: dt(graph.Int32), Dims: dims, Int32Data: []int32{math.MinInt32, -1, 0, math.MaxInt32}},
			leBytes(t, []int32{math.MinInt32, -1, 0, math.MaxInt32})},
		{"int64", &pb.TensorProto{DataType: dt(graph.Int64), Dims: dims, Int64Data: []int64{math.MinInt64, -1, 0, math.MaxInt64}},
			leBytes(t, []int64{math.MinInt64, -1, 0, math.MaxInt64})},
		{"uint8", &pb.TensorProto{DataType: dt(graph.Uint8), Dims: dims, Int32Data: []int32{0, 1, 128, 255}},
			[]byte{0, 1, 128, 255}},
		{"uint16", &pb.TensorProto{DataType: dt(graph.Uint16), Dims: dims, Int32Data: []int32{0, 1, 32768, 65535}},
			leBytes(t, []uint16{0, 1, 32768, 65535})},
		{"uint32", &pb.TensorProto{DataType: dt(graph.Uint32), Dims: dims, Uint64Data: []uint64{0, 1, 1 << 31, math.MaxUint32}},
			leBytes(t, []uint32{0, 1, 1 << 31, math.MaxUint32})},
		{"uint64", &pb.TensorProto{DataType: dt(graph.Uint64), Dims: dims, Uint64Data: []uint64{0, 1, 1 << 63, math.MaxUint64}},
			leBytes(t, []uint64{0, 1, 1 << 63, math.MaxUint64})},
		{"bool", &pb.TensorProto{DataType: dt(graph.Bool), Dims: dims, Int32Data: []int32{1, 0, 0, 1}},
			[]byte{1, 0, 0, 1}},
	}
}

func TestTypedFieldsDecodeToLittleEndian(t *testing.T) {
	for _, c := range encodingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			c.typed.Name = proto.String("w")
			m, _ := roundTrip(t, modelWith(c.typed))
			got := m.Graph.Initializers[0].Const
			if !bytes.Equal(got.Raw, c.raw) {
				t.Errorf("Raw = %x, want %x", got.Raw, c.raw)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRawDataDecodes(t *testing.T) {
	for _, c := range encodingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tp := &pb.TensorProto{Name: proto.String("w"), DataType: c.typed.DataType, Dims: c.typed.Dims, RawData: c.raw}
			m, out := roundTrip(t, modelWith(tp))
			if got := m.Graph.Initializers[0].Const.Raw; !bytes.Equal(got, c.raw) {
				t.Errorf("Raw = %x, want %x", got, c.raw)
			}
			if !proto.Equal(out.Graph.Initializer[0], tp) {
				t.Errorf("raw_data tensor not written back as read: %v", out.Graph.Initializer[0])
			}
		})
	}
}

func TestUnchangedTypedTensorKeepsItsField(t *testing.T) {
	for _, c := range encodingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			c.typed.Name = proto.String("w")
			_, out := roundTrip(t, modelWith(c.typed))
			got := out.Graph.Initializer[0]
			if got.RawData != nil {
				t.Errorf("unchanged typed tensor was written as raw_data")
			}
			if !proto.Equal(got, c.typed) {
				t.Errorf("got %v, want %v", got, c.typed)
			}
		})
	}
}

func TestChangedTensorWrittenAsRaw(t *testing.T) {
	for _, c := range encodingCases(t) {
		t.Run(c.name, func(t *testing.T) {
			c.typed.Name = proto.String("w")
			m, err := Decode(marshal(t, modelWith(c.typed)), "")
			if err != nil {
				t.Fatal(err)
			}
			w := m.Graph.Initializers[0].Const
			w.Raw[0] ^= 0x01 // in place, as a caller may do
			want := append([]byte(nil), w.Raw...)
			out, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeBytes(t, out).Graph.Initializer[0]
			if !bytes.Equal(got.RawData, want) {
				t.Errorf("raw_data = %x, want %x", got.RawData, want)
			}
			if len(got.FloatData)+len(got.Int32Data)+len(got.Int64Data)+len(got.DoubleData)+len(got.Uint64Data) != 0 {
				t.Errorf("changed tensor still carries typed data: %v", got)
			}
			m2, err := Decode(out, "")
			if err != nil {
				t.Fatal(err)
			}
			if r := m2.Graph.Initializers[0].Const.Raw; !bytes.Equal(r, want) {
				t.Errorf("re-read Raw = %x, want %x", r, want)
			}
		})
	}
}

func TestReshapedTensorWrittenAsRaw(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(int32(graph.Float32)), Dims: []int64{2, 2}, FloatData: []float32{1, 2, 3, 4}}
	m, err := Decode(marshal(t, modelWith(tp)), "")
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializers[0].Const.Dims = []int64{4}
	out, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBytes(t, out).Graph.Initializer[0]
	if len(got.Dims) != 1 || got.Dims[0] != 4 || !bytes.Equal(got.RawData, leBytes(t, []float32{1, 2, 3, 4})) {
		t.Errorf("got %v", got)
	}
}

func TestNewTensorWrittenAsRaw(t *testing.T) {
	m, err := Decode(marshal(t, modelWith(&pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}})), "")
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializers[0].Const = graph.NewFloat32("w", []int64{3}, []float32{0.5, -1, 2})
	out, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBytes(t, out).Graph.Initializer[0]
	if !bytes.Equal(got.RawData, leBytes(t, []float32{0.5, -1, 2})) || got.GetDataType() != 1 {
		t.Errorf("got %v", got)
	}
}

func TestStringTensorRoundTrip(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("s"), DataType: proto.Int32(int32(graph.String)), Dims: []int64{2}, StringData: [][]byte{[]byte("a"), []byte("bc")}}
	m, out := roundTrip(t, modelWith(tp))
	if s := m.Graph.Initializers[0].Const.Strings; len(s) != 2 || string(s[1]) != "bc" {
		t.Errorf("Strings = %q", s)
	}
	if !proto.Equal(out.Graph.Initializer[0], tp) {
		t.Errorf("got %v", out.Graph.Initializer[0])
	}
}

func TestRenamedTensorKeepsEncoding(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{1, 2}}
	m, err := Decode(marshal(t, modelWith(tp)), "")
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializers[0].Name = "w2"
	out, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBytes(t, out).Graph.Initializer[0]
	if got.GetName() != "w2" || len(got.FloatData) != 2 {
		t.Errorf("got %v", got)
	}
}

func TestTypedFieldLengthMismatch(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("short"), DataType: proto.Int32(1), Dims: []int64{2, 3}, FloatData: []float32{1, 2}}
	_, err := Decode(marshal(t, modelWith(tp)), "")
	wantBadInput(t, err, `tensor "short"`, "float_data")
}

func TestRawDataLengthMismatch(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{2, 3}, RawData: make([]byte, 20)}
	dir := t.TempDir()
	_, err := Read(writeModelFile(t, dir, modelWith(tp)))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "20 data bytes")
}

func TestDimsOverflow(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("huge"), DataType: proto.Int32(1), Dims: []int64{1 << 32, 1 << 32}, RawData: []byte{0}}
	_, err := Read(writeModelFile(t, t.TempDir(), modelWith(tp)))
	wantBadInput(t, err, "model.onnx", `tensor "huge"`, "overflow")
}

func TestDimsBytesOverflow(t *testing.T) {
	// The element count fits in int64 but its byte size does not.
	tp := &pb.TensorProto{Name: proto.String("big"), DataType: proto.Int32(int32(graph.Float64)), Dims: []int64{1 << 61}, RawData: []byte{0}}
	_, err := Decode(marshal(t, modelWith(tp)), "")
	wantBadInput(t, err, `tensor "big"`, "overflow")
}

func TestNegativeDims(t *testing.T) {
	tp := &pb.TensorProto{Name: proto.String("neg"), DataType: proto.Int32(1), Dims: []int64{2, -3}, RawData: make([]byte, 24)}
	_, err := Read(writeModelFile(t, t.TempDir(), modelWith(tp)))
	wantBadInput(t, err, "model.onnx", `tensor "neg"`, "negative")
}

func TestConstantNodeTensorMismatchNamesNode(t *testing.T) {
	mp := modelWith()
	mp.Graph.Node = []*pb.NodeProto{{
		Name: proto.String("const1"), OpType: proto.String("Constant"), Output: []string{"c"},
		Attribute: []*pb.AttributeProto{{Name: proto.String("value"), Type: pb.AttributeProto_TENSOR.Enum(),
			T: &pb.TensorProto{Name: proto.String("cv"), DataType: proto.Int32(1), Dims: []int64{3}, FloatData: []float32{1}}}},
	}}
	_, err := Read(writeModelFile(t, t.TempDir(), mp))
	wantBadInput(t, err, "model.onnx", `node "const1"`, `tensor "cv"`)
}
