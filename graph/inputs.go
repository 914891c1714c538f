package graph

import "fmt"

// RealInputs are the graph inputs a caller must feed: those that are not
// also initializers (IR < 4 files list every weight as an input too).
func RealInputs(g *Graph) []*Value {
	var out []*Value
	for _, v := range g.Inputs {
		if !v.IsConst() {
			out = append(out, v)
		}
	}
	return out
}

// ConcreteInputShapes gives every real input a fully known shape: the one
// in given when present, else its declared shape with each unknown or
// symbolic dimension set to 1 (batch 1). An input of unknown rank without a
// given shape, or a given name that is not an input, is an error.
func ConcreteInputShapes(g *Graph, given map[string]Shape) (map[string]Shape, error) {
	out := map[string]Shape{}
	inputs := RealInputs(g)
	known := map[string]bool{}
	for _, in := range inputs {
		known[in.Name] = true
		if s, ok := given[in.Name]; ok {
			if _, concrete := s.Ints(); !concrete {
				return nil, fmt.Errorf("input %q: shape %v is not concrete", in.Name, s)
			}
			out[in.Name] = s
			continue
		}
		if in.Type == nil || !in.Type.HasShape {
			return nil, fmt.Errorf("input %q has no declared shape; give one", in.Name)
		}
		s := make(Shape, len(in.Type.Shape))
		for i, d := range in.Type.Shape {
			s[i] = Dim{Value: 1}
			if d.Known() {
				s[i].Value = d.Value
			}
		}
		out[in.Name] = s
	}
	for name := range given {
		if !known[name] {
			return nil, fmt.Errorf("the model has no input %q", name)
		}
	}
	return out, nil
}
