package rewrite

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// Keeping every entry re-emits each layer with its own weight: exact.
func TestSparseKeepAllIsExactInORT(t *testing.T) {
	checkExactInORT(t, lossless{method: "sparse", variants: func(l *Layer) map[string]LayerPlan {
		return map[string]LayerPlan{"keep-all": {Keep: 1}}
	}})
}

// layerNonZeros counts the non-zero weight and bias entries of every
// weighted layer of m (weights behind Identity or Constant included).
func layerNonZeros(t *testing.T, m *graph.Model) (nonZeros, params int64) {
	t.Helper()
	g := m.Graph
	idx := graph.NewIndex(g)
	for _, n := range g.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "MatMul" {
			continue
		}
		inputs := []int{1, 2}
		for _, i := range inputs {
			c, ok := graph.ConstTensor(g, idx, n.Input(i))
			if !ok {
				continue
			}
			vals, err := c.Float64s()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				params++
				if v != 0 {
					nonZeros++
				}
			}
		}
	}
	return nonZeros, params
}

// --ratio 0.25 leaves at most a quarter of the parameters non-zero (and not
// much fewer), counted on the written weights.
func TestSparseRatioCountsNonZeros(t *testing.T) {
	for _, name := range []string{"lenet5", "resnet_basic", "mlp"} {
		m := mustCase(t, name).Build(1)
		nzBefore, before := layerNonZeros(t, m)
		if nzBefore != before {
			t.Fatalf("%s: test model already has zeros", name)
		}
		rep, err := Compress(m, Options{Method: "sparse", Target: Target{Ratio: 0.25}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rewritten()) == 0 {
			t.Fatalf("%s: nothing rewritten", name)
		}
		nz, after := layerNonZeros(t, m)
		if after != before {
			t.Errorf("%s: %d parameters stored after, %d before: zeros must stay in place", name, after, before)
		}
		if len(rep.Rewritten()) == len(rep.Layers) && (rep.SelectedNonZerosAfter != nz || rep.SelectedNonZerosBefore != nzBefore) {
			t.Errorf("%s: report counts %d → %d non-zeros, the model has %d → %d", name,
				rep.SelectedNonZerosBefore, rep.SelectedNonZerosAfter, nzBefore, nz)
		}
		got := float64(nz) / float64(before)
		if got > 0.25+0.02 || got < 0.25-0.02 {
			t.Errorf("%s: %.4f of the parameters non-zero, want 0.25 ± 0.02", name, got)
		}
	}
}

// The mask is by magnitude: every kept entry is at least as large as every
// dropped one, kept entries keep their bits, and the weight error only
// shrinks as more is kept.
func TestSparseMaskIsByMagnitude(t *testing.T) {
	orig := mustCase(t, "lenet5").Build(1)
	var origW []float32
	for _, v := range orig.Graph.Initializers {
		if v.Name == "conv2.weight" {
			origW, _ = v.Const.Float32s()
		}
	}
	prev := math.Inf(1)
	for _, ratio := range []float64{0.1, 0.3, 0.5, 0.9} {
		m := mustCase(t, "lenet5").Build(1)
		rep, err := Compress(m, Options{Method: "sparse", Target: Target{Ratio: ratio}, Layers: []string{"conv2"}})
		if err != nil {
			t.Fatal(err)
		}
		var w []float32
		for _, n := range m.Graph.Nodes {
			if n.OpType == "Conv" && n.Input(0) != nil && len(n.Inputs) > 1 && n.Inputs[1].Const != nil && len(n.Inputs[1].Const.Dims) == 4 && n.Inputs[1].Const.Dims[0] == 16 {
				w, _ = n.Inputs[1].Const.Float32s()
			}
		}
		if len(w) != len(origW) {
			t.Fatalf("ratio %g: masked conv2 weight not found", ratio)
		}
		minKept, maxDropped := math.Inf(1), 0.0
		for i, v := range w {
			switch {
			case v == 0:
				maxDropped = math.Max(maxDropped, math.Abs(float64(origW[i])))
			case v != origW[i]:
				t.Fatalf("ratio %g: kept entry %d changed %g → %g", ratio, i, origW[i], v)
			default:
				minKept = math.Min(minKept, math.Abs(float64(v)))
			}
		}
		if maxDropped > minKept {
			t.Errorf("ratio %g: dropped |w| %g above kept %g", ratio, maxDropped, minKept)
		}
		e := rep.Rewritten()[0].WeightError
		if !(e < prev) {
			t.Errorf("ratio %g: weight error %g did not shrink from %g", ratio, e, prev)
		}
		prev = e
	}
}

// A sparse model passes the checker and runs in ONNX Runtime; two runs give
// the same bytes.
func TestSparseModelRunsAndIsDeterministic(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	var enc [2][]byte
	var m *graph.Model
	for i := range enc {
		m = mustCase(t, "resnet_basic").Build(2)
		if _, err := Compress(m, Options{Method: "sparse", Target: Target{Ratio: 0.3}, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		enc[i] = b
	}
	if !bytes.Equal(enc[0], enc[1]) {
		t.Error("two runs encode differently")
	}
	path := filepath.Join(t.TempDir(), "sparse.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(path); err != nil {
		t.Fatalf("checker: %v", err)
	}
	if _, err := reference.RunORT(path, mustCase(t, "resnet_basic").RandomInputs(1), 1); err != nil {
		t.Fatal(err)
	}
}

// A weight two layers share is masked once and stays shared.
func TestSparseSharedWeightStoredOnce(t *testing.T) {
	m := mustCase(t, "edge_shared_weight").Build(1)
	rep, err := Compress(m, Options{Method: "sparse", Target: Target{Ratio: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Rewritten()); n != 2 {
		t.Fatalf("%d layers masked, want 2", n)
	}
	var weights []*graph.Value
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" {
			weights = append(weights, n.Inputs[1])
		}
	}
	if len(weights) != 2 || weights[0] != weights[1] || !strings.Contains(weights[0].Const.DocString, "onnxcompress sparse") {
		t.Errorf("the two convs read %v", weights)
	}
}

// A pruned model written with onnx.SparseWhenSmaller stores its masked
// weights as sparse_initializer entries: the file is smaller, and ONNX
// Runtime and this project's runtime read it and compute exactly what the
// densely stored model computes.
func TestSparseStoredSparselyRunsInORT(t *testing.T) {
	reference.Require(t, reference.ORT)
	c := mustCase(t, "lenet5")
	m := c.Build(1)
	if _, err := Compress(m, Options{Method: "sparse", Target: Target{Ratio: 0.25}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain, small := filepath.Join(dir, "dense.onnx"), filepath.Join(dir, "sparse.onnx")
	if err := onnx.Write(plain, m); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Write(small, m, onnx.SparseWhenSmaller()); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(plain)
	st2, _ := os.Stat(small)
	if st2.Size() >= st1.Size() {
		t.Fatalf("sparse file %d bytes, dense %d", st2.Size(), st1.Size())
	}
	t.Logf("lenet5 at 25%% non-zeros: %d bytes dense, %d sparse", st1.Size(), st2.Size())
	in := c.RandomInputs(5)
	res, err := reference.RunORTBatch([]reference.ORTJob{{Model: plain, Inputs: in}, {Model: small, Inputs: in}}, 1)
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("ORT: %v %v %v", err, res[0].Err, res[1].Err)
	}
	back, err := onnx.Read(small)
	if err != nil {
		t.Fatal(err)
	}
	rin := map[string]*runtime.Tensor{}
	for name, gt := range in {
		if rin[name], err = runtime.FromGraph(gt); err != nil {
			t.Fatal(err)
		}
	}
	ours, err := runWatching(back, nil, rin, 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range res[0].Outputs {
		wf, _ := w.Float32s()
		gf, _ := res[1].Outputs[name].Float32s()
		if e := reference.RelL2(gf, wf); e != 0 {
			t.Errorf("output %s: ORT on the sparse file differs by %.3g", name, e)
		}
		if e := reference.RelL2(ours[name].F32, wf); e > 1e-5 {
			t.Errorf("output %s: our runtime on the sparse file differs from ORT by %.3g", name, e)
		}
	}
}
