package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// kinked returns a [3, 5] input at least 0.05 away from every kink.
func kinked(rng *rand.Rand, kinks ...float64) *Tensor {
	return NewFloat32Tensor([]int{3, 5}, awayFrom(rng, 15, 0.05, kinks...))
}

func scalar(v float32) *Tensor { return NewFloat32Tensor(nil, []float32{v}) }

func TestGradRelu(t *testing.T) {
	checkGrad(t, gradCase{op: "Relu", ins: []*Tensor{kinked(rand.New(rand.NewPCG(9, 1)), 0)}})
}

func TestGradSigmoid(t *testing.T) {
	checkGrad(t, gradCase{op: "Sigmoid", ins: []*Tensor{kinked(rand.New(rand.NewPCG(9, 2)))}})
}

func TestGradTanh(t *testing.T) {
	checkGrad(t, gradCase{op: "Tanh", ins: []*Tensor{kinked(rand.New(rand.NewPCG(9, 3)))}})
}

func TestGradHardSigmoid(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	checkGradCases(t, []namedGradCase{
		{"defaults", gradCase{op: "HardSigmoid", ins: []*Tensor{kinked(rng, -2.5, 2.5)}}},
		{"alpha-beta", gradCase{op: "HardSigmoid", ins: []*Tensor{kinked(rng, -1, 1)}, attrs: []*graph.Attr{graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 0.5)}}},
	})
}

func TestGradHardSwish(t *testing.T) {
	checkGrad(t, gradCase{op: "HardSwish", ins: []*Tensor{kinked(rand.New(rand.NewPCG(9, 5)), -3, 3)}})
}

func TestGradLeakyRelu(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 6))
	checkGradCases(t, []namedGradCase{
		{"alpha", gradCase{op: "LeakyRelu", ins: []*Tensor{kinked(rng, 0)}, attrs: []*graph.Attr{graph.FloatAttr("alpha", 0.1)}}},
		{"default", gradCase{op: "LeakyRelu", ins: []*Tensor{kinked(rng, 0)}}},
	})
}

func TestGradClip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 7))
	checkGradCases(t, []namedGradCase{
		{"inputs", gradCase{op: "Clip", ins: []*Tensor{kinked(rng, -1, 2), scalar(-1), scalar(2)}, frozen: []int{1, 2}}},
		{"relu6", gradCase{op: "Clip", ins: []*Tensor{kinked(rng, 0, 6), scalar(0), scalar(6)}, frozen: []int{1, 2}}},
		{"opset6-attributes", gradCase{op: "Clip", opset: 6, ins: []*Tensor{kinked(rng, -0.5, 1.5)}, attrs: []*graph.Attr{graph.FloatAttr("min", -0.5), graph.FloatAttr("max", 1.5)}}},
		{"max-only", gradCase{op: "Clip", ins: []*Tensor{kinked(rng, 0.5), nil, scalar(0.5)}, frozen: []int{2}}},
		{"min-only", gradCase{op: "Clip", ins: []*Tensor{kinked(rng, -0.5), scalar(-0.5)}, frozen: []int{1}}},
	})
}

func TestGradIdentity(t *testing.T) {
	checkGrad(t, gradCase{op: "Identity", ins: []*Tensor{kinked(rand.New(rand.NewPCG(9, 8)))}})
}

func TestGradSqrt(t *testing.T) {
	checkGrad(t, gradCase{op: "Sqrt", ins: []*Tensor{positive(rand.New(rand.NewPCG(9, 9)), 3, 4)}})
}
