// Command runtime-bench times the onnxcompress runtime on one ONNX model and,
// with -ort, ONNX Runtime (onnxruntime-node, through ort_bench.js) on the
// same model and input shape, both with the same number of intra-op threads,
// and prints the latency ratios ours/ORT in wall time and in CPU time. With -kernels it also reports the GFLOP/s of a standalone
// convolution and of a large sgemm through the runtime.
//
//	go run ./bench/runtime -model m.onnx -shape 64,1,28,28 -threads 1 -ort
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onnxcompress/onnxcompress/graph"
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
	wall, cpu, err := median(iters, func() error { _, err := s.Run(feeds); return err })
	if err != nil {
		return err
	}
	fmt.Printf("model=%s threads=%d backend=%s wall_ms=%.3f cpu_ms=%.3f", filepath.Base(modelPath), threads, s.BackendName(), wall*1e3, cpu*1e3)
	if withORT {
		name := sortedNames(inputs)[0]
		dims := inputs[name].Dims
		spec := name + "="
		for i, d := range dims {
			if i > 0 {
				spec += ","
			}
			spec += strconv.FormatInt(d, 10)
		}
		cmd := exec.Command("node", filepath.Join(scriptDir(), "ort_bench.js"), modelPath, spec, strconv.Itoa(threads), strconv.Itoa(iters))
		cmd.Stderr = os.Stderr
		outText, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("onnxruntime-node: %v", err)
		}
		var ort struct {
			Wall float64 `json:"wall_ms"`
			CPU  float64 `json:"cpu_ms"`
		}
		if err := json.Unmarshal(outText, &ort); err != nil {
			return fmt.Errorf("onnxruntime-node output %q: %v", outText, err)
		}
		fmt.Printf(" ort_wall_ms=%.3f ort_cpu_ms=%.3f ratio_wall=%.2f ratio_cpu=%.2f", ort.Wall, ort.CPU, wall*1e3/ort.Wall, cpu*1e3/ort.CPU)
	}
	fmt.Println()
	return nil
}

// scriptDir is this program's source folder, where ort_bench.js lives.
func scriptDir() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Dir(file)
}

func sortedNames(m map[string]*graph.Tensor) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
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
// wall time and the median process CPU time of one run, in seconds. On a
// machine shared with other work, CPU time is the steadier measure.
func median(iters int, f func() error) (wall, cpu float64, err error) {
	for i := 0; i < 2; i++ {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	walls, cpus := make([]float64, iters), make([]float64, iters)
	for i := range walls {
		start, c0 := time.Now(), cpuSeconds()
		if err := f(); err != nil {
			return 0, 0, err
		}
		walls[i], cpus[i] = time.Since(start).Seconds(), cpuSeconds()-c0
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return walls[iters/2], cpus[iters/2], nil
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
		// Only the shape leaves the session: no fresh output buffer per run.
		b.Output(b.Op("Shape", "sink", []*graph.Value{b.Op(j.op, j.name, []*graph.Value{x, w}, j.attrs...)}))
		s, err := runtime.NewSession(&graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}, opts)
		if err != nil {
			return err
		}
		in, err := runtime.FromGraph(randT(j.x...))
		if err != nil {
			return err
		}
		wall, cpu, err := median(iters, func() error { _, err := s.Run(map[string]*runtime.Tensor{"x": in}); return err })
		if err != nil {
			return err
		}
		fmt.Printf("kernel=%s backend=%s wall_ms=%.3f cpu_ms=%.3f gflops_wall=%.1f gflops_cpu=%.1f\n",
			j.name, s.BackendName(), wall*1e3, cpu*1e3, j.flops/wall/1e9, j.flops/cpu/1e9)
	}
	return nil
}
