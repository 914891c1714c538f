package onnx

import (
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
