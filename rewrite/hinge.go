package rewrite

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// hingeMethod is Hinge's data-free form (hinge.md A.1–A.4, A.11; lowrank.md
// §3.9): the svd2 split W = U·A of each layer (U orthonormal filters, A the
// square "sparsity-inducing" 1×1), then whole groups of A are kept by norm —
// without the proximal training that would first drive groups to zero (that
// is finetune's hinge loop). Two physical forms:
//
//   - "prune" (columns of A): column norms of A are the filter norms, and
//     dropping columns K' leaves U·A[:, K] = W[:, K], the kept filters
//     themselves. The layer loses output channels, so every node that sees
//     them is edited: BatchNormalization parameters, Concat offsets, and the
//     input channels of the consuming Conv/Gemm weights (through Flatten, a
//     block of features per channel). See channels.go for which graphs allow
//     it.
//   - "decompose" (rows of A): row norms of A are the singular values; the
//     kept rows R give Conv k×k C→|R| (filters U[:, R], the layer's window)
//     then Conv 1×1 |R|→n with weight A[R, :]ᵀ and the bias. The output width
//     is unchanged, so this form is always shape-safe: layers whose channels
//     meet another branch at an Add/Mul (residual coupling), reach a graph
//     output or an op that mixes channels take it.
//
// With no form named ("auto") a layer is pruned when its channels allow it
// and decomposed otherwise.
//
// Pruning is the one rewrite that changes nodes it did not select, because
// a layer with fewer output channels needs consumers with fewer input
// channels. Those nodes keep their names and outputs; their sliced weights
// are new constants and their doc_string records which layer's pruning
// sliced them. Consumers that are themselves selected layers are read afresh
// when their turn comes (refreshLayer), so they are sized on the weights
// they really have.
//
// Plan settings: Keep is the kept fraction of the layer's original
// parameters (--ratio); Ranks[0] is the rows of A kept per group when
// decomposed and Ranks[1] (default Ranks[0]) the filters kept when pruned.
type hingeMethod struct{}

const (
	hingePrune     = "prune"
	hingeDecompose = "decompose"
)

func (hingeMethod) Name() string { return "hinge" }

func (hingeMethod) Check(l *Layer) error {
	if l.IsDepthwise() {
		return errNotFor(l, "depthwise conv has one input channel per group: no filters to split")
	}
	return nil
}

func (hingeMethod) Plan(l *Layer, t Target) (LayerPlan, error) {
	switch {
	case t.Rank > 0:
		return LayerPlan{Ranks: []int{t.Rank, t.Rank}}, nil
	case t.Energy > 0:
		split, err := hingeSplitLayer(l)
		if err != nil {
			return LayerPlan{}, err
		}
		rows := 1
		for _, s := range split {
			r, err := solvers.EnergyRank(descending(solvers.HingeGroupNorms(s.a, solvers.HingeRows)), t.Energy)
			if err != nil {
				return LayerPlan{}, err
			}
			rows = max(rows, r)
		}
		cols, err := solvers.EnergyRank(descending(hingeFilterNorms(split)), t.Energy)
		if err != nil {
			return LayerPlan{}, err
		}
		return LayerPlan{Ranks: []int{rows, cols}}, nil
	}
	if !(t.Ratio > 0 && t.Ratio <= 1) {
		return LayerPlan{}, fmt.Errorf("hinge: ratio %g outside (0, 1]", t.Ratio)
	}
	return LayerPlan{Keep: t.Ratio}, nil
}

// hingeGroupSplit is one conv group's svd2 split, in the paper's orientation:
// u is d×k (filters as columns), a is k×n.
type hingeGroupSplit struct{ u, a *mat.Dense }

func hingeSplitLayer(l *Layer) ([]hingeGroupSplit, error) {
	out := make([]hingeGroupSplit, l.Groups())
	for g := range out {
		m, err := l.Matrix(g)
		if err != nil {
			return nil, err
		}
		u, a, err := solvers.HingeSVD2(mat.NewDense(l.Out(), l.In(), m).T())
		if err != nil {
			return nil, fmt.Errorf("%s group %d: %w", l.Node.Label(), g, err)
		}
		out[g] = hingeGroupSplit{u, a}
	}
	return out, nil
}

// hingeFilterNorms are the column norms of A over all groups, in output
// channel order.
func hingeFilterNorms(split []hingeGroupSplit) []float64 {
	var out []float64
	for _, s := range split {
		out = append(out, solvers.HingeGroupNorms(s.a, solvers.HingeColumns)...)
	}
	return out
}

func descending(x []float64) []float64 {
	s := slices.Clone(x)
	slices.SortFunc(s, func(a, b float64) int { return compareDesc(a, b) })
	return s
}

func compareDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func (m hingeMethod) Apply(e *Emitter, l *Layer, p LayerPlan) (*graph.Value, float64, error) {
	g := e.b.G
	idx := graph.NewIndex(g)
	cur, err := refreshLayer(g, idx, l)
	if err != nil {
		return nil, 0, err
	}
	form := p.Form
	var flow channelFlow
	switch form {
	case "", hingePrune:
		flow = hingeTrace(g, idx, cur)
		switch {
		case flow.blocked == "":
			form = hingePrune
		case form == hingePrune:
			return nil, 0, fmt.Errorf("cannot prune output channels: %s", flow.blocked)
		default:
			form = hingeDecompose
		}
	case hingeDecompose:
	default:
		return nil, 0, fmt.Errorf("hinge has no form %q (forms: %s, %s)", p.Form, hingePrune, hingeDecompose)
	}
	split, err := hingeSplitLayer(cur)
	if err != nil {
		return nil, 0, err
	}
	if form == hingePrune {
		return hingePruneLayer(e, l, cur, split, flow, p)
	}
	return hingeDecomposeLayer(e, l, cur, split, p)
}

// refreshLayer reads l's node again: an earlier pruning may have sliced its
// input channels since selection.
func refreshLayer(g *graph.Graph, idx *graph.Index, l *Layer) (*Layer, error) {
	cur, err := layerOf(g, idx, l.Node)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, fmt.Errorf("node %s is no longer a weighted layer", l.Node.Label())
	}
	return cur, nil
}

// originalParams is the layer's weight and bias size at selection, which a
// --ratio is a fraction of.
func originalParams(l *Layer) float64 {
	if l.Cost.Params > 0 { // the framework keeps the selection-time cost
		return float64(l.Cost.Params)
	}
	n := float64(l.WeightParams())
	if l.BiasConst != nil {
		n += float64(l.BiasConst.Len())
	}
	return n
}

// hingeTrace adds the producer's own conditions to the channel analysis.
func hingeTrace(g *graph.Graph, idx *graph.Index, l *Layer) channelFlow {
	switch {
	case l.Kind == MatMulLayer:
		return channelFlow{blocked: "a MatMul output has no channel axis to prune"}
	case l.Kind == ConvLayer && l.Conv.Group != 1:
		return channelFlow{blocked: "removing filters of a grouped conv breaks its groups"}
	case l.Bias != nil && l.BiasConst == nil:
		return channelFlow{blocked: "its bias is computed at run time"}
	}
	return traceChannels(g, idx, l.Node)
}

// hingeBiasAxis is the axis of the stored bias along output channels, or -1
// when the bias is broadcast (a Gemm C of width 1).
func hingeBiasAxis(l *Layer) int {
	if l.BiasConst == nil || len(l.BiasConst.Dims) == 0 {
		return -1
	}
	last := len(l.BiasConst.Dims) - 1
	if int(l.BiasConst.Dims[last]) == l.Out() {
		return last
	}
	return -1
}

func hingePruneLayer(e *Emitter, orig, l *Layer, split []hingeGroupSplit, flow channelFlow, p LayerPlan) (*graph.Value, float64, error) {
	n := l.Out()
	norms := hingeFilterNorms(split)
	perFilter := l.In()
	biasAxis := hingeBiasAxis(l)
	if biasAxis >= 0 {
		perFilter++
	}
	count := 0
	switch {
	case len(p.Ranks) >= 2:
		count = p.Ranks[1]
	case len(p.Ranks) == 1:
		count = p.Ranks[0]
	default:
		count = int(math.Floor(p.Keep * originalParams(orig) / float64(perFilter)))
	}
	if count < 1 {
		return nil, 0, fmt.Errorf("keeping %g of %s leaves no room for one filter", p.Keep, orig.Node.Label())
	}
	count = min(count, n)
	keep, err := solvers.HingeSelectTop(norms, count)
	if err != nil {
		return nil, 0, err
	}
	relErr := droppedShare(norms, keep)

	// The kept filters: U·A[:, K] = W[:, K] under svd2, taken from the stored
	// weight so no value changes.
	wAxis := 0
	if l.Kind == GemmLayer && !l.Gemm.TransB {
		wAxis = 1
	}
	w, err := sliceAxis(l.Weight, wAxis, keep)
	if err != nil {
		return nil, 0, err
	}
	var bias *graph.Tensor
	if biasAxis >= 0 {
		if bias, err = sliceAxis(l.BiasConst, biasAxis, keep); err != nil {
			return nil, 0, err
		}
	}
	var edits []channelEdit
	if count < n {
		if edits, err = channelEdits(e.b.G, flow, keep); err != nil {
			return nil, 0, err
		}
	}

	wv := e.Tensor("W", w)
	bv := l.Bias
	if bias != nil {
		bv = e.Tensor("B", bias)
	}
	var out *graph.Value
	if l.Kind == ConvLayer {
		out = e.Conv("0", l.Input, wv, bv, l.Conv)
	} else {
		out = e.Gemm("0", l.Input, wv, bv, l.Gemm.Alpha, l.Gemm.Beta, l.Gemm.TransA, l.Gemm.TransB)
	}
	if count < n {
		commitChannelEdits(e, flow, edits, keep, fmt.Sprintf(
			"onnxcompress: input channels sliced because hinge pruned %s from %d to %d output channels",
			orig.Node.Label(), n, count))
	}
	return out, relErr, nil
}

// droppedShare is sqrt(Σ dropped n²/Σ n²): the relative Frobenius error of
// removing every group not in keep.
func droppedShare(norms []float64, keep []int) float64 {
	kept := map[int]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	var all, dropped float64
	for g, v := range norms {
		all += v * v
		if !kept[g] {
			dropped += v * v
		}
	}
	if all == 0 {
		return 0
	}
	return math.Sqrt(dropped / all)
}

// channelEdit is one new constant input of a node that sees pruned channels.
type channelEdit struct {
	node  *graph.Node
	input int
	t     *graph.Tensor
}

// channelEdits slices what every node of the flow stores per channel:
// BatchNormalization parameters, depthwise filters and biases, and the
// consumers' input-channel weights.
func channelEdits(g *graph.Graph, flow channelFlow, keep []int) ([]channelEdit, error) {
	idx := graph.NewIndex(g)
	var out []channelEdit
	slice := func(s channelSite, input, axis int) error {
		t, ok := graph.ConstTensor(g, idx, s.node.Input(input))
		if !ok {
			return fmt.Errorf("%s %s: input %d is not constant", s.node.OpType, s.node.Label(), input)
		}
		sliced, err := sliceAxis(t, axis, s.keptIndices(flow.width, keep))
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.node.OpType, s.node.Label(), err)
		}
		out = append(out, channelEdit{s.node, input, sliced})
		return nil
	}
	for _, s := range flow.passes {
		switch s.node.OpType {
		case "BatchNormalization":
			for i := 1; i <= 4; i++ {
				if err := slice(s, i, 0); err != nil {
					return nil, err
				}
			}
		case "Conv": // depthwise: its filters and bias, one per channel
			for i := 1; i <= 2 && i < len(s.node.Inputs) && s.node.Inputs[i] != nil; i++ {
				if err := slice(s, i, 0); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, s := range flow.consumers {
		axis := 1 // Conv: [M, C, k…]
		if s.node.OpType == "Gemm" {
			axis = 0
			if s.node.AttrInt("transB", 0) != 0 {
				axis = 1
			}
		}
		if err := slice(s, 1, axis); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// commitChannelEdits rewires the edited nodes to their sliced constants,
// stamps them with provenance, and sets the channel count of every value
// the channels flow through (the file's value_info entries for them go,
// since their declared shapes no longer hold).
func commitChannelEdits(e *Emitter, flow channelFlow, edits []channelEdit, keep []int, provenance string) {
	removed := flow.width - len(keep)
	stamped := map[*graph.Node]bool{}
	for _, ed := range edits {
		ed.node.Inputs[ed.input] = e.Tensor(fmt.Sprintf("%s_in%d", ed.node.Label(), ed.input), ed.t)
		if !stamped[ed.node] {
			stamped[ed.node] = true
			if ed.node.DocString != "" {
				ed.node.DocString += "\n"
			}
			ed.node.DocString += provenance
		}
	}
	changed := map[*graph.Value]bool{}
	narrow := func(v *graph.Value, total int) {
		changed[v] = true
		if v.Type == nil || !v.Type.HasShape || len(v.Type.Shape) < 2 || !v.Type.Shape[1].Known() || total == 0 {
			return
		}
		t := v.Type.Clone()
		per := t.Shape[1].Value / int64(total)
		t.Shape[1] = graph.Dim{Value: t.Shape[1].Value - int64(removed)*per}
		v.Type = t
	}
	narrow(flow.producer.Outputs[0], flow.width)
	for _, s := range flow.passes {
		narrow(s.node.Outputs[0], s.total)
		if s.node.OpType == "Conv" { // depthwise: one group per remaining channel
			s.node.SetAttr(graph.IntAttr("group", int64(s.total-removed)))
		}
	}
	g := e.b.G
	info := g.ValueInfo[:0]
	for _, v := range g.ValueInfo {
		if !changed[v] {
			info = append(info, v)
		}
	}
	g.ValueInfo = info
}

func hingeDecomposeLayer(e *Emitter, orig, l *Layer, split []hingeGroupSplit, p LayerPlan) (*graph.Value, float64, error) {
	groups := len(split)
	out, in := l.Out(), l.In()
	full := min(out, in)
	r := 0
	if len(p.Ranks) >= 1 {
		r = p.Ranks[0]
	} else {
		bias := 0.0
		if l.BiasConst != nil {
			bias = float64(l.BiasConst.Len())
		}
		r = int(math.Floor((p.Keep*originalParams(orig) - bias) / float64(groups*(out+in))))
	}
	if r < 1 {
		return nil, 0, fmt.Errorf("keeping %g of %s leaves no room for a rank-1 split", p.Keep, orig.Node.Label())
	}
	r = min(r, full)
	first, second := make([][]float64, groups), make([][]float64, groups)
	var all, dropped float64
	for g, s := range split {
		norms := solvers.HingeGroupNorms(s.a, solvers.HingeRows)
		rows, err := solvers.HingeSelectTop(norms, r)
		if err != nil {
			return nil, 0, err
		}
		wR, aR, _, err := solvers.HingeSlice(s.u, s.a, nil, rows, nil)
		if err != nil {
			return nil, 0, err
		}
		first[g] = denseData(wR.T())  // r × in: the kept filters
		second[g] = denseData(aR.T()) // out × r: the 1×1 weight
		for i, v := range norms {
			all += v * v
			if !slices.Contains(rows, i) {
				dropped += v * v
			}
		}
	}
	relErr := 0.0
	if all > 0 {
		relErr = math.Sqrt(dropped / all)
	}
	if l.Kind == ConvLayer {
		v, err := emitOutputSideSVD(e, l, r, first, second)
		return v, relErr, err
	}
	v, err := emitTwoMatrices(e, l, r, first[0], second[0])
	return v, relErr, err
}

// denseData copies m into a row-major slice.
func denseData(m mat.Matrix) []float64 {
	var d mat.Dense
	d.CloneFrom(m)
	return d.RawMatrix().Data
}

// Tensor adds a constant holding t as stored (any dtype, no rounding).
func (e *Emitter) Tensor(suffix string, t *graph.Tensor) *graph.Value {
	v := e.b.Const(e.base(suffix), t)
	e.consts = append(e.consts, v)
	return v
}
