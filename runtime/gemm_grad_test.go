package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

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
	t.Run("defaults", func(t *testing.T) {
		checkGrad(t, gradCase{op: "Gemm", ins: []*Tensor{randTensor(rng, 2, 3), randTensor(rng, 3, 4), randTensor(rng, 4)}})
	})
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
