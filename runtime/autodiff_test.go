package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// gradCase is one node whose float inputs are graph inputs (differentiated
// with InputGrads) and whose integer inputs are initializers.
type gradCase struct {
	op    string
	opset int64
	attrs []*graph.Attr
	ins   []*Tensor // nil for an omitted optional input
	nOut  int
	// frozen lists float inputs held as constants (not checked).
	frozen []int
	opts   TrainOptions
}

// model builds the case's one-node model; float inputs become graph inputs
// x0, x1, … unless frozen.
func (gc gradCase) model() (*graph.Model, map[string]*Tensor, []string) {
	g := &graph.Graph{Name: "grad"}
	b := graph.NewBuilder(g)
	feeds := map[string]*Tensor{}
	var names []string
	var vals []*graph.Value
	for i, in := range gc.ins {
		if in == nil {
			vals = append(vals, nil)
			continue
		}
		frozen := false
		for _, f := range gc.frozen {
			frozen = frozen || f == i
		}
		if in.DType != graph.Float32 || frozen {
			ct, err := in.ToGraph(fmt.Sprintf("c%d", i))
			if err != nil {
				panic(err)
			}
			vals = append(vals, b.Const(ct.Name, ct))
			continue
		}
		shape := make([]int64, len(in.Shape))
		for k, d := range in.Shape {
			shape[k] = int64(d)
		}
		v := b.Input(fmt.Sprintf("x%d", i), in.DType, graph.KnownShape(shape...))
		feeds[v.Name] = in
		names = append(names, v.Name)
		vals = append(vals, v)
	}
	nOut := max(gc.nOut, 1)
	n := b.Node(gc.op, gc.op, vals, nOut, gc.attrs...)
	for _, o := range n.Outputs {
		b.Output(o)
	}
	opset := gc.opset
	if opset == 0 {
		opset = 17
	}
	return &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: opset}}, Graph: g}, feeds, names
}

// checkGrad compares the tape's gradients of L = Σ r·y (r fixed random
// weights per output) with finite differences twice:
//   - in float64 (checkFloat64Differences): central differences of step
//     1e-6 on a float64 evaluation of the same ONNX model, to 1e-5;
//   - in float32, on this runtime's own forward: central differences of step
//     1e-2, accumulated in float64, to 1e-2 relative L2 and each element to
//     2e-2 of the gradient's largest entry (float32 rounding in the forward
//     allows no tighter bound).
//
// A transposed, missing or doubled term fails both.
func checkGrad(t *testing.T, gc gradCase) {
	t.Helper()
	m, feeds, names := gc.model()
	opts := gc.opts
	opts.InputGrads = true
	checkModelGrad(t, m, feeds, names, opts)
}

// checkModelGrad is checkGrad on any model: names are graph inputs (with
// opts.InputGrads) or trainable initializers (opts.Trainable), perturbed in
// place.
func checkModelGrad(t *testing.T, m *graph.Model, feeds map[string]*Tensor, names []string, opts TrainOptions) {
	t.Helper()
	opts.Threads = 2
	tape, err := NewTape(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	out, err := tape.Forward(feeds)
	if err != nil {
		t.Fatal(err)
	}
	weights := map[string]*Tensor{}
	for _, name := range tape.OutputNames() {
		y := out[name]
		if y.DType != graph.Float32 {
			continue
		}
		weights[name] = randTensor(rng, y.Shape...)
	}
	if err := tape.Backward(weights); err != nil {
		t.Fatal(err)
	}
	analytic := map[string][]float64{}
	for _, name := range names {
		analytic[name] = tape.Grad(name).Float64s()
	}
	loss := func() float64 {
		o, err := tape.Forward(feeds)
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for name, r := range weights {
			for i, v := range o[name].F32 {
				s += float64(v) * float64(r.F32[i])
			}
		}
		return s
	}
	checkFloat64Differences(t, m, feeds, names, opts.BatchNormTraining, out, weights, analytic)
	const h = 1e-2
	for _, name := range names {
		var x []float32
		if f, ok := feeds[name]; ok {
			x = f.F32
		} else {
			x = tape.Param(name).F32
		}
		got := analytic[name]
		num := make([]float64, len(x))
		for i := range x {
			orig := x[i]
			x[i] = orig + h
			up := loss()
			x[i] = orig - h
			down := loss()
			x[i] = orig
			num[i] = (up - down) / (2 * h)
		}
		var diff, norm, peak float64
		for i := range num {
			diff += (got[i] - num[i]) * (got[i] - num[i])
			norm += num[i] * num[i]
			peak = math.Max(peak, math.Abs(num[i]))
		}
		if norm == 0 && diff == 0 {
			continue
		}
		if rel := math.Sqrt(diff / math.Max(norm, 1e-30)); rel > 1e-2 {
			t.Errorf("input %s: gradient off by %.3g relative L2\n analytic %v\n numeric  %v", name, rel, head(got), head(num))
			continue
		}
		for i := range num {
			if math.Abs(got[i]-num[i]) > 2e-2*peak {
				t.Errorf("input %s[%d]: analytic %g, numeric %g", name, i, got[i], num[i])
				break
			}
		}
	}
}

// namedGradCase is one subtest of a per-op gradient test.
type namedGradCase struct {
	name string
	gc   gradCase
}

func checkGradCases(t *testing.T, cases []namedGradCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGrad(t, c.gc) })
	}
}

func head(v []float64) []float64 { return v[:min(len(v), 8)] }

// awayFrom returns n random values at least gap away from every kink.
func awayFrom(rng *rand.Rand, n int, gap float64, kinks ...float64) []float32 {
	out := make([]float32, n)
	for i := range out {
	retry:
		v := rng.Float64()*8 - 4
		for _, k := range kinks {
			if math.Abs(v-k) < gap {
				goto retry
			}
		}
		out[i] = float32(v)
	}
	return out
}

// distinct returns a random permutation of n values spaced 0.1 apart, so
// maxima never tie under a finite-difference step.
func distinct(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i, p := range rng.Perm(n) {
		out[i] = float32(p)*0.1 - float32(n)*0.05
	}
	return out
}

// residualModel is x → Conv(W1,B1) → Relu → Conv(W2) + the first conv's
// output (a value read twice) → GlobalAveragePool → Flatten → Gemm(W3,B3).
func residualModel(rng *rand.Rand) (*graph.Model, map[string]*Tensor, []string) {
	g := &graph.Graph{Name: "residual"}
	b := graph.NewBuilder(g)
	w := func(name string, dims ...int64) *graph.Value {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		return b.Const(name, graph.NewFloat32(name, dims, randFloats(rng, n)))
	}
	x := b.Input("x", graph.Float32, graph.KnownShape(2, 2, 5, 5))
	pads := graph.IntsAttr("pads", 1, 1, 1, 1)
	c1 := b.Op("Conv", "c1", []*graph.Value{x, w("W1", 3, 2, 3, 3), w("B1", 3)}, pads)
	r := b.Op("Relu", "r", []*graph.Value{c1})
	c2 := b.Op("Conv", "c2", []*graph.Value{r, w("W2", 3, 3, 3, 3)}, pads)
	sum := b.Op("Add", "add", []*graph.Value{c2, c1})
	gp := b.Op("GlobalAveragePool", "gap", []*graph.Value{sum})
	f := b.Op("Flatten", "flat", []*graph.Value{gp})
	y := b.Op("Gemm", "fc", []*graph.Value{f, w("W3", 4, 3), w("B3", 4)}, graph.IntAttr("transB", 1))
	b.Output(y)
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	return m, map[string]*Tensor{"x": randTensor(rng, 2, 2, 5, 5)}, []string{"W1", "B1", "W2", "W3", "B3"}
}

// Gradients with respect to trainable initializers through a small residual
// network, a value read by two nodes included.
func TestGradThroughNetworkToInitializers(t *testing.T) {
	m, feeds, names := residualModel(rand.New(rand.NewPCG(25, 26)))
	checkModelGrad(t, m, feeds, append(names, "x"), TrainOptions{Trainable: names, InputGrads: true})
}

// Gradients of intermediate values returned by ExtraOutputs (one read
// later by the graph, so its gradient adds to the one flowing back) reach
// the weights and the input.
func TestGradThroughExtraOutputs(t *testing.T) {
	m, feeds, names := residualModel(rand.New(rand.NewPCG(27, 26)))
	var extra []string
	for _, n := range m.Graph.Nodes {
		if n.Name == "c1" || n.Name == "r" {
			extra = append(extra, n.Outputs[0].Name)
		}
	}
	checkModelGrad(t, m, feeds, append(names, "x"), TrainOptions{Trainable: names, InputGrads: true, ExtraOutputs: extra})
	if _, err := NewTape(m, TrainOptions{ExtraOutputs: []string{"nope"}}); err == nil {
		t.Error("an extra output that is no value of the graph was accepted")
	}
}

// The tape keeps only what backward kernels read: the Conv inputs and the
// Relu output, not the Add's or pooling's outputs, and never constants.
func TestTapeKeepsOnlyWhatBackwardReads(t *testing.T) {
	m, _, names := residualModel(rand.New(rand.NewPCG(1, 1)))
	tape, err := NewTape(m, TrainOptions{Trainable: names})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{"x": tape.keep[tape.slotOf["x"]]}
	for _, n := range m.Graph.Nodes {
		kept[n.Name] = tape.keep[tape.slotOf[n.Outputs[0].Name]]
	}
	for _, name := range []string{"x", "r"} {
		if !kept[name] {
			t.Errorf("%s not kept for the backward pass", name)
		}
	}
	for _, name := range []string{"c1", "c2", "add", "gap", "fc"} {
		if kept[name] {
			t.Errorf("%s kept though no backward kernel reads it", name)
		}
	}
}

func TestTapeRefusesOpsWithoutBackward(t *testing.T) {
	g := &graph.Graph{Name: "nobackward"}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(2, 3))
	b.Output(b.Op("Erf", "erf", []*graph.Value{b.Op("Relu", "r", []*graph.Value{x})}))
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	if _, err := NewTape(m, TrainOptions{InputGrads: true}); err == nil || !strings.Contains(err.Error(), "erf") {
		t.Errorf("error %v, want one naming the Erf node", err)
	}
	if _, err := NewTape(m, TrainOptions{}); err != nil {
		t.Errorf("nothing to differentiate, yet %v", err)
	}
}

// Every test model trains: the tape builds with all its weights trainable
// and gives finite, non-zero gradients for each. (Their values are checked
// against PyTorch in finetune's TestTestModelGradientsMatchPyTorch.)
func TestTapeTrainsEveryTestModel(t *testing.T) {
	for _, tc := range testmodels.All() {
		t.Run(tc.Name, func(t *testing.T) {
			m := tc.Build(1)
			var names []string
			for _, v := range m.Graph.Initializers {
				if v.Const.DType == graph.Float32 && !notAWeight(m.Graph, v) {
					names = append(names, v.Name)
				}
			}
			tape, err := NewTape(m, TrainOptions{Trainable: names, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			feeds := map[string]*Tensor{}
			for name, shape := range tc.InputShapes {
				dims := make([]int, len(shape))
				for i, d := range shape {
					dims[i] = int(d)
				}
				feeds[name] = randTensor(rng, dims...)
			}
			out, err := tape.Forward(feeds)
			if err != nil {
				t.Fatal(err)
			}
			weights := map[string]*Tensor{}
			for name, y := range out {
				weights[name] = randTensor(rng, y.Shape...)
			}
			if err := tape.Backward(weights); err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				nonzero := false
				for _, v := range tape.Grad(n).F32 {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("gradient of %s is not finite", n)
					}
					nonzero = nonzero || v != 0
				}
				if !nonzero {
					t.Errorf("gradient of %s is zero", n)
				}
			}
		})
	}
}

// notAWeight: a BatchNormalization running statistic or a Clip bound.
func notAWeight(g *graph.Graph, v *graph.Value) bool {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == v && (n.OpType == "BatchNormalization" && i >= 3 || n.OpType == "Clip" && i >= 1) {
				return true
			}
		}
	}
	return false
}

// Every op of compressed CNN/MLP graphs (the fine-tuning issue's list) has
// a backward kernel; each has its TestGrad<Op> beside its *_grad.go.
func TestBackwardCoversCompressedGraphOps(t *testing.T) {
	for _, op := range []string{"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid",
		"HardSigmoid", "HardSwish", "Tanh", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool",
		"Flatten", "Reshape", "Transpose", "Concat", "Slice", "Split", "Pad", "Einsum", "Softmax", "LogSoftmax", "Dropout"} {
		if !HasBackward(op) {
			t.Errorf("%s has no backward kernel", op)
		}
	}
}
