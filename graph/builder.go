package graph

import "fmt"

// Builder emits nodes and values into a graph with names that never collide
// with existing ones. Rewrite passes and test models both use it. Nodes are
// appended; passes that insert mid-graph run TopoSort afterwards.
type Builder struct {
	G     *Graph
	taken map[string]bool
}

// NewBuilder indexes every name already used in g (node names and value
// names, including inside subgraphs, which may shadow nothing of ours).
func NewBuilder(g *Graph) *Builder {
	b := &Builder{G: g, taken: map[string]bool{}}
	b.collect(g)
	return b
}

func (b *Builder) collect(g *Graph) {
	mark := func(v *Value) {
		if v != nil {
			b.taken[v.Name] = true
		}
	}
	for _, v := range g.Inputs {
		mark(v)
	}
	for _, v := range g.Outputs {
		mark(v)
	}
	for _, v := range g.Initializers {
		mark(v)
	}
	for _, v := range g.ValueInfo {
		mark(v)
	}
	for _, n := range g.Nodes {
		if n.Name != "" {
			b.taken[n.Name] = true
		}
		for _, v := range n.Inputs {
			mark(v)
		}
		for _, v := range n.Outputs {
			mark(v)
		}
		for _, a := range n.Attrs {
			if a.G != nil {
				b.collect(a.G)
			}
			for _, sg := range a.Graphs {
				b.collect(sg)
			}
		}
	}
}

// Name returns base if unused, else base_1, base_2, …; the name is reserved.
func (b *Builder) Name(base string) string {
	if base == "" {
		base = "v"
	}
	name := base
	for i := 1; b.taken[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	b.taken[name] = true
	return name
}

// Value makes a fresh, unattached value with a unique name.
func (b *Builder) Value(base string) *Value { return &Value{Name: b.Name(base)} }

// Input adds a graph input.
func (b *Builder) Input(name string, dtype DType, shape Shape) *Value {
	v := &Value{Name: b.Name(name), Type: &ValueType{Elem: dtype, HasShape: shape != nil, Shape: shape}}
	b.G.Inputs = append(b.G.Inputs, v)
	return v
}

// Output marks v as a graph output.
func (b *Builder) Output(v *Value) { b.G.Outputs = append(b.G.Outputs, v) }

// Const adds an initializer holding t; t is renamed to the value's unique name.
func (b *Builder) Const(base string, t *Tensor) *Value {
	name := b.Name(base)
	t.Name = name
	shape := make(Shape, len(t.Dims))
	for i, d := range t.Dims {
		shape[i] = Dim{Value: d}
	}
	v := &Value{Name: name, Const: t, Type: &ValueType{Elem: t.DType, HasShape: true, Shape: shape}}
	b.G.Initializers = append(b.G.Initializers, v)
	return v
}

// Node appends a node with nOut fresh outputs named after the node.
func (b *Builder) Node(opType, name string, inputs []*Value, nOut int, attrs ...*Attr) *Node {
	if name == "" {
		name = opType
	}
	n := &Node{Name: b.Name(name), OpType: opType, Inputs: inputs, Attrs: attrs}
	for i := 0; i < nOut; i++ {
		base := n.Name
		if nOut > 1 {
			base = fmt.Sprintf("%s_out%d", n.Name, i)
		}
		n.Outputs = append(n.Outputs, b.Value(base))
	}
	b.G.Nodes = append(b.G.Nodes, n)
	return n
}

// Op appends a single-output node and returns its output.
func (b *Builder) Op(opType, name string, inputs []*Value, attrs ...*Attr) *Value {
	return b.Node(opType, name, inputs, 1, attrs...).Outputs[0]
}
