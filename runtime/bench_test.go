package runtime

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
)

// Kernel benchmarks on ResNet-18 and LeNet-5 layer shapes, one thread:
//
//	go test ./runtime -run '^$' -bench . -benchtime 20x

func benchSession(b *testing.B, op string, xShape []int64, w *graph.Tensor, backend string, attrs ...*graph.Attr) (*Session, map[string]*Tensor) {
	g := &graph.Graph{Name: "bench"}
	bl := graph.NewBuilder(g)
	x := bl.Input("x", graph.Float32, graph.KnownShape(xShape...))
	wv := bl.Const("w", w)
	// Only the shape leaves the session, so the timing is not about handing
	// a fresh output buffer to the caller.
	bl.Output(bl.Op("Shape", "sink", []*graph.Value{bl.Op(op, op, []*graph.Value{x, wv}, attrs...)}))
	s, err := NewSession(&graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}, Options{Threads: 1, Backend: backend})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 1
	for _, d := range xShape {
		n *= int(d)
	}
	shape := make([]int, len(xShape))
	for i, d := range xShape {
		shape[i] = int(d)
	}
	return s, map[string]*Tensor{"x": NewFloat32Tensor(shape, randFloats(rng, n))}
}

func randWeights(dims ...int64) *graph.Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return graph.NewFloat32("w", dims, randFloats(rng, int(n)))
}

func benchBackends(b *testing.B, body func(b *testing.B, backend string)) {
	for _, be := range []string{"openblas", "go"} {
		if be == "openblas" {
			if _, err := loadOpenBLAS(); err != nil {
				continue
			}
		}
		b.Run(be, func(b *testing.B) { body(b, be) })
	}
}

func BenchmarkConv(b *testing.B) {
	cases := []struct {
		name  string
		x     []int64
		w     []int64
		attrs []*graph.Attr
	}{
		{"resnet_3x3_64x56", []int64{1, 64, 56, 56}, []int64{64, 64, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}},
		{"resnet_3x3_128x28", []int64{1, 128, 28, 28}, []int64{128, 128, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}},
		{"resnet_3x3_256x14", []int64{1, 256, 14, 14}, []int64{256, 256, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}},
		{"resnet_3x3_512x7", []int64{1, 512, 7, 7}, []int64{512, 512, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}},
		{"resnet_3x3_s2_64x56", []int64{1, 64, 56, 56}, []int64{128, 64, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1), graph.IntsAttr("strides", 2, 2)}},
		{"resnet_7x7_s2", []int64{1, 3, 224, 224}, []int64{64, 3, 7, 7}, []*graph.Attr{graph.IntsAttr("pads", 3, 3, 3, 3), graph.IntsAttr("strides", 2, 2)}},
		{"lenet_conv1_b64", []int64{64, 1, 28, 28}, []int64{6, 1, 5, 5}, []*graph.Attr{graph.IntsAttr("pads", 2, 2, 2, 2)}},
		{"lenet_conv2_b64", []int64{64, 6, 14, 14}, []int64{16, 6, 5, 5}, nil},
	}
	for _, tc := range cases {
		macs := tc.x[0] * tc.w[0] * tc.w[1] * tc.w[2] * tc.w[3]
		b.Run(tc.name, func(b *testing.B) {
			benchBackends(b, func(b *testing.B, be string) {
				s, in := benchSession(b, "Conv", tc.x, randWeights(tc.w...), be, tc.attrs...)
				if _, err := s.Run(in); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					if _, err := s.Run(in); err != nil {
						b.Fatal(err)
					}
				}
				cpu := cpuSeconds() - cpu0
				b.ReportMetric(cpu/float64(b.N)*1e3, "cpu-ms/op")
				out, _ := s.Run(in)
				outHW := out[s.OutputNames()[0]].I64[2] * out[s.OutputNames()[0]].I64[3]
				b.ReportMetric(float64(2*macs*outHW)*float64(b.N)/cpu/1e9, "GFLOP/s")
			})
		})
	}
}

func BenchmarkSgemm(b *testing.B) {
	for _, sz := range [][3]int{{64, 3136, 576}, {1024, 1024, 1024}} {
		m, n, k := sz[0], sz[1], sz[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			benchBackends(b, func(b *testing.B, name string) {
				be, err := newBackend(name, 1)
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(5, 6))
				x, y, z := randFloats(rng, m*k), randFloats(rng, k*n), make([]float32, m*n)
				b.ResetTimer()
				cpu0 := cpuSeconds()
				defer func() { b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op") }()
				for i := 0; i < b.N; i++ {
					be.Sgemm(false, false, m, n, k, 1, x, k, y, n, 0, z, n)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/(cpuSeconds()-cpu0)/1e9, "GFLOP/s")
			})
		})
	}
}

// BenchmarkLeNet5 runs the committed Fashion-MNIST LeNet-5 on a batch of 64.
func BenchmarkLeNet5(b *testing.B) {
	m, err := onnx.Read("../testmodels/fmnist/lenet5.onnx")
	if err != nil {
		b.Skip(err)
	}
	benchBackends(b, func(b *testing.B, be string) {
		s, err := NewSession(m, Options{Threads: 1, Backend: be})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(9, 9))
		in := map[string]*Tensor{s.InputNames()[0]: NewFloat32Tensor([]int{64, 1, 28, 28}, randFloats(rng, 64*28*28))}
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuSeconds()
		for i := 0; i < b.N; i++ {
			if _, err := s.Run(in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op")
	})
}

func BenchmarkMaxPoolLeNet(b *testing.B) {
	g := &graph.Graph{Name: "pool"}
	bl := graph.NewBuilder(g)
	x := bl.Input("x", graph.Float32, graph.KnownShape(64, 6, 28, 28))
	y := bl.Op("MaxPool", "pool", []*graph.Value{x}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
	bl.Output(bl.Op("ReduceMax", "sink", []*graph.Value{y}, graph.IntAttr("keepdims", 0)))
	s, err := NewSession(&graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	in := map[string]*Tensor{"x": NewFloat32Tensor([]int{64, 6, 28, 28}, randFloats(rng, 64*6*28*28))}
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuSeconds is the process's user+system CPU time: on a machine shared
// with other work it measures our cost better than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func BenchmarkResNet18(b *testing.B) {
	path := os.Getenv("RESNET18_ONNX")
	if path == "" {
		b.Skip("set RESNET18_ONNX to a torchvision resnet18 export")
	}
	m, err := onnx.Read(path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSession(m, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	in := map[string]*Tensor{s.InputNames()[0]: NewFloat32Tensor([]int{1, 3, 224, 224}, randFloats(rng, 3*224*224))}
	if _, err := s.Run(in); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op")
}
