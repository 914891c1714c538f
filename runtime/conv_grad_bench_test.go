package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// BenchmarkConvGrad times Conv forward and backward (dX, dW, dB) on the
// layer shapes of ResNet-20 on Fashion-MNIST at batch 64, one thread:
//
//	go test ./runtime -run '^$' -bench ConvGrad -benchtime 10x
func BenchmarkConvGrad(b *testing.B) {
	pad1 := graph.IntsAttr("pads", 1, 1, 1, 1)
	s2 := graph.IntsAttr("strides", 2, 2)
	cases := []struct {
		name  string
		x, w  []int
		attrs []*graph.Attr
	}{
		{"3x3_1to16x28", []int{64, 1, 28, 28}, []int{16, 1, 3, 3}, []*graph.Attr{pad1}},
		{"3x3_16x28", []int{64, 16, 28, 28}, []int{16, 16, 3, 3}, []*graph.Attr{pad1}},
		{"3x3_32x14", []int{64, 32, 14, 14}, []int{32, 32, 3, 3}, []*graph.Attr{pad1}},
		{"3x3_64x7", []int{64, 64, 7, 7}, []int{64, 64, 3, 3}, []*graph.Attr{pad1}},
		{"3x3_s2_16x28", []int{64, 16, 28, 28}, []int{32, 16, 3, 3}, []*graph.Attr{pad1, s2}},
		{"3x3_s2_32x14", []int{64, 32, 14, 14}, []int{64, 32, 3, 3}, []*graph.Attr{pad1, s2}},
		{"1x1_s2_16x28", []int{64, 16, 28, 28}, []int{32, 16, 1, 1}, []*graph.Attr{s2}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchBackends(b, func(b *testing.B, backend string) {
				rng := rand.New(rand.NewPCG(1, 2))
				g := &graph.Graph{Name: "bench"}
				bl := graph.NewBuilder(g)
				feeds := map[string]*Tensor{}
				var ins []*graph.Value
				for i, shape := range [][]int{tc.x, tc.w, tc.w[:1]} {
					dims := make([]int64, len(shape))
					for k, d := range shape {
						dims[k] = int64(d)
					}
					v := bl.Input(fmt.Sprintf("x%d", i), graph.Float32, graph.KnownShape(dims...))
					feeds[v.Name] = randTensor(rng, shape...)
					ins = append(ins, v)
				}
				// A scalar output, so the tape hands back no large tensor.
				bl.Output(bl.Op("ReduceSum", "sum", []*graph.Value{bl.Op("Conv", "conv", ins, tc.attrs...)}, graph.IntAttr("keepdims", 0)))
				m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
				tape, err := NewTape(m, TrainOptions{Threads: 1, Backend: backend, InputGrads: true})
				if err != nil {
					b.Fatal(err)
				}
				dy := map[string]*Tensor{tape.OutputNames()[0]: NewFloat32Tensor(nil, []float32{1})}
				step := func() {
					if _, err := tape.Forward(feeds); err != nil {
						b.Fatal(err)
					}
					if err := tape.Backward(dy); err != nil {
						b.Fatal(err)
					}
				}
				step()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					step()
				}
				b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op")
			})
		})
	}
}
