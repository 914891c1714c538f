package reference

import (
	"math"
	"os"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestExportTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("exports three ImageNet-sized models through PyTorch")
	}
	Require(t, Torch, Checker, ORT)
	dir := t.TempDir()
	in := make([]float32, 2*3*224*224)
	for i := range in {
		in[i] = float32(i%17)/8 - 1
	}
	inputs := map[string]*graph.Tensor{"input": graph.NewFloat32("", []int64{2, 3, 224, 224}, in)}
	var paths []string
	var jobs []ORTJob
	for _, arch := range TorchvisionArchs {
		path, err := ExportTorchvision(dir, arch)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		jobs = append(jobs, ORTJob{Model: path, Inputs: inputs})
	}
	errs, err := CheckModels(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Error(e)
		}
	}
	results, err := RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", TorchvisionArchs[i], r.Err)
			continue
		}
		out := r.Outputs["output"]
		if out == nil || !slices.Equal(out.Dims, []int64{2, 1000}) {
			t.Errorf("%s: output %v, want dims [2 1000] (dynamic batch)", TorchvisionArchs[i], out)
			continue
		}
		vals, err := out.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: output holds %v", TorchvisionArchs[i], v)
			}
		}
	}
	// The same seed gives the same file.
	again, err := ExportTorchvision(t.TempDir(), "squeezenet1_0")
	if err != nil {
		t.Fatal(err)
	}
	first, err1 := os.ReadFile(paths[slices.Index(TorchvisionArchs, "squeezenet1_0")])
	second, err2 := os.ReadFile(again)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !slices.Equal(first, second) {
		t.Errorf("two exports with the same seed differ: %d vs %d bytes", len(first), len(second))
	}
	if _, err := ExportTorchvision(dir, "vgg19"); err == nil {
		t.Error("unknown architecture accepted")
	}
}
