package graph

// LayerCost is the size and arithmetic of one weighted layer.
type LayerCost struct {
	Node *Node
	Op   string
	// WeightShape is the shape of the layer's main weight (Conv's W, the
	// constant operand of Gemm, MatMul or Einsum); nil when unknown.
	WeightShape []int64
	// Params counts the elements of the layer's constant weight and bias
	// inputs (for a DequantizeLinear of a constant, the quantized tensor's).
	// MACs counts multiply-accumulates at the node's output shape (bias
	// additions excluded); 0 when shapes are not known.
	Params, MACs int64
}

// Totals sums a model's layer costs. Params and MACs are the sums of the
// per-layer figures; UniqueParams counts each stored weight once even when
// several layers read it.
type Totals struct {
	Layers       int
	Params       int64
	UniqueParams int64
	MACs         int64
}

// NodeCost measures node n with ONNX semantics, using the types currently
// on its values (run InferShapes first for MACs):
//
//	Conv           N·M·prod(out spatial)·(C/group)·prod(kernel) (also
//	               ConvInteger, QLinearConv)
//	ConvTranspose  N·C·prod(in spatial)·(M/group)·prod(kernel)
//	Gemm           M·N·K
//	MatMul         prod(output shape)·K (also MatMulInteger, QLinearMatMul)
//	Einsum         product of the sizes of all subscripts
//
// idx may be nil.
func NodeCost(g *Graph, idx *Index, n *Node) LayerCost {
	if idx == nil {
		idx = NewIndex(g)
	}
	lc, _ := nodeCost(g, idx, n, func(v *Value) *ValueType { return v.Type })
	return lc
}

// ModelCost lists the weighted layers of m's main graph in node order: every
// Conv, ConvTranspose and Gemm, and every MatMul and Einsum with a constant
// operand, and their quantized forms (ConvInteger, QLinearConv;
// MatMulInteger, QLinearMatMul with a constant operand). Shapes are inferred without changing the model; a symbolic or
// unknown batch dimension of a graph input is evaluated at 1, so MACs are per
// sample.
func ModelCost(m *Model) ([]LayerCost, Totals) {
	var tot Totals
	if m == nil || m.Graph == nil {
		return nil, tot
	}
	g := m.Graph
	idx := NewIndex(g)
	typeOf := func(v *Value) *ValueType { return v.Type }
	if inf, err := inferredTypes(g, m.OpsetVersion(""), batchOne(g)); err == nil {
		typeOf = inf.typeOf
	}
	var layers []LayerCost
	counted := map[*Value]bool{}
	for _, n := range g.Nodes {
		if !isWeightedLayer(g, idx, n) {
			continue
		}
		lc, sources := nodeCost(g, idx, n, typeOf)
		layers = append(layers, lc)
		tot.Layers++
		tot.Params += lc.Params
		tot.MACs += lc.MACs
		for _, s := range sources {
			if !counted[s.root] {
				counted[s.root] = true
				tot.UniqueParams += int64(s.t.Len())
			}
		}
	}
	return layers, tot
}

// batchOne sets dimension 0 of graph inputs to 1 where it is not known.
func batchOne(g *Graph) map[string]Shape {
	out := map[string]Shape{}
	isInit := map[string]bool{}
	for _, v := range g.Initializers {
		isInit[v.Name] = true
	}
	for _, v := range g.Inputs {
		if v == nil || isInit[v.Name] || v.Type == nil || !v.Type.HasShape || len(v.Type.Shape) == 0 {
			continue
		}
		if v.Type.Shape[0].Known() {
			continue
		}
		s := append(Shape(nil), v.Type.Shape...)
		s[0] = Dim{Value: 1}
		out[v.Name] = s
	}
	return out
}

// layerKind says how one weighted operator is costed.
type layerKind struct {
	always bool  // a layer even without a constant operand (else it needs one)
	params []int // inputs holding weights or biases; nil: every input
	weight []int // inputs that may be the main weight, preferred first; nil: any
	macs   macRule
	w      int // the weight input, for the convolution rules
}

type macRule int

const (
	macConv macRule = iota
	macConvTranspose
	macGemm
	macMatMul
	macEinsum
)

// layerKinds lists the weighted operators, float and quantized
// (QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B;
// QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp).
var layerKinds = map[string]layerKind{
	"Conv":          {always: true, params: []int{1, 2}, weight: []int{1}, macs: macConv, w: 1},
	"ConvInteger":   {always: true, params: []int{1}, weight: []int{1}, macs: macConv, w: 1},
	"QLinearConv":   {always: true, params: []int{3, 8}, weight: []int{3}, macs: macConv, w: 3},
	"ConvTranspose": {always: true, params: []int{1, 2}, weight: []int{1}, macs: macConvTranspose, w: 1},
	"Gemm":          {always: true, params: []int{0, 1, 2}, weight: []int{1, 0}, macs: macGemm},
	"MatMul":        {params: []int{0, 1}, weight: []int{1, 0}, macs: macMatMul},
	"MatMulInteger": {params: []int{0, 1}, weight: []int{1, 0}, macs: macMatMul},
	"QLinearMatMul": {params: []int{0, 3}, weight: []int{3, 0}, macs: macMatMul},
	"Einsum":        {macs: macEinsum},
}

func isWeightedLayer(g *Graph, idx *Index, n *Node) bool {
	if !n.IsDefaultDomain() {
		return false
	}
	k, ok := layerKinds[n.OpType]
	if !ok {
		return false
	}
	if k.always {
		return true
	}
	for _, i := range k.paramInputs(n) {
		if _, _, ok := storedWeight(g, idx, n.Input(i)); ok {
			return true
		}
	}
	return false
}

func (k layerKind) paramInputs(n *Node) []int {
	if k.params != nil {
		return k.params
	}
	all := make([]int, len(n.Inputs))
	for i := range all {
		all[i] = i
	}
	return all
}

// storedWeight finds the stored tensor behind a layer input: a constant
// (see ConstTensor), or the quantized constant a DequantizeLinear expands,
// which holds as many parameters as the float weight it stands for.
func storedWeight(g *Graph, idx *Index, v *Value) (*Value, *Tensor, bool) {
	if root, t, ok := constSource(g, idx, v); ok {
		return root, t, true
	}
	if v == nil {
		return nil, nil, false
	}
	if p := idx.Producer(v); p != nil && p.IsDefaultDomain() && p.OpType == "DequantizeLinear" {
		return constSource(g, idx, p.Input(0))
	}
	return nil, nil, false
}

type constUse struct {
	root *Value
	t    *Tensor
}

func nodeCost(g *Graph, idx *Index, n *Node, typeOf func(*Value) *ValueType) (LayerCost, []constUse) {
	lc := LayerCost{Node: n, Op: n.OpType}
	k, ok := layerKinds[n.OpType]
	if !ok || !n.IsDefaultDomain() {
		return lc, nil
	}
	var uses []constUse
	consts := map[int]*Tensor{}
	for _, i := range k.paramInputs(n) {
		root, t, ok := storedWeight(g, idx, n.Input(i))
		if !ok {
			continue
		}
		consts[i] = t
		uses = append(uses, constUse{root, t})
		lc.Params += int64(t.Len())
	}
	if root, t, ok := biasAdd(g, idx, n); ok {
		uses = append(uses, constUse{root, t})
		lc.Params += int64(t.Len())
	}
	weights := k.weight
	if weights == nil {
		weights = k.paramInputs(n)
	}
	for _, i := range weights {
		if t, ok := consts[i]; ok {
			lc.WeightShape = append([]int64(nil), t.Dims...)
			break
		}
	}
	shapeOf := func(i int) ([]int64, bool) {
		v := n.Input(i)
		if v == nil {
			return nil, false
		}
		if t := typeOf(v); t != nil && t.HasShape {
			return t.Shape.Ints()
		}
		return nil, false
	}
	outShape := func() ([]int64, bool) {
		if len(n.Outputs) == 0 || n.Outputs[0] == nil {
			return nil, false
		}
		if t := typeOf(n.Outputs[0]); t != nil && t.HasShape {
			return t.Shape.Ints()
		}
		return nil, false
	}
	if lc.WeightShape == nil && (k.macs == macConv || k.macs == macConvTranspose) {
		lc.WeightShape, _ = shapeOf(k.w)
	}
	lc.MACs = k.countMACs(n, shapeOf, outShape)
	return lc, uses
}

func (k layerKind) countMACs(n *Node, shapeOf func(int) ([]int64, bool), outShape func() ([]int64, bool)) int64 {
	prod := func(s []int64) int64 {
		p := int64(1)
		for _, d := range s {
			p *= d
		}
		return p
	}
	switch k.macs {
	case macConv:
		out, ok1 := outShape()
		w, ok2 := shapeOf(k.w)
		if !ok1 || !ok2 || len(out) < 2 || len(w) < 2 {
			return 0
		}
		return out[0] * out[1] * prod(out[2:]) * prod(w[1:])
	case macConvTranspose:
		x, ok1 := shapeOf(0)
		w, ok2 := shapeOf(k.w)
		if !ok1 || !ok2 || len(x) < 2 || len(w) < 2 {
			return 0
		}
		return prod(x) * prod(w[1:])
	case macGemm:
		out, ok1 := outShape()
		a, ok2 := shapeOf(0)
		if !ok1 || !ok2 || len(a) != 2 {
			return 0
		}
		inner := a[1]
		if n.AttrInt("transA", 0) != 0 {
			inner = a[0]
		}
		return prod(out) * inner
	case macMatMul:
		out, ok1 := outShape()
		a, ok2 := shapeOf(0)
		if !ok1 || !ok2 || len(a) == 0 {
			return 0
		}
		return prod(out) * a[len(a)-1]
	case macEinsum:
		ins, _, err := parseEinsum(n.AttrString("equation", ""))
		if err != nil || len(ins) != len(n.Inputs) {
			return 0
		}
		shapes := make([]Shape, len(ins))
		for i := range ins {
			s, ok := shapeOf(i)
			if !ok {
				return 0
			}
			shapes[i] = KnownShape(s...)
		}
		dims, ell, err := einsumDims(ins, shapes)
		if err != nil {
			return 0
		}
		p := int64(1)
		for _, d := range dims {
			p *= d.Value
		}
		for _, d := range ell {
			p *= d.Value
		}
		return p
	}
	return 0
}

// biasAdd finds the bias of a MatMul-like layer that exporters write as a
// separate Add (MatMul + Add for a biased Linear, and the last contraction
// of a factorized layer, which a DeBut chain reaches through its output
// Reshape/Transpose): the Add must be the only reader of the layer's output,
// or of a chain of layout-only ops that is, and its other operand a
// constant. That constant is the layer's bias and counts among its
// parameters, as a Gemm's C does.
func biasAdd(g *Graph, idx *Index, n *Node) (*Value, *Tensor, bool) {
	switch n.OpType {
	case "MatMul", "Einsum", "MatMulInteger", "QLinearMatMul":
	case "Gemm":
		if n.Input(2) != nil {
			return nil, nil, false
		}
	default:
		return nil, nil, false
	}
	if len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return nil, nil, false
	}
	out := n.Outputs[0]
	for {
		if idx.IsGraphOutput(out) {
			return nil, nil, false
		}
		readers := idx.Consumers(out)
		if len(readers) != 1 || !readers[0].IsDefaultDomain() {
			return nil, nil, false
		}
		r := readers[0]
		if layoutOnlyOps[r.OpType] && r.Input(0) == out && len(r.Outputs) == 1 && r.Outputs[0] != nil {
			out = r.Outputs[0]
			continue
		}
		if r.OpType != "Add" || len(r.Inputs) != 2 {
			return nil, nil, false
		}
		other := r.Inputs[0]
		if other == out {
			other = r.Inputs[1]
		}
		if other == out {
			return nil, nil, false
		}
		return constBehindLayout(g, idx, other)
	}
}

// constBehindLayout is the constant v is, possibly reshaped or transposed
// first (a bias laid out for broadcasting, as DeBut's conv chains add it):
// its elements are the same parameters.
func constBehindLayout(g *Graph, idx *Index, v *Value) (*Value, *Tensor, bool) {
	seen := map[*Value]bool{}
	for v != nil && !seen[v] {
		seen[v] = true
		if root, t, ok := constSource(g, idx, v); ok {
			return root, t, true
		}
		p := idx.Producer(v)
		if p == nil || !p.IsDefaultDomain() || !layoutOnlyOps[p.OpType] {
			return nil, nil, false
		}
		v = p.Input(0)
	}
	return nil, nil, false
}

// layoutOnlyOps move or relabel their first input's elements without
// arithmetic; a bias Add after them still adds to the layer's outputs.
var layoutOnlyOps = map[string]bool{"Reshape": true, "Transpose": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true, "Identity": true}
