package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
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
	opts.Threads, opts.InputGrads = 2, true
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
		x := feeds[name].F32
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
			t.Errorf("%s input %s: gradient off by %.3g relative L2\n analytic %v\n numeric  %v", gc.op, name, rel, head(got), head(num))
			continue
		}
		for i := range num {
			if math.Abs(got[i]-num[i]) > 2e-2*peak {
				t.Errorf("%s input %s[%d]: analytic %g, numeric %g", gc.op, name, i, got[i], num[i])
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
