package finetune_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func bundledLeNet() string {
	return filepath.Join(reference.RepoRoot(), "testmodels", "fmnist", "lenet5.onnx")
}

// One training step on the bundled LeNet (batch 8 of Fashion-MNIST) gives
// PyTorch 1.13's loss and gradients for every weight, for cross-entropy and
// for distillation, within 1e-4 relative.
func TestTrainingStepMatchesPyTorch(t *testing.T) {
	reference.Require(t, reference.Torch, reference.FashionMNIST)
	m, err := onnx.Read(bundledLeNet())
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.Open(reference.FashionMNISTDir, dataset.Options{Mean: []float32{0.286}, Std: []float32{0.353}})
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	x, err := d.BatchTensor("x", idx)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int64, len(idx))
	if err := d.BatchLabels(idx, labels); err != nil {
		t.Fatal(err)
	}
	names, err := finetune.TrainableNames(m, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 10 {
		t.Fatalf("trainable %v, want LeNet's 10 weights and biases", names)
	}
	tape, err := runtime.NewTape(m, runtime.TrainOptions{Trainable: names, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := x.Float32s()
	input := runtime.NewFloat32Tensor([]int{8, 1, 28, 28}, xs)
	// A teacher that disagrees with the student: its logits permuted.
	teacher := runtime.NewFloat32Tensor([]int{8, 10}, make([]float32, 80))
	kd := finetune.Distillation{Temperature: 3, Alpha: 0.7}

	dir := t.TempDir()
	for name, tensor := range map[string]*graph.Tensor{
		"x.npy": x, "y.npy": graph.NewInt64("y", []int64{8}, labels),
	} {
		if err := dataset.WriteNPY(filepath.Join(dir, name), tensor); err != nil {
			t.Fatal(err)
		}
	}
	step := func(kind string) (float64, map[string][]float32) {
		out, err := tape.Forward(map[string]*runtime.Tensor{"input": input})
		if err != nil {
			t.Fatal(err)
		}
		logits := out["logits"]
		if kind == "ce" {
			for i := range teacher.F32 {
				teacher.F32[i] = logits.F32[(i+37)%80] * 1.5
			}
		}
		var loss float64
		var grad *runtime.Tensor
		if kind == "ce" {
			loss, grad, err = finetune.CrossEntropy(logits, labels)
		} else {
			loss, grad, err = kd.Loss(logits, teacher, labels)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tape.Backward(map[string]*runtime.Tensor{"logits": grad}); err != nil {
			t.Fatal(err)
		}
		grads := map[string][]float32{}
		for _, n := range names {
			grads[n] = append([]float32(nil), tape.Grad(n).F32...)
		}
		return loss, grads
	}
	ceLoss, ceGrads := step("ce")
	kdLoss, kdGrads := step("kd")
	tt, _ := teacher.ToGraph("t")
	if err := dataset.WriteNPY(filepath.Join(dir, "t.npy"), tt); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(reference.RepoRoot(), "bench", "finetune", "torch_onnx.py")
	cmd := exec.Command(reference.Python, script, "grads", bundledLeNet(), filepath.Join(dir, "x.npy"),
		filepath.Join(dir, "y.npy"), filepath.Join(dir, "t.npy"), "3", "0.7", filepath.Join(dir, "ref.npz"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ref, err := dataset.ReadNPZ(filepath.Join(dir, "ref.npz"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*graph.Tensor{}
	for _, r := range ref {
		want[r.Name] = r
	}
	for _, c := range []struct {
		kind  string
		loss  float64
		grads map[string][]float32
	}{{"ce", ceLoss, ceGrads}, {"kd", kdLoss, kdGrads}} {
		wl, _ := want[c.kind+"_loss"].Float64s()
		if rel := math.Abs(c.loss-wl[0]) / math.Abs(wl[0]); rel > 1e-4 {
			t.Errorf("%s loss %.7g, PyTorch %.7g (rel %.2g)", c.kind, c.loss, wl[0], rel)
		}
		for _, n := range names {
			w := want[c.kind+"_grad/"+n]
			if w == nil {
				t.Fatalf("PyTorch gave no gradient for %s", n)
			}
			wf, _ := w.Float32s()
			if rel := reference.RelL2(c.grads[n], wf); rel > 1e-4 || math.IsNaN(rel) {
				t.Errorf("%s gradient of %s: relative L2 %.2g from PyTorch", c.kind, n, rel)
			} else if testing.Verbose() {
				t.Logf("%s gradient of %s: relative L2 %.2g", c.kind, n, rel)
			}
		}
	}
	if !strings.Contains(strings.Join(names, ","), "conv1.weight") {
		t.Errorf("trainable %v misses conv1.weight", names)
	}
}

// Every CNN and MLP test model (classic networks and edge cases: groups,
// dilation, asymmetric pads, SAME padding, strides, 1-D, transposed Gemm,
// N-D MatMul, shared weights, BatchNormalization, weights in Constant
// nodes) and the small transformer (MatMul, Softmax, decomposed layer
// normalisation) gives PyTorch's gradients for all its weights, within 1e-4
// relative, for the loss Σ r·y with fixed random r.
func TestTestModelGradientsMatchPyTorch(t *testing.T) {
	reference.Require(t, reference.Torch)
	dir := t.TempDir()
	type job struct {
		Model      string `json:"model"`
		X          string `json:"x"`
		R          string `json:"r"`
		Out        string `json:"out"`
		BNTraining bool   `json:"bn_training"`
	}
	type ours struct {
		name  string
		loss  float64
		grads map[string][]float32
		stats map[string][]float32
	}
	var jobs []job
	var results []ours
	cases := testmodels.All()
	// BatchNormalization in training mode: batch statistics, running ones
	// updated as PyTorch does.
	bnTraining := map[int]bool{}
	for _, name := range []string{"vgg_bn", "resnet_basic", "edge_conv_bn"} {
		tc, _ := testmodels.Lookup(name)
		bnTraining[len(cases)] = true
		tc.Name += "_bn_training"
		cases = append(cases, tc)
	}
	for k, tc := range cases {
		m := tc.Build(1)
		names, err := finetune.TrainableNames(m, "all")
		if tc.Name == "edge_weights_in_constant" && err != nil {
			continue // its weights are Constant nodes: nothing to train
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		tape, err := runtime.NewTape(m, runtime.TrainOptions{Trainable: names, Threads: 1, BatchNormTraining: bnTraining[k]})
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		rng := rand.New(rand.NewPCG(4, 4))
		random := func(shape []int64) *graph.Tensor {
			n := 1
			for _, d := range shape {
				n *= int(d)
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return graph.NewFloat32("", shape, v)
		}
		in := graph.RealInputs(m.Graph)[0].Name
		x := random(tc.InputShapes[in])
		xs, _ := x.Float32s()
		dims := make([]int, len(x.Dims))
		for i, d := range x.Dims {
			dims[i] = int(d)
		}
		out, err := tape.Forward(map[string]*runtime.Tensor{in: runtime.NewFloat32Tensor(dims, xs)})
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		outName := tape.OutputNames()[0]
		y := out[outName]
		rShape := make([]int64, len(y.Shape))
		for i, d := range y.Shape {
			rShape[i] = int64(d)
		}
		r := random(rShape)
		rs, _ := r.Float32s()
		loss := 0.0
		for i, v := range y.F32 {
			loss += float64(v) * float64(rs[i])
		}
		if err := tape.Backward(map[string]*runtime.Tensor{outName: runtime.NewFloat32Tensor(y.Shape, rs)}); err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		res := ours{name: tc.Name, loss: loss, grads: map[string][]float32{}, stats: map[string][]float32{}}
		for _, n := range names {
			res.grads[n] = append([]float32(nil), tape.Grad(n).F32...)
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType == "BatchNormalization" && bnTraining[k] {
				for _, v := range n.Inputs[3:5] {
					res.stats[v.Name] = tape.Param(v.Name).F32
				}
			}
		}
		j := job{Model: filepath.Join(dir, tc.Name+".onnx"), X: filepath.Join(dir, tc.Name+".x.npy"),
			R: filepath.Join(dir, tc.Name+".r.npy"), Out: filepath.Join(dir, tc.Name+".npz"), BNTraining: bnTraining[k]}
		if err := onnx.Write(j.Model, m); err != nil {
			t.Fatal(err)
		}
		if err := dataset.WriteNPY(j.X, x); err != nil {
			t.Fatal(err)
		}
		if err := dataset.WriteNPY(j.R, r); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
		results = append(results, res)
	}
	spec, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	jobsFile := filepath.Join(dir, "jobs.json")
	if err := os.WriteFile(jobsFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(reference.RepoRoot(), "bench", "finetune", "torch_onnx.py")
	if out, err := exec.Command(reference.Python, script, "weighted", jobsFile).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, res := range results {
		ref, err := dataset.ReadNPZ(jobs[k].Out)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*graph.Tensor{}
		for _, r := range ref {
			want[r.Name] = r
		}
		wl, _ := want["loss"].Float64s()
		if math.Abs(res.loss-wl[0]) > 1e-4*math.Abs(wl[0]) {
			t.Errorf("%s: loss %g, PyTorch %g", res.name, res.loss, wl[0])
		}
		// A gradient that is zero in exact arithmetic (a key bias under
		// softmax) is rounding noise on both sides: errors are measured
		// against at least 1e-3 of the model's largest gradient norm.
		norms := map[string]float64{}
		largest := 0.0
		for n := range res.grads {
			if w := want["grad/"+n]; w != nil {
				wf, _ := w.Float32s()
				norms[n] = l2(wf)
				largest = math.Max(largest, norms[n])
			}
		}
		for n, g := range res.grads {
			w := want["grad/"+n]
			if w == nil {
				t.Errorf("%s: PyTorch has no gradient for %s", res.name, n)
				continue
			}
			wf, _ := w.Float32s()
			diff := make([]float32, len(g))
			for i := range g {
				diff[i] = g[i] - wf[i]
			}
			if rel := l2(diff) / math.Max(norms[n], 1e-3*largest); rel > 1e-4 || math.IsNaN(rel) {
				t.Errorf("%s: gradient of %s is %.2g relative L2 from PyTorch", res.name, n, rel)
			}
		}
		if bnTraining[k] && len(res.stats) == 0 {
			t.Errorf("%s: no running statistics", res.name)
		}
		for n, got := range res.stats {
			w := want["stat/"+n]
			if w == nil {
				t.Errorf("%s: PyTorch has no running statistic %s", res.name, n)
				continue
			}
			wf, _ := w.Float32s()
			if rel := reference.RelL2(got, wf); rel > 1e-5 || math.IsNaN(rel) {
				t.Errorf("%s: running statistic %s is %.2g relative L2 from PyTorch", res.name, n, rel)
			}
		}
	}
}

func l2(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
