package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
)

// sparseMethod is unstructured magnitude pruning (lowrank.md §3.10, the
// LCS TopK mask of lcs.md B.2): each selected layer keeps the entries of its
// weight with the largest |w| and the rest become zeros. The layer is
// re-emitted as the same op reading the masked weight; kept entries keep
// their stored bits.
//
// Here --ratio counts non-zeros: ratio 0.25 leaves at most 25% of the
// layer's weight and bias entries non-zero (the bias stays dense and is paid
// for first). The element count does not change, so the framework's
// parameter check cannot see the saving (sparseMethod is a paramKeeper) and
// the report's params_after stays the dense size; nonzeros_after counts
// what --ratio counts, and the masked weight's doc_string says it too. A weight shared by
// several layers is masked once and stays shared.
//
// The zeros are stored dense in the graph. onnx.Write with
// onnx.SparseWhenSmaller stores the masked weights as sparse_initializer
// entries (COO, int64 linear indices; smaller below a third non-zero), which
// ONNX Runtime 1.30 and this project's runtime read; it is not the default
// because the ONNX checker's full_check rejects a sparse initializer as a
// Conv or Gemm input ("[ShapeInferenceError] (op_type:Gemm): B typestr: T,
// has unsupported type: sparse_tensor(float)", onnx 1.12). Dense zeros give
// no speed in ONNX Runtime either way.
//
// A Rank target is the number of weight entries to keep.
type sparseMethod struct{}

func (sparseMethod) Name() string { return "sparse" }

func (sparseMethod) Check(l *Layer) error { return nil }

func (sparseMethod) keepsParamCount() bool { return true }

func (sparseMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	switch {
	case t.Rank > 0:
		return LayerPlan{Ranks: []int{min(t.Rank, int(l.WeightParams()))}}, nil
	case t.Energy > 0:
		return LayerPlan{}, fmt.Errorf("sparse keeps a share of non-zeros: give --ratio (or --rank for a count), not --energy")
	}
	if !(t.Ratio > 0 && t.Ratio <= 1) {
		return LayerPlan{}, fmt.Errorf("sparse: ratio %g outside (0, 1]", t.Ratio)
	}
	return LayerPlan{Keep: t.Ratio}, nil
}

func (sparseMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	w, err := l.Weight.Float64s()
	if err != nil {
		return nil, 0, err
	}
	n := len(w)
	var count int
	if len(p.Ranks) > 0 {
		count = p.Ranks[0]
	} else {
		// The non-zeros the weight may keep: the kept share of all
		// parameters, less the bias, which stays dense.
		frac := ratioBudget(l, p.Keep) / float64(n)
		if frac <= 0 {
			return nil, 0, fmt.Errorf("ratio %g is used up by the bias of %s", p.Keep, l.Node.Label())
		}
		if count, err = solvers.MagnitudeKeepCount(n, min(frac, 1)); err != nil {
			return nil, 0, err
		}
	}
	if count < 0 || count > n {
		return nil, 0, fmt.Errorf("keep %d of %d weight entries", count, n)
	}
	mask, err := solvers.MagnitudeMask(w, count)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", l.Node.Label(), err)
	}
	var all, dropped float64
	for i, keep := range mask {
		all += w[i] * w[i]
		if !keep {
			dropped += w[i] * w[i]
		}
	}
	relErr := 0.0
	if all > 0 {
		relErr = math.Sqrt(dropped / all)
	}
	doc := fmt.Sprintf("onnxcompress sparse: %d of the %d entries of %s kept, the rest zero", count, n, l.Node.Input(1).Name)
	if v := emittedConst(e.b.G, doc); v != nil {
		return emitWithWeight(e, l, v), relErr, nil
	}
	masked := l.Weight.Clone()
	masked.Opaque = nil
	masked.DocString = doc
	sz := masked.DType.Size()
	for i, keep := range mask {
		if !keep {
			clear(masked.Raw[i*sz : (i+1)*sz])
		}
	}
	return emitWithWeight(e, l, e.Tensor("W", masked)), relErr, nil
}

// emittedConst finds the constant an earlier rewrite of this run made with
// the same doc string: the same stored weight (shared by several layers)
// compressed the same way, which is then stored once as well.
func emittedConst(g *graph.Graph, doc string) *graph.Value {
	for _, v := range g.Initializers {
		if v.Const != nil && v.Const.DocString == doc {
			return v
		}
	}
	return nil
}

// emitWithWeight re-emits the layer's own op, attributes and bias, reading
// weight w instead of the stored weight.
func emitWithWeight(e *Emitter, l *Layer, w *graph.Value) *graph.Value {
	switch l.Kind {
	case ConvLayer:
		return e.Conv("0", l.Input, w, l.Bias, l.Conv)
	case GemmLayer:
		return e.Gemm("0", l.Input, w, l.Bias, l.Gemm.Alpha, l.Gemm.Beta, l.Gemm.TransA, l.Gemm.TransB)
	}
	return e.Op("MatMul", "0", []*graph.Value{l.Input, w})
}
