package runtime

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Round passes its gradient straight through.
func TestRoundGradIsStraightThrough(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	gc := gradCase{op: "Round", ins: []*Tensor{randTensor(rng, 2, 5)}}
	m, feeds, _ := gc.model()
	tape, err := NewTape(m, TrainOptions{InputGrads: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tape.Forward(feeds)
	if err != nil {
		t.Fatal(err)
	}
	dy := randTensor(rng, 2, 5)
	for _, v := range out {
		if v.DType != graph.Float32 {
			t.Fatal("not float")
		}
	}
	if err := tape.Backward(map[string]*Tensor{tape.OutputNames()[0]: dy}); err != nil {
		t.Fatal(err)
	}
	if g := tape.Grad("x0").F32; !slices.Equal(g, dy.F32) {
		t.Errorf("gradient %v, want %v", g, dy.F32)
	}
}
