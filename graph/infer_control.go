package graph

// Shape inference for control flow: the bodies are inferred in the scope
// of the node that holds them.

import "fmt"

// inferIf infers both branches; an output keeps what the branches agree on.
func inferIf(c *nodeCtx) ([]*ValueType, error) {
	thenG, elseG := c.n.Attr("then_branch"), c.n.Attr("else_branch")
	if thenG == nil || elseG == nil || thenG.G == nil || elseG.G == nil {
		return nil, fmt.Errorf("If needs then_branch and else_branch graphs")
	}
	for _, sg := range []*Graph{thenG.G, elseG.G} {
		if err := c.inf.graph(sg, c.sc); err != nil {
			return nil, fmt.Errorf("subgraph %q: %w", sg.Name, err)
		}
	}
	if len(thenG.G.Outputs) != len(elseG.G.Outputs) {
		return nil, fmt.Errorf("branches have %d and %d outputs", len(thenG.G.Outputs), len(elseG.G.Outputs))
	}
	outs := make([]*ValueType, len(thenG.G.Outputs))
	for i := range outs {
		a, b := c.inf.typeOf(thenG.G.Outputs[i]), c.inf.typeOf(elseG.G.Outputs[i])
		outs[i] = joinTypes(a, b)
	}
	return outs, nil
}

// joinTypes is the most specific type both a and b satisfy.
func joinTypes(a, b *ValueType) *ValueType {
	if a == nil || b == nil || a.Elem != b.Elem {
		return nil
	}
	if !a.HasShape || !b.HasShape || len(a.Shape) != len(b.Shape) {
		return elemType(a.Elem)
	}
	s := make(Shape, len(a.Shape))
	for i := range s {
		x, y := a.Shape[i], b.Shape[i]
		switch {
		case x.Known() && y.Known() && x.Value == y.Value, x.Param != "" && x.Param == y.Param:
			s[i] = Dim{Value: x.Value, Param: x.Param}
		default:
			s[i] = unknownDim()
		}
	}
	return tensorType(a.Elem, s)
}

// inferLoop infers the body; loop-carried outputs take the carried inputs'
// types, scan outputs gain a leading dimension of unknown length.
func inferLoop(c *nodeCtx) ([]*ValueType, error) {
	body := c.n.Attr("body")
	if body == nil || body.G == nil {
		return nil, fmt.Errorf("Loop needs a body graph")
	}
	// Body inputs declared without a shape take the loop's: iteration count,
	// condition, then the carried values with their rank (their sizes may
	// change from one iteration to the next).
	for i, v := range body.G.Inputs {
		if v == nil {
			continue
		}
		if t := c.inf.typeOf(v); t != nil && t.HasShape {
			continue
		}
		switch {
		case i == 0 && c.inf.typeOf(v) == nil:
			c.inf.setType(v, tensorType(Int64, Shape{}))
		case i == 1 && c.inf.typeOf(v) == nil:
			c.inf.setType(v, tensorType(Bool, Shape{}))
		default:
			if t := c.typ(i); t != nil {
				nt := &ValueType{Elem: t.Elem, HasShape: t.HasShape}
				for range t.Shape {
					nt.Shape = append(nt.Shape, unknownDim())
				}
				merged, err := mergeTypes(c.inf.typeOf(v), nt)
				if err != nil {
					return nil, fmt.Errorf("body input %q: %w", v.Name, err)
				}
				c.inf.setType(v, merged)
			}
		}
	}
	if err := c.inf.graph(body.G, c.sc); err != nil {
		return nil, fmt.Errorf("subgraph %q: %w", body.G.Name, err)
	}
	carried := len(c.n.Inputs) - 2
	if carried < 0 {
		return nil, nil
	}
	outs := make([]*ValueType, len(c.n.Outputs))
	for i := range outs {
		switch {
		case i < carried:
			outs[i] = joinTypes(c.typ(2+i), c.inf.typeOf(bodyOutput(body.G, 1+i)))
		default:
			t := c.inf.typeOf(bodyOutput(body.G, 1+i))
			if t != nil && t.HasShape {
				outs[i] = tensorType(t.Elem, append(Shape{unknownDim()}, t.Shape...))
			} else if t != nil {
				outs[i] = elemType(t.Elem)
			}
		}
	}
	return outs, nil
}

func bodyOutput(g *Graph, i int) *Value {
	if i < len(g.Outputs) {
		return g.Outputs[i]
	}
	return nil
}
