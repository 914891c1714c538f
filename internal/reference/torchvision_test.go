package reference

import (
	"os"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestExportTorchvisionRunsInORT(t *testing.T) {
	if testing.Short() {
		t.Skip("exports a 5 MB model through PyTorch")
	}
	Require(t, Torch, Checker, ORT)
	dir := t.TempDir()
	path, err := ExportTorchvision(dir, "squeezenet1_0")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckModel(path); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, 2*3*224*224)
	for i := range in {
		in[i] = float32(i%17)/8 - 1
	}
	out, err := RunORT(path, map[string]*graph.Tensor{"input": graph.NewFloat32("", []int64{2, 3, 224, 224}, in)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["output"]; got == nil || !slices.Equal(got.Dims, []int64{2, 1000}) {
		t.Fatalf("output %v, want [2 1000] (dynamic batch)", got)
	}
	// The same seed gives the same file.
	again, err := ExportTorchvision(t.TempDir(), "squeezenet1_0")
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, second) {
		t.Errorf("two exports with the same seed differ: %d vs %d bytes", len(first), len(second))
	}
	if _, err := ExportTorchvision(dir, "vgg19"); err == nil {
		t.Error("unknown architecture accepted")
	}
}
