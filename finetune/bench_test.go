package finetune_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// BenchmarkTrainingStep times one step (forward, cross-entropy, backward,
// SGD with momentum) on one thread, like bench/finetune/torch_onnx.py bench.
// $ONNXCOMPRESS_BENCH_MODEL (default: the bundled LeNet) and
// $ONNXCOMPRESS_BENCH_BATCH (default 64) choose the model and batch.
func BenchmarkTrainingStep(b *testing.B) {
	path := os.Getenv("ONNXCOMPRESS_BENCH_MODEL")
	if path == "" {
		path = bundledLeNet()
	}
	batch := 64
	if s := os.Getenv("ONNXCOMPRESS_BENCH_BATCH"); s != "" {
		var err error
		if batch, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	m, err := onnx.Read(path)
	if err != nil {
		b.Fatal(err)
	}
	names, err := finetune.TrainableNames(m, "all")
	if err != nil {
		b.Fatal(err)
	}
	tape, err := runtime.NewTape(m, runtime.TrainOptions{Trainable: names, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	in := graph.RealInputs(m.Graph)[0]
	shape := []int{batch}
	for _, d := range in.Type.Shape[1:] {
		shape = append(shape, int(d.Value))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*shapeSize(shape[1:]))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	input := map[string]*runtime.Tensor{in.Name: runtime.NewFloat32Tensor(shape, x)}
	opt := &finetune.SGD{Momentum: 0.9}
	params := make([]finetune.Param, len(names))
	step := func() {
		out, err := tape.Forward(input)
		if err != nil {
			b.Fatal(err)
		}
		logits := out[tape.OutputNames()[0]]
		labels := make([]int64, batch)
		for i := range labels {
			labels[i] = int64(i % logits.Shape[1])
		}
		_, grad, err := finetune.CrossEntropy(logits, labels)
		if err != nil {
			b.Fatal(err)
		}
		if err := tape.Backward(map[string]*runtime.Tensor{tape.OutputNames()[0]: grad}); err != nil {
			b.Fatal(err)
		}
		for i, n := range names {
			params[i] = finetune.Param{Name: n, Value: tape.Param(n).F32, Grad: tape.Grad(n).F32}
		}
		if err := opt.Step(params, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		step()
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		step()
	}
	// CPU time is steadier than wall time on a shared machine.
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
