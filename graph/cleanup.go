package graph

// EliminateDeadNodes removes the nodes of g (and of its subgraphs) whose
// outputs reach no graph output, then the initializers nothing reads any more
// (an initializer that is also a graph input stays: it is part of the
// interface) and the value_info entries of values that no longer exist. It
// returns how many nodes it removed.
func EliminateDeadNodes(g *Graph) int {
	removed := 0
	// Cleaning a subgraph can drop its last read of an outer value, so
	// repeat until nothing changes.
	for {
		r := eliminateDeadOnce(g)
		removed += r
		if r == 0 {
			break
		}
	}
	dropUnusedInitializers(g)
	dropStaleValueInfo(g)
	return removed
}

func eliminateDeadOnce(g *Graph) int {
	removed := 0
	live := map[*Value]bool{}
	for _, v := range g.Outputs {
		if v != nil {
			live[v] = true
		}
	}
	keep := make([]bool, len(g.Nodes))
	// Walking backwards visits every consumer before its producer, except in
	// a graph out of order, which we then repeat until nothing changes.
	for changed := true; changed; {
		changed = false
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			if keep[i] {
				continue
			}
			n := g.Nodes[i]
			for _, v := range n.Outputs {
				if v != nil && live[v] {
					keep[i] = true
					break
				}
			}
			if keep[i] {
				changed = true
				for _, v := range NodeReads(n) {
					live[v] = true
				}
			}
		}
	}
	nodes := g.Nodes[:0:0]
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		} else {
			removed++
		}
	}
	g.Nodes = nodes
	for _, n := range g.Nodes {
		for _, sg := range nodeSubgraphs(n) {
			removed += EliminateDeadNodes(sg)
		}
	}
	return removed
}

func dropUnusedInitializers(g *Graph) {
	used := map[*Value]bool{}
	for _, v := range g.Outputs {
		used[v] = true
	}
	for _, v := range g.Inputs {
		used[v] = true
	}
	for _, n := range g.Nodes {
		for _, v := range NodeReads(n) {
			used[v] = true
		}
	}
	inputNames := map[string]bool{}
	for _, v := range g.Inputs {
		if v != nil {
			inputNames[v.Name] = true
		}
	}
	kept := g.Initializers[:0:0]
	for _, v := range g.Initializers {
		if used[v] || (v != nil && inputNames[v.Name]) {
			kept = append(kept, v)
		}
	}
	g.Initializers = kept
}

func dropStaleValueInfo(g *Graph) {
	exists := map[*Value]bool{}
	for _, v := range g.Inputs {
		exists[v] = true
	}
	for _, v := range g.Initializers {
		exists[v] = true
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			exists[v] = true
		}
	}
	// A subgraph's value_info may describe outer values it reads.
	for _, v := range FreeValues(g) {
		exists[v] = true
	}
	kept := g.ValueInfo[:0:0]
	for _, v := range g.ValueInfo {
		if exists[v] {
			kept = append(kept, v)
		}
	}
	g.ValueInfo = kept
}

// ReplaceAllUses makes every reader of old read new instead: node inputs,
// subgraph references and graph outputs. The node producing new is left
// alone, so inserting new = f(old) after old and then calling
// ReplaceAllUses(g, old, new) does not create a cycle. A graph output that
// was old becomes new, under new's name; callers that must keep the
// output's name give new that name.
func ReplaceAllUses(g *Graph, old, new *Value) {
	if old == nil || old == new {
		return
	}
	var producerOfNew *Node
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v == new {
				producerOfNew = n
			}
		}
	}
	for _, n := range g.Nodes {
		if n == producerOfNew {
			continue
		}
		replaceInNode(n, old, new)
	}
	for i, v := range g.Outputs {
		if v == old {
			g.Outputs[i] = new
		}
	}
}

func replaceInNode(n *Node, old, new *Value) {
	for i, v := range n.Inputs {
		if v == old {
			n.Inputs[i] = new
		}
	}
	for _, sg := range nodeSubgraphs(n) {
		replaceInSubgraph(sg, old, new)
	}
}

// replaceInSubgraph rewires a body's references to the outer value old.
func replaceInSubgraph(g *Graph, old, new *Value) {
	for _, n := range g.Nodes {
		replaceInNode(n, old, new)
	}
	for i, v := range g.Outputs {
		if v == old {
			g.Outputs[i] = new
		}
	}
}
