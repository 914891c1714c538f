package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkBinaryGrad checks op on equal shapes and on every kind of
// broadcasting: a trailing column, both sides, a scalar, a leading axis.
func checkBinaryGrad(t *testing.T, op string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 8))
	for _, shapes := range [][2][]int{{{2, 3}, {2, 3}}, {{2, 3, 4}, {3, 1}}, {{1, 4}, {3, 1}}, {{2, 3}, {}}, {{3}, {2, 2, 3}}} {
		t.Run(fmt.Sprint(shapes), func(t *testing.T) {
			a, b := randTensor(rng, shapes[0]...), randTensor(rng, shapes[1]...)
			if op == "Div" {
				b = NewFloat32Tensor(shapes[1], awayFrom(rng, shapeSize(shapes[1]), 1, 0))
			}
			checkGrad(t, gradCase{op: op, ins: []*Tensor{a, b}})
		})
	}
}

func TestGradAdd(t *testing.T) { checkBinaryGrad(t, "Add", 1) }
func TestGradSub(t *testing.T) { checkBinaryGrad(t, "Sub", 2) }
func TestGradMul(t *testing.T) { checkBinaryGrad(t, "Mul", 3) }
func TestGradDiv(t *testing.T) { checkBinaryGrad(t, "Div", 4) }

func TestGradPow(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	checkGradCases(t, []namedGradCase{
		{"square", gradCase{op: "Pow", ins: []*Tensor{randTensor(rng, 3, 4), NewFloat32Tensor(nil, []float32{2})}, frozen: []int{1}}},
		{"both", gradCase{op: "Pow", ins: []*Tensor{positive(rng, 3, 4), randTensor(rng, 4)}}},
	})
}

// positive returns values in [0.5, ∞), away from Sqrt's and Pow's poles.
func positive(rng *rand.Rand, shape ...int) *Tensor {
	x := randTensor(rng, shape...)
	for i := range x.F32 {
		x.F32[i] = 0.5 + x.F32[i]*x.F32[i]
	}
	return x
}
