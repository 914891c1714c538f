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
		norms, err := hingeFilterNorms(l)
		if err != nil {
			return LayerPlan{}, err
		}
		cols, err := solvers.EnergyRank(descending(norms), t.Energy)
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
// channel order. Under svd2 (W = U·A, U with orthonormal columns) they are
// the norms of the filters themselves, so they are read off the weight:
// pruning, and pricing it at every count, needs no SVD.
func hingeFilterNorms(l *Layer) ([]float64, error) {
	ms, err := l.groupMatrices()
	if err != nil {
		return nil, err
	}
	in := l.In()
	var out []float64
	for _, m := range ms {
		for f := 0; f+in <= len(m); f += in {
			var sq float64
			for _, v := range m[f : f+in] {
				sq += v * v
			}
			out = append(out, math.Sqrt(sq))
		}
	}
	return out, nil
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
	if form == hingePrune {
		return hingePruneLayer(e, l, cur, flow, p)
	}
	split, err := hingeSplitLayer(cur)
	if err != nil {
		return nil, 0, err
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

func hingePruneLayer(e *Emitter, orig, l *Layer, flow channelFlow, p LayerPlan) (*graph.Value, float64, error) {
	n := l.Out()
	norms, err := hingeFilterNorms(l)
	if err != nil {
		return nil, 0, err
	}
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
		case "BatchNormalization", "InstanceNormalization":
			for i := 1; i < len(s.node.Inputs); i++ {
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

// The trained form (hinge.md A.3–A.7): HingeAttach splits each selected Conv
// into Conv(U) → Conv 1×1(Â) with the svd2 initialisation, so the model
// computes the same function and finetune's proximal training can drive
// groups of every A to zero; HingeCompress then removes the groups a
// selection drops: column groups by pruning (the single conv U·A[:, K],
// propagated into BatchNormalization, Concat offsets and consumers by the
// channel analysis of channels.go), row groups by decomposition. Which
// groups a layer gets is read from the graph's structure: columns where its
// output channels can be removed, rows where they cannot (residual
// coupling, a graph output, an op that mixes channels).

// HingeSite is one layer HingeAttach split.
type HingeSite struct {
	// Layer is the original Conv's name; that node now convolves with U.
	Layer string `json:"layer"`
	// Matrix is the new 1×1 Conv applying Â, and Weight its weight
	// initializer [n, k, 1…] (Â[j, i] = A[i, j]); Bias is its bias
	// initializer ("" when the layer had none).
	Matrix string `json:"matrix"`
	Weight string `json:"weight"`
	Bias   string `json:"bias,omitempty"`
	// Groups are the groups of A that are penalised and removed.
	Groups solvers.HingeGroups `json:"groups"`
	// Coupled says why columns cannot be removed (rows are used instead).
	Coupled string `json:"coupled,omitempty"`
}

// hingeMatrixDoc starts the 1×1's doc_string; finetune's "factors" set
// trains the inputs of such nodes.
const hingeMatrixDoc = "onnxcompress: hinge sparsity matrix A of "

// HingeAttach splits every Conv that opts select (Layers, Skip, Ops,
// MinParams as for Compress) into Conv(U) → Conv 1×1(Â), in place. The
// result computes the same function up to float32 rounding (C.1.1). Grouped
// convs, convs whose bias is computed at run time and Gemm/MatMul layers
// are left as they are.
func HingeAttach(m *graph.Model, opts Options) ([]HingeSite, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("hinge: no graph")
	}
	s := &state{model: m, opts: opts, plans: map[*Layer]LayerPlan{}, report: &Report{}, method: hingeMethod{}}
	for _, p := range []pass{{"save-declared-types", saveDeclaredTypes}, {"infer-shapes", inferShapes}, {"select-layers", selectLayers}} {
		if err := p.run(s); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	g := m.Graph
	b := graph.NewBuilder(g)
	var sites []HingeSite
	for _, l := range s.layers {
		if l.Kind != ConvLayer || l.Conv.Group != 1 || (l.Bias != nil && l.BiasConst == nil) {
			continue
		}
		idx := graph.NewIndex(g)
		flow := hingeTrace(g, idx, l)
		site, err := hingeAttachLayer(b, l)
		if err != nil {
			return nil, err
		}
		if flow.blocked != "" {
			site.Groups, site.Coupled = solvers.HingeRows, flow.blocked
		}
		sites = append(sites, site)
	}
	if err := finishHingeSurgery(m, s.opts.InputShapes, s.declared); err != nil {
		return nil, err
	}
	return sites, nil
}

// finishHingeSurgery tidies the graph after hinge's edits: dead nodes and
// initializers go, nodes are sorted, shapes are inferred at the concrete
// input shapes (costing needs them) and the file's declared types are put
// back.
func finishHingeSurgery(m *graph.Model, shapes map[string]graph.Shape, declared graph.TypeSnapshot) error {
	graph.EliminateDeadNodes(m.Graph)
	if err := graph.TopoSort(m.Graph); err != nil {
		return err
	}
	if err := graph.InferShapes(m, shapes); err != nil {
		return err
	}
	declared.Restore()
	return graph.Verify(m.Graph)
}

// hingeAttachLayer replaces l's weight by the svd2 filters U (k of them) and
// moves the weight's mixing and the bias onto a new 1×1 Conv.
func hingeAttachLayer(b *graph.Builder, l *Layer) (HingeSite, error) {
	split, err := hingeSplitLayer(l)
	if err != nil {
		return HingeSite{}, err
	}
	u, a := split[0].u, split[0].a
	k, n := a.Dims()
	dtype := l.Weight.DType
	uDims := append([]int64{int64(k)}, l.Weight.Dims[1:]...)
	uT, err := graph.NewFromFloat64("", dtype, uDims, denseData(u.T()))
	if err != nil {
		return HingeSite{}, err
	}
	aDims := append([]int64{int64(n), int64(k)}, ones(len(l.Conv.Kernel))...)
	aT, err := graph.NewFromFloat64("", dtype, aDims, denseData(a.T()))
	if err != nil {
		return HingeSite{}, err
	}
	name := l.Node.Name
	uV := b.Const(name+"/hinge/U", uT)
	aV := b.Const(name+"/hinge/A", aT)
	inputs := []*graph.Value{nil, aV}
	site := HingeSite{Layer: name, Weight: aV.Name, Groups: solvers.HingeColumns}
	if l.Bias != nil {
		inputs = append(inputs, l.Bias)
		site.Bias = l.Bias.Name
	}
	mid := b.Value(name + "/hinge/XU")
	inputs[0] = mid
	attrs := l.Conv.pointwise().attrs()
	matrix := &graph.Node{Name: b.Name(name + "/hinge/A"), OpType: "Conv", Inputs: inputs,
		Outputs: []*graph.Value{l.Node.Outputs[0]}, Attrs: attrs, DocString: hingeMatrixDoc + name}
	site.Matrix = matrix.Name
	l.Node.Inputs = []*graph.Value{l.Node.Inputs[0], uV}
	l.Node.Outputs[0] = mid
	g := b.G
	nodes := make([]*graph.Node, 0, len(g.Nodes)+1)
	for _, nd := range g.Nodes {
		nodes = append(nodes, nd)
		if nd == l.Node {
			nodes = append(nodes, matrix)
		}
	}
	g.Nodes = nodes
	return site, nil
}

// HingeNorms reads each site's group norms from m. A column group counts
// its bias entry too: only a zero column with a zero bias is an output
// channel that is identically zero, so only then is pruning it exact.
func HingeNorms(m *graph.Model, sites []HingeSite) ([][]float64, error) {
	g := m.Graph
	idx := graph.NewIndex(g)
	out := make([][]float64, len(sites))
	for i, s := range sites {
		node, a, err := hingeSiteMatrix(g, idx, s)
		if err != nil {
			return nil, err
		}
		out[i] = solvers.HingeGroupNorms(a, s.Groups)
		if s.Groups != solvers.HingeColumns || node.Input(2) == nil {
			continue
		}
		t, ok := graph.ConstTensor(g, idx, node.Input(2))
		if !ok || t.Len() != len(out[i]) {
			return nil, fmt.Errorf("hinge: Conv %s: bias is not a constant of %d channels", s.Matrix, len(out[i]))
		}
		b, err := t.Float64s()
		if err != nil {
			return nil, err
		}
		for j, v := range b {
			out[i][j] = math.Hypot(out[i][j], v)
		}
	}
	return out, nil
}

// hingeSiteMatrix finds a site's 1×1 node and returns A (k×n, the paper's
// orientation) from its weight.
func hingeSiteMatrix(g *graph.Graph, idx *graph.Index, s HingeSite) (*graph.Node, *mat.Dense, error) {
	if idx == nil {
		idx = graph.NewIndex(g)
	}
	var node *graph.Node
	for _, n := range g.Nodes {
		if n.Name == s.Matrix {
			node = n
			break
		}
	}
	if node == nil || node.OpType != "Conv" || len(node.Inputs) < 2 {
		return nil, nil, fmt.Errorf("hinge: no 1×1 Conv %q for layer %s", s.Matrix, s.Layer)
	}
	t, ok := graph.ConstTensor(g, idx, node.Inputs[1])
	if !ok || len(t.Dims) < 2 {
		return nil, nil, fmt.Errorf("hinge: Conv %s: weight is not constant", s.Matrix)
	}
	data, err := t.Float64s()
	if err != nil {
		return nil, nil, fmt.Errorf("hinge: Conv %s: %w", s.Matrix, err)
	}
	n, k := int(t.Dims[0]), int(t.Dims[1])
	return node, mat.DenseCopyOf(mat.NewDense(n, k, data).T()), nil
}

// HingeCompress removes, from every site of m (as HingeAttach made them),
// the groups that keep[i] (sorted group indices of site i) leaves out, in
// place (A.3):
//
//   - columns K: the pair becomes the single Conv U·A[:, K] with bias b[K],
//     and the nodes that see the removed channels are sliced (channels.go);
//     with every column kept it is merged into one Conv (A.3.4);
//   - rows R: Conv U[:, R] then 1×1 A[R, :] when that costs fewer MACs per
//     position than one conv (|R|·(d + n) < d·n), otherwise the two are
//     merged into one Conv computing U[:, R]·A[R, :].
//
// When every removed group is exactly zero the function is unchanged up to
// float rounding (C.1.5).
func HingeCompress(m *graph.Model, sites []HingeSite, keep [][]int) error {
	if len(keep) != len(sites) {
		return fmt.Errorf("hinge: %d kept-group lists for %d layers", len(keep), len(sites))
	}
	g := m.Graph
	declared := graph.DeclaredTypes(g)
	shapes, err := graph.ConcreteInputShapes(g, nil)
	if err != nil {
		return err
	}
	if err := graph.InferShapes(m, shapes); err != nil {
		return err
	}
	b := graph.NewBuilder(g)
	for i, s := range sites {
		if err := hingeCompressSite(b, s, keep[i]); err != nil {
			return fmt.Errorf("hinge: layer %s: %w", s.Layer, err)
		}
	}
	return finishHingeSurgery(m, shapes, declared)
}

func hingeCompressSite(b *graph.Builder, s HingeSite, keep []int) error {
	g := b.G
	idx := graph.NewIndex(g)
	matrix, a, err := hingeSiteMatrix(g, idx, s)
	if err != nil {
		return err
	}
	conv := idx.Producer(matrix.Inputs[0])
	if conv == nil || conv.Name != s.Layer || conv.OpType != "Conv" || len(idx.Consumers(matrix.Inputs[0])) != 1 {
		return fmt.Errorf("the 1×1 %s no longer follows its Conv alone", s.Matrix)
	}
	uT, ok := graph.ConstTensor(g, idx, conv.Input(1))
	if !ok || len(uT.Dims) < 3 {
		return fmt.Errorf("Conv %s: weight is not constant", conv.Label())
	}
	uData, err := uT.Float64s()
	if err != nil {
		return err
	}
	k, n := a.Dims()
	d := uT.Len() / k
	u := mat.DenseCopyOf(mat.NewDense(k, d, uData).T())
	var biasA []float64
	if bv := matrix.Input(2); bv != nil {
		t, ok := graph.ConstTensor(g, idx, bv)
		if !ok || t.Len() != n {
			return fmt.Errorf("Conv %s: bias is not a constant of %d channels", s.Matrix, n)
		}
		if biasA, err = t.Float64s(); err != nil {
			return err
		}
	}
	e := &Emitter{b: b, layer: &Layer{Node: conv, Weight: uT}, method: "hinge"}
	groups := n
	if s.Groups == solvers.HingeRows {
		groups = k
	}
	if err := hingeCheckKeep(keep, groups); err != nil {
		return err
	}
	if s.Groups == solvers.HingeColumns {
		if len(keep) == n {
			w, bias, err := solvers.HingeMerge(u, a, nil, biasA)
			if err != nil {
				return err
			}
			return hingeFuse(e, conv, matrix, uT.Dims, w, bias, fmt.Sprintf("all %d filters kept, A merged", n))
		}
		flow := traceChannels(g, idx, matrix)
		if flow.blocked != "" {
			return fmt.Errorf("cannot prune output channels: %s", flow.blocked)
		}
		edits, err := channelEdits(g, flow, keep)
		if err != nil {
			return err
		}
		w, bias, err := solvers.HingePrune(u, a, nil, biasA, keep)
		if err != nil {
			return err
		}
		if err := hingeFuse(e, conv, matrix, uT.Dims, w, bias, fmt.Sprintf("pruned to %d of %d filters", len(keep), n)); err != nil {
			return err
		}
		commitChannelEdits(e, flow, edits, keep, fmt.Sprintf(
			"onnxcompress: input channels sliced because hinge pruned %s from %d to %d output channels", s.Layer, n, len(keep)))
		return nil
	}
	wR, aR, _, err := solvers.HingeSlice(u, a, nil, keep, nil)
	if err != nil {
		return err
	}
	r := len(keep)
	if r*(d+n) >= d*n {
		w, bias, err := solvers.HingeMerge(wR, aR, nil, biasA)
		if err != nil {
			return err
		}
		return hingeFuse(e, conv, matrix, uT.Dims, w, bias, fmt.Sprintf("rank %d of %d kept, merged (no cheaper split)", r, k))
	}
	uDims := append([]int64{int64(r)}, uT.Dims[1:]...)
	uV, err := e.Weight("U", uDims, denseData(wR.T()))
	if err != nil {
		return err
	}
	aT, _ := graph.ConstTensor(g, idx, matrix.Inputs[1])
	aDims := append([]int64{int64(n), int64(r)}, aT.Dims[2:]...)
	aV, err := e.Weight("A", aDims, denseData(aR.T()))
	if err != nil {
		return err
	}
	conv.Inputs[1] = uV
	matrix.Inputs[1] = aV
	matrix.Inputs[0].Type = nil
	prov := fmt.Sprintf("onnxcompress: hinge decomposed %s: rank %d of %d kept", s.Layer, r, k)
	conv.DocString, matrix.DocString = prov, prov
	return nil
}

func hingeCheckKeep(keep []int, groups int) error {
	if len(keep) == 0 {
		return fmt.Errorf("no group kept")
	}
	for i, g := range keep {
		if g < 0 || g >= groups || (i > 0 && keep[i-1] >= g) {
			return fmt.Errorf("kept groups %v are not increasing indices below %d", keep, groups)
		}
	}
	return nil
}

// hingeFuse makes conv compute w (d×n', the paper's orientation) with bias
// and write the 1×1's output; the 1×1 goes.
func hingeFuse(e *Emitter, conv, matrix *graph.Node, uDims []int64, w *mat.Dense, bias []float64, what string) error {
	_, n := w.Dims()
	dims := append([]int64{int64(n)}, uDims[1:]...)
	wV, err := e.Weight("W", dims, denseData(w.T()))
	if err != nil {
		return err
	}
	inputs := []*graph.Value{conv.Inputs[0], wV}
	if bias != nil {
		bV, err := e.Weight("B", []int64{int64(n)}, bias)
		if err != nil {
			return err
		}
		inputs = append(inputs, bV)
	}
	conv.Inputs = inputs
	conv.Outputs[0] = matrix.Outputs[0]
	conv.DocString = fmt.Sprintf("onnxcompress: hinge %s: %s", conv.Name, what)
	g := e.b.G
	nodes := g.Nodes[:0]
	for _, nd := range g.Nodes {
		if nd != matrix {
			nodes = append(nodes, nd)
		}
	}
	g.Nodes = nodes
	return nil
}

func (hingeMethod) spendsRatioPerLayer() {}

// Candidates lets the data-free form join a global budget (--macs-ratio,
// method auto): the decomposition at every rank, which is shape-safe on any
// layer. The rows of A are the singular values of the weight, so keeping r
// rows leaves the output-side SVD's error and costs its parameters and
// MACs. The pruning form needs the graph (coupledCandidates).
func (m hingeMethod) Candidates(l *Layer) ([]Candidate, error) {
	if err := m.Check(l); err != nil {
		return nil, err
	}
	f := svdForms(l)[0]
	fs, err := factorForm(l, f)
	if err != nil {
		return nil, err
	}
	bias := int64(0)
	if l.BiasConst != nil {
		bias = int64(l.BiasConst.Len())
	}
	var out []Candidate
	for r := 1; r <= f.fullRank(); r++ {
		if !l.offersRank(r) {
			continue
		}
		out = append(out, Candidate{
			Plan:   LayerPlan{Form: hingeDecompose, Ranks: []int{r}},
			Params: f.params(r) + bias,
			MACs:   f.macs(l, r),
			Err:    fs.relError(r),
		})
	}
	return out, nil
}

// coupledCandidates adds the pruning form to the decomposition where l's
// output channels can be removed (the channel analysis Apply uses): the m
// filters of largest norm at every m below n the rank alignment offers.
// Pruning keeps those filters as they are, so it leaves droppedShare of the
// weight and costs m/n of the layer; the layers the channels reach (the
// consumers, and depthwise convs on the way) lose (n−m)/total of their
// cost, credited here at their present cost (spendCoupled says why that is
// then checked on the written model). Pruning saves on both sides of the
// channels, decomposition only on the layer itself, so per MAC pruning can
// win even at a larger weight error: that is the trade the budget makes.
func (m hingeMethod) coupledCandidates(g *graph.Graph, l *Layer) ([]Candidate, error) {
	out, err := m.Candidates(l)
	if err != nil {
		return nil, err
	}
	idx := graph.NewIndex(g)
	flow := hingeTrace(g, idx, l)
	n := l.Out()
	if flow.blocked != "" || n < 2 {
		return out, nil
	}
	filters, err := hingeFilterNorms(l)
	if err != nil {
		return nil, err
	}
	norms := descending(filters)
	// dropped[i] is the squared norm of every filter from the i-th largest on.
	dropped := make([]float64, n+1)
	for i := n - 1; i >= 0; i-- {
		dropped[i] = dropped[i+1] + norms[i]*norms[i]
	}
	perFilter, fixed := int64(l.In()), int64(0)
	switch {
	case hingeBiasAxis(l) >= 0:
		perFilter++
	case l.BiasConst != nil:
		fixed = int64(l.BiasConst.Len()) // broadcast: kept whole
	}
	// What one removed channel saves in the nodes it reaches: their cost
	// reads each of their total input channels alike.
	var savedParams, savedMACs float64
	for _, s := range slices.Concat(flow.passes, flow.consumers) {
		if s.node.OpType != "Conv" && s.node.OpType != "Gemm" {
			continue // BatchNormalization and the like are not weighted layers
		}
		c := graph.NodeCost(g, idx, s.node)
		params := c.Params
		if slices.Contains(flow.consumers, s) && s.node.Input(2) != nil {
			if b, ok := graph.ConstTensor(g, idx, s.node.Input(2)); ok {
				params -= int64(b.Len()) // a consumer's bias is per output, not input, channel
			}
		}
		savedParams += float64(params) / float64(s.total)
		savedMACs += float64(c.MACs) / float64(s.total)
	}
	for k := 1; k < n; k++ {
		if !l.offersRank(k) {
			continue
		}
		relErr := 0.0
		if dropped[0] > 0 {
			relErr = math.Sqrt(dropped[k] / dropped[0])
		}
		removed := float64(n - k)
		out = append(out, Candidate{
			Plan:        LayerPlan{Form: hingePrune, Ranks: []int{k}},
			Params:      int64(k)*perFilter + fixed,
			MACs:        l.Cost.MACs / int64(n) * int64(k),
			Err:         relErr,
			SavedParams: int64(math.Round(removed * savedParams)),
			SavedMACs:   int64(math.Round(removed * savedMACs)),
		})
	}
	return out, nil
}
