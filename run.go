package onnxcompress

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// RunOptions tune Run and Bench.
type RunOptions struct {
	// Threads bounds the worker threads (0: one per core).
	Threads int
}

// Run runs m once in this project's runtime and returns its outputs in the
// graph's order, each named after its output. Inputs are keyed by name.
func Run(ctx context.Context, m *Model, inputs map[string]*Tensor, opts RunOptions) ([]*Tensor, error) {
	s, err := runtime.NewSession(m, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return nil, err
	}
	in := map[string]*runtime.Tensor{}
	for name, t := range inputs {
		rt, err := runtime.FromGraph(t)
		if err != nil {
			return nil, badInput(fmt.Errorf("input %s: %w", name, err))
		}
		in[name] = rt
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.Run(in)
	if err != nil {
		return nil, err
	}
	var res []*Tensor
	for _, name := range s.OutputNames() {
		t, err := out[name].ToGraph(name)
		if err != nil {
			return nil, err
		}
		res = append(res, t)
	}
	return res, nil
}

// RunOnce is Run without a context or options, its outputs keyed by name.
func RunOnce(m *Model, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	out, err := Run(context.Background(), m, inputs, RunOptions{})
	if err != nil {
		return nil, err
	}
	res := map[string]*Tensor{}
	for _, t := range out {
		res[t.Name] = t
	}
	return res, nil
}

// BenchOptions say what Bench times.
type BenchOptions struct {
	RunOptions
	// InputShapes of the random inputs (completed as InputShapes does).
	InputShapes map[string]Shape
	// Iters is the number of timed runs [20], after Warmup untimed ones [3].
	Iters, Warmup int
	// Seed of the random inputs.
	Seed uint64
	// Progress, when set, is called after each timed run.
	Progress func(done, total int)
}

// BenchResult is the median latency of a run and the throughput it gives.
type BenchResult struct {
	Backend       string  `json:"backend"`
	Threads       int     `json:"threads"`
	Batch         int64   `json:"batch"`
	Iters         int     `json:"iters"`
	MedianSeconds float64 `json:"median_seconds"`
	ItemsPerSec   float64 `json:"items_per_second"`
}

// Bench times m in this project's runtime on one random input batch.
func Bench(ctx context.Context, m *Model, opts BenchOptions) (*BenchResult, error) {
	if opts.Iters == 0 {
		opts.Iters = 20
	}
	if opts.Warmup == 0 {
		opts.Warmup = 3
	}
	if opts.Iters < 1 || opts.Warmup < 0 {
		return nil, badInput(fmt.Errorf("bench: %d runs after %d warm-up runs: want at least one", opts.Iters, opts.Warmup))
	}
	shapes, err := InputShapes(m, opts.InputShapes)
	if err != nil {
		return nil, badInput(err)
	}
	inputs, err := rewrite.RandomProbe(m, shapes, opts.Seed)
	if err != nil {
		return nil, badInput(err)
	}
	s, err := runtime.NewSession(m, runtime.Options{Threads: opts.Threads})
	if err != nil {
		return nil, err
	}
	for i := 0; i < opts.Warmup; i++ {
		if _, err := s.Run(inputs); err != nil {
			return nil, err
		}
	}
	times := make([]float64, opts.Iters)
	for i := range times {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := s.Run(inputs); err != nil {
			return nil, err
		}
		times[i] = time.Since(start).Seconds()
		if opts.Progress != nil {
			opts.Progress(i+1, opts.Iters)
		}
	}
	sort.Float64s(times)
	median := times[len(times)/2]
	batch := int64(1)
	for _, name := range s.InputNames() {
		if sh := shapes[name]; len(sh) > 0 {
			batch = sh[0].Value
			break
		}
	}
	return &BenchResult{Backend: s.BackendName(), Threads: opts.Threads, Batch: batch, Iters: opts.Iters,
		MedianSeconds: median, ItemsPerSec: float64(batch) / median}, nil
}
