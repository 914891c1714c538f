package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestInstanceNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	checkGradCases(t, []namedGradCase{
		{"rank4", gradCase{op: "InstanceNormalization", attrs: []*graph.Attr{graph.FloatAttr("epsilon", 1e-3)},
			ins: []*Tensor{randTensor(rng, 2, 3, 4, 5), randTensor(rng, 3), randTensor(rng, 3)}}},
		{"rank3 frozen affine", gradCase{op: "InstanceNormalization",
			ins: []*Tensor{randTensor(rng, 3, 2, 7), randTensor(rng, 2), randTensor(rng, 2)}, frozen: []int{1, 2}}},
	})
}
