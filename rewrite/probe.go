package rewrite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// RandomProbe draws standard-normal float inputs of the given concrete
// shapes from a seeded generator, in input-name order.
func RandomProbe(m *graph.Model, shapes map[string]graph.Shape, seed uint64) (map[string]*runtime.Tensor, error) {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	types := map[string]*graph.ValueType{}
	for _, in := range graph.RealInputs(m.Graph) {
		types[in.Name] = in.Type
	}
	rng := rand.New(rand.NewPCG(seed, 0x70726f6265))
	out := map[string]*runtime.Tensor{}
	for _, name := range names {
		if t := types[name]; t != nil && t.Elem != graph.Float32 && t.Elem != graph.Undefined {
			return nil, fmt.Errorf("input %q is %s: random probes only feed float32 inputs", name, t.Elem)
		}
		dims, ok := shapes[name].Ints()
		if !ok {
			return nil, fmt.Errorf("input %q: shape %v is not concrete", name, shapes[name])
		}
		shape := make([]int, len(dims))
		n := 1
		for i, d := range dims {
			shape[i] = int(d)
			n *= int(d)
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		out[name] = runtime.NewFloat32Tensor(shape, data)
	}
	return out, nil
}

// MeasureOutputErrors runs the original and the compressed model on the same
// inputs with this project's runtime. It fills each rewritten layer's
// OutputError with the relative L2 error of that layer's output (rewrites
// keep output value names, so the two models can be compared there; errors
// of earlier layers accumulate into later ones, as they do in use), and
// returns the worst relative L2 error over the model outputs.
func MeasureOutputErrors(orig, compressed *graph.Model, rep *Report, inputs map[string]*runtime.Tensor, threads int) (float64, error) {
	var watch []string
	for _, l := range rep.Rewritten() {
		if l.Output != "" {
			watch = append(watch, l.Output)
		}
	}
	want, err := runWatching(orig, watch, inputs, threads)
	if err != nil {
		return 0, fmt.Errorf("running the original: %w", err)
	}
	got, err := runWatching(compressed, watch, inputs, threads)
	if err != nil {
		return 0, fmt.Errorf("running the compressed model: %w", err)
	}
	for _, l := range rep.Rewritten() {
		// A pruned layer's output has fewer channels: nothing to compare
		// there, only downstream where the shapes meet again.
		if w, g := want[l.Output], got[l.Output]; w != nil && g != nil && equalShape(w.Shape, g.Shape) {
			e := relL2(g.F32, w.F32)
			l.OutputError = &e
		}
	}
	worst := 0.0
	for _, v := range orig.Graph.Outputs {
		w, g := want[v.Name], got[v.Name]
		if w == nil || g == nil || w.DType != graph.Float32 || !equalShape(w.Shape, g.Shape) {
			continue
		}
		worst = math.Max(worst, relL2(g.F32, w.F32))
	}
	return worst, nil
}

// runWatching runs m and also returns the named intermediate values (those
// m has; a name it lacks is left out).
func runWatching(m *graph.Model, watch []string, inputs map[string]*runtime.Tensor, threads int) (map[string]*runtime.Tensor, error) {
	idx := graph.NewIndex(m.Graph)
	var extra []string
	for _, name := range watch {
		if idx.ValueByName(name) != nil {
			extra = append(extra, name)
		}
	}
	s, err := runtime.NewSession(m, runtime.Options{Threads: threads, ExtraOutputs: extra})
	if err != nil {
		return nil, err
	}
	return s.Run(inputs)
}

func relL2(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
