package onnxcompress

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// lenetLCS trains the bundled LeNet a few steps as an LCS subspace on
// random images labelled by the model itself (enough to move the weights;
// the accuracy figures come from bench/lcs).
func lenetLCS(t *testing.T, mode, sub string) (*graph.Model, *LCSSubspace, *dataset.Dataset) {
	t.Helper()
	path, err := testmodels.LeNet5FMNIST.Path()
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := onnx.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	student, _ := Clone(teacher)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 96
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	data, err := dataset.FromTensors(graph.NewFloat32("x", []int64{n, 1, 28, 28}, x), nil, dataset.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := TrainLCS(context.Background(), student, teacher, data, nil, LCSOptions{
		Options: finetune.Options{MaxSteps: 4, Batch: 16, LR: 1e-3, Seed: 3, Holdout: 0.25},
		Mode:    mode, Subspace: sub, WarmupFraction: 0.25, EvalLevels: lcsEnds(mode)})
	if err != nil {
		t.Fatalf("%s %s: %v", mode, sub, err)
	}
	return student, res.Subspace, data
}

func lcsEnds(mode string) []float64 {
	g, _ := finetune.LCSGrid(mode)
	return []float64{g[0], g[len(g)-1]}
}

// Every grid member: valid ONNX, the same outputs in ONNX Runtime and in
// this runtime, and the same outputs as the trained graph with the level's
// weights written in (narrowing and dequantizing change nothing).
func TestLCSFamilyMatchesInToolAndORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	probe := make([]float32, 4*28*28)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range probe {
		probe[i] = float32(rng.NormFloat64())
	}
	in := runtime.NewFloat32Tensor([]int{4, 1, 28, 28}, probe)
	for _, c := range []struct{ mode, sub string }{
		{finetune.LCSUnstructured, finetune.LCSPoint}, {finetune.LCSUnstructured, finetune.LCSLine},
		{finetune.LCSStructured, finetune.LCSPoint}, {finetune.LCSQuantized, finetune.LCSLine},
	} {
		m, s, _ := lenetLCS(t, c.mode, c.sub)
		grid, _ := finetune.LCSGrid(c.mode)
		var jobs []reference.ORTJob
		var files []string
		sparseJob := -1
		var want []*runtime.Tensor
		for _, level := range grid {
			sm, rep, err := LCSLevelModel(m, s, level)
			if err != nil {
				t.Fatalf("%s %s level %g: %v", c.mode, c.sub, level, err)
			}
			if c.mode == finetune.LCSQuantized {
				// The quantized layers' inputs are fake-quantized too.
				if len(s.Activations) != 3 {
					t.Fatalf("%d activation quantizers, want 3 (conv2, fc1, fc2)", len(s.Activations))
				}
				for _, a := range s.Activations {
					for _, v := range sm.Graph.Initializers {
						if v.Name == a.Gate {
							if g, _ := v.Const.Float32s(); g[0] != 1 {
								t.Errorf("level %g: %s's activation quantizer is off", level, a.Layer)
							}
						}
					}
				}
			}
			if c.mode == finetune.LCSStructured && level < 1 && len(rep.Narrowed) != 4 {
				t.Errorf("level %g: narrowed %v, masked %v", level, rep.Narrowed, rep.Masked)
			}
			file := filepath.Join(dir, c.mode+c.sub+FormatLevel(level)+".onnx")
			if err := Save(file, sm); err != nil {
				t.Fatal(err)
			}
			files = append(files, file)
			got := runModel(t, sm, in)
			masked, _ := Clone(m)
			w, _ := s.Weights(level)
			if err := setFloat32s(masked, w); err != nil {
				t.Fatal(err)
			}
			if e := reference.RelL2(got.F32, runModel(t, masked, in).F32); e > 1e-6 {
				t.Errorf("%s %s level %g: static model differs from the trained graph at the level by %g", c.mode, c.sub, level, e)
			}
			x, _ := in.ToGraph("input")
			jobs = append(jobs, reference.ORTJob{Model: file, Inputs: map[string]*graph.Tensor{m.Graph.Inputs[0].Name: x}})
			want = append(want, got)
		}
		if c.mode == finetune.LCSUnstructured {
			// The zeros stored as sparse_initializer: ONNX Runtime reads them.
			sm, _, _ := LCSLevelModel(m, s, 0.1)
			file := filepath.Join(dir, c.mode+c.sub+"sparse.onnx")
			if err := Save(file, sm, onnx.SparseWhenSmaller()); err != nil {
				t.Fatal(err)
			}
			x, _ := in.ToGraph("input")
			sparseJob = len(jobs)
			jobs = append(jobs, reference.ORTJob{Model: file, Inputs: map[string]*graph.Tensor{m.Graph.Inputs[0].Name: x}})
			want = append(want, want[slices.Index(grid, 0.1)])
		}
		// The adaptive graph with input i answers as member i (C.2.9).
		adaptiveFrom := len(jobs)
		var members []*graph.Model
		for _, level := range grid {
			sm, _, _ := LCSLevelModel(m, s, level)
			members = append(members, sm)
		}
		adaptive, err := LCSAdaptive(members)
		if err != nil {
			t.Fatalf("%s %s: %v", c.mode, c.sub, err)
		}
		afile := filepath.Join(dir, c.mode+c.sub+"adaptive.onnx")
		if err := Save(afile, adaptive); err != nil {
			t.Fatal(err)
		}
		files = append(files, afile)
		errs, err := reference.CheckModels(files...)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range errs {
			if e != nil {
				t.Errorf("%s: %v", files[i], e)
			}
		}
		for i := range grid {
			x, _ := in.ToGraph("input")
			jobs = append(jobs, reference.ORTJob{Model: afile, Inputs: map[string]*graph.Tensor{
				m.Graph.Inputs[0].Name: x, rewrite.LCSLevelInput: graph.NewInt64(rewrite.LCSLevelInput, nil, []int64{int64(i)})}})
			want = append(want, want[i])
		}
		results, err := reference.RunORTBatch(jobs, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			ort, _ := r.Outputs[m.Graph.Outputs[0].Name].Float32s()
			if e := reference.RelL2(want[i].F32, ort); e > 1e-5 {
				t.Errorf("%s %s job %d (%d levels, sparse job %d, adaptive from %d): ORT and this runtime differ by %g", c.mode, c.sub, i, len(grid), sparseJob, adaptiveFrom, e)
			}
		}
	}
}

func runModel(t *testing.T, m *graph.Model, in *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	s, err := runtime.NewSession(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*runtime.Tensor{s.InputNames()[0]: in})
	if err != nil {
		t.Fatal(err)
	}
	return out[s.OutputNames()[0]]
}

func TestSaveLoadLCS(t *testing.T) {
	m, s, _ := lenetLCS(t, finetune.LCSUnstructured, finetune.LCSLine)
	file := filepath.Join(t.TempDir(), "lcs.onnx")
	if err := SaveLCS(file, m, s); err != nil {
		t.Fatal(err)
	}
	m2, s2, err := LoadLCS(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Graph.Initializers) != len(m.Graph.Initializers) || s2.Mode != s.Mode || s2.Subspace != s.Subspace || len(s2.End0) != len(s.End0) || len(s2.End0) == 0 {
		t.Fatalf("round trip: %d initializers (want %d), %s %s, %d lines", len(m2.Graph.Initializers), len(m.Graph.Initializers), s2.Mode, s2.Subspace, len(s2.End0))
	}
	for name, w := range s.End0 {
		if !slices.Equal(w, s2.End0[name]) || !slices.Equal(s.End1[name], s2.End1[name]) {
			t.Errorf("%s: endpoints changed in the round trip", name)
		}
	}
	// C.2.10: a line stores about twice the parameters, a point once.
	ratio := func(file string) float64 {
		saved, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		var n, base int
		for _, v := range saved.Graph.Initializers {
			n += v.Const.Len()
		}
		for _, v := range m.Graph.Initializers {
			base += v.Const.Len()
		}
		return float64(n) / float64(base)
	}
	if r := ratio(file); r < 1.9 || r > 2 {
		t.Errorf("LCS+L stores %.3f× the parameters, want ≈ 2×", r)
	}
	pm, ps, _ := lenetLCS(t, finetune.LCSUnstructured, finetune.LCSPoint)
	pfile := filepath.Join(t.TempDir(), "lcsp.onnx")
	if err := SaveLCS(pfile, pm, ps); err != nil {
		t.Fatal(err)
	}
	if r := ratio(pfile); r != 1 {
		t.Errorf("LCS+P stores %.3f× the parameters, want 1×", r)
	}
	// A damaged layout is an error, not a panic.
	for _, bad := range []string{
		`{"mode":"unstructured","subspace":"point","tensors":[{"name":"conv1.weight","width_axis":-1,"width_channels":6}]}`,
		`{"mode":"unstructured","subspace":"cube","tensors":[]}`,
		`{"mode":"unstructured","subspace":"point","tensors":[{"name":"nothing"}]}`,
		`not json`,
	} {
		broken, _ := Clone(m)
		broken.SetMetadata(lcsMetadataKey, bad)
		if _, err := LCSFromModel(broken); err == nil {
			t.Errorf("layout %s accepted", bad)
		}
	}
	plain, _ := Clone(m)
	if _, err := LCSFromModel(plain); err == nil {
		t.Error("a model without LCS metadata was accepted")
	}
}

// TestLCSTrainedFamilyInORT checks a trained subspace (bench/lcs/run.sh
// sets LCS_SUBSPACE) on real test images: every grid member gives the same
// logits and predictions in ONNX Runtime as in this runtime.
func TestLCSTrainedFamilyInORT(t *testing.T) {
	path := os.Getenv("LCS_SUBSPACE")
	if path == "" {
		t.Skip("LCS_SUBSPACE names no trained subspace (bench/lcs/run.sh sets it)")
	}
	reference.Require(t, reference.ORT, reference.FashionMNIST)
	m, s, err := LoadLCS(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.Open(reference.FashionMNISTDir, dataset.Options{Split: "test", Mean: []float32{0.286}, Std: []float32{0.353}})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 512)
	for i := range idx {
		idx[i] = i
	}
	x, err := d.BatchTensor("x", idx)
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := x.Float32s()
	in := runtime.NewFloat32Tensor([]int{512, 1, 28, 28}, xs)
	grid, _ := finetune.LCSGrid(s.Mode)
	dir := t.TempDir()
	var jobs []reference.ORTJob
	var want []*runtime.Tensor
	for _, level := range grid {
		sm, _, err := LCSLevelModel(m, s, level)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, FormatLevel(level)+".onnx")
		if err := Save(file, sm); err != nil {
			t.Fatal(err)
		}
		want = append(want, runModel(t, sm, in))
		jobs = append(jobs, reference.ORTJob{Model: file, Inputs: map[string]*graph.Tensor{m.Graph.Inputs[0].Name: x}})
	}
	results, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ort, _ := r.Outputs[m.Graph.Outputs[0].Name].Float32s()
		e := reference.RelL2(want[i].F32, ort)
		same := 0
		for k := 0; k < 512; k++ {
			if lcsTop1(want[i].F32[k*10:(k+1)*10]) == lcsTop1(ort[k*10:(k+1)*10]) {
				same++
			}
		}
		t.Logf("level %s: logits rel L2 %.2g, same top-1 on %d/512", FormatLevel(grid[i]), e, same)
		if e > 1e-5 || same != 512 {
			t.Errorf("level %s: ORT differs (rel L2 %g, %d/512 same predictions)", FormatLevel(grid[i]), e, same)
		}
	}
}

func lcsTop1(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
