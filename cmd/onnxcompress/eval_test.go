package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

const fashionMNIST = "/usr/share/datasets/fashion-mnist"

// eval on each bundled model reproduces the accuracy PyTorch recorded when
// it trained the model, and ONNX Runtime agrees on the same 10,000 images.
func TestEvalBundledModelsMatchPyTorchAndORT(t *testing.T) {
	reference.Require(t, reference.FashionMNIST, reference.ORT)
	for _, b := range []testmodels.Bundled{testmodels.LeNet5FMNIST, testmodels.ResNet20FMNIST} {
		info, err := b.Info()
		if err != nil {
			t.Fatal(err)
		}
		path, err := b.Path()
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) { checkBundledAccuracy(t, path, info) })
	}
}

func checkBundledAccuracy(t *testing.T, path string, info testmodels.BundledInfo) {
	mean, std := fmt.Sprint(info.Mean), fmt.Sprint(info.Std)
	stdout, stderr, code := runCLI(t, "eval", path, "--data", fashionMNIST, "--mean", mean, "--std", std, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Samples  int     `json:"samples"`
		Correct  int     `json:"correct"`
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Samples != 10000 {
		t.Fatalf("evaluated %d samples, want the 10,000 test images", res.Samples)
	}
	if math.Abs(res.Accuracy-info.TestAccuracy) > 0.0005 {
		t.Errorf("accuracy %.4f, PyTorch recorded %.4f", res.Accuracy, info.TestAccuracy)
	}

	d, err := dataset.Open(fashionMNIST, dataset.Options{Split: "test", Mean: []float32{info.Mean}, Std: []float32{info.Std}})
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, d.N)
	for i := range all {
		all[i] = i
	}
	x, err := d.BatchTensor(info.InputName, all)
	if err != nil {
		t.Fatal(err)
	}
	out, err := reference.RunORT(path, map[string]*graph.Tensor{info.InputName: x}, 1)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := out[info.OutputName].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := 0; i < d.N; i++ {
		row := logits[10*i : 10*i+10]
		best := 0
		for c := range row {
			if row[c] > row[best] {
				best = c
			}
		}
		if int64(best) == d.Labels[i] {
			correct++
		}
	}
	if correct != res.Correct {
		t.Errorf("ORT gets %d correct, eval %d", correct, res.Correct)
	}
}

func TestRunWritesOutputsAsNPY(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.npy")
	x := graph.NewFloat32("x", []int64{2, 1, 28, 28}, make([]float32, 2*28*28))
	if err := dataset.WriteNPY(in, x); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, "run", bundledLeNet(t), "--input", "input="+in, "-o", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := dataset.ReadNPY(filepath.Join(dir, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Dims) != 2 || got.Dims[0] != 2 || got.Dims[1] != 10 {
		t.Fatalf("logits dims %v", got.Dims)
	}
	if _, err := os.Stat(filepath.Join(dir, "logits.npy")); err != nil {
		t.Fatal(err)
	}
}

func TestBenchNamesBackend(t *testing.T) {
	stdout, stderr, code := runCLI(t, "bench", bundledLeNet(t), "--shape", "8,1,28,28", "--iters", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Backend       string  `json:"backend"`
		MedianSeconds float64 `json:"median_seconds"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Backend == "" || !(res.MedianSeconds > 0) {
		t.Fatalf("bench result %+v", res)
	}
}
