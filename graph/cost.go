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
//	Conv           N·M·prod(out spatial)·(C/group)·prod(kernel)
//	ConvTranspose  N·C·prod(in spatial)·(M/group)·prod(kernel)
//	Gemm           M·N·K
//	MatMul         prod(output shape)·K
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
// operand. Shapes are inferred without changing the model; a symbolic or
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

func isWeightedLayer(g *Graph, idx *Index, n *Node) bool {
	if !n.IsDefaultDomain() {
		return false
	}
	switch n.OpType {
	case "Conv", "ConvTranspose", "Gemm":
		return true
	case "MatMul", "Einsum":
		for _, v := range n.Inputs {
			if _, _, ok := storedWeight(g, idx, v); ok {
				return true
			}
		}
	}
	return false
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

// paramInputs lists which inputs of each weighted op hold weights or biases.
func paramInputs(n *Node) []int {
	switch n.OpType {
	case "Conv", "ConvTranspose":
		return []int{1, 2}
	case "Gemm":
		return []int{0, 1, 2}
	case "MatMul":
		return []int{0, 1}
	case "Einsum":
		all := make([]int, len(n.Inputs))
		for i := range all {
			all[i] = i
		}
		return all
	}
	return nil
}

func nodeCost(g *Graph, idx *Index, n *Node, typeOf func(*Value) *ValueType) (LayerCost, []constUse) {
	lc := LayerCost{Node: n, Op: n.OpType}
	var uses []constUse
	consts := map[int]*Tensor{}
	for _, i := range paramInputs(n) {
		root, t, ok := storedWeight(g, idx, n.Input(i))
		if !ok {
			continue
		}
		consts[i] = t
		uses = append(uses, constUse{root, t})
		lc.Params += int64(t.Len())
	}
	for _, i := range mainWeightOrder(n) {
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
	if lc.WeightShape == nil && (n.OpType == "Conv" || n.OpType == "ConvTranspose") {
		lc.WeightShape, _ = shapeOf(1)
	}
	lc.MACs = nodeMACs(n, shapeOf, outShape)
	return lc, uses
}

// mainWeightOrder lists the inputs that may be the layer's weight (not its
// bias), preferred first: Conv's W; for Gemm and MatMul the right operand,
// then the left; for Einsum any operand.
func mainWeightOrder(n *Node) []int {
	switch n.OpType {
	case "Conv", "ConvTranspose":
		return []int{1}
	case "Gemm", "MatMul":
		return []int{1, 0}
	}
	return paramInputs(n)
}

func nodeMACs(n *Node, shapeOf func(int) ([]int64, bool), outShape func() ([]int64, bool)) int64 {
	prod := func(s []int64) int64 {
		p := int64(1)
		for _, d := range s {
			p *= d
		}
		return p
	}
	switch n.OpType {
	case "Conv":
		out, ok1 := outShape()
		w, ok2 := shapeOf(1)
		if !ok1 || !ok2 || len(out) < 2 || len(w) < 2 {
			return 0
		}
		return out[0] * out[1] * prod(out[2:]) * prod(w[1:])
	case "ConvTranspose":
		x, ok1 := shapeOf(0)
		w, ok2 := shapeOf(1)
		if !ok1 || !ok2 || len(x) < 2 || len(w) < 2 {
			return 0
		}
		return prod(x) * prod(w[1:])
	case "Gemm":
		out, ok1 := outShape()
		a, ok2 := shapeOf(0)
		if !ok1 || !ok2 || len(a) != 2 {
			return 0
		}
		k := a[1]
		if n.AttrInt("transA", 0) != 0 {
			k = a[0]
		}
		return prod(out) * k
	case "MatMul":
		out, ok1 := outShape()
		a, ok2 := shapeOf(0)
		if !ok1 || !ok2 || len(a) == 0 {
			return 0
		}
		return prod(out) * a[len(a)-1]
	case "Einsum":
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
