package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestGradPad(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	r := func(shape ...int) *Tensor { return randTensor(rng, shape...) }
	checkGradCases(t, []namedGradCase{
		{"constant", gradCase{op: "Pad", ins: []*Tensor{r(2, 3), i64s(1, 0, 2, 1), NewFloat32Tensor(nil, []float32{0.5})}, frozen: []int{2}}},
		{"constant-default-value", gradCase{op: "Pad", ins: []*Tensor{r(1, 2, 3), i64s(0, 1, 0, 0, 0, 2)}}},
		{"reflect", gradCase{op: "Pad", ins: []*Tensor{r(3, 4), i64s(1, 2, 1, 2)}, attrs: []*graph.Attr{graph.StringAttr("mode", "reflect")}}},
		{"edge", gradCase{op: "Pad", ins: []*Tensor{r(1, 2, 3), i64s(0, 0, 2, 0, 1, 1)}, attrs: []*graph.Attr{graph.StringAttr("mode", "edge")}}},
		{"opset2-attributes", gradCase{op: "Pad", opset: 2, ins: []*Tensor{r(2, 3)}, attrs: []*graph.Attr{graph.IntsAttr("pads", 0, 1, 1, 2), graph.FloatAttr("value", -1)}}},
	})
}
