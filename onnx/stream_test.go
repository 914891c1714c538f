package onnx

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// streamed unmarshals data with the stream reader, as Read does from a file.
func streamed(data []byte) (*pb.ModelProto, error) {
	return unmarshalModel(bufio.NewReaderSize(bytes.NewReader(data), 16), int64(len(data)))
}

// wantSameAsUnmarshal checks the stream reader agrees with proto.Unmarshal
// on data: both fail, or both give equal messages with equal unknown bytes.
func wantSameAsUnmarshal(t *testing.T, name string, data []byte) {
	t.Helper()
	want := &pb.ModelProto{}
	wantErr := proto.Unmarshal(data, want)
	got, err := streamed(data)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Errorf("%s: stream reader error %v, proto.Unmarshal error %v", name, err, wantErr)
	case err != nil:
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: error %v is not ErrBadInput", name, err)
		}
	case !proto.Equal(got, want):
		t.Errorf("%s: stream reader and proto.Unmarshal disagree", name)
	default:
		a, _ := marshalOptions.Marshal(got)
		b, _ := marshalOptions.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: equal messages marshal differently (unknown fields out of order?)", name)
		}
	}
}

func TestStreamMatchesUnmarshalOnConformanceModels(t *testing.T) {
	paths := conformanceModels(t)
	for i, path := range paths {
		if testing.Short() && i%10 != 0 {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wantSameAsUnmarshal(t, path, data)
	}
}

// awkwardModel holds what the stream reader must carry exactly: unknown
// fields (a group among them) at every level it walks, the graph field
// given twice (the wire format merges them), initializers on both sides of
// other graph fields, and a field at the end of each message.
func awkwardModel(t *testing.T) []byte {
	t.Helper()
	tensor := func(name string, raw []byte) []byte {
		b := marshal(t, &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(2), Dims: []int64{int64(len(raw))}, RawData: raw})
		b = protowire.AppendTag(b, 1000, protowire.VarintType) // unknown inside a tensor
		return protowire.AppendVarint(b, 7)
	}
	unknownGroup := func(b []byte) []byte {
		b = protowire.AppendTag(b, 900, protowire.StartGroupType)
		b = protowire.AppendTag(b, 1, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, 5)
		b = protowire.AppendTag(b, 2, protowire.StartGroupType)
		b = protowire.AppendTag(b, 2, protowire.EndGroupType)
		return protowire.AppendTag(b, 900, protowire.EndGroupType)
	}
	var g1 []byte
	g1 = protowire.AppendTag(g1, graphInitializerField, protowire.BytesType)
	g1 = protowire.AppendBytes(g1, tensor("a", []byte{1, 2, 3}))
	g1 = append(g1, marshal(t, &pb.GraphProto{Name: proto.String("g"),
		Node: []*pb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"a"}, Output: []string{"y"}}}})...)
	g1 = unknownGroup(g1)
	g1 = protowire.AppendTag(g1, graphInitializerField, protowire.BytesType)
	g1 = protowire.AppendBytes(g1, tensor("b", bytes.Repeat([]byte{9}, 300)))
	var g2 []byte
	g2 = append(g2, marshal(t, &pb.GraphProto{DocString: proto.String("second half"),
		Output: []*pb.ValueInfoProto{{Name: proto.String("y")}}})...)
	g2 = protowire.AppendTag(g2, 901, protowire.BytesType)
	g2 = protowire.AppendBytes(g2, []byte("unknown bytes"))
	g2 = protowire.AppendTag(g2, graphInitializerField, protowire.BytesType)
	g2 = protowire.AppendBytes(g2, tensor("c", nil))

	var b []byte
	b = append(b, marshal(t, &pb.ModelProto{IrVersion: proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Version: proto.Int64(13)}}})...)
	b = protowire.AppendTag(b, modelGraphField, protowire.BytesType)
	b = protowire.AppendBytes(b, g1)
	b = unknownGroup(b)
	b = protowire.AppendTag(b, modelGraphField, protowire.BytesType)
	b = protowire.AppendBytes(b, g2)
	return append(b, marshal(t, &pb.ModelProto{DocString: proto.String("last")})...)
}

func TestStreamMatchesUnmarshalOnAwkwardModel(t *testing.T) {
	data := awkwardModel(t)
	wantSameAsUnmarshal(t, "awkward model", data)
	got, err := streamed(data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.GetGraph().GetInitializer()); n != 3 {
		t.Fatalf("%d initializers, want 3", n)
	}
	// Read, which streams from the file, and Decode agree with it too.
	path := filepath.Join(t.TempDir(), "awkward.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := Decode(data, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Encode(fromFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(fromBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(decodeBytes(t, a), decodeBytes(t, data)) || !bytes.Equal(a, b) {
		t.Error("Read and Decode of the awkward model do not round-trip to it")
	}
}

// Every truncation and every single-byte corruption of a model is either
// refused by both readers or read the same by both.
func TestStreamMatchesUnmarshalOnDamagedModels(t *testing.T) {
	data := awkwardModel(t)
	for n := 0; n < len(data); n++ {
		wantSameAsUnmarshal(t, "truncated", data[:n])
	}
	for i := range data {
		for _, v := range []byte{0x00, 0x80, 0xff, data[i] ^ 0x01} {
			bad := bytes.Clone(data)
			bad[i] = v
			wantSameAsUnmarshal(t, "corrupted", bad)
		}
	}
}

func TestReadRefusesTruncatedFile(t *testing.T) {
	data := awkwardModel(t)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(path)
	wantBadInput(t, err, path, "not a valid ONNX protobuf")
}

// A model read from a file keeps no reference to its original initializer
// list: a rewrite that drops a weight must be able to free it.
func TestDecodedGraphDoesNotPinInitializers(t *testing.T) {
	mp := modelWith(&pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{2}, RawData: make([]byte, 8)})
	m, err := Decode(marshal(t, mp), "")
	if err != nil {
		t.Fatal(err)
	}
	if op := m.Graph.Opaque.(*graphOpaque); len(op.orig.Initializer) != 0 {
		t.Errorf("the decoded graph's proto still lists %d initializers", len(op.orig.Initializer))
	}
}
