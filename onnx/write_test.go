package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestWriteFailureOnEncodeKeepsExistingOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.onnx")
	old := []byte("previous model")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	m := weightsModel(t)
	m.Graph.Initializers[0].Const.Raw = m.Graph.Initializers[0].Const.Raw[:7] // no longer matches its dims
	if err := Write(path, m); err == nil {
		t.Fatal("Write accepted a tensor whose data does not match its dims")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Error("existing output changed by a failed Write")
	}
	noTempFiles(t, dir)
}

func TestWriteFailureOnRenameLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.onnx")
	old := []byte("previous model")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// The data file's destination is a non-empty folder, so its rename fails
	// after the temporary files exist.
	blocker := filepath.Join(dir, "out.onnx.data")
	if err := os.MkdirAll(filepath.Join(blocker, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, weightsModel(t), ExternalThreshold(1000)); err == nil {
		t.Fatal("Write succeeded over a folder")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Error("existing output changed by a failed Write")
	}
	noTempFiles(t, dir)
}

func TestWriteIntoMissingFolderFails(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "absent", "out.onnx"), weightsModel(t)); err == nil {
		t.Fatal("Write into a missing folder succeeded")
	}
	noTempFiles(t, dir)
}

func TestWriteOverFolderFails(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, weightsModel(t)); err == nil {
		t.Fatal("Write over a folder succeeded")
	}
}

func TestWriteRejectsLocationOutsideFolder(t *testing.T) {
	dir := t.TempDir()
	for _, loc := range []string{"../w.bin", "/tmp/w.bin", "out.onnx"} {
		if err := Write(filepath.Join(dir, "out.onnx"), weightsModel(t), ExternalThreshold(1), ExternalLocation(loc)); err == nil {
			t.Errorf("location %q accepted", loc)
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	var files [2][]byte
	var data [2][]byte
	for i := range files {
		dir := t.TempDir()
		m := weightsModel(t)
		b := graph.NewBuilder(m.Graph)
		b.Const("extra", graph.NewFloat32("", []int64{400}, make([]float32, 400)))
		if err := Write(filepath.Join(dir, "m.onnx"), m, ExternalThreshold(1000)); err != nil {
			t.Fatal(err)
		}
		files[i], _ = os.ReadFile(filepath.Join(dir, "m.onnx"))
		data[i], _ = os.ReadFile(filepath.Join(dir, "m.onnx.data"))
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Equal(data[0], data[1]) {
		t.Error("two Writes of the same model differ")
	}
}

func TestWriteThenReadRoundTrip(t *testing.T) {
	paths := conformanceModels(t)
	dir := t.TempDir()
	for i := 0; i < len(paths); i += 97 {
		orig, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		m, err := Read(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "m.onnx")
		if err := Write(out, m); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(decodeBytes(t, orig), decodeBytes(t, got)) {
			t.Errorf("%s: Write changed the model", paths[i])
		}
	}
	noTempFiles(t, dir)
}
