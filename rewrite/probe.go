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
	ref, err := recordReference(orig, watch, inputs, threads)
	if err != nil {
		return 0, err
	}
	return ref.MeasureOutputErrors(compressed, rep, threads)
}

// ProbeReference is what the original model computed on one probe input:
// its outputs and the outputs of every layer a rewrite may replace. Taken
// before Compress, it spares keeping a copy of the original model to run
// afterwards.
type ProbeReference struct {
	inputs  map[string]*runtime.Tensor
	outputs []string // the model outputs, in graph order
	values  map[string]*runtime.Tensor
}

// RecordReference runs m, before it is compressed with opts, on inputs and
// keeps its outputs and those of every Conv, Gemm and MatMul (and, when
// opts fold them, BatchNormalization: a folded Conv takes over its output).
func RecordReference(m *graph.Model, opts Options, inputs map[string]*runtime.Tensor, threads int) (*ProbeReference, error) {
	var watch []string
	for _, n := range m.Graph.Nodes {
		switch {
		case !n.IsDefaultDomain() || len(n.Outputs) != 1 || n.Outputs[0] == nil:
		case n.OpType == "Conv", n.OpType == "Gemm", n.OpType == "MatMul",
			n.OpType == "BatchNormalization" && opts.FoldBatchNorm:
			watch = append(watch, n.Outputs[0].Name)
		}
	}
	return recordReference(m, watch, inputs, threads)
}

func recordReference(m *graph.Model, watch []string, inputs map[string]*runtime.Tensor, threads int) (*ProbeReference, error) {
	values, err := runWatching(m, watch, inputs, threads)
	if err != nil {
		return nil, fmt.Errorf("running the original: %w", err)
	}
	ref := &ProbeReference{inputs: inputs, values: values}
	for _, v := range m.Graph.Outputs {
		ref.outputs = append(ref.outputs, v.Name)
	}
	return ref, nil
}

// MeasureOutputErrors runs the compressed model on the reference's inputs
// and compares, as the function of the same name does.
func (r *ProbeReference) MeasureOutputErrors(compressed *graph.Model, rep *Report, threads int) (float64, error) {
	var watch []string
	for _, l := range rep.Rewritten() {
		if l.Output != "" && r.values[l.Output] != nil {
			watch = append(watch, l.Output)
		}
	}
	got, err := runWatching(compressed, watch, r.inputs, threads)
	if err != nil {
		return 0, fmt.Errorf("running the compressed model: %w", err)
	}
	want := r.values
	for _, l := range rep.Rewritten() {
		// A pruned layer's output has fewer channels: nothing to compare
		// there, only downstream where the shapes meet again.
		if w, g := want[l.Output], got[l.Output]; w != nil && g != nil && equalShape(w.Shape, g.Shape) {
			e := relL2(g.F32, w.F32)
			l.OutputError = &e
		}
	}
	worst := 0.0
	for _, name := range r.outputs {
		w, g := want[name], got[name]
		if w == nil || g == nil || w.DType != graph.Float32 || !equalShape(w.Shape, g.Shape) {
			continue
		}
		worst = math.Max(worst, relL2(g.F32, w.F32))
	}
	return worst, nil
}

// runWatching runs m and also returns the named intermediate values (those
// m has; a name it lacks is left out). The graph runs in segments holding
// about 1/segmentsPerModel of the weights each, one runtime session at a time:
// a session keeps its own float32 and packed copies of the weights it
// reads, which for the whole model at once cost twice the model again.
func runWatching(m *graph.Model, watch []string, inputs map[string]*runtime.Tensor, threads int) (map[string]*runtime.Tensor, error) {
	g := m.Graph
	keep := map[string]bool{}
	for _, v := range g.Outputs {
		keep[v.Name] = true
	}
	idx := graph.NewIndex(g)
	for _, name := range watch {
		if idx.ValueByName(name) != nil {
			keep[name] = true
		}
	}
	consts := map[string]*graph.Value{}
	for _, v := range g.Initializers {
		if v.Const != nil {
			consts[v.Name] = v
		}
	}
	segments := segmentsByWeight(g.Nodes, consts)
	if len(segments) <= 1 {
		return runSession(m, keep, inputs, threads)
	}
	declared := map[string]*graph.Value{}
	for _, v := range g.Inputs {
		declared[v.Name] = v
	}
	for name := range inputs {
		if declared[name] == nil {
			return nil, fmt.Errorf("runtime: %q is not a graph input", name)
		}
	}
	lastRead := map[string]int{}
	for k, seg := range segments {
		for _, n := range seg {
			for _, v := range graph.NodeReads(n) {
				lastRead[v.Name] = k
			}
		}
	}
	live := map[string]*runtime.Tensor{}
	for name, t := range inputs {
		live[name] = t
	}
	for k, seg := range segments {
		sub := segmentModel(m, seg, consts, declared, live, keep, lastRead, k)
		feed := map[string]*runtime.Tensor{}
		for _, v := range sub.Graph.Inputs {
			if t := live[v.Name]; t != nil {
				feed[v.Name] = t
			}
		}
		out, err := runSession(sub, nil, feed, threads)
		if err != nil {
			return nil, err
		}
		for name, t := range out {
			live[name] = t
		}
		for name := range live {
			if !keep[name] && lastRead[name] <= k {
				delete(live, name)
			}
		}
	}
	result := map[string]*runtime.Tensor{}
	for name := range keep {
		t := live[name]
		if t == nil && consts[name] != nil {
			c, err := runtime.FromGraph(consts[name].Const)
			if err != nil {
				return nil, fmt.Errorf("runtime: initializer %q: %w", name, err)
			}
			t = c
		}
		if t != nil {
			result[name] = t
		}
	}
	return result, nil
}

// runSession runs m in one session, returning its outputs and the values
// named in extra.
func runSession(m *graph.Model, extra map[string]bool, inputs map[string]*runtime.Tensor, threads int) (map[string]*runtime.Tensor, error) {
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	s, err := runtime.NewSession(m, runtime.Options{Threads: threads, ExtraOutputs: names})
	if err != nil {
		return nil, err
	}
	return s.Run(inputs)
}

// A segment of runWatching reads 1/segmentsPerModel of the model's weight
// bytes, at least minSegmentBytes (small models run in one session).
const segmentsPerModel = 8

// minSegmentBytes is a variable so tests can cut small models into segments.
var minSegmentBytes = 4 << 20

// segmentsByWeight cuts nodes, in order, into runs whose initializers
// together stay under the segment size (a node reading more is alone).
func segmentsByWeight(nodes []*graph.Node, consts map[string]*graph.Value) [][]*graph.Node {
	total := 0
	for _, v := range consts {
		total += len(v.Const.Raw)
	}
	limit := max(total/segmentsPerModel, minSegmentBytes)
	var segments [][]*graph.Node
	var cur []*graph.Node
	size := 0
	seen := map[*graph.Value]bool{}
	for _, n := range nodes {
		add := 0
		for _, v := range graph.NodeReads(n) {
			if c := consts[v.Name]; c != nil && !seen[c] {
				add += len(c.Const.Raw)
			}
		}
		if len(cur) > 0 && size+add > limit {
			segments = append(segments, cur)
			cur, size, seen = nil, 0, map[*graph.Value]bool{}
		}
		cur = append(cur, n)
		size += add
		for _, v := range graph.NodeReads(n) {
			if c := consts[v.Name]; c != nil {
				seen[c] = true
			}
		}
	}
	if len(cur) > 0 {
		segments = append(segments, cur)
	}
	return segments
}

// segmentModel is segment k of m as a model of its own: its initializers
// are the weights it reads, its inputs the values earlier segments (or the
// caller) computed, its outputs what later segments read or keep names.
func segmentModel(m *graph.Model, seg []*graph.Node, consts, declared map[string]*graph.Value,
	live map[string]*runtime.Tensor, keep map[string]bool, lastRead map[string]int, k int) *graph.Model {
	sub := &graph.Graph{Name: m.Graph.Name, Nodes: seg}
	made := map[string]bool{}
	for _, n := range seg {
		for _, v := range n.Outputs {
			if v != nil && v.Name != "" {
				made[v.Name] = true
			}
		}
	}
	taken := map[string]bool{}
	for _, n := range seg {
		for _, v := range graph.NodeReads(n) {
			if made[v.Name] || taken[v.Name] {
				continue
			}
			taken[v.Name] = true
			switch t := live[v.Name]; {
			case declared[v.Name] != nil && (t != nil || consts[v.Name] == nil):
				sub.Inputs = append(sub.Inputs, declared[v.Name])
				if c := consts[v.Name]; c != nil {
					sub.Initializers = append(sub.Initializers, c)
				}
			case t != nil:
				shape := make([]int64, len(t.Shape))
				for i, d := range t.Shape {
					shape[i] = int64(d)
				}
				in := &graph.Value{Name: v.Name, Type: &graph.ValueType{Elem: t.DType, HasShape: true, Shape: graph.KnownShape(shape...)}}
				sub.Inputs = append(sub.Inputs, in)
			case consts[v.Name] != nil:
				sub.Initializers = append(sub.Initializers, consts[v.Name])
			}
		}
	}
	for _, n := range seg {
		for _, v := range n.Outputs {
			if v == nil || v.Name == "" {
				continue
			}
			if keep[v.Name] || lastRead[v.Name] > k {
				sub.Outputs = append(sub.Outputs, &graph.Value{Name: v.Name})
			}
		}
	}
	return &graph.Model{IRVersion: m.IRVersion, Opsets: m.Opsets, Graph: sub}
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
