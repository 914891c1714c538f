package graph

// Clone copies a type (nil stays nil).
func (t *ValueType) Clone() *ValueType {
	if t == nil {
		return nil
	}
	c := *t
	c.Shape = append(Shape(nil), t.Shape...)
	return &c
}

// TypeSnapshot holds copies of values' types, to put back after shape
// inference at fixed sizes (batch 1 for costing, say) so that the model keeps
// the types it declares and a later inference at other sizes does not see a
// contradiction.
type TypeSnapshot map[*Value]*ValueType

// DeclaredTypes snapshots the types a file declares: graph inputs, outputs
// and value_info.
func DeclaredTypes(g *Graph) TypeSnapshot {
	s := TypeSnapshot{}
	for _, list := range [][]*Value{g.Inputs, g.Outputs, g.ValueInfo} {
		s.add(list)
	}
	return s
}

// AllTypes snapshots every value of g's top level: the declared ones plus
// initializers and node outputs.
func AllTypes(g *Graph) TypeSnapshot {
	s := DeclaredTypes(g)
	s.add(g.Initializers)
	for _, n := range g.Nodes {
		s.add(n.Outputs)
	}
	return s
}

func (s TypeSnapshot) add(vs []*Value) {
	for _, v := range vs {
		if _, seen := s[v]; v != nil && !seen {
			s[v] = v.Type.Clone()
		}
	}
}

// Restore puts the snapshot's types back.
func (s TypeSnapshot) Restore() {
	for v, t := range s {
		v.Type = t
	}
}
