package graph

// Shape inference for reductions and selections along axes.

import "fmt"

func inferReduce(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	keep := c.n.AttrInt("keepdims", 1) != 0
	axes, given, present := c.axesInput(1)
	if !present {
		if keep {
			out := unknownShape(len(x))
			return one(tensorType(elem, out))
		}
		return one(elemType(elem))
	}
	reduce := make([]bool, len(x))
	if !given || len(axes) == 0 {
		if c.n.AttrInt("noop_with_empty_axes", 0) != 0 {
			return one(tensorType(elem, append(Shape(nil), x...)))
		}
		for i := range reduce {
			reduce[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		reduce[ax] = true
	}
	out := Shape{}
	for i, d := range x {
		switch {
		case !reduce[i]:
			out = append(out, d)
		case keep:
			out = append(out, Dim{Value: 1})
		}
	}
	return one(tensorType(elem, out))
}

func inferArgReduce(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return one(elemType(Int64))
	}
	axis, err := normAxis(c.n.AttrInt("axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	out := Shape{}
	for i, d := range x {
		switch {
		case i != axis:
			out = append(out, d)
		case c.n.AttrInt("keepdims", 1) != 0:
			out = append(out, Dim{Value: 1})
		}
	}
	return one(tensorType(Int64, out))
}

func inferTopK(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return []*ValueType{elemType(elem), elemType(Int64)}, nil
	}
	axis, err := normAxis(c.n.AttrInt("axis", -1), len(x))
	if err != nil {
		return nil, err
	}
	k := unknownDim()
	if c.has(1) {
		if ks, ok := c.ints(1); ok {
			if len(ks) != 1 {
				return nil, fmt.Errorf("K must hold one value, got %v", ks)
			}
			k = Dim{Value: ks[0]}
		}
	} else if a := c.n.Attr("k"); a != nil {
		k = Dim{Value: a.I}
	}
	if k.Known() && x[axis].Known() && k.Value > x[axis].Value {
		return nil, fmt.Errorf("K %d exceeds axis %d of size %d", k.Value, axis, x[axis].Value)
	}
	out := append(Shape(nil), x...)
	out[axis] = k
	return []*ValueType{tensorType(elem, out), tensorType(Int64, append(Shape(nil), out...))}, nil
}
