package finetune_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
)

// mlp builds x[N,8] → Gemm → Relu → Gemm → logits[N,4] with weights drawn
// from seed; rewritten marks the second Gemm as a rewrite's output.
func mlp(seed uint64, rewritten bool) *graph.Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	g := &graph.Graph{Name: "mlp"}
	b := graph.NewBuilder(g)
	w := func(name string, dims ...int64) *graph.Value {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		return b.Const(name, graph.NewFloat32(name, dims, v))
	}
	x := b.Input("x", graph.Float32, graph.Shape{{Param: "N"}, {Value: 8}})
	h := b.Op("Gemm", "fc1", []*graph.Value{x, w("fc1.w", 16, 8), w("fc1.b", 16)}, graph.IntAttr("transB", 1))
	h = b.Op("Relu", "relu", []*graph.Value{h})
	out := b.Node("Gemm", "fc2", []*graph.Value{h, w("fc2.w", 4, 16), w("fc2.b", 4)}, 1, graph.IntAttr("transB", 1))
	if rewritten {
		out.DocString = "onnxcompress: replaces fc2 (Gemm) by test"
	}
	out.Outputs[0].Name = "logits"
	b.Output(out.Outputs[0])
	return &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
}

func unlabelled(n int) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(9, 9))
	v := make([]float32, n*8)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	d, err := dataset.FromTensors(graph.NewFloat32("x", []int64{int64(n), 8}, v), nil, dataset.Options{})
	if err != nil {
		panic(err)
	}
	return d
}

func TestTrainableNames(t *testing.T) {
	m := mlp(1, true)
	got, err := finetune.TrainableNames(m, "factors")
	if err != nil || !slices.Equal(got, []string{"fc2.w", "fc2.b"}) {
		t.Errorf("factors: %v, %v", got, err)
	}
	got, err = finetune.TrainableNames(m, "all")
	if err != nil || !slices.Equal(got, []string{"fc1.w", "fc1.b", "fc2.w", "fc2.b"}) {
		t.Errorf("all: %v, %v", got, err)
	}
	if _, err := finetune.TrainableNames(mlp(1, false), "factors"); err == nil {
		t.Error("a model no rewrite touched has no factors to train, yet no error")
	}
}

// Distillation on unlabelled data pulls a differently initialised student
// towards the teacher: agreement on held-out samples (labelled by the
// teacher) rises, and only the trained initializers change, names and
// shapes kept.
func TestRunUnlabelledDistillation(t *testing.T) {
	teacher, student := mlp(1, false), mlp(2, true)
	before := map[string][]float32{}
	for _, v := range student.Graph.Initializers {
		before[v.Name], _ = v.Const.Float32s()
	}
	var epochs []finetune.Epoch
	res, err := finetune.Run(context.Background(), student, teacher, unlabelled(4000), nil, finetune.Options{
		Epochs: 15, Batch: 32, LR: 1e-2, Train: "all", Seed: 5, Threads: 1,
		Distillation: finetune.Distillation{Temperature: 2, Alpha: 0.5},
		EpochReport:  func(e finetune.Epoch) { epochs = append(epochs, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 16 || res.Steps != 15*113 {
		t.Fatalf("%d epoch reports and %d steps, want 16 and %d", len(epochs), res.Steps, 15*113)
	}
	first, best := epochs[0].Holdout.Accuracy, res.Best.Holdout.Accuracy
	t.Logf("hold-out agreement with the teacher: %.3f before, %.3f best (epoch %d)", first, best, res.Best.Epoch)
	if best < 0.9 || best < first+0.3 {
		t.Errorf("agreement %.3f → %.3f: distillation did not pull the student to the teacher", first, best)
	}
	for _, v := range student.Graph.Initializers {
		after, _ := v.Const.Float32s()
		if len(after) != len(before[v.Name]) || v.Const.Name != v.Name {
			t.Fatalf("%s changed shape or name", v.Name)
		}
		if slices.Equal(after, before[v.Name]) {
			t.Errorf("%s did not change", v.Name)
		}
	}
}

// Cancelling stops training and leaves the best weights evaluated so far,
// here the starting ones.
func TestRunCancelledKeepsBestWeights(t *testing.T) {
	teacher, student := mlp(1, false), mlp(2, true)
	orig, _ := student.Graph.Initializers[2].Const.Float32s()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := finetune.Run(ctx, student, teacher, unlabelled(500), nil, finetune.Options{
		Epochs: 3, Batch: 16, Threads: 1, Distillation: finetune.Distillation{Alpha: 1},
		Progress: func(p finetune.Progress) {
			if p.Step == 5 {
				cancel()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Steps != 5 || res.Best.Epoch != 0 {
		t.Fatalf("interrupted %v after %d steps, best epoch %d; want true, 5, 0", res.Interrupted, res.Steps, res.Best.Epoch)
	}
	now, _ := student.Graph.Initializers[2].Const.Float32s()
	if !slices.Equal(orig, now) {
		t.Error("the student does not hold the best (starting) weights after cancelling")
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []finetune.Options{
		{Optimizer: "rmsprop"},
		{Train: "some"},
		{Distillation: finetune.Distillation{Temperature: 2, Alpha: 1.5}},
		{Schedule: "linear"},
		{Holdout: 1.5},
	} {
		if _, err := finetune.Run(context.Background(), mlp(2, true), mlp(1, false), unlabelled(100), nil, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// Feature matching pairs the outputs of rewritten nodes with the teacher's
// values of the same name, and training with it still pulls the student to
// the teacher.
func TestRunWithFeatureMatching(t *testing.T) {
	teacher, student := mlp(1, false), mlp(2, true)
	if got := finetune.FeatureNames(student, teacher); !slices.Equal(got, []string{"logits"}) {
		t.Fatalf("feature names %v, want the rewritten fc2's output", got)
	}
	if got := finetune.FeatureNames(mlp(2, false), teacher); len(got) != 0 {
		t.Errorf("a model no rewrite touched has features %v", got)
	}
	res, err := finetune.Run(context.Background(), student, teacher, unlabelled(2000), nil, finetune.Options{
		Epochs: 5, Batch: 32, LR: 1e-2, Train: "all", Seed: 5, Threads: 1, FeatureWeight: 1,
		Distillation: finetune.Distillation{Temperature: 2, Alpha: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if first, best := res.Epochs[0].Holdout.Accuracy, res.Best.Holdout.Accuracy; best < first+0.4 {
		t.Errorf("agreement %.3f → %.3f with feature matching", first, best)
	}
	if _, err := finetune.Run(context.Background(), mlp(2, false), teacher, unlabelled(100), nil,
		finetune.Options{Train: "all", FeatureWeight: 1}); err == nil {
		t.Error("feature matching without rewritten layers accepted")
	}
}

// quantizedMLP is mlp(seed) with fc1's weight stored as int8 codes (one
// scale per output row, max|w|/127) behind a DequantizeLinear whose scales
// are off by a factor in [0.5, 1.5] each; it returns the right scales too.
// fc1 is first scaled by 1/20 and fc2's weight by 20, which leaves the
// function as it was (Relu is positively homogeneous) and gives fc1 weights
// and scales below the learning rate (about 3e-4; LeNet's int8 scales are
// 3e-3 to 6e-3), where absolute steps overshoot.
func quantizedMLP(seed uint64) (*graph.Model, []float64) {
	m := mlp(seed, false)
	g := m.Graph
	var w *graph.Value
	for _, v := range g.Initializers {
		factor := map[string]float32{"fc1.w": 1.0 / 20, "fc1.b": 1.0 / 20, "fc2.w": 20}[v.Name]
		if factor == 0 {
			continue
		}
		x, _ := v.Const.Float32s()
		for i := range x {
			x[i] *= factor
		}
		v.Const = graph.NewFloat32(v.Name, v.Const.Dims, x)
		if v.Name == "fc1.w" {
			w = v
		}
	}
	values, _ := w.Const.Float32s()
	const rows, cols = 16, 8
	codes := make([]byte, len(values))
	right, wrong := make([]float64, rows), make([]float32, rows)
	rng := rand.New(rand.NewPCG(seed, 2))
	for r := 0; r < rows; r++ {
		peak := 0.0
		for _, x := range values[r*cols : (r+1)*cols] {
			peak = max(peak, math.Abs(float64(x)))
		}
		right[r] = peak / 127
		for c := 0; c < cols; c++ {
			codes[r*cols+c] = byte(int8(math.RoundToEven(float64(values[r*cols+c]) / right[r])))
		}
		wrong[r] = float32(right[r] * (0.5 + rng.Float64()))
	}
	b := graph.NewBuilder(g)
	q := b.Const("fc1.w_q", &graph.Tensor{DType: graph.Int8, Dims: []int64{rows, cols}, Raw: codes})
	s := b.Const("fc1.w_scale", graph.NewFloat32("fc1.w_scale", []int64{rows}, wrong))
	dqNode := b.Node("DequantizeLinear", "fc1.dq", []*graph.Value{q, s}, 1, graph.IntAttr("axis", 0))
	dqNode.DocString = "onnxcompress: replaces fc1's weight by int8 codes (test)"
	dq := dqNode.Outputs[0]
	for _, n := range g.Nodes {
		if n.Name == "fc1" {
			n.Inputs[1] = dq
		}
	}
	// The DequantizeLinear must run before fc1.
	last := g.Nodes[len(g.Nodes)-1]
	g.Nodes = append([]*graph.Node{last}, g.Nodes[:len(g.Nodes)-1]...)
	g.Initializers = slices.DeleteFunc(g.Initializers, func(v *graph.Value) bool { return v == w })
	return m, right
}

// Fine-tuning a quantized layer trains its scales (at a learning rate
// relative to their size) and leaves its integer codes alone: with only the
// scales trainable, scales that start off by up to 50% move back to the
// ones the codes were made with, and agreement with the float teacher
// rises.
func TestRunTrainsQuantizationScales(t *testing.T) {
	teacher := mlp(1, false)
	student, right := quantizedMLP(1)
	scaleError := func() float64 {
		for _, v := range student.Graph.Initializers {
			if v.Name == "fc1.w_scale" {
				s, _ := v.Const.Float64s()
				e := 0.0
				for r, x := range s {
					e += math.Abs(math.Log(x / right[r]))
				}
				return e / float64(len(s))
			}
		}
		t.Fatal("no fc1.w_scale")
		return 0
	}
	codes := func() []byte {
		for _, v := range student.Graph.Initializers {
			if v.Name == "fc1.w_q" {
				return slices.Clone(v.Const.Raw)
			}
		}
		t.Fatal("no fc1.w_q")
		return nil
	}
	before, codesBefore := scaleError(), codes()
	res, err := finetune.Run(context.Background(), student, teacher, unlabelled(4000), nil, finetune.Options{
		Epochs: 10, Batch: 32, Train: "factors", Seed: 5, Threads: 1, Distillation: finetune.Distillation{Alpha: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := scaleError()
	t.Logf("mean |log(scale/right)|: %.3f → %.3f; hold-out agreement %.3f (epoch %d)", before, after, res.Best.Holdout.Accuracy, res.Best.Epoch)
	if !(after <= before/3) { // NaN: a scale crossed zero
		t.Errorf("scales barely moved back: mean |log(scale/right)| %.3f → %.3f", before, after)
	}
	if res.Best.Epoch == 0 {
		t.Error("no epoch beat the starting weights")
	}
	if !slices.Equal(codes(), codesBefore) {
		t.Error("the int8 codes changed")
	}
}
