package graph

import (
	"fmt"
	"sort"
)

// InferShapes fills Value.Type for every value of m's graph (and subgraphs)
// whose type follows from the graph inputs, the initializers and the
// operators' ONNX semantics. inputs, when given, overrides the shapes of the
// named graph inputs (their element types stay), for example to fix a
// symbolic batch size. Symbolic dimensions are carried through where the
// operator keeps them. Operators it does not know leave their outputs as
// declared. A declared type that contradicts the inferred one is an error
// naming the node; otherwise the more specific of the two is kept. On error
// the model is left unchanged.
func InferShapes(m *Model, inputs map[string]Shape) error {
	if m == nil || m.Graph == nil {
		return fmt.Errorf("shape inference: model has no graph")
	}
	inf := newInferer(m.OpsetVersion(""))
	if err := inf.overrideInputs(m.Graph, inputs); err != nil {
		return err
	}
	if err := inf.graph(m.Graph, nil); err != nil {
		return err
	}
	inf.commit()
	return nil
}

// inferredTypes runs inference without touching the model: the result maps
// values to their inferred (merged) types. Verify and the cost model use it.
func inferredTypes(g *Graph, opset int64, inputs map[string]Shape) (*inferer, error) {
	inf := newInferer(opset)
	if err := inf.overrideInputs(g, inputs); err != nil {
		return nil, err
	}
	if err := inf.graph(g, nil); err != nil {
		return nil, err
	}
	return inf, nil
}

// inferer holds inference state. New types go to a side table so that
// Verify and the cost model can infer without editing the graph;
// InferShapes commits the table at the end.
type inferer struct {
	opset int64 // default-domain opset; 0 when unknown (treated as recent)
	types map[*Value]*ValueType
	order []*Value // values in types, in the order first set (for commit)
	data  map[*Value]shapeData
}

// scope is one graph being inferred; parent is the enclosing graph for
// subgraphs, where captured values live.
type scope struct {
	g      *Graph
	idx    *Index
	parent *scope
}

func newInferer(opset int64) *inferer {
	return &inferer{opset: opset, types: map[*Value]*ValueType{}, data: map[*Value]shapeData{}}
}

func (inf *inferer) typeOf(v *Value) *ValueType {
	if v == nil {
		return nil
	}
	if t, ok := inf.types[v]; ok {
		return t
	}
	return v.Type
}

func (inf *inferer) setType(v *Value, t *ValueType) {
	if _, ok := inf.types[v]; !ok {
		inf.order = append(inf.order, v)
	}
	inf.types[v] = t
}

func (inf *inferer) commit() {
	for _, v := range inf.order {
		v.Type = inf.types[v]
	}
}

func (inf *inferer) overrideInputs(g *Graph, inputs map[string]Shape) error {
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var found *Value
		for _, v := range g.Inputs {
			if v != nil && v.Name == name {
				found = v
			}
		}
		if found == nil {
			return fmt.Errorf("shape inference: no graph input named %q", name)
		}
		t := &ValueType{HasShape: true, Shape: append(Shape(nil), inputs[name]...)}
		if old := found.Type; old != nil {
			nt := *old
			nt.HasShape, nt.Shape = true, t.Shape
			t = &nt
		}
		inf.setType(found, t)
	}
	return nil
}

// graph infers every node of g in topological order (the stored order may be
// stale after a rewrite; a cyclic graph keeps it, and Verify reports the
// cycle). Initializer types are checked against their data first.
func (inf *inferer) graph(g *Graph, parent *scope) error {
	sc := &scope{g: g, idx: NewIndex(g), parent: parent}
	for _, v := range g.Initializers {
		if v == nil || v.Const == nil {
			continue
		}
		t := &ValueType{Elem: v.Const.DType, HasShape: true, Shape: KnownShape(v.Const.Dims...)}
		merged, err := mergeTypes(inf.typeOf(v), t)
		if err != nil {
			return fmt.Errorf("initializer %q: %w", v.Name, err)
		}
		inf.setType(v, merged)
	}
	order, cyclic := topoOrder(g.Nodes)
	if cyclic != nil {
		order = g.Nodes
	}
	for _, n := range order {
		if err := inf.node(sc, n); err != nil {
			return err
		}
	}
	return nil
}

func (inf *inferer) node(sc *scope, n *Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("node %s (%s): internal error in shape inference: %v", n.Label(), n.OpType, r)
		}
	}()
	c := &nodeCtx{inf: inf, sc: sc, n: n}
	var outs []*ValueType
	if n.IsDefaultDomain() {
		if f, ok := inferFuncs[n.OpType]; ok {
			outs, err = f(c)
			if err != nil {
				return fmt.Errorf("node %s (%s): %w", n.Label(), n.OpType, err)
			}
		} else if sgs := nodeSubgraphs(n); len(sgs) > 0 {
			for _, sg := range sgs {
				if err := inf.graph(sg, sc); err != nil {
					return fmt.Errorf("node %s (%s): subgraph %q: %w", n.Label(), n.OpType, sg.Name, err)
				}
			}
		}
	}
	for i, v := range n.Outputs {
		if v == nil || i >= len(outs) || outs[i] == nil {
			continue
		}
		merged, err := mergeTypes(inf.typeOf(v), outs[i])
		if err != nil {
			return fmt.Errorf("node %s (%s): output %q: %w", n.Label(), n.OpType, v.Name, err)
		}
		inf.setType(v, merged)
	}
	inf.propagateData(c)
	return nil
}

// mergeTypes combines a declared type with an inferred one, keeping the more
// specific of each part, or reports a contradiction.
func mergeTypes(declared, inferred *ValueType) (*ValueType, error) {
	if inferred == nil {
		return declared, nil
	}
	if declared == nil {
		t := *inferred
		return &t, nil
	}
	out := *declared
	if declared.Elem != Undefined && inferred.Elem != Undefined && declared.Elem != inferred.Elem {
		return nil, fmt.Errorf("declared element type %s, inferred %s", declared.Elem, inferred.Elem)
	}
	if out.Elem == Undefined {
		out.Elem = inferred.Elem
	}
	if !inferred.HasShape {
		return &out, nil
	}
	if !declared.HasShape {
		out.HasShape, out.Shape = true, append(Shape(nil), inferred.Shape...)
		return &out, nil
	}
	if len(declared.Shape) != len(inferred.Shape) {
		return nil, fmt.Errorf("declared shape %v, inferred %v (rank differs)", declared.Shape, inferred.Shape)
	}
	shape := make(Shape, len(declared.Shape))
	for i, d := range declared.Shape {
		m, ok := mergeDim(d, inferred.Shape[i])
		if !ok {
			return nil, fmt.Errorf("declared shape %v, inferred %v", declared.Shape, inferred.Shape)
		}
		shape[i] = m
	}
	out.Shape = shape
	return &out, nil
}

// mergeDim keeps the more specific of a declared and an inferred dimension;
// false when both are known and differ.
func mergeDim(d, e Dim) (Dim, bool) {
	switch {
	case d.Known() && e.Known():
		return d, d.Value == e.Value
	case d.Known():
		return d, true
	case e.Known():
		return Dim{Value: e.Value, Denotation: d.Denotation}, true
	case d.Param != "":
		return d, true
	case e.Param != "":
		return Dim{Param: e.Param, Denotation: d.Denotation}, true
	}
	return Dim{Value: -1, Denotation: d.Denotation}, true
}

// nodeCtx gives an operator's inference function access to its inputs.
type nodeCtx struct {
	inf *inferer
	sc  *scope
	n   *Node
}

type inferFunc func(c *nodeCtx) ([]*ValueType, error)

// in returns input i's value (nil when absent, omitted, or i < 0).
func (c *nodeCtx) in(i int) *Value {
	if i < 0 {
		return nil
	}
	return c.n.Input(i)
}

// typ returns input i's type, or nil.
func (c *nodeCtx) typ(i int) *ValueType { return c.inf.typeOf(c.in(i)) }

// elem returns input i's element type, or Undefined.
func (c *nodeCtx) elem(i int) DType {
	if t := c.typ(i); t != nil {
		return t.Elem
	}
	return Undefined
}

// shape returns input i's shape when its rank is known.
func (c *nodeCtx) shape(i int) (Shape, bool) {
	if t := c.typ(i); t != nil && t.HasShape {
		return t.Shape, true
	}
	return nil, false
}

// constant returns input i's constant tensor, looking through Identity
// chains and into the enclosing graphs for captured values.
func (c *nodeCtx) constant(i int) (*Tensor, bool) {
	v := c.in(i)
	if v == nil {
		return nil, false
	}
	for sc := c.sc; sc != nil; sc = sc.parent {
		if t, ok := ConstTensor(sc.g, sc.idx, v); ok {
			return t, true
		}
	}
	return nil, false
}

// ints returns input i as concrete integers: a constant, or propagated shape
// data with every element known.
func (c *nodeCtx) ints(i int) ([]int64, bool) {
	d, ok := c.inf.dataOf(c, c.in(i))
	if !ok {
		return nil, false
	}
	out := make([]int64, len(d.dims))
	for j, x := range d.dims {
		if !x.known {
			return nil, false
		}
		out[j] = x.value
	}
	return out, true
}

// has reports whether input i is present.
func (c *nodeCtx) has(i int) bool { return c.in(i) != nil }

func tensorType(elem DType, shape Shape) *ValueType {
	return &ValueType{Elem: elem, HasShape: true, Shape: shape}
}

func elemType(elem DType) *ValueType {
	if elem == Undefined {
		return nil
	}
	return &ValueType{Elem: elem}
}

// typeLike returns a type with input i's shape (if known) and the given
// element type (input i's when Undefined).
func (c *nodeCtx) typeLike(i int, elem DType) *ValueType {
	if elem == Undefined {
		elem = c.elem(i)
	}
	if s, ok := c.shape(i); ok {
		return tensorType(elem, append(Shape(nil), s...))
	}
	return elemType(elem)
}
