package runtime

import (
	"fmt"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Ops that only rearrange, select or describe elements: Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout, Transpose, Concat, Split, Slice,
// Gather, Shape, Size, Expand, Tile.

func init() {
	registerForward(compileReshape, "Reshape")
	registerForward(compileFlatten, "Flatten")
	registerForward(compileSqueeze(true), "Squeeze")
	registerForward(compileSqueeze(false), "Unsqueeze")
	registerForward(simple(identity), "Identity")
	registerForward(compileDropout, "Dropout")
	registerForward(compileTranspose, "Transpose")
	registerForward(compileConcat, "Concat")
	registerForward(compileSplit, "Split")
	registerForward(compileSlice, "Slice")
	registerForward(compileGather, "Gather")
	registerForward(compileShape, "Shape")
	registerForward(simple(size), "Size")
	registerForward(simple(expand), "Expand")
	registerForward(simple(tile), "Tile")
}

func identity(c *execContext, in, out []*Tensor) error {
	copyTensor(c, out[0], in[0], in[0].Shape)
	return nil
}

func compileReshape(n *graph.Node, opset int64) (kernelFunc, error) {
	allowZero := n.AttrInt("allowzero", 0) != 0
	attrShape := n.AttrInts("shape", nil)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		spec := attrShape
		if opset >= 5 {
			var err error
			if spec, err = intsInput(in, 1, "shape"); err != nil || spec == nil {
				return fmt.Errorf("shape input: %v", err)
			}
		}
		shape, err := reshapeTarget(x.Shape, spec, allowZero)
		if err != nil {
			return err
		}
		copyTensor(c, out[0], x, shape)
		return nil
	}, nil
}

// reshapeTarget resolves Reshape's 0 (copy, unless allowzero) and -1 (infer).
func reshapeTarget(in []int, spec []int64, allowZero bool) ([]int, error) {
	shape := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1", spec)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v", spec, i, in)
			}
			shape[i] = in[i]
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative size", spec)
		default:
			shape[i] = int(d)
		}
		known *= shape[i]
	}
	total := shapeSize(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, spec)
		}
		shape[infer] = total / known
	}
	if shapeSize(shape) != total {
		return nil, fmt.Errorf("cannot reshape %v to %v", in, spec)
	}
	return shape, nil
}

func compileFlatten(n *graph.Node, _ int64) (kernelFunc, error) {
	axis := n.AttrInt("axis", 1)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		a := int(axis)
		if a < 0 {
			a += len(x.Shape)
		}
		if a < 0 || a > len(x.Shape) {
			return fmt.Errorf("axis %d out of range for rank %d", axis, len(x.Shape))
		}
		copyTensor(c, out[0], x, []int{shapeSize(x.Shape[:a]), shapeSize(x.Shape[a:])})
		return nil
	}, nil
}

// compileSqueeze builds Squeeze (squeeze true) and Unsqueeze; axes moved
// from attribute to input in opset 13.
func compileSqueeze(squeeze bool) compileFunc {
	return func(n *graph.Node, opset int64) (kernelFunc, error) {
		attrAxes := n.AttrInts("axes", nil)
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			axes := attrAxes
			if opset >= 13 {
				var err error
				if axes, err = intsInput(in, 1, "axes"); err != nil {
					return err
				}
			}
			var shape []int
			if squeeze {
				drop := make([]bool, len(x.Shape))
				for _, a := range axes {
					i, err := normAxis(a, len(x.Shape))
					if err != nil {
						return err
					}
					if x.Shape[i] != 1 {
						return fmt.Errorf("cannot squeeze axis %d of %v", a, x.Shape)
					}
					drop[i] = true
				}
				for i, d := range x.Shape {
					if !drop[i] && (axes != nil || d != 1) {
						shape = append(shape, d)
					}
				}
			} else {
				r := len(x.Shape) + len(axes)
				ins := make([]bool, r)
				for _, a := range axes {
					i, err := normAxis(a, r)
					if err != nil {
						return err
					}
					if ins[i] {
						return fmt.Errorf("axis %d repeated", a)
					}
					ins[i] = true
				}
				k := 0
				for i := 0; i < r; i++ {
					if ins[i] {
						shape = append(shape, 1)
					} else {
						shape = append(shape, x.Shape[k])
						k++
					}
				}
			}
			copyTensor(c, out[0], x, shape)
			return nil
		}, nil
	}
}

// compileDropout is inference-mode Dropout: the identity, and a mask of ones.
func compileDropout(n *graph.Node, _ int64) (kernelFunc, error) {
	return func(c *execContext, in, out []*Tensor) error {
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 && in[2].at(0) != 0 {
			ratio := 0.5
			if in[1] != nil {
				ratio = in[1].at(0)
			}
			if ratio != 0 {
				return fmt.Errorf("training_mode Dropout is %w", ErrUnsupported)
			}
		}
		copyTensor(c, out[0], in[0], in[0].Shape)
		if len(out) > 1 {
			c.alloc(out[1], graph.Bool, in[0].Shape...)
			for i := range out[1].U8 {
				out[1].U8[i] = 1
			}
		}
		return nil
	}, nil
}

func compileTranspose(n *graph.Node, _ int64) (kernelFunc, error) {
	perm := n.AttrInts("perm", nil)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		r := len(x.Shape)
		p := make([]int, r)
		for i := range p {
			p[i] = r - 1 - i
		}
		if perm != nil {
			if len(perm) != r {
				return fmt.Errorf("perm %v for rank %d", perm, r)
			}
			seen := make([]bool, r)
			for i, v := range perm {
				if v < 0 || int(v) >= r || seen[v] {
					return fmt.Errorf("perm %v is not a permutation", perm)
				}
				seen[v] = true
				p[i] = int(v)
			}
		}
		st := rowMajorStrides(x.Shape)
		shape := make([]int, r)
		strides := make([]int, r)
		for i, v := range p {
			shape[i], strides[i] = x.Shape[v], st[v]
		}
		if x.DType == graph.Float32 {
			c.alloc(out[0], graph.Float32, shape...)
			transposeF32(out[0].F32, x.F32, shape, strides)
			return nil
		}
		idx := c.tempI64(shapeSize(shape))
		stridedIndex(idx, shape, strides, 0)
		takeIndexed(c, out[0], x, shape, idx, 0)
		return nil
	}, nil
}

// transposeF32 walks the output in order, reading the input with strides.
func transposeF32(dst, src []float32, shape, strides []int) {
	r := len(shape)
	if len(dst) == 0 {
		return
	}
	if r == 0 {
		dst[0] = src[0]
		return
	}
	pos := make([]int, r)
	off := 0
	inner, is := shape[r-1], strides[r-1]
	for o := 0; o < len(dst); o += inner {
		row := dst[o : o+inner]
		for i := range row {
			row[i] = src[off+i*is]
		}
		for d := r - 2; d >= 0; d-- {
			pos[d]++
			off += strides[d]
			if pos[d] < shape[d] {
				break
			}
			off -= strides[d] * shape[d]
			pos[d] = 0
		}
	}
}

func compileConcat(n *graph.Node, _ int64) (kernelFunc, error) {
	axisAttr := n.Attr("axis")
	if axisAttr == nil {
		return nil, fmt.Errorf("axis attribute missing")
	}
	return func(c *execContext, in, out []*Tensor) error {
		var parts []*Tensor
		for _, t := range in {
			if t != nil {
				parts = append(parts, t)
			}
		}
		first := parts[0]
		r := len(first.Shape)
		axis, err := normAxis(axisAttr.I, r)
		if err != nil {
			return err
		}
		shape := slices.Clone(first.Shape)
		shape[axis] = 0
		for _, t := range parts {
			if t.DType != first.DType || len(t.Shape) != r {
				return fmt.Errorf("inputs %s%v and %s%v do not concatenate", first.DType, first.Shape, t.DType, t.Shape)
			}
			for i := range t.Shape {
				if i != axis && t.Shape[i] != first.Shape[i] {
					return fmt.Errorf("inputs %v and %v do not concatenate on axis %d", first.Shape, t.Shape, axis)
				}
			}
			shape[axis] += t.Shape[axis]
		}
		outer := shapeSize(shape[:axis])
		inner := shapeSize(shape[axis+1:])
		c.alloc(out[0], first.DType, shape...)
		rowOut := shape[axis] * inner
		off := 0
		for _, t := range parts {
			block := t.Shape[axis] * inner
			for o := 0; o < outer; o++ {
				copyElems(out[0], o*rowOut+off, t, o*block, block)
			}
			off += block
		}
		return nil
	}, nil
}

func compileSplit(n *graph.Node, opset int64) (kernelFunc, error) {
	axisAttr := n.AttrInt("axis", 0)
	splitAttr := n.AttrInts("split", nil)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		axis, err := normAxis(axisAttr, len(x.Shape))
		if err != nil {
			return err
		}
		split := splitAttr
		if opset >= 13 {
			if split, err = intsInput(in, 1, "split"); err != nil {
				return err
			}
		}
		dim := x.Shape[axis]
		sizes := make([]int, len(out))
		if split == nil {
			// Equal parts; the last one smaller when the size does not divide.
			part := (dim + len(out) - 1) / len(out)
			for i := range sizes {
				sizes[i] = min(part, dim-i*part)
				if sizes[i] < 0 {
					return fmt.Errorf("cannot split %d into %d parts", dim, len(out))
				}
			}
		} else {
			if len(split) != len(out) {
				return fmt.Errorf("split %v for %d outputs", split, len(out))
			}
			total := 0
			for i, s := range split {
				sizes[i] = int(s)
				total += int(s)
			}
			if total != dim {
				return fmt.Errorf("split %v does not sum to %d", split, dim)
			}
		}
		outer := shapeSize(x.Shape[:axis])
		inner := shapeSize(x.Shape[axis+1:])
		off := 0
		for i, o := range out {
			shape := slices.Clone(x.Shape)
			shape[axis] = sizes[i]
			c.alloc(o, x.DType, shape...)
			block := sizes[i] * inner
			for j := 0; j < outer; j++ {
				copyElems(o, j*block, x, j*dim*inner+off, block)
			}
			off += block
		}
		return nil
	}, nil
}

func compileSlice(n *graph.Node, opset int64) (kernelFunc, error) {
	aStarts, aEnds, aAxes := n.AttrInts("starts", nil), n.AttrInts("ends", nil), n.AttrInts("axes", nil)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		starts, ends, axes := aStarts, aEnds, aAxes
		var steps []int64
		if opset >= 10 {
			var err error
			if starts, err = intsInput(in, 1, "starts"); err != nil {
				return err
			}
			if ends, err = intsInput(in, 2, "ends"); err != nil {
				return err
			}
			if axes, err = intsInput(in, 3, "axes"); err != nil {
				return err
			}
			if steps, err = intsInput(in, 4, "steps"); err != nil {
				return err
			}
		}
		if len(starts) != len(ends) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
			return fmt.Errorf("starts, ends, axes and steps differ in length")
		}
		r := len(x.Shape)
		shape := slices.Clone(x.Shape)
		st := rowMajorStrides(x.Shape)
		strides := slices.Clone(st)
		base := 0
		for i := range starts {
			axis := i
			if axes != nil {
				a, err := normAxis(axes[i], r)
				if err != nil {
					return err
				}
				axis = a
			}
			step := int64(1)
			if steps != nil {
				step = steps[i]
			}
			if step == 0 {
				return fmt.Errorf("step 0")
			}
			dim := int64(x.Shape[axis])
			s, e := starts[i], ends[i]
			if s < 0 {
				s += dim
			}
			if e < 0 {
				e += dim
			}
			var count int64
			if step > 0 {
				s, e = clamp64(s, 0, dim), clamp64(e, 0, dim)
				count = max(0, (e-s+step-1)/step)
			} else {
				s, e = clamp64(s, 0, dim-1), clamp64(e, -1, dim-1)
				count = max(0, (s-e-step-1)/(-step))
			}
			shape[axis] = int(count)
			base += int(s) * st[axis]
			strides[axis] = st[axis] * int(step)
		}
		total := shapeSize(shape)
		if total == 0 {
			c.alloc(out[0], x.DType, shape...)
			return nil
		}
		idx := c.tempI64(total)
		stridedIndex(idx, shape, strides, base)
		takeIndexed(c, out[0], x, shape, idx, 0)
		return nil
	}, nil
}

func clamp64(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

func compileGather(n *graph.Node, _ int64) (kernelFunc, error) {
	axisAttr := n.AttrInt("axis", 0)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		ind, err := in[1].ints("indices")
		if err != nil {
			return err
		}
		axis, err := normAxis(axisAttr, len(x.Shape))
		if err != nil {
			return err
		}
		dim := x.Shape[axis]
		outer := shapeSize(x.Shape[:axis])
		inner := shapeSize(x.Shape[axis+1:])
		shape := append(append(slices.Clone(x.Shape[:axis]), in[1].Shape...), x.Shape[axis+1:]...)
		c.alloc(out[0], x.DType, shape...)
		k := len(ind)
		for o := 0; o < outer; o++ {
			for j, v := range ind {
				if v < 0 {
					v += int64(dim)
				}
				if v < 0 || v >= int64(dim) {
					return fmt.Errorf("index %d out of range for axis of size %d", ind[j], dim)
				}
				copyElems(out[0], (o*k+j)*inner, x, (o*dim+int(v))*inner, inner)
			}
		}
		return nil
	}, nil
}

func compileShape(n *graph.Node, _ int64) (kernelFunc, error) {
	startAttr, hasEnd := n.AttrInt("start", 0), n.Attr("end") != nil
	endAttr := n.AttrInt("end", 0)
	return func(c *execContext, in, out []*Tensor) error {
		r := int64(len(in[0].Shape))
		start, end := startAttr, r
		if hasEnd {
			end = endAttr
		}
		if start < 0 {
			start += r
		}
		if end < 0 {
			end += r
		}
		start, end = clamp64(start, 0, r), clamp64(end, 0, r)
		end = max(end, start)
		c.alloc(out[0], graph.Int64, int(end-start))
		for i := start; i < end; i++ {
			out[0].I64[i-start] = int64(in[0].Shape[i])
		}
		return nil
	}, nil
}

func size(c *execContext, in, out []*Tensor) error {
	c.alloc(out[0], graph.Int64)
	out[0].I64[0] = int64(in[0].Len())
	return nil
}

func expand(c *execContext, in, out []*Tensor) error {
	x := in[0]
	spec, err := in[1].ints("shape")
	if err != nil {
		return err
	}
	target := make([]int, len(spec))
	for i, d := range spec {
		target[i] = int(d)
	}
	shape, err := broadcastShapes(x.Shape, target)
	if err != nil {
		return err
	}
	c.alloc(out[0], x.DType, shape...)
	switch x.DType {
	case graph.Float32:
		expandGeneric(out[0].F32, shape, x.F32, x.Shape)
	case graph.Int64:
		expandGeneric(out[0].I64, shape, x.I64, x.Shape)
	case graph.Uint8, graph.Bool:
		expandGeneric(out[0].U8, shape, x.U8, x.Shape)
	case graph.Int8:
		expandGeneric(out[0].I8, shape, x.I8, x.Shape)
	}
	return nil
}

func tile(c *execContext, in, out []*Tensor) error {
	x := in[0]
	reps, err := in[1].ints("repeats")
	if err != nil {
		return err
	}
	r := len(x.Shape)
	if len(reps) != r {
		return fmt.Errorf("repeats %v for rank %d", reps, r)
	}
	shape := make([]int, r)
	for i, v := range reps {
		if v < 0 {
			return fmt.Errorf("negative repeat %d", v)
		}
		shape[i] = x.Shape[i] * int(v)
	}
	total := shapeSize(shape)
	idx := c.tempI64(total)
	st := rowMajorStrides(x.Shape)
	pos := make([]int, r)
	for o := 0; o < total; o++ {
		src := 0
		for d := 0; d < r; d++ {
			src += (pos[d] % x.Shape[d]) * st[d]
		}
		idx[o] = int64(src)
		for d := r - 1; d >= 0; d-- {
			pos[d]++
			if pos[d] < shape[d] {
				break
			}
			pos[d] = 0
		}
	}
	takeIndexed(c, out[0], x, shape, idx, 0)
	return nil
}
