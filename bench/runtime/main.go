// Command runtime-bench times the onnxcompress runtime on one ONNX model and,
// with -ort, ONNX Runtime (onnxruntime-node) on the same model and input,
// both with the same number of intra-op threads, and prints the latency
// ratio ours/ORT. With -kernels it also reports the GFLOP/s of a standalone
// convolution and of a large sgemm through the runtime.
//
//	go run ./bench/runtime -model m.onnx -shape 64,1,28,28 -threads 1 -ort
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
)

func main() {
	model := flag.String("model", "", "ONNX model to time")
	shape := flag.String("shape", "", "input shape, e.g. 1,3,224,224 (default: the declared shape)")
	iters := flag.Int("iters", 20, "timed runs (median reported)")
	threads := flag.Int("threads", 1, "intra-op threads for both runtimes")
	backend := flag.String("backend", "", "runtime backend: go, openblas, or automatic")
	ort := flag.Bool("ort", false, "also time ONNX Runtime and print the ratio")
	kernels := flag.Bool("kernels", false, "report conv and sgemm GFLOP/s")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	goruntime.GOMAXPROCS(max(1, *threads))
	if err := run(*model, *shape, *iters, *threads, *backend, *ort, *kernels); err != nil {
		fmt.Fprintln(os.Stderr, "runtime-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(modelPath, shapeFlag string, iters, threads int, backend string, withORT, kernels bool) error {
	opts := runtime.Options{Threads: threads, Backend: backend}
	if kernels {
		return kernelRates(opts, iters)
	}
	if modelPath == "" {
		return fmt.Errorf("-model is required")
	}
	m, err := onnx.Read(modelPath)
	if err != nil {
		return err
	}
	s, err := runtime.NewSession(m, opts)
	if err != nil {
		return err
	}
	inputs, err := makeInputs(m, shapeFlag)
	if err != nil {
		return err
	}
	feeds := map[string]*runtime.Tensor{}
	for name, t := range inputs {
		if feeds[name], err = runtime.FromGraph(t); err != nil {
			return err
		}
	}
	ours, err := median(iters, func() error { _, err := s.Run(feeds); return err })
	if err != nil {
		return err
	}
	fmt.Printf("model=%s shape=%s threads=%d backend=%s ours_ms=%.3f", modelPath, shapeFlag, threads, s.BackendName(), ours*1e3)
	if withORT {
		ortSec, err := reference.BenchORT(modelPath, inputs, threads, iters)
		if err != nil {
			return err
		}
		fmt.Printf(" ort_ms=%.3f ratio=%.2f", ortSec*1e3, ours/ortSec)
	}
	fmt.Println()
	return nil
}

// makeInputs draws seeded normal inputs for every graph input that is not an
// initializer; shapeFlag overrides the declared shape of the first one.
func makeInputs(m *graph.Model, shapeFlag string) (map[string]*graph.Tensor, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	out := map[string]*graph.Tensor{}
	first := true
	for _, v := range m.Graph.Inputs {
		if v.IsConst() {
			continue
		}
		var dims []int64
		if first && shapeFlag != "" {
			for _, f := range strings.Split(shapeFlag, ",") {
				d, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("-shape %q: %v", shapeFlag, err)
				}
				dims = append(dims, d)
			}
		} else {
			var ok bool
			if dims, ok = v.Type.Shape.Ints(); !ok {
				return nil, fmt.Errorf("input %q has shape %v: give -shape", v.Name, v.Type.Shape)
			}
		}
		first = false
		n, err := graph.NumElements(dims)
		if err != nil {
			return nil, err
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		out[v.Name] = graph.NewFloat32(v.Name, dims, data)
	}
	return out, nil
}

// median runs f twice to warm up, then iters times, and returns the median
// wall time in seconds.
func median(iters int, f func() error) (float64, error) {
	for i := 0; i < 2; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	times := make([]float64, iters)
	for i := range times {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		times[i] = time.Since(start).Seconds()
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// kernelRates times ResNet-18's stage-1 3×3 convolution (64→64 channels,
// 56×56) and a 1024³ Gemm through one-node sessions.
func kernelRates(opts runtime.Options, iters int) error {
	rng := rand.New(rand.NewPCG(2, 2))
	randT := func(dims ...int64) *graph.Tensor {
		n, _ := graph.NumElements(dims)
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return graph.NewFloat32("", dims, d)
	}
	type job struct {
		name  string
		op    string
		flops float64
		x     []int64
		w     *graph.Tensor
		attrs []*graph.Attr
	}
	jobs := []job{
		{"conv3x3_64x56x56", "Conv", 2 * 64 * 64 * 9 * 56 * 56, []int64{1, 64, 56, 56}, randT(64, 64, 3, 3),
			[]*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1), graph.IntsAttr("kernel_shape", 3, 3)}},
		{"conv7x7_s2_3x224x224", "Conv", 2 * 3 * 64 * 49 * 112 * 112, []int64{1, 3, 224, 224}, randT(64, 3, 7, 7),
			[]*graph.Attr{graph.IntsAttr("pads", 3, 3, 3, 3), graph.IntsAttr("strides", 2, 2)}},
		{"sgemm_1024", "MatMul", 2 * 1024 * 1024 * 1024, []int64{1024, 1024}, randT(1024, 1024), nil},
	}
	for _, j := range jobs {
		g := &graph.Graph{Name: j.name}
		b := graph.NewBuilder(g)
		x := b.Input("x", graph.Float32, graph.KnownShape(j.x...))
		w := b.Const("w", j.w)
		b.Output(b.Op(j.op, j.name, []*graph.Value{x, w}, j.attrs...))
		s, err := runtime.NewSession(&graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}, opts)
		if err != nil {
			return err
		}
		in, err := runtime.FromGraph(randT(j.x...))
		if err != nil {
			return err
		}
		sec, err := median(iters, func() error { _, err := s.Run(map[string]*runtime.Tensor{"x": in}); return err })
		if err != nil {
			return err
		}
		fmt.Printf("kernel=%s backend=%s ms=%.3f gflops=%.1f\n", j.name, s.BackendName(), sec*1e3, j.flops/sec/1e9)
	}
	return nil
}
