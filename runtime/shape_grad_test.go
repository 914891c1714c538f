package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func i64s(v ...int64) *Tensor { return NewInt64Tensor([]int{len(v)}, v) }

func TestGradFlatten(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	checkGradCases(t, []namedGradCase{
		{"axis2", gradCase{op: "Flatten", ins: []*Tensor{randTensor(rng, 2, 3, 2)}, attrs: []*graph.Attr{graph.IntAttr("axis", 2)}}},
		{"default", gradCase{op: "Flatten", ins: []*Tensor{randTensor(rng, 2, 3, 2)}}},
		{"axis0", gradCase{op: "Flatten", ins: []*Tensor{randTensor(rng, 2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", 0)}}},
	})
}

func TestGradReshape(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	checkGradCases(t, []namedGradCase{
		{"infer", gradCase{op: "Reshape", ins: []*Tensor{randTensor(rng, 2, 3, 4), i64s(4, -1)}}},
		{"copy-dim", gradCase{op: "Reshape", ins: []*Tensor{randTensor(rng, 2, 3, 4), i64s(0, 12)}}},
	})
}

func TestGradTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 3))
	checkGradCases(t, []namedGradCase{
		{"perm", gradCase{op: "Transpose", ins: []*Tensor{randTensor(rng, 2, 3, 4)}, attrs: []*graph.Attr{graph.IntsAttr("perm", 1, 2, 0)}}},
		{"default", gradCase{op: "Transpose", ins: []*Tensor{randTensor(rng, 2, 3)}}},
	})
}

func TestGradConcat(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	r := func(shape ...int) *Tensor { return randTensor(rng, shape...) }
	checkGradCases(t, []namedGradCase{
		{"axis1", gradCase{op: "Concat", ins: []*Tensor{r(2, 1, 3), r(2, 3, 3), r(2, 2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", 1)}}},
		{"last", gradCase{op: "Concat", ins: []*Tensor{r(2, 2), r(2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", -1)}}},
	})
}

func TestGradSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 5))
	checkGradCases(t, []namedGradCase{
		{"axes-steps", gradCase{op: "Slice", ins: []*Tensor{randTensor(rng, 4, 5), i64s(1, 0), i64s(3, 5), i64s(0, 1), i64s(1, 2)}}},
		{"negative-step", gradCase{op: "Slice", ins: []*Tensor{randTensor(rng, 4, 5), i64s(-1), i64s(-6), i64s(1), i64s(-2)}}},
		{"default-axes", gradCase{op: "Slice", ins: []*Tensor{randTensor(rng, 4, 5), i64s(1, -4), i64s(math.MaxInt64, 4)}}},
	})
}

func TestGradSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 6))
	checkGradCases(t, []namedGradCase{
		{"sizes-input", gradCase{op: "Split", ins: []*Tensor{randTensor(rng, 2, 5), i64s(2, 3)}, attrs: []*graph.Attr{graph.IntAttr("axis", 1)}, nOut: 2}},
		{"equal", gradCase{op: "Split", ins: []*Tensor{randTensor(rng, 6, 2)}, nOut: 3}},
		{"opset11-attribute", gradCase{op: "Split", opset: 11, ins: []*Tensor{randTensor(rng, 2, 5)}, attrs: []*graph.Attr{graph.IntAttr("axis", -1), graph.IntsAttr("split", 1, 4)}, nOut: 2}},
	})
}

func TestGradExpand(t *testing.T) {
	checkGrad(t, gradCase{op: "Expand", ins: []*Tensor{randTensor(rand.New(rand.NewPCG(15, 7)), 3, 1), i64s(2, 3, 4)}})
}

func TestGradSqueeze(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 8))
	checkGradCases(t, []namedGradCase{
		{"axes", gradCase{op: "Squeeze", ins: []*Tensor{randTensor(rng, 2, 1, 3), i64s(1)}}},
		{"all", gradCase{op: "Squeeze", ins: []*Tensor{randTensor(rng, 1, 3, 1)}}},
	})
}

func TestGradUnsqueeze(t *testing.T) {
	checkGrad(t, gradCase{op: "Unsqueeze", ins: []*Tensor{randTensor(rand.New(rand.NewPCG(15, 9)), 2, 3), i64s(0, -1)}})
}

// Inference-mode Dropout is the identity.
func TestGradDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 10))
	checkGradCases(t, []namedGradCase{
		{"default", gradCase{op: "Dropout", ins: []*Tensor{randTensor(rng, 3, 4)}}},
		{"ratio", gradCase{op: "Dropout", ins: []*Tensor{randTensor(rng, 3, 4), NewFloat32Tensor(nil, []float32{0.3})}, frozen: []int{1}}},
	})
}

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
