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
// weights per output) with central differences of step h in float32
// forwards, accumulated in float64. The whole gradient must agree to 1e-2
// relative L2 and each element to 2e-2 of the gradient's largest entry: a
// transposed, missing or doubled term fails both.
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

func TestGradConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		x, w  []int
		attrs []*graph.Attr
		bias  bool
	}{
		{"plain", []int{2, 3, 5, 5}, []int{4, 3, 3, 3}, nil, true},
		{"pads-stride", []int{2, 2, 6, 5}, []int{3, 2, 3, 2}, []*graph.Attr{graph.IntsAttr("pads", 1, 0, 2, 1), graph.IntsAttr("strides", 2, 1)}, true},
		{"dilation", []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, []*graph.Attr{graph.IntsAttr("dilations", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, false},
		{"groups", []int{2, 4, 5, 5}, []int{6, 2, 3, 3}, []*graph.Attr{graph.IntAttr("group", 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, true},
		{"depthwise", []int{2, 3, 5, 5}, []int{3, 1, 3, 3}, []*graph.Attr{graph.IntAttr("group", 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, true},
		{"same-upper", []int{1, 2, 5, 6}, []int{3, 2, 2, 3}, []*graph.Attr{graph.StringAttr("auto_pad", "SAME_UPPER"), graph.IntsAttr("strides", 2, 2)}, true},
		{"1d", []int{2, 3, 9}, []int{4, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 2), graph.IntsAttr("strides", 2)}, true},
		{"pointwise", []int{2, 3, 4, 4}, []int{5, 3, 1, 1}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins := []*Tensor{randTensor(rng, tc.x...), randTensor(rng, tc.w...)}
			if tc.bias {
				ins = append(ins, randTensor(rng, tc.w[0]))
			}
			checkGrad(t, gradCase{op: "Conv", attrs: tc.attrs, ins: ins})
		})
	}
}

func TestGradGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			for _, cShape := range [][]int{{3, 4}, {4}, {3, 1}, {1}, nil} {
				name := fmt.Sprintf("tA%d-tB%d-C%v", ta, tb, cShape)
				t.Run(name, func(t *testing.T) {
					a := randTensor(rng, 3, 5)
					if ta == 1 {
						a = randTensor(rng, 5, 3)
					}
					b := randTensor(rng, 5, 4)
					if tb == 1 {
						b = randTensor(rng, 4, 5)
					}
					ins := []*Tensor{a, b}
					if cShape != nil {
						ins = append(ins, randTensor(rng, cShape...))
					}
					checkGrad(t, gradCase{op: "Gemm", ins: ins, attrs: []*graph.Attr{
						graph.IntAttr("transA", ta), graph.IntAttr("transB", tb),
						graph.FloatAttr("alpha", 0.7), graph.FloatAttr("beta", 1.3)}})
				})
			}
		}
	}
}

func TestGradMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, shapes := range [][2][]int{
		{{3, 4}, {4, 5}},
		{{2, 3, 4}, {4, 5}},
		{{2, 3, 4}, {2, 4, 5}},
		{{2, 1, 3, 4}, {3, 4, 2}},
		{{4}, {4, 5}},
		{{2, 3, 4}, {4}},
		{{3, 4}, {2, 4, 5}},
	} {
		t.Run(fmt.Sprint(shapes), func(t *testing.T) {
			checkGrad(t, gradCase{op: "MatMul", ins: []*Tensor{randTensor(rng, shapes[0]...), randTensor(rng, shapes[1]...)}})
		})
	}
}

func TestGradBinaryBroadcast(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, shapes := range [][2][]int{{{2, 3}, {2, 3}}, {{2, 3, 4}, {3, 1}}, {{1, 4}, {3, 1}}, {{2, 3}, {}}, {{3}, {2, 2, 3}}} {
			t.Run(fmt.Sprint(op, shapes), func(t *testing.T) {
				a, b := randTensor(rng, shapes[0]...), randTensor(rng, shapes[1]...)
				if op == "Div" {
					b = NewFloat32Tensor(shapes[1], awayFrom(rng, shapeSize(shapes[1]), 1, 0))
				}
				checkGrad(t, gradCase{op: op, ins: []*Tensor{a, b}})
			})
		}
	}
}

func TestGradActivations(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := func(kinks ...float64) *Tensor {
		return NewFloat32Tensor([]int{3, 5}, awayFrom(rng, 15, 0.05, kinks...))
	}
	scalar := func(v float32) *Tensor { return NewFloat32Tensor(nil, []float32{v}) }
	cases := []gradCase{
		{op: "Relu", ins: []*Tensor{x(0)}},
		{op: "Sigmoid", ins: []*Tensor{x()}},
		{op: "Tanh", ins: []*Tensor{NewFloat32Tensor([]int{3, 5}, awayFrom(rng, 15, 0, 0))}},
		{op: "HardSigmoid", ins: []*Tensor{x(-2.5, 2.5)}},
		{op: "HardSigmoid", ins: []*Tensor{x(-1, 1)}, attrs: []*graph.Attr{graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 0.5)}},
		{op: "HardSwish", ins: []*Tensor{x(-3, 3)}},
		{op: "LeakyRelu", ins: []*Tensor{x(0)}, attrs: []*graph.Attr{graph.FloatAttr("alpha", 0.1)}},
		{op: "Clip", ins: []*Tensor{x(-1, 2), scalar(-1), scalar(2)}, frozen: []int{1, 2}},
		{op: "Clip", ins: []*Tensor{x(0, 6), scalar(0), scalar(6)}, frozen: []int{1, 2}},
		{op: "Clip", opset: 6, ins: []*Tensor{x(-0.5, 1.5)}, attrs: []*graph.Attr{graph.FloatAttr("min", -0.5), graph.FloatAttr("max", 1.5)}},
		{op: "Clip", ins: []*Tensor{x(0.5), nil, scalar(0.5)}, frozen: []int{2}},
		{op: "Identity", ins: []*Tensor{x()}},
	}
	for _, gc := range cases {
		t.Run(gc.op, func(t *testing.T) { checkGrad(t, gc) })
	}
}

func TestGradSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, c := range []struct {
			opset int64
			axis  int64
		}{{13, -1}, {13, 1}, {13, 0}, {11, 1}, {11, 2}} {
			t.Run(fmt.Sprint(op, c), func(t *testing.T) {
				checkGrad(t, gradCase{op: op, opset: c.opset, ins: []*Tensor{randTensor(rng, 2, 3, 4)},
					attrs: []*graph.Attr{graph.IntAttr("axis", c.axis)}})
			})
		}
	}
}

func TestGradPooling(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := func(shape ...int) *Tensor { return NewFloat32Tensor(shape, distinct(rng, shapeSize(shape))) }
	cases := []struct {
		name string
		gc   gradCase
	}{
		{"max-2x2", gradCase{op: "MaxPool", ins: []*Tensor{x(2, 2, 6, 6)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2)}}},
		{"max-3x3-overlap-pads", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 2, 5, 6)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("strides", 2, 1), graph.IntsAttr("pads", 1, 1, 1, 1)}}},
		{"max-ceil-dilation", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 1, 7, 7)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("dilations", 2, 1), graph.IntAttr("ceil_mode", 1)}}},
		{"avg-2x2", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 2, 2, 6, 6)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2)}}},
		{"avg-pads-exclude", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 1, 2, 5, 5)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}}},
		{"avg-pads-include-ceil", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 1, 2, 6, 5)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 3, 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 0, 1, 1), graph.IntAttr("count_include_pad", 1), graph.IntAttr("ceil_mode", 1)}}},
		{"avg-1d", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 2, 3, 7)}, attrs: []*graph.Attr{graph.IntsAttr("kernel_shape", 3), graph.IntsAttr("strides", 2)}}},
		{"global-avg", gradCase{op: "GlobalAveragePool", ins: []*Tensor{randTensor(rng, 2, 3, 4, 5)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGrad(t, c.gc) })
	}
}

func TestGradMovement(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	r := func(shape ...int) *Tensor { return randTensor(rng, shape...) }
	i64 := func(v ...int64) *Tensor { return NewInt64Tensor([]int{len(v)}, v) }
	cases := []struct {
		name string
		gc   gradCase
	}{
		{"Flatten", gradCase{op: "Flatten", ins: []*Tensor{r(2, 3, 2)}, attrs: []*graph.Attr{graph.IntAttr("axis", 2)}}},
		{"Reshape", gradCase{op: "Reshape", ins: []*Tensor{r(2, 3, 4), i64(4, -1)}}},
		{"Transpose", gradCase{op: "Transpose", ins: []*Tensor{r(2, 3, 4)}, attrs: []*graph.Attr{graph.IntsAttr("perm", 1, 2, 0)}}},
		{"Transpose-default", gradCase{op: "Transpose", ins: []*Tensor{r(2, 3)}}},
		{"Concat", gradCase{op: "Concat", ins: []*Tensor{r(2, 1, 3), r(2, 3, 3), r(2, 2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", 1)}}},
		{"Concat-last", gradCase{op: "Concat", ins: []*Tensor{r(2, 2), r(2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", -1)}}},
		{"Slice", gradCase{op: "Slice", ins: []*Tensor{r(4, 5), i64(1, 0), i64(3, 5), i64(0, 1), i64(1, 2)}}},
		{"Slice-negative-step", gradCase{op: "Slice", ins: []*Tensor{r(4, 5), i64(-1), i64(-6), i64(1), i64(-2)}}},
		{"Split", gradCase{op: "Split", ins: []*Tensor{r(2, 5), i64(2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", 1)}, nOut: 2}},
		{"Split-equal", gradCase{op: "Split", ins: []*Tensor{r(6, 2)}, nOut: 3}},
		{"Pad-constant", gradCase{op: "Pad", ins: []*Tensor{r(2, 3), i64(1, 0, 2, 1), NewFloat32Tensor(nil, []float32{0.5})}, frozen: []int{2}}},
		{"Pad-reflect", gradCase{op: "Pad", ins: []*Tensor{r(3, 4), i64(1, 2, 1, 2)}, attrs: []*graph.Attr{graph.StringAttr("mode", "reflect")}}},
		{"Pad-edge", gradCase{op: "Pad", ins: []*Tensor{r(1, 2, 3), i64(0, 0, 2, 0, 1, 1)}, attrs: []*graph.Attr{graph.StringAttr("mode", "edge")}}},
		{"Expand", gradCase{op: "Expand", ins: []*Tensor{r(3, 1), i64(2, 3, 4)}}},
		{"Squeeze", gradCase{op: "Squeeze", ins: []*Tensor{r(2, 1, 3), i64(1)}}},
		{"Unsqueeze", gradCase{op: "Unsqueeze", ins: []*Tensor{r(2, 3), i64(0)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGrad(t, c.gc) })
	}
}

func TestGradEinsum(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct {
		eq     string
		shapes [][]int
	}{
		{"ij,jk->ik", [][]int{{3, 4}, {4, 5}}},
		{"bij,bjk->bik", [][]int{{2, 3, 4}, {2, 4, 2}}},
		{"nchw,oc->nohw", [][]int{{2, 3, 2, 2}, {4, 3}}},
		{"ij,kj", [][]int{{3, 4}, {2, 4}}},
		{"ij->ji", [][]int{{3, 4}}},
	} {
		t.Run(c.eq, func(t *testing.T) {
			var ins []*Tensor
			for _, s := range c.shapes {
				ins = append(ins, randTensor(rng, s...))
			}
			checkGrad(t, gradCase{op: "Einsum", ins: ins, attrs: []*graph.Attr{graph.StringAttr("equation", c.eq)}})
		})
	}
}

func TestGradBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	params := func() []*Tensor {
		v := randTensor(rng, 3)
		for i := range v.F32 {
			v.F32[i] = 0.5 + v.F32[i]*v.F32[i]
		}
		return []*Tensor{randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3), v}
	}
	for _, training := range []bool{false, true} {
		t.Run(fmt.Sprint("training=", training), func(t *testing.T) {
			ins := append([]*Tensor{randTensor(rng, 4, 3, 2, 2)}, params()...)
			checkGrad(t, gradCase{op: "BatchNormalization", ins: ins, frozen: []int{3, 4},
				attrs: []*graph.Attr{graph.FloatAttr("epsilon", 1e-3)}, opts: TrainOptions{BatchNormTraining: training}})
		})
	}
}

// The running statistics follow PyTorch's update: m·running + (1−m)·batch
// with the unbiased batch variance, computed here directly from the data.
func TestBatchNormTrainingUpdatesRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := randTensor(rng, 5, 2, 3, 1)
	mean0 := []float32{0.1, -0.2}
	var0 := []float32{1.5, 0.7}
	gc := gradCase{op: "BatchNormalization", frozen: []int{3, 4}, attrs: []*graph.Attr{graph.FloatAttr("momentum", 0.8)},
		ins: []*Tensor{x, randTensor(rng, 2), randTensor(rng, 2), NewFloat32Tensor([]int{2}, slicesClone(mean0)), NewFloat32Tensor([]int{2}, slicesClone(var0))}}
	m, feeds, _ := gc.model()
	tape, err := NewTape(m, TrainOptions{BatchNormTraining: true, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tape.Forward(feeds); err != nil {
		t.Fatal(err)
	}
	for ci := 0; ci < 2; ci++ {
		var vals []float64
		for b := 0; b < 5; b++ {
			for i := 0; i < 3; i++ {
				vals = append(vals, float64(x.F32[(b*2+ci)*3+i]))
			}
		}
		mu, ss := 0.0, 0.0
		for _, v := range vals {
			mu += v / float64(len(vals))
		}
		for _, v := range vals {
			ss += (v - mu) * (v - mu)
		}
		wantMean := 0.8*float64(mean0[ci]) + 0.2*mu
		wantVar := 0.8*float64(var0[ci]) + 0.2*ss/float64(len(vals)-1)
		if got := tape.Param("c3").F32[ci]; math.Abs(float64(got)-wantMean) > 1e-6 {
			t.Errorf("running mean[%d] = %g, want %g", ci, got, wantMean)
		}
		if got := tape.Param("c4").F32[ci]; math.Abs(float64(got)-wantVar) > 1e-6 {
			t.Errorf("running var[%d] = %g, want %g", ci, got, wantVar)
		}
	}
}

func slicesClone(v []float32) []float32 { return append([]float32(nil), v...) }

// Training-mode Dropout zeroes about ratio of the elements, scales the rest
// by 1/(1−ratio), and its backward applies the same mask.
func TestDropoutTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := randTensor(rng, 40, 50)
	gc := gradCase{op: "Dropout", ins: []*Tensor{x, NewFloat32Tensor(nil, []float32{0.25})}, frozen: []int{1}, nOut: 2}
	m, feeds, names := gc.model()
	tape, err := NewTape(m, TrainOptions{Dropout: true, InputGrads: true, Seed: 3, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tape.Forward(feeds)
	if err != nil {
		t.Fatal(err)
	}
	y, mask := out[tape.OutputNames()[0]], out[tape.OutputNames()[1]]
	dy := randTensor(rng, 40, 50)
	if err := tape.Backward(map[string]*Tensor{tape.OutputNames()[0]: dy}); err != nil {
		t.Fatal(err)
	}
	dx := tape.Grad(names[0])
	dropped := 0
	for i := range x.F32 {
		want, wantG := float32(0), float32(0)
		if mask.U8[i] != 0 {
			want, wantG = x.F32[i]/0.75, dy.F32[i]/0.75
		} else {
			dropped++
		}
		if math.Abs(float64(y.F32[i]-want)) > 1e-6 || math.Abs(float64(dx.F32[i]-wantG)) > 1e-6 {
			t.Fatalf("element %d: y %g dx %g, want %g and %g (mask %d)", i, y.F32[i], dx.F32[i], want, wantG, mask.U8[i])
		}
	}
	if frac := float64(dropped) / 2000; math.Abs(frac-0.25) > 0.04 {
		t.Errorf("dropped %.3f of the elements, want about 0.25", frac)
	}
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

func TestGradReductionsPowSqrt(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	positive := func(shape ...int) *Tensor {
		x := randTensor(rng, shape...)
		for i := range x.F32 {
			x.F32[i] = 0.5 + x.F32[i]*x.F32[i]
		}
		return x
	}
	i64 := func(v ...int64) *Tensor { return NewInt64Tensor([]int{len(v)}, v) }
	cases := []struct {
		name string
		gc   gradCase
	}{
		{"ReduceMean-axes", gradCase{op: "ReduceMean", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3, 4)}, attrs: []*graph.Attr{graph.IntsAttr("axes", -1)}}},
		{"ReduceMean-all-nokeep", gradCase{op: "ReduceMean", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3)}, attrs: []*graph.Attr{graph.IntAttr("keepdims", 0)}}},
		{"ReduceMean-18", gradCase{op: "ReduceMean", opset: 18, ins: []*Tensor{randTensor(rng, 2, 3, 4), i64(0, 2)}}},
		{"ReduceSum", gradCase{op: "ReduceSum", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3, 4), i64(1)}, attrs: []*graph.Attr{graph.IntAttr("keepdims", 0)}}},
		{"Pow-square", gradCase{op: "Pow", ins: []*Tensor{randTensor(rng, 3, 4), NewFloat32Tensor(nil, []float32{2})}, frozen: []int{1}}},
		{"Pow-both", gradCase{op: "Pow", ins: []*Tensor{positive(3, 4), randTensor(rng, 4)}}},
		{"Sqrt", gradCase{op: "Sqrt", ins: []*Tensor{positive(3, 4)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGrad(t, c.gc) })
	}
}
