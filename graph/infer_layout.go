package graph

// Shape inference for operators that move, cut, join or create data.

import (
	"fmt"
	"math"
)

func inferFlatten(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return one(elemType(c.elem(0)))
	}
	axis := c.n.AttrInt("axis", 1)
	r := int64(len(x))
	if axis < -r || axis > r {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	return one(tensorType(c.elem(0), Shape{dimProduct(x[:axis]), dimProduct(x[axis:])}))
}

// elementCount splits a shape's element count into a known factor and the
// symbolic factors; ok is false when some dim is unknown.
func elementCount(s []Dim) (known int64, params []string, ok bool) {
	known = 1
	for _, d := range s {
		switch {
		case d.Known():
			known *= d.Value
		case d.Param != "":
			params = append(params, d.Param)
		default:
			return 0, nil, false
		}
	}
	return known, params, true
}

func inferReshape(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(0)
	var target shapeData
	var ok bool
	if c.n.Attr("shape") != nil && !c.has(1) { // opset 1–4 attribute form
		target, ok = numData(c.n.AttrInts("shape", nil), false), true
	} else {
		target, ok = c.inf.dataOf(c, c.in(1))
	}
	if !ok {
		if s, sok := c.shape(1); sok && len(s) == 1 && s[0].Known() && s[0].Value <= maxShapeData {
			out := unknownShape(int(s[0].Value))
			return one(tensorType(elem, out))
		}
		return one(elemType(elem))
	}
	x, xok := c.shape(0)
	allowZero := c.n.AttrInt("allowzero", 0) != 0
	out := make(Shape, len(target.dims))
	inferAt := -1
	for i, t := range target.dims {
		switch {
		case !t.known:
			out[i] = t.dim()
		case t.value == -1:
			if inferAt >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target.dims)
			}
			inferAt = i
			out[i] = unknownDim()
		case t.value < -1:
			return nil, fmt.Errorf("shape entry %d is invalid", t.value)
		case t.value == 0 && !allowZero:
			if !xok {
				out[i] = unknownDim()
				break
			}
			if i >= len(x) {
				return nil, fmt.Errorf("shape entry %d copies input dim %d, but the input %v has rank %d", i, i, x, len(x))
			}
			out[i] = x[i]
		default:
			out[i] = Dim{Value: t.value}
		}
	}
	if !xok {
		return one(tensorType(elem, out))
	}
	inKnown, inParams, inOK := elementCount(x)
	others := make([]Dim, 0, len(out))
	for i, d := range out {
		if i != inferAt {
			others = append(others, d)
		}
	}
	outKnown, outParams, outOK := elementCount(others)
	if !inOK || !outOK {
		return one(tensorType(elem, out))
	}
	rest, cancelled := removeParams(inParams, outParams)
	if !cancelled {
		return one(tensorType(elem, out))
	}
	if inferAt < 0 {
		if len(rest) == 0 && inKnown != outKnown {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x, inKnown, out)
		}
		return one(tensorType(elem, out))
	}
	switch {
	case outKnown == 0:
		if inKnown != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v: -1 beside a zero dimension", x, target.dims)
		}
	case len(rest) == 0:
		if inKnown%outKnown != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x, inKnown, out)
		}
		out[inferAt] = Dim{Value: inKnown / outKnown}
	case len(rest) == 1 && inKnown == outKnown:
		out[inferAt] = Dim{Param: rest[0]}
	}
	return one(tensorType(elem, out))
}

// removeParams removes each of sub from all (as multisets); false when some
// of sub is not in all.
func removeParams(all, sub []string) ([]string, bool) {
	rest := append([]string(nil), all...)
	for _, p := range sub {
		found := false
		for i, q := range rest {
			if q == p {
				rest = append(rest[:i], rest[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return rest, true
}

func inferTranspose(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return one(elemType(c.elem(0)))
	}
	perm := c.n.AttrInts("perm", nil)
	if perm == nil {
		for i := len(x) - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != len(x) {
		return nil, fmt.Errorf("perm %v for input rank %d", perm, len(x))
	}
	seen := make([]bool, len(x))
	out := make(Shape, len(x))
	for i, p := range perm {
		if p < 0 || p >= int64(len(x)) || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of rank %d", perm, len(x))
		}
		seen[p] = true
		out[i] = x[p]
	}
	return one(tensorType(c.elem(0), out))
}

func inferConcat(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(0)
	var shapes []Shape
	for i := range c.n.Inputs {
		s, ok := c.shape(i)
		if !ok {
			return one(elemType(elem))
		}
		shapes = append(shapes, s)
	}
	if len(shapes) == 0 {
		return one(elemType(elem))
	}
	rank := len(shapes[0])
	defaultAxis := int64(0)
	if c.inf.opset > 0 && c.inf.opset < 4 {
		defaultAxis = 1 // Concat-1 defaulted to the channel axis
	}
	axis, err := normAxis(c.n.AttrInt("axis", defaultAxis), rank)
	if err != nil {
		return nil, err
	}
	out := append(Shape(nil), shapes[0]...)
	for _, s := range shapes[1:] {
		if len(s) != rank {
			return nil, fmt.Errorf("inputs %v differ in rank", shapes)
		}
		for i, d := range s {
			if i == axis {
				if out[i].Known() && d.Known() {
					out[i] = Dim{Value: out[i].Value + d.Value}
				} else {
					out[i] = unknownDim()
				}
				continue
			}
			m, ok := mergeDim(out[i], d)
			if !ok {
				return nil, fmt.Errorf("inputs %v differ on axis %d", shapes, i)
			}
			out[i] = m
		}
	}
	return one(tensorType(elem, out))
}

func inferSplit(c *nodeCtx) ([]*ValueType, error) {
	n := len(c.n.Outputs)
	elem := c.elem(0)
	outs := make([]*ValueType, n)
	for i := range outs {
		outs[i] = elemType(elem)
	}
	x, ok := c.shape(0)
	if !ok {
		return outs, nil
	}
	axis, err := normAxis(c.n.AttrInt("axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	var sizes []int64
	switch {
	case c.has(1):
		if sizes, ok = c.ints(1); !ok {
			return outs, nil
		}
	case c.n.Attr("split") != nil:
		sizes = c.n.AttrInts("split", nil)
	}
	d := x[axis]
	if sizes == nil {
		if !d.Known() {
			for i := range outs {
				s := append(Shape(nil), x...)
				s[axis] = unknownDim()
				outs[i] = tensorType(elem, s)
			}
			return outs, nil
		}
		if k := c.n.AttrInt("num_outputs", 0); k > 0 {
			if int(k) != n {
				return nil, fmt.Errorf("num_outputs %d but %d outputs", k, n)
			}
			chunk := ceilDiv(d.Value, k)
			for i := int64(0); i < k; i++ {
				sizes = append(sizes, max(0, min(chunk, d.Value-i*chunk)))
			}
		} else {
			if n == 0 || d.Value%int64(n) != 0 {
				return nil, fmt.Errorf("axis %d of size %d does not split evenly into %d outputs", axis, d.Value, n)
			}
			for i := 0; i < n; i++ {
				sizes = append(sizes, d.Value/int64(n))
			}
		}
	}
	if len(sizes) != n {
		return nil, fmt.Errorf("split %v for %d outputs", sizes, n)
	}
	total := int64(0)
	for i, sz := range sizes {
		if sz < 0 {
			return nil, fmt.Errorf("split %v has a negative size", sizes)
		}
		total += sz
		s := append(Shape(nil), x...)
		s[axis] = Dim{Value: sz}
		outs[i] = tensorType(elem, s)
	}
	if d.Known() && total != d.Value {
		return nil, fmt.Errorf("split %v sums to %d, axis %d has %d", sizes, total, axis, d.Value)
	}
	return outs, nil
}

// sliceAxis is one axis of a Slice.
type sliceAxis struct{ axis, start, end, step int64 }

// resolve clamps the range per ONNX Slice for an axis of length dim and
// returns the first index, the step and the element count.
func (a sliceAxis) resolve(dim int64) (start, step, count int64) {
	start, end, step := a.start, a.end, a.step
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start, end = min(max(start, 0), dim), min(max(end, 0), dim)
		count = max(0, ceilDiv(end-start, step))
	} else {
		start, end = min(max(start, 0), dim-1), min(max(end, -1), dim-1)
		count = max(0, ceilDiv(start-end, -step))
	}
	return start, step, count
}

// sliceSpecOf reads a Slice node's ranges: attributes before opset 10,
// constant inputs after. false when they are not constant.
func sliceSpecOf(c *nodeCtx) ([]sliceAxis, bool) {
	var starts, ends, axes, steps []int64
	if c.n.Attr("starts") != nil {
		starts, ends, axes = c.n.AttrInts("starts", nil), c.n.AttrInts("ends", nil), c.n.AttrInts("axes", nil)
	} else {
		var ok bool
		if starts, ok = c.ints(1); !ok {
			return nil, false
		}
		if ends, ok = c.ints(2); !ok {
			return nil, false
		}
		if c.has(3) {
			if axes, ok = c.ints(3); !ok {
				return nil, false
			}
		}
		if c.has(4) {
			if steps, ok = c.ints(4); !ok {
				return nil, false
			}
		}
	}
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, false
	}
	spec := make([]sliceAxis, len(starts))
	for i := range starts {
		spec[i] = sliceAxis{axis: int64(i), start: starts[i], end: ends[i], step: 1}
		if axes != nil {
			spec[i].axis = axes[i]
		}
		if steps != nil {
			spec[i].step = steps[i]
		}
		if spec[i].step == 0 {
			return nil, false
		}
	}
	return spec, true
}

func inferSlice(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	spec, ok := sliceSpecOf(c)
	if !ok {
		if c.n.Attr("starts") == nil && c.has(4) {
			if steps, sok := c.ints(4); sok {
				for _, s := range steps {
					if s == 0 {
						return nil, fmt.Errorf("step 0")
					}
				}
			}
		}
		out := unknownShape(len(x))
		// Axes not named keep their size; without constant axes all may change.
		return one(tensorType(elem, out))
	}
	out := append(Shape(nil), x...)
	seen := map[int]bool{}
	for _, a := range spec {
		ax, err := normAxis(a.axis, len(x))
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d sliced twice", ax)
		}
		seen[ax] = true
		d := x[ax]
		if !d.Known() {
			if a.start == 0 && a.step == 1 && a.end >= math.MaxInt32 {
				continue
			}
			out[ax] = unknownDim()
			continue
		}
		_, _, count := a.resolve(d.Value)
		out[ax] = Dim{Value: count}
	}
	return one(tensorType(elem, out))
}

// axesInput reads axes from the attribute (older opsets) or from input i.
// present is false when axes are given but not constant.
func (c *nodeCtx) axesInput(i int) (axes []int64, given, present bool) {
	if a := c.n.Attr("axes"); a != nil {
		return a.Ints, true, true
	}
	if !c.has(i) {
		return nil, false, true
	}
	axes, ok := c.ints(i)
	return axes, true, ok
}

func inferSqueeze(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	axes, given, present := c.axesInput(1)
	if !present {
		return one(elemType(elem))
	}
	drop := make([]bool, len(x))
	if !given {
		for i, d := range x {
			if !d.Known() {
				return one(elemType(elem))
			}
			drop[i] = d.Value == 1
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		if x[ax].Known() && x[ax].Value != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of size %d", ax, x[ax].Value)
		}
		drop[ax] = true
	}
	var out Shape
	for i, d := range x {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return one(tensorType(elem, out))
}

func inferUnsqueeze(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	axes, given, present := c.axesInput(1)
	if !ok || !present {
		return one(elemType(elem))
	}
	if !given {
		return nil, fmt.Errorf("axes missing")
	}
	r := len(x) + len(axes)
	insert := make([]bool, r)
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if insert[ax] {
			return nil, fmt.Errorf("axes %v repeat an axis", axes)
		}
		insert[ax] = true
	}
	out := make(Shape, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if insert[i] {
			out = append(out, Dim{Value: 1})
		} else {
			out = append(out, x[j])
			j++
		}
	}
	return one(tensorType(elem, out))
}

func inferGather(c *nodeCtx) ([]*ValueType, error) {
	x, xok := c.shape(0)
	ix, iok := c.shape(1)
	elem := c.elem(0)
	if !xok || !iok {
		return one(elemType(elem))
	}
	axis, err := normAxis(c.n.AttrInt("axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	out := append(Shape(nil), x[:axis]...)
	out = append(out, ix...)
	out = append(out, x[axis+1:]...)
	return one(tensorType(elem, out))
}

func inferGatherElements(c *nodeCtx) ([]*ValueType, error) { return one(c.typeLike(1, c.elem(0))) }

func inferShape(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return one(tensorType(Int64, Shape{unknownDim()}))
	}
	start, end := shapeRange(c.n, int64(len(x)))
	return one(tensorType(Int64, KnownShape(end-start)))
}

func inferSize(c *nodeCtx) ([]*ValueType, error) { return one(tensorType(Int64, Shape{})) }

func inferConstantOfShape(c *nodeCtx) ([]*ValueType, error) {
	elem := Float32
	if a := c.n.Attr("value"); a != nil && a.Kind == AttrTensor && a.T != nil {
		elem = a.T.DType
	}
	d, ok := c.inf.dataOf(c, c.in(0))
	if !ok {
		if s, sok := c.shape(0); sok && len(s) == 1 && s[0].Known() && s[0].Value <= maxShapeData {
			out := unknownShape(int(s[0].Value))
			return one(tensorType(elem, out))
		}
		return one(elemType(elem))
	}
	out := make(Shape, len(d.dims))
	for i, x := range d.dims {
		if x.known && x.value < 0 {
			return nil, fmt.Errorf("negative dimension %d", x.value)
		}
		out[i] = x.dim()
	}
	return one(tensorType(elem, out))
}

func inferConstant(c *nodeCtx) ([]*ValueType, error) {
	for _, a := range c.n.Attrs {
		switch a.Name {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("attribute value holds no tensor")
			}
			return one(tensorType(a.T.DType, KnownShape(a.T.Dims...)))
		case "value_float":
			return one(tensorType(Float32, Shape{}))
		case "value_int":
			return one(tensorType(Int64, Shape{}))
		case "value_string":
			return one(tensorType(String, Shape{}))
		case "value_floats":
			return one(tensorType(Float32, KnownShape(int64(len(a.Floats)))))
		case "value_ints":
			return one(tensorType(Int64, KnownShape(int64(len(a.Ints)))))
		case "value_strings":
			return one(tensorType(String, KnownShape(int64(len(a.Strings)))))
		}
	}
	return nil, nil
}

func inferPad(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	var pads []int64
	if a := c.n.Attr("pads"); a != nil && !c.has(1) { // before opset 11
		pads = a.Ints
	} else if a := c.n.Attr("paddings"); a != nil && !c.has(1) { // Pad-1
		pads = a.Ints
	} else if pads, ok = c.ints(1); !ok {
		out := unknownShape(len(x))
		return one(tensorType(elem, out))
	}
	axes := make([]int64, len(x))
	for i := range axes {
		axes[i] = int64(i)
	}
	if c.has(3) {
		if axes, ok = c.ints(3); !ok {
			return one(elemType(elem))
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v for %d axes", pads, len(axes))
	}
	out := append(Shape(nil), x...)
	for i, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		if d := x[ax]; d.Known() {
			v := d.Value + pads[i] + pads[i+len(axes)]
			if v < 0 {
				return nil, fmt.Errorf("pads %v make axis %d negative", pads, ax)
			}
			out[ax] = Dim{Value: v}
		} else if pads[i] != 0 || pads[i+len(axes)] != 0 {
			out[ax] = unknownDim()
		}
	}
	return one(tensorType(elem, out))
}

func inferResize(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	unknown := func() ([]*ValueType, error) {
		out := unknownShape(len(x))
		return one(tensorType(elem, out))
	}
	axes := c.n.AttrInts("axes", nil)
	if axes == nil {
		for i := range x {
			axes = append(axes, int64(i))
		}
	}
	out := append(Shape(nil), x...)
	var scalesIn, sizesIn = 2, 3
	if c.n.OpType == "Upsample" || (c.inf.opset > 0 && c.inf.opset < 11) {
		scalesIn, sizesIn = 1, -1
	}
	if sizesIn > 0 && c.has(sizesIn) {
		// sizes is often computed from Shape ops: take its elements as
		// dimensions, which may be symbolic.
		sizes, ok := c.inf.dataOf(c, c.in(sizesIn))
		if !ok {
			return unknown()
		}
		if len(sizes.dims) > 0 { // an empty sizes means "use scales"
			if len(sizes.dims) != len(axes) {
				return nil, fmt.Errorf("sizes of length %d for %d axes", len(sizes.dims), len(axes))
			}
			if p := c.n.AttrString("keep_aspect_ratio_policy", "stretch"); p != "stretch" {
				return unknown()
			}
			for i, a := range axes {
				ax, err := normAxis(a, len(x))
				if err != nil {
					return nil, err
				}
				out[ax] = sizes.dims[i].dim()
			}
			return one(tensorType(elem, out))
		}
	}
	var scales []float64
	if a := c.n.Attr("scales"); a != nil && a.Kind == AttrFloats { // Upsample-7
		for _, f := range a.Floats {
			scales = append(scales, float64(f))
		}
	} else if c.has(scalesIn) {
		t, ok := c.constant(scalesIn)
		if !ok {
			return unknown()
		}
		if scales, ok = floatData(t); !ok {
			return unknown()
		}
	} else {
		return unknown()
	}
	if len(scales) != len(axes) {
		return nil, fmt.Errorf("scales %v for %d axes", scales, len(axes))
	}
	for i, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		if d := x[ax]; d.Known() {
			// ONNX computes floor(in · scale) in single precision.
			out[ax] = Dim{Value: int64(math.Floor(float64(float32(d.Value) * float32(scales[i]))))}
		} else if scales[i] != 1 {
			out[ax] = unknownDim()
		}
	}
	return one(tensorType(elem, out))
}

func floatData(t *Tensor) ([]float64, bool) {
	f, err := t.Float64s()
	return f, err == nil
}

func inferExpand(c *nodeCtx) ([]*ValueType, error) {
	x, xok := c.shape(0)
	elem := c.elem(0)
	d, ok := c.inf.dataOf(c, c.in(1))
	if !xok || !ok {
		return one(elemType(elem))
	}
	target := make(Shape, len(d.dims))
	for i, v := range d.dims {
		target[i] = v.dim()
	}
	out, err := broadcastShapes(x, target)
	if err != nil {
		return nil, err
	}
	return one(tensorType(elem, out))
}

func inferTile(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return one(elemType(elem))
	}
	reps, ok := c.ints(1)
	out := unknownShape(len(x))
	if !ok {
		return one(tensorType(elem, out))
	}
	if len(reps) != len(x) {
		return nil, fmt.Errorf("repeats %v for input rank %d", reps, len(x))
	}
	for i, d := range x {
		if reps[i] < 0 {
			return nil, fmt.Errorf("repeats %v must not be negative", reps)
		}
		if d.Known() {
			out[i] = Dim{Value: d.Value * reps[i]}
		} else if reps[i] == 1 {
			out[i] = d
		}
	}
	return one(tensorType(elem, out))
}

func inferRange(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(0)
	out := tensorType(elem, Shape{unknownDim()})
	var v [3]float64
	for i := range v {
		t, ok := c.constant(i)
		if !ok {
			return one(out)
		}
		f, ok := floatData(t)
		if !ok || len(f) != 1 {
			return one(out)
		}
		v[i] = f[0]
	}
	if v[2] == 0 {
		return nil, fmt.Errorf("delta is zero")
	}
	n := int64(math.Max(math.Ceil((v[1]-v[0])/v[2]), 0))
	return one(tensorType(elem, KnownShape(n)))
}

func inferDepthToSpace(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	b := c.n.AttrInt("blocksize", 0)
	if !ok || len(x) != 4 || b <= 0 {
		return one(elemType(c.elem(0)))
	}
	mul := func(d Dim, f int64) Dim {
		if d.Known() {
			return Dim{Value: d.Value * f}
		}
		return unknownDim()
	}
	ch := unknownDim()
	if x[1].Known() {
		if x[1].Value%(b*b) != 0 {
			return nil, fmt.Errorf("channels %d not divisible by blocksize² %d", x[1].Value, b*b)
		}
		ch = Dim{Value: x[1].Value / (b * b)}
	}
	return one(tensorType(c.elem(0), Shape{x[0], ch, mul(x[2], b), mul(x[3], b)}))
}

func inferSpaceToDepth(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	b := c.n.AttrInt("blocksize", 0)
	if !ok || len(x) != 4 || b <= 0 {
		return one(elemType(c.elem(0)))
	}
	div := func(d Dim) (Dim, error) {
		if !d.Known() {
			return unknownDim(), nil
		}
		if d.Value%b != 0 {
			return Dim{}, fmt.Errorf("spatial size %d not divisible by blocksize %d", d.Value, b)
		}
		return Dim{Value: d.Value / b}, nil
	}
	h, err := div(x[2])
	if err != nil {
		return nil, err
	}
	w, err := div(x[3])
	if err != nil {
		return nil, err
	}
	ch := unknownDim()
	if x[1].Known() {
		ch = Dim{Value: x[1].Value * b * b}
	}
	return one(tensorType(c.elem(0), Shape{x[0], ch, h, w}))
}
