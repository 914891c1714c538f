package graph

import "fmt"

// Verify checks that g is a well-formed graph: non-empty node names are
// unique; every value has one definition (a graph input, an initializer, or
// one node output; an initializer may share its name with the input it
// gives a default to); every node input and graph output is defined, by an
// earlier node or an enclosing graph for subgraphs; nodes are acyclic and in
// topological order; initializers agree with their declared types; and the
// declared types agree with what shape inference derives. Errors name the
// node or value at fault.
func Verify(g *Graph) error { return verifyGraphWithOpset(g, 0) }

// VerifyModel checks the model-level fields (IR version, opset imports for
// every operator domain used) and then the graph as Verify does, inferring
// with the model's opset.
func VerifyModel(m *Model) error {
	if m == nil || m.Graph == nil {
		return fmt.Errorf("model has no graph")
	}
	if m.IRVersion <= 0 {
		return fmt.Errorf("model has no IR version")
	}
	imported := map[string]bool{}
	for _, o := range m.Opsets {
		d := o.Domain
		if isDefaultDomain(d) {
			d = ""
		}
		if imported[d] {
			return fmt.Errorf("opset for domain %q imported twice", o.Domain)
		}
		if o.Version <= 0 {
			return fmt.Errorf("opset for domain %q has version %d", o.Domain, o.Version)
		}
		imported[d] = true
	}
	var missing error
	walkNodes(m.Graph, func(n *Node) {
		d := n.Domain
		if isDefaultDomain(d) {
			d = ""
		}
		if missing == nil && !imported[d] {
			missing = fmt.Errorf("node %s (%s) uses domain %q, which the model does not import", n.Label(), n.OpType, n.Domain)
		}
	})
	if missing != nil {
		return missing
	}
	return verifyGraphWithOpset(m.Graph, m.OpsetVersion(""))
}

// walkNodes calls f on every node of g and of its subgraphs, in order.
func walkNodes(g *Graph, f func(*Node)) {
	for _, n := range g.Nodes {
		f(n)
		for _, sg := range nodeSubgraphs(n) {
			walkNodes(sg, f)
		}
	}
}

func verifyGraphWithOpset(g *Graph, opset int64) error {
	if g == nil {
		return fmt.Errorf("no graph")
	}
	if err := verifyNodeNames(g); err != nil {
		return err
	}
	if err := verifyStructure(g, newVerifyScope(nil)); err != nil {
		return err
	}
	_, err := inferredTypes(g, opset, nil)
	return err
}

// verifyNodeNames checks non-empty node names are unique within each graph.
// Exporters may repeat a name in different subgraphs, which ONNX allows.
func verifyNodeNames(g *Graph) error {
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Name != "" && seen[n.Name] {
			return fmt.Errorf("graph %q: node name %q used twice (%s nodes)", g.Name, n.Name, n.OpType)
		}
		seen[n.Name] = true
		for _, sg := range nodeSubgraphs(n) {
			if err := verifyNodeNames(sg); err != nil {
				return fmt.Errorf("node %s (%s): %w", n.Label(), n.OpType, err)
			}
		}
	}
	return nil
}

// verifyScope is the set of values visible in a graph: its own definitions
// so far and those of the enclosing graphs.
type verifyScope struct {
	defined map[*Value]bool
	names   map[string]*Value
	where   map[string]string // name → what defined it, for messages
}

func newVerifyScope(outer *verifyScope) *verifyScope {
	s := &verifyScope{defined: map[*Value]bool{}, names: map[string]*Value{}, where: map[string]string{}}
	if outer != nil {
		for v := range outer.defined {
			s.defined[v] = true
		}
		for k, v := range outer.names {
			s.names[k] = v
		}
		for k, v := range outer.where {
			s.where[k] = v
		}
	}
	return s
}

func (s *verifyScope) define(v *Value, what string) error {
	if s.defined[v] {
		return fmt.Errorf("value %q is defined twice: by %s and by %s", v.Name, s.where[v.Name], what)
	}
	if other, ok := s.names[v.Name]; ok && other != v {
		return fmt.Errorf("value name %q is used by %s and by %s", v.Name, s.where[v.Name], what)
	}
	s.defined[v] = true
	s.names[v.Name] = v
	s.where[v.Name] = what
	return nil
}

func verifyStructure(g *Graph, s *verifyScope) error {
	if _, cyc := topoOrder(g.Nodes); cyc != nil {
		return fmt.Errorf("graph %q has a cycle through node %s", g.Name, cyc.Label())
	}
	inputs := map[string]*Value{}
	for _, v := range g.Inputs {
		if v == nil || v.Name == "" {
			return fmt.Errorf("graph %q has an unnamed input", g.Name)
		}
		if err := s.define(v, "graph input"); err != nil {
			return err
		}
		inputs[v.Name] = v
	}
	for _, v := range g.Initializers {
		if v == nil || v.Name == "" {
			return fmt.Errorf("graph %q has an unnamed initializer", g.Name)
		}
		if v.Const == nil {
			return fmt.Errorf("initializer %q holds no tensor", v.Name)
		}
		if err := v.Const.Validate(); err != nil {
			return fmt.Errorf("initializer %q: %w", v.Name, err)
		}
		if in, ok := inputs[v.Name]; ok {
			if in != v {
				s.defined[v] = true // the default of input v.Name
			}
			continue
		}
		if err := s.define(v, "an initializer"); err != nil {
			return err
		}
	}
	producedLater := map[*Value]*Node{}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v != nil {
				producedLater[v] = n
			}
		}
	}
	for _, n := range g.Nodes {
		if n.OpType == "" {
			return fmt.Errorf("node %s has no op type", n.Label())
		}
		for _, v := range n.Inputs {
			if v == nil || s.defined[v] {
				continue
			}
			if p, ok := producedLater[v]; ok {
				return fmt.Errorf("node %s (%s) reads %q before node %s produces it: nodes are not in topological order", n.Label(), n.OpType, v.Name, p.Label())
			}
			return fmt.Errorf("node %s (%s) reads undefined value %q", n.Label(), n.OpType, v.Name)
		}
		for _, sg := range nodeSubgraphs(n) {
			if err := verifyStructure(sg, newVerifyScope(s)); err != nil {
				return fmt.Errorf("node %s (%s), subgraph %q: %w", n.Label(), n.OpType, sg.Name, err)
			}
		}
		for _, v := range n.Outputs {
			if v == nil || v.Name == "" {
				continue // an omitted optional output
			}
			if err := s.define(v, fmt.Sprintf("node %s (%s)", n.Label(), n.OpType)); err != nil {
				return fmt.Errorf("node %s (%s): %w", n.Label(), n.OpType, err)
			}
		}
	}
	for _, v := range g.Outputs {
		if v == nil {
			return fmt.Errorf("graph %q has a missing output", g.Name)
		}
		if !s.defined[v] {
			return fmt.Errorf("graph %q output %q is not defined", g.Name, v.Name)
		}
	}
	return nil
}
