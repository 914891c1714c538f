package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// weightsModel has two large initializers and one small one.
func weightsModel(t *testing.T) *graph.Model {
	m, err := Decode(marshal(t, modelWith(
		&pb.TensorProto{Name: proto.String("big1"), DataType: proto.Int32(1), Dims: []int64{300}, FloatData: make([]float32, 300)},
		&pb.TensorProto{Name: proto.String("small"), DataType: proto.Int32(7), Dims: []int64{2}, Int64Data: []int64{4, 5}},
		&pb.TensorProto{Name: proto.String("big2"), DataType: proto.Int32(11), Dims: []int64{10, 20}, RawData: make([]byte, 1600)},
	)), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Graph.Initializers[0].Const.Raw {
		m.Graph.Initializers[0].Const.Raw[i] = byte(i)
	}
	return m
}

func readProto(t *testing.T, path string) *pb.ModelProto {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBytes(t, data)
}

func TestExternalDataRoundTrip(t *testing.T) {
	m := weightsModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := Write(path, m, ExternalThreshold(1000)); err != nil {
		t.Fatal(err)
	}
	written := readProto(t, path)
	for i, want := range []bool{true, false, true} {
		if got := isExternal(written.Graph.Initializer[i]); got != want {
			t.Errorf("initializer %d external = %v, want %v", i, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.onnx.data")); err != nil {
		t.Fatal(err)
	}
	noTempFiles(t, dir)

	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range back.Graph.Initializers {
		want := m.Graph.Initializers[i].Const
		if v.Name != want.Name || v.Const.DType != want.DType || !bytes.Equal(v.Const.Raw, want.Raw) {
			t.Errorf("initializer %d differs after the external round trip", i)
		}
	}

	// Untouched, it is written back exactly, data files included, even elsewhere.
	dir2 := t.TempDir()
	path2 := filepath.Join(dir2, "m.onnx")
	if err := Write(path2, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(readProto(t, path2), written) {
		t.Error("re-written external model differs")
	}
	d1, _ := os.ReadFile(filepath.Join(dir, "m.onnx.data"))
	d2, _ := os.ReadFile(filepath.Join(dir2, "m.onnx.data"))
	if !bytes.Equal(d1, d2) {
		t.Error("re-written external data differs")
	}
}

func TestExternalDataChangedTensorMovesToNewChunk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := Write(path, weightsModel(t), ExternalThreshold(1000)); err != nil {
		t.Fatal(err)
	}
	m, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializers[0].Const.Raw[5] = 0xEE
	want := append([]byte(nil), m.Graph.Initializers[0].Const.Raw...)
	if err := Write(path, m); err != nil { // in place, over the files it was read from
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Graph.Initializers[0].Const.Raw, want) {
		t.Error("changed external tensor not written")
	}
	if !bytes.Equal(back.Graph.Initializers[2].Const.Raw, m.Graph.Initializers[2].Const.Raw) {
		t.Error("unchanged external tensor damaged")
	}
	noTempFiles(t, dir)
}

func TestEncodeInlinesExternalData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	m := weightsModel(t)
	if err := Write(path, m, ExternalThreshold(1)); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(back)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := Decode(b, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range alone.Graph.Initializers {
		if !bytes.Equal(v.Const.Raw, m.Graph.Initializers[i].Const.Raw) {
			t.Errorf("initializer %d differs", i)
		}
	}
}

func TestWriteGoesExternalOverProtobufLimit(t *testing.T) {
	defer func(old int64) { protoSizeLimit = old }(protoSizeLimit)
	protoSizeLimit = 2000
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := Write(path, weightsModel(t)); err != nil { // no threshold asked
		t.Fatal(err)
	}
	p := readProto(t, path)
	if !isExternal(p.Graph.Initializer[0]) || !isExternal(p.Graph.Initializer[2]) || isExternal(p.Graph.Initializer[1]) {
		t.Error("large tensors not moved out of a model over the limit")
	}
	if int64(proto.Size(p)) > protoSizeLimit {
		t.Errorf("model still %d bytes", proto.Size(p))
	}
	if _, err := Encode(weightsModel(t)); err == nil {
		t.Error("Encode accepted a model over the limit")
	}
}

// externalModel writes a model whose one tensor lives at location.
func externalModel(t *testing.T, dir, location string, length int) string {
	tp := &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{4},
		DataLocation: pb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(location)},
			{Key: proto.String("offset"), Value: proto.String("0")}, {Key: proto.String("length"), Value: proto.String(strconv.Itoa(length))}}}
	return writeModelFile(t, dir, modelWith(tp))
}

func TestExternalLocationParentDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(root, "x"), make([]byte, 16), 0o644)
	_, err := Read(externalModel(t, dir, "../x", 16))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "outside")
}

func TestExternalLocationAbsolute(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "x")
	os.WriteFile(abs, make([]byte, 16), 0o644)
	_, err := Read(externalModel(t, dir, abs, 16))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "outside")
}

func TestExternalLocationSymlinkOut(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "x")
	os.WriteFile(outside, make([]byte, 16), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "w.bin")); err != nil {
		t.Fatal(err)
	}
	_, err := Read(externalModel(t, dir, "w.bin", 16))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "outside")
}

func TestExternalLocationSymlinkInsideAllowed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "real.bin"), make([]byte, 16), 0o644)
	if err := os.Symlink("real.bin", filepath.Join(dir, "w.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(externalModel(t, dir, "w.bin", 16)); err != nil {
		t.Fatal(err)
	}
}

func TestExternalLengthMismatch(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 64), 0o644)
	_, err := Read(externalModel(t, dir, "w.bin", 12))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "need 16")
}

func TestExternalPastEndOfFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 8), 0o644)
	_, err := Read(externalModel(t, dir, "w.bin", 16))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "past")
}

func TestExternalFileMissing(t *testing.T) {
	_, err := Read(externalModel(t, t.TempDir(), "absent.bin", 16))
	wantBadInput(t, err, "model.onnx", `tensor "w"`, "absent.bin")
}

func TestExternalDataNeedsFolder(t *testing.T) {
	path := externalModel(t, t.TempDir(), "w.bin", 16)
	data, _ := os.ReadFile(path)
	_, err := Decode(data, "")
	wantBadInput(t, err, `tensor "w"`)
}

func TestExternalSameFileTwoSpellings(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 32)
	for i := range data {
		data[i] = byte(i + 1)
	}
	os.WriteFile(filepath.Join(dir, "w.bin"), data, 0o644)
	ext := func(name, location, offset string) *pb.TensorProto {
		return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(1), Dims: []int64{4},
			DataLocation: pb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(location)},
				{Key: proto.String("offset"), Value: proto.String(offset)}, {Key: proto.String("length"), Value: proto.String("16")}}}
	}
	path := writeModelFile(t, dir, modelWith(ext("a", "w.bin", "0"), ext("b", "./w.bin", "16")))
	m, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.onnx")
	if err := Write(out, m); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range back.Graph.Initializers {
		if !bytes.Equal(v.Const.Raw, data[16*i:16*i+16]) {
			t.Errorf("tensor %s = %x", v.Name, v.Const.Raw)
		}
	}
	if !proto.Equal(readProto(t, out), readProto(t, path)) {
		t.Error("model changed")
	}
}

func TestReadFolderIsBadInput(t *testing.T) {
	_, err := Read(t.TempDir())
	wantBadInput(t, err)
}
