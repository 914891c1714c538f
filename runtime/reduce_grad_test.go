package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestGradReduceMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 1))
	checkGradCases(t, []namedGradCase{
		{"axes", gradCase{op: "ReduceMean", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3, 4)}, attrs: []*graph.Attr{graph.IntsAttr("axes", -1)}}},
		{"all-nokeep", gradCase{op: "ReduceMean", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3)}, attrs: []*graph.Attr{graph.IntAttr("keepdims", 0)}}},
		{"opset18-axes-input", gradCase{op: "ReduceMean", opset: 18, ins: []*Tensor{randTensor(rng, 2, 3, 4), i64s(0, 2)}}},
	})
}

func TestGradReduceSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 2))
	checkGradCases(t, []namedGradCase{
		{"axes-nokeep", gradCase{op: "ReduceSum", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3, 4), i64s(1)}, attrs: []*graph.Attr{graph.IntAttr("keepdims", 0)}}},
		{"all", gradCase{op: "ReduceSum", opset: 13, ins: []*Tensor{randTensor(rng, 2, 3)}}},
	})
}
