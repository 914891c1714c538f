package graph

// ConstTensor returns the constant data of v: v's initializer, the tensor of
// the Constant node producing v, or either of those reached through a chain
// of Identity nodes. Exporters use all three for weights (torch shares equal
// biases through Identity; PaddleOCR keeps Conv weights in Constant nodes).
// idx may be nil, in which case one is built for g. The tensor returned is
// the stored one, not a copy, except for the scalar and list forms of
// Constant (value_float, value_ints, …), which are built afresh.
func ConstTensor(g *Graph, idx *Index, v *Value) (*Tensor, bool) {
	_, t, ok := constSource(g, idx, v)
	return t, ok
}

// constSource is ConstTensor that also names where the data is stored: the
// initializer value or the Constant node's output. Two weights with the same
// source are one stored tensor.
func constSource(g *Graph, idx *Index, v *Value) (*Value, *Tensor, bool) {
	if v == nil {
		return nil, nil, false
	}
	if idx == nil {
		idx = NewIndex(g)
	}
	seen := map[*Value]bool{}
	for !seen[v] {
		seen[v] = true
		if v.Const != nil {
			return v, v.Const, true
		}
		p := idx.Producer(v)
		if p == nil || !p.IsDefaultDomain() {
			return nil, nil, false
		}
		switch p.OpType {
		case "Identity":
			if len(p.Inputs) != 1 || p.Inputs[0] == nil {
				return nil, nil, false
			}
			v = p.Inputs[0]
		case "Constant":
			t, ok := constantNodeTensor(p)
			return v, t, ok
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// constantNodeTensor decodes a Constant node's numeric attribute forms.
// String and sparse forms are not numeric weights and are not resolved.
func constantNodeTensor(n *Node) (*Tensor, bool) {
	if len(n.Outputs) == 0 || n.Outputs[0] == nil {
		return nil, false
	}
	name := n.Outputs[0].Name
	for _, a := range n.Attrs {
		switch {
		case a.Name == "value" && a.Kind == AttrTensor && a.T != nil:
			if a.T.Validate() != nil {
				return nil, false
			}
			return a.T, true
		case a.Name == "value_float" && a.Kind == AttrFloat:
			return NewFloat32(name, nil, []float32{a.F}), true
		case a.Name == "value_floats" && a.Kind == AttrFloats:
			return NewFloat32(name, []int64{int64(len(a.Floats))}, a.Floats), true
		case a.Name == "value_int" && a.Kind == AttrInt:
			return NewInt64(name, nil, []int64{a.I}), true
		case a.Name == "value_ints" && a.Kind == AttrInts:
			return NewInt64(name, []int64{int64(len(a.Ints))}, a.Ints), true
		}
	}
	return nil, false
}
