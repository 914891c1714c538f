package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Emitter is what a method writes its replacement with: constants in the
// layer's weight dtype, and nodes named after the layer they replace.
type Emitter struct {
	b      *graph.Builder
	layer  *Layer
	method string
	opset  int64
	seed   uint64
	ranges map[string][2]float64
	nodes  []*graph.Node
	consts []*graph.Value
}

// Opset is the model's default-domain opset, which bounds the ops a method
// may emit.
func (e *Emitter) Opset() int64 { return e.opset }

// ActivationRange is the calibrated range of v (see Options.Calibration);
// ok is false without calibration data.
func (e *Emitter) ActivationRange(v *graph.Value) (lo, hi float64, ok bool) {
	r, ok := e.ranges[v.Name]
	return r[0], r[1], ok
}

// Seed is Options.Seed, for methods whose solvers draw random numbers.
func (e *Emitter) Seed() uint64 { return e.seed }

func (e *Emitter) base(suffix string) string {
	return fmt.Sprintf("%s/%s/%s", e.layer.Node.Label(), e.method, suffix)
}

// Weight adds a constant in the layer's weight dtype from float64 data
// (rounded to that precision: fp16 models stay fp16).
func (e *Emitter) Weight(suffix string, dims []int64, data []float64) (*graph.Value, error) {
	t, err := graph.NewFromFloat64("", e.layer.Weight.DType, dims, data)
	if err != nil {
		return nil, err
	}
	if n, err := graph.NumElements(dims); err != nil || n != int64(len(data)) {
		return nil, fmt.Errorf("node %s: %s weight %v holds %d values", e.layer.Node.Label(), e.method, dims, len(data))
	}
	v := e.b.Const(e.base(suffix), t)
	e.consts = append(e.consts, v)
	return v, nil
}

// Int64s adds an int64 constant (shapes, permutations).
func (e *Emitter) Int64s(suffix string, data ...int64) *graph.Value {
	v := e.b.Const(e.base(suffix), graph.NewInt64("", []int64{int64(len(data))}, data))
	e.consts = append(e.consts, v)
	return v
}

// Op emits a single-output node.
func (e *Emitter) Op(opType, suffix string, inputs []*graph.Value, attrs ...*graph.Attr) *graph.Value {
	n := e.b.Node(opType, e.base(suffix), inputs, 1, attrs...)
	e.nodes = append(e.nodes, n)
	return n.Outputs[0]
}

// Conv emits a Conv with explicit attributes; bias may be nil.
func (e *Emitter) Conv(suffix string, x, w, bias *graph.Value, c ConvAttrs) *graph.Value {
	in := []*graph.Value{x, w}
	if bias != nil {
		in = append(in, bias)
	}
	return e.Op("Conv", suffix, in, c.attrs()...)
}

// Gemm emits a Gemm; c may be nil.
func (e *Emitter) Gemm(suffix string, a, b, c *graph.Value, alpha, beta float32, transA, transB bool) *graph.Value {
	in := []*graph.Value{a, b}
	if c != nil {
		in = append(in, c)
	}
	var attrs []*graph.Attr
	if alpha != 1 {
		attrs = append(attrs, graph.FloatAttr("alpha", alpha))
	}
	if beta != 1 && c != nil {
		attrs = append(attrs, graph.FloatAttr("beta", beta))
	}
	if transA {
		attrs = append(attrs, graph.IntAttr("transA", 1))
	}
	if transB {
		attrs = append(attrs, graph.IntAttr("transB", 1))
	}
	return e.Op("Gemm", suffix, in, attrs...)
}

// rollback removes what the emitter added, for a rewrite that failed or did
// not pay.
func (e *Emitter) rollback(g *graph.Graph) {
	drop := map[*graph.Node]bool{}
	for _, n := range e.nodes {
		drop[n] = true
	}
	nodes := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !drop[n] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	dropV := map[*graph.Value]bool{}
	for _, v := range e.consts {
		dropV[v] = true
	}
	inits := g.Initializers[:0]
	for _, v := range g.Initializers {
		if !dropV[v] {
			inits = append(inits, v)
		}
	}
	g.Initializers = inits
}

// splice puts the emitted nodes where the replaced node stood, makes the one
// producing out write the replaced node's own output value, and stamps each
// with provenance.
func (e *Emitter) splice(g *graph.Graph, out *graph.Value, provenance string) error {
	var last *graph.Node
	for _, n := range e.nodes {
		for i, v := range n.Outputs {
			if v == out {
				n.Outputs[i] = e.layer.Output
				last = n
			}
		}
	}
	if last == nil {
		return fmt.Errorf("node %s: %s produced no node computing its output", e.layer.Node.Label(), e.method)
	}
	for _, n := range e.nodes {
		for i, v := range n.Inputs {
			if v == out {
				n.Inputs[i] = e.layer.Output
			}
		}
		n.DocString = provenance
	}
	emitted := map[*graph.Node]bool{}
	for _, n := range e.nodes {
		emitted[n] = true
	}
	nodes := make([]*graph.Node, 0, len(g.Nodes)+len(e.nodes))
	for _, n := range g.Nodes {
		switch {
		case emitted[n]:
		case n == e.layer.Node:
			nodes = append(nodes, e.nodes...)
		default:
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	return nil
}
