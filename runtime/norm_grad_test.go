package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// BatchNormalization with the stored statistics (frozen) and with batch
// statistics (training), on 4-D and 2-D inputs; the running mean and
// variance are constants here (their update is checked below).
func TestGradBatchNormalization(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	params := func() []*Tensor {
		return []*Tensor{randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3), positive(rng, 3)}
	}
	for _, training := range []bool{false, true} {
		for _, x := range [][]int{{4, 3, 2, 2}, {5, 3}} {
			t.Run(fmt.Sprintf("training=%v-%v", training, x), func(t *testing.T) {
				ins := append([]*Tensor{randTensor(rng, x...)}, params()...)
				checkGrad(t, gradCase{op: "BatchNormalization", ins: ins, frozen: []int{3, 4},
					attrs: []*graph.Attr{graph.FloatAttr("epsilon", 1e-3)}, opts: TrainOptions{BatchNormTraining: training}})
			})
		}
	}
}

// with the unbiased batch variance, computed here directly from the data.
func TestBatchNormTrainingUpdatesRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := randTensor(rng, 5, 2, 3, 1)
	mean0 := []float32{0.1, -0.2}
	var0 := []float32{1.5, 0.7}
	gc := gradCase{op: "BatchNormalization", frozen: []int{3, 4}, attrs: []*graph.Attr{graph.FloatAttr("momentum", 0.8)},
		ins: []*Tensor{x, randTensor(rng, 2), randTensor(rng, 2), NewFloat32Tensor([]int{2}, slices.Clone(mean0)), NewFloat32Tensor([]int{2}, slices.Clone(var0))}}
	m, feeds, _ := gc.model()
	tape, err := NewTape(m, TrainOptions{BatchNormTraining: true, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tape.Forward(feeds); err != nil {
		t.Fatal(err)
	}
	for ci := 0; ci < 2; ci++ {
		var vals []float64
		for b := 0; b < 5; b++ {
			for i := 0; i < 3; i++ {
				vals = append(vals, float64(x.F32[(b*2+ci)*3+i]))
			}
		}
		mu, ss := 0.0, 0.0
		for _, v := range vals {
			mu += v / float64(len(vals))
		}
		for _, v := range vals {
			ss += (v - mu) * (v - mu)
		}
		wantMean := 0.8*float64(mean0[ci]) + 0.2*mu
		wantVar := 0.8*float64(var0[ci]) + 0.2*ss/float64(len(vals)-1)
		if got := tape.Param("c3").F32[ci]; math.Abs(float64(got)-wantMean) > 1e-6 {
			t.Errorf("running mean[%d] = %g, want %g", ci, got, wantMean)
		}
		if got := tape.Param("c4").F32[ci]; math.Abs(float64(got)-wantVar) > 1e-6 {
			t.Errorf("running var[%d] = %g, want %g", ci, got, wantVar)
		}
	}
}
