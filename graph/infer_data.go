package graph

// shapeData is the known content of a small integer tensor (rank 0 or 1),
// typically a shape computed in the graph by Shape → Gather → Concat chains.
// Elements may be symbolic or unknown, like dimensions.
type shapeData struct {
	dims   []datum
	scalar bool
}

// datum is one element of shape data: a number (which, unlike a Dim, may be
// negative, as in Reshape's -1), a symbolic dimension, or unknown.
type datum struct {
	value int64
	param string
	known bool
}

func numDatum(v int64) datum { return datum{value: v, known: true} }

func dimDatum(d Dim) datum {
	if d.Known() {
		return numDatum(d.Value)
	}
	return datum{param: d.Param}
}

// dim converts to a dimension; negative numbers become unknown.
func (x datum) dim() Dim {
	switch {
	case x.known && x.value >= 0:
		return Dim{Value: x.value}
	case x.param != "":
		return Dim{Param: x.param}
	}
	return unknownDim()
}

func numData(vals []int64, scalar bool) shapeData {
	d := shapeData{scalar: scalar, dims: make([]datum, len(vals))}
	for i, v := range vals {
		d.dims[i] = numDatum(v)
	}
	return d
}

func dimsData(s Shape) shapeData {
	d := shapeData{dims: make([]datum, len(s))}
	for i, x := range s {
		d.dims[i] = dimDatum(x)
	}
	return d
}

// maxShapeData bounds the tensors tracked: shapes are short, and anything
// longer is data, not a shape.
const maxShapeData = 64

func unknownDim() Dim { return Dim{Value: -1} }

// unknownShape is a shape of known rank and unknown sizes.
func unknownShape(rank int) Shape {
	s := make(Shape, rank)
	for i := range s {
		s[i] = unknownDim()
	}
	return s
}

// dataOf returns the known content of v: propagated data or an integer
// constant of rank 0 or 1.
func (inf *inferer) dataOf(c *nodeCtx, v *Value) (shapeData, bool) {
	if v == nil {
		return shapeData{}, false
	}
	if d, ok := inf.data[v]; ok {
		return d, true
	}
	for sc := c.sc; sc != nil; sc = sc.parent {
		t, ok := ConstTensor(sc.g, sc.idx, v)
		if !ok {
			continue
		}
		if len(t.Dims) > 1 || t.DType.IsFloat() || t.DType.Size() == 0 || t.Len() > maxShapeData {
			return shapeData{}, false
		}
		vals, err := t.Int64s()
		if err != nil {
			return shapeData{}, false
		}
		return numData(vals, len(t.Dims) == 0), true
	}
	return shapeData{}, false
}

// propagateData records the content of node outputs that are shapes or
// pieces of shapes, so that Reshape, Expand, ConstantOfShape and friends can
// use them.
func (inf *inferer) propagateData(c *nodeCtx) {
	n := c.n
	if !n.IsDefaultDomain() || len(n.Outputs) == 0 || n.Outputs[0] == nil {
		return
	}
	out, ok := inf.computeData(c)
	if ok && len(out.dims) <= maxShapeData {
		inf.data[n.Outputs[0]] = out
	}
}

func (inf *inferer) computeData(c *nodeCtx) (shapeData, bool) {
	n := c.n
	switch n.OpType {
	case "Shape":
		s, ok := c.shape(0)
		if !ok {
			return shapeData{}, false
		}
		start, end := shapeRange(n, int64(len(s)))
		return dimsData(s[start:end]), true
	case "Size":
		s, ok := c.shape(0)
		if !ok {
			return shapeData{}, false
		}
		ints, ok := s.Ints()
		if !ok {
			return shapeData{dims: []datum{{}}, scalar: true}, true
		}
		p, err := NumElements(ints)
		if err != nil {
			return shapeData{}, false
		}
		return numData([]int64{p}, true), true
	case "Identity", "Cast", "Reshape":
		d, ok := inf.dataOf(c, c.in(0))
		if !ok {
			return shapeData{}, false
		}
		if n.OpType == "Cast" && !isIntegerDType(castTarget(n)) {
			return shapeData{}, false
		}
		if n.OpType == "Reshape" {
			if t := inf.typeOf(n.Outputs[0]); t == nil || !t.HasShape || len(t.Shape) != 1 {
				return shapeData{}, false
			}
			d.scalar = false
		}
		return d, true
	case "Gather":
		d, ok := inf.dataOf(c, c.in(0))
		if !ok || d.scalar || n.AttrInt("axis", 0) != 0 {
			return shapeData{}, false
		}
		ix, ok := inf.dataOf(c, c.in(1))
		if !ok {
			return shapeData{}, false
		}
		out := shapeData{scalar: ix.scalar}
		for _, x := range ix.dims {
			if !x.known {
				return shapeData{}, false
			}
			i := x.value
			if i < 0 {
				i += int64(len(d.dims))
			}
			if i < 0 || i >= int64(len(d.dims)) {
				return shapeData{}, false
			}
			out.dims = append(out.dims, d.dims[i])
		}
		return out, true
	case "Unsqueeze":
		d, ok := inf.dataOf(c, c.in(0))
		if !ok || !d.scalar {
			return shapeData{}, false
		}
		return shapeData{dims: d.dims}, true
	case "Squeeze":
		d, ok := inf.dataOf(c, c.in(0))
		if !ok || d.scalar || len(d.dims) != 1 {
			return shapeData{}, false
		}
		return shapeData{dims: d.dims, scalar: true}, true
	case "Concat":
		var out shapeData
		for i := range n.Inputs {
			d, ok := inf.dataOf(c, c.in(i))
			if !ok || d.scalar {
				return shapeData{}, false
			}
			out.dims = append(out.dims, d.dims...)
		}
		return out, true
	case "Slice":
		d, ok := inf.dataOf(c, c.in(0))
		if !ok || d.scalar {
			return shapeData{}, false
		}
		spec, ok := sliceSpecOf(c)
		if !ok {
			return shapeData{}, false
		}
		out := shapeData{dims: d.dims}
		for _, a := range spec {
			if a.axis != 0 && a.axis != -1 {
				return shapeData{}, false
			}
			start, step, count := a.resolve(int64(len(d.dims)))
			out.dims = nil
			for k := int64(0); k < count; k++ {
				out.dims = append(out.dims, d.dims[start+k*step])
			}
		}
		return out, true
	case "ConstantOfShape":
		// An integer fill of a known 1-D length, as expanded functions
		// build shape suffixes of ones.
		shape, ok := c.ints(0)
		a := n.Attr("value")
		if !ok || len(shape) != 1 || shape[0] < 0 || shape[0] > maxShapeData || a == nil || a.T == nil || !isIntegerDType(a.T.DType) || a.T.Len() != 1 {
			return shapeData{}, false
		}
		fill, err := a.T.Int64s()
		if err != nil {
			return shapeData{}, false
		}
		vals := make([]int64, shape[0])
		for i := range vals {
			vals[i] = fill[0]
		}
		return numData(vals, false), true
	case "Add", "Sub", "Mul", "Div":
		a, ok1 := inf.dataOf(c, c.in(0))
		b, ok2 := inf.dataOf(c, c.in(1))
		if !ok1 || !ok2 {
			return shapeData{}, false
		}
		return arithData(n.OpType, a, b)
	}
	return shapeData{}, false
}

func arithData(op string, a, b shapeData) (shapeData, bool) {
	la, lb := len(a.dims), len(b.dims)
	if la == 0 || lb == 0 || (la != lb && la != 1 && lb != 1) {
		return shapeData{}, false
	}
	out := shapeData{scalar: a.scalar && b.scalar}
	for i := 0; i < max(la, lb); i++ {
		x, y := a.dims[min(i, la-1)], b.dims[min(i, lb-1)]
		r := datum{}
		is := func(d datum, v int64) bool { return d.known && d.value == v }
		switch {
		case x.known && y.known:
			switch op {
			case "Add":
				r = numDatum(x.value + y.value)
			case "Sub":
				r = numDatum(x.value - y.value)
			case "Mul":
				r = numDatum(x.value * y.value)
			case "Div":
				if y.value == 0 {
					return shapeData{}, false
				}
				r = numDatum(x.value / y.value) // ONNX integer Div truncates
			}
		case (op == "Mul" || op == "Div") && is(y, 1), (op == "Add" || op == "Sub") && is(y, 0):
			r = x
		case op == "Mul" && is(x, 1), op == "Add" && is(x, 0):
			r = y
		}
		out.dims = append(out.dims, r)
	}
	return out, true
}

func isIntegerDType(d DType) bool {
	switch d {
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return true
	}
	return false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// shapeRange resolves Shape's start/end attributes (opset 15) for rank r.
func shapeRange(n *Node, r int64) (int64, int64) {
	start, end := n.AttrInt("start", 0), n.AttrInt("end", r)
	clamp := func(x int64) int64 {
		if x < 0 {
			x += r
		}
		return min(max(x, 0), r)
	}
	start, end = clamp(start), clamp(end)
	if end < start {
		end = start
	}
	return start, end
}
