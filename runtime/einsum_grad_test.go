package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

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
