package graph

// Index answers "who produces this value" and "who reads it" for one graph.
// It is a snapshot: rebuild it after editing the graph.
//
// A node holding subgraphs (If, Loop, Scan) reads every outer value its
// bodies reference, so it is listed among that value's consumers.
type Index struct {
	g         *Graph
	producer  map[*Value]*Node
	consumers map[*Value][]*Node
	byName    map[string]*Value
	isOutput  map[*Value]bool
}

// NewIndex indexes g's nodes, inputs, initializers and outputs.
func NewIndex(g *Graph) *Index {
	idx := &Index{
		g:         g,
		producer:  map[*Value]*Node{},
		consumers: map[*Value][]*Node{},
		byName:    map[string]*Value{},
		isOutput:  map[*Value]bool{},
	}
	name := func(v *Value) {
		if v != nil && v.Name != "" {
			if _, seen := idx.byName[v.Name]; !seen {
				idx.byName[v.Name] = v
			}
		}
	}
	for _, v := range g.Inputs {
		name(v)
	}
	for _, v := range g.Initializers {
		name(v)
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v == nil {
				continue
			}
			if _, dup := idx.producer[v]; !dup {
				idx.producer[v] = n
			}
			name(v)
		}
	}
	for _, n := range g.Nodes {
		for _, v := range NodeReads(n) {
			idx.consumers[v] = append(idx.consumers[v], n)
		}
	}
	for _, v := range g.Outputs {
		if v != nil {
			idx.isOutput[v] = true
			name(v)
		}
	}
	return idx
}

// Producer returns the node whose output v is, or nil for graph inputs,
// initializers and values from an outer scope.
func (idx *Index) Producer(v *Value) *Node { return idx.producer[v] }

// Consumers returns the nodes reading v, directly or from a subgraph, in node
// order, each once.
func (idx *Index) Consumers(v *Value) []*Node { return idx.consumers[v] }

// ValueByName finds a value of the graph (input, initializer, node output or
// graph output) by name; nil when there is none.
func (idx *Index) ValueByName(name string) *Value { return idx.byName[name] }

// IsGraphOutput reports whether v is one of the graph's outputs.
func (idx *Index) IsGraphOutput(v *Value) bool { return idx.isOutput[v] }

// NodeReads lists the values node n reads, each once, in first-use order:
// its inputs (omitted ones skipped) and then the outer-scope values its
// subgraphs reference.
func NodeReads(n *Node) []*Value {
	sgs := nodeSubgraphs(n)
	out := make([]*Value, 0, len(n.Inputs))
	var seen map[*Value]bool // only for nodes reading many values
	add := func(v *Value) {
		if v == nil {
			return
		}
		if seen == nil && len(out) >= 16 {
			seen = map[*Value]bool{}
			for _, u := range out {
				seen[u] = true
			}
		}
		if seen != nil {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
			return
		}
		for _, u := range out {
			if u == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, v := range n.Inputs {
		add(v)
	}
	for _, sg := range sgs {
		for _, v := range FreeValues(sg) {
			add(v)
		}
	}
	return out
}

// FreeValues lists the values g references but does not define (neither a
// graph input, an initializer nor a node output of g or of its nested
// subgraphs): for a subgraph, the outer-scope values it captures. Order is
// first reference.
func FreeValues(g *Graph) []*Value {
	var out []*Value
	seen := map[*Value]bool{}
	var walk func(g *Graph, outer map[*Value]bool)
	walk = func(g *Graph, outer map[*Value]bool) {
		defined := map[*Value]bool{}
		for v := range outer {
			defined[v] = true
		}
		for _, v := range g.Inputs {
			defined[v] = true
		}
		for _, v := range g.Initializers {
			defined[v] = true
		}
		for _, n := range g.Nodes {
			for _, v := range n.Outputs {
				defined[v] = true
			}
		}
		use := func(v *Value) {
			if v != nil && !defined[v] && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		for _, n := range g.Nodes {
			for _, v := range n.Inputs {
				use(v)
			}
			for _, sg := range nodeSubgraphs(n) {
				walk(sg, defined)
			}
		}
		for _, v := range g.Outputs {
			use(v)
		}
	}
	walk(g, nil)
	return out
}

// nodeSubgraphs returns the graphs held in n's attributes, in attribute order.
func nodeSubgraphs(n *Node) []*Graph {
	var out []*Graph
	for _, a := range n.Attrs {
		if a == nil {
			continue
		}
		if a.G != nil {
			out = append(out, a.G)
		}
		for _, sg := range a.Graphs {
			if sg != nil {
				out = append(out, sg)
			}
		}
	}
	return out
}
